"""Block Kit for Slack, built with slack-sdk's models and kept inside Slack's limits.

Everything that came from a paste, a person, an import or an article is escaped, so a pasted
<!channel> or <@U123> shows as text and never pings anyone. Free text that people wrote
(notes) is shown as plain_text, so its *, _, ` and URLs stay as typed; every mrkdwn object is
verbatim, so Slack links no bare URL or channel name on its own.

The reply to a paste is an answer card per peer (issue 12), read on a phone at 3 a.m.: the
sentence (kb/answer.py), the key facts, "Do this first" with where to run the one command and
its key caveat, two lines of why, "Last time" when the peer was fixed before, a contradiction
from pasted device state, and the buttons. At most CARD_BLOCKS blocks, CARD_CHARS characters
and four buttons. Everything else (other causes with evidence, every command to check, fix and
prevent, caveats, sources, what to paste to confirm, notes, past incidents) is `details`, its
own message in the thread when "Details" is pressed. The message `text`, all that a push
notification or a screen reader gets, is the sentence: `notification`.

What pasted device state proved (kb/state/findings.py, issue 11) is shown with the cause: a
confirmed cause says "Confirmed" with a proof line on the card and every proof line in the
details, and a contradiction is on the card.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.shown import (
    ASKS_SHOWN,
    PEERS_SHOWN,
    asks_of,
    findings_of,
    proof_lines,
)
from kb import answer
from kb.commands import Section, sections
from kb.confidence import CONFIRMED
from kb.diagnose import Diagnosis
from kb.incidents import Incident
from kb.peers import PeerDiagnosis
from kb.ranking import Cause

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_BUTTON_VALUE = 2000
MAX_CONTEXT_ELEMENTS = 10
CARD_BLOCKS = 8  # an answer card: what a phone shows on a screen or two
CARD_CHARS = 1200  # visible characters of a card, buttons included
DETAILED_CAUSES = 3  # other causes with evidence that the details explain
CONTRADICTIONS_SHOWN = 3
SOURCES_SHOWN = 6
NOTE_CHARS = 120  # of a past note on the card's "Last time" line
CONTRADICTION_CHARS = 220  # of a contradiction on the card; all of it in the details
WARNING_CHARS = 160  # of the card's one line of warnings
ASK_THREAD = "paste the output in this thread"
NOTE_MODAL = "spi_note_modal"
DETAILS = "spi_details"
# Causes whose answer is to watch, not act: their card is short (the sentence, the facts on one
# line, the check that tells whether it repeats, the buttons).
WATCH_ONLY = frozenset({"rekey-race"})
_POINTS = re.compile(r"^([+-]\d+(?:\.\d+)?) ")
_SAFE_URL = re.compile(r"https://[^\s<>|]+")


def esc(text: object) -> str:
    """Slack's three control characters, escaped: no live mention, link or channel ping."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def literal(text: object) -> str:
    """A value (id, address, SPI, status) as inline code: escaped, and unable to end its span."""
    return "`" + esc(text).replace("`", "'") + "`"


def clip(text: str, limit: int = MAX_SECTION) -> str:
    if len(text) <= limit:
        return text
    note = "\n… (truncated)"
    return text[: limit - len(note)] + note


def cut(text: str, limit: int) -> str:
    """Plain text (not yet escaped) cut to `limit` characters on one line, with an ellipsis."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(text), verbatim=True))


def context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=clip(text), verbatim=True)])


def quoted(texts: list[str], limit: int = MAX_CONTEXT_ELEMENTS) -> ContextBlock:
    """What people wrote, as plain text: no formatting, links or mentions of its own."""
    return ContextBlock(
        elements=[PlainTextObject(text=clip(esc(t)), emoji=False) for t in texts[:limit]]
    )


def code(lines: list[str]) -> str:
    # Inside a code block Slack still reads &, < and >; ``` in a command would end the block.
    body = "\n".join(esc(line).replace("```", "'''") for line in lines)
    return f"```{body}```"


def link(url: object, label: str) -> str:
    """A link to an https URL, or the label alone when the URL could break out of its <…>."""
    if isinstance(url, str) and _SAFE_URL.fullmatch(url):
        return f"<{url.replace('&', '&amp;')}|{esc(label)}>"
    return esc(label)


def value(**fields) -> str:
    text = json.dumps(fields, separators=(",", ":"))
    if len(text) > MAX_BUTTON_VALUE:
        raise ValueError("button value too long")
    return text


# -- the message text --------------------------------------------------------------------------
def notification(d: Diagnosis) -> str:
    """The reply's `text`: the one sentence, all that a push notification or a screen reader
    gets of the message."""
    return esc(answer.paste_headline(d))


def details_text(d: Diagnosis, peer: str | None = None) -> str:
    """The details message's `text`: which answer it details."""
    chosen = _chosen(d, peer)
    said = answer.headline(chosen[0]) if len(chosen) == 1 else answer.paste_headline(d)
    return esc(f"Details: {said}")


# -- the answer card ---------------------------------------------------------------------------
def _fields(texts: list[str]) -> SectionBlock:
    return SectionBlock(fields=[MarkdownTextObject(text=t, verbatim=True) for t in texts])


def _sentence(p: PeerDiagnosis, top: Cause | None) -> SectionBlock:
    """The headline, its opening (confidence and cause) in bold; a confirmed cause with the
    first line of its proof."""
    said = answer.headline(p)
    if top is not None and top.confidence == CONFIRMED:
        lead, rest = "Confirmed:", said.removeprefix("Confirmed:").strip()
        text = f"✅ *{lead}* {esc(rest)}"
        if top.proof:
            more = f" (+{len(top.proof) - 1} more in Details)" if len(top.proof) > 1 else ""
            text += f"\nProof: {literal(cut(top.proof[0], 100))}{more}"
        return section(text)
    opening, colon, rest = said.partition(": ")
    return section(f"*{esc(opening)}*: {esc(rest)}" if colon else f"*{esc(said)}*")


def _spis(p: PeerDiagnosis) -> str:
    spis = p.spis
    more = f" +{len(spis) - 1}" if len(spis) > 1 else ""
    return f"{literal(spis[0])}{more}" if spis else "unknown"


def _facts(p: PeerDiagnosis, one_line: bool) -> Block:
    peer = literal(p.peer) if p.peer else "unknown"
    box = literal(p.local) if p.local else "unknown"
    if p.platform:
        box += f" ({esc(p.platform)})"
    seen = esc(answer.count_phrase(p.groups))
    if one_line:
        return context(f"Peer {peer} → this box {box} · SPI {_spis(p)} · {seen}")
    return _fields(
        [
            f"*Peer (sender)*\n{peer}",
            f"*This box*\n{box}",
            f"*SPI*\n{_spis(p)}",
            f"*Seen*\n{seen}",
        ]
    )


def _fill_in(placeholders: Sequence[str]) -> str:
    """Placeholders said in words under the code they are in."""
    if not placeholders:
        return ""
    named = ", ".join(literal(p) for p in placeholders)
    return f"\n✏️ Put your own value for {named} before you run it."


def _do_first(action: answer.Action) -> SectionBlock:
    then = f", and {ASK_THREAD}" if action.kind == "ask" else ""
    text = f"*Do this first*, {esc(action.where_text)}{then}:\n{code([action.command])}"
    if action.caveat:
        text += f"\n⚠️ {esc(action.caveat)}"
    return section(text + _fill_in(action.placeholders))


def _ask_line(where: str, command: str) -> str:
    return f"{esc(where)}: {literal(command)} — {ASK_THREAD}"


def _why(action: answer.Action | None, p: PeerDiagnosis, ask: bool) -> ContextBlock | None:
    lines = [f"Why: {esc(action.why[0])}", *(esc(w) for w in action.why[1:2])] if action else []
    if ask:
        asks = [a for a in asks_of(p) if not action or a[1] != action.command]
        if asks:
            lines.append("🔬 *To confirm:* " + _ask_line(*asks[0]))
    return context("\n".join(lines)) if lines else None


def _typed(text: str) -> str:
    """What a person wrote, escaped for mrkdwn where no backtick may open a code span."""
    return esc(text).replace("`", "'")


def last_fixed(p: PeerDiagnosis) -> Incident | None:
    """The peer's most recently fixed past incident, if it has one."""
    fixed = [
        i for i in p.history.same_peer if i.fixed_by and i.id != p.incident and i.status != "open"
    ]
    return max(fixed, key=lambda i: i.resolved_at or i.updated_at, default=None)


def _last_time(p: PeerDiagnosis) -> ContextBlock | None:
    """When, who, what fixed it, the note and its thread. Who is the note's author as text:
    a mention would ping them at 3 a.m."""
    last = last_fixed(p)
    if last is None:
        return None
    when = (last.resolved_at or last.updated_at or "")[:10]
    said = f"🕘 *Last time* ({esc(when)}): fixed by {literal(last.fixed_by)}"
    note = last.notes[-1] if last.notes else None
    if note is not None:
        # What a person wrote, in mrkdwn for the link beside it: no backtick may open code.
        who = f"{_typed(note.author)}: " if note.author else ""
        said += f" — {who}“{_typed(cut(note.text, NOTE_CHARS))}”"
    thread = next((n.permalink for n in reversed(last.notes) if n.permalink), None)
    if thread and _SAFE_URL.fullmatch(thread):
        said += f" · {link(thread, 'the thread')}"
    return context(said)


def _contradiction(p: PeerDiagnosis) -> SectionBlock | None:
    found = findings_of(p, "contradiction", p.peer)
    if not found:
        return None
    more = " (proof in Details)" if found[0].proof or len(found) > 1 else ""
    return section(
        f"❗ *State contradicts the log:* {esc(cut(found[0].text, CONTRADICTION_CHARS))}{more}"
    )


def _warnings(d: Diagnosis, first: str | None = None) -> ContextBlock | None:
    """One line: `first` (a multi-peer paste's "look at this box first") or the first
    warning, and how many more the details hold."""
    said = [f"🧭 {esc(first)}"] if first else []
    said += [f"⚠️ {esc(cut(w, WARNING_CHARS))}" for w in d.warnings]
    if not said:
        return None
    more = f" (+{len(said) - 1} more in Details)" if len(said) > 1 else ""
    return context(said[0] + more)


def _card_buttons(p: PeerDiagnosis, top: Cause | None, n: int) -> ActionsBlock:
    """Fixed it…, Not it, Add note (with an incident to record them in) and Details."""
    elements = []
    if p.incident is not None and top is not None:
        picked = value(incident=p.incident, article=top.id, peer=p.peer)
        elements += [
            ButtonElement(text="Fixed it…", action_id="spi_fixed", style="primary", value=picked),
            ButtonElement(text="Not it", action_id="spi_not_it", value=picked),
            _note_button(p.incident, p.peer),
        ]
    elements.append(
        ButtonElement(
            text="Details", action_id=DETAILS, value=value(incident=p.incident, peer=p.peer)
        )
    )
    return ActionsBlock(block_id=f"card_{n}", elements=elements)


def _note_button(incident_id: int, peer: str | None) -> ButtonElement:
    return ButtonElement(
        text="Add note", action_id="spi_add_note", value=value(incident=incident_id, peer=peer)
    )


_SHOWN_MARKUP = re.compile(r"```|[`*]")
_SHOWN_LINK = re.compile(r"<[^<>|]*\|([^<>]*)>")


def _shown(block: Block) -> int:
    """About how many characters a block shows (tests/blockkit_layout.py counts exactly)."""

    def texts(obj: object) -> list[str]:
        if isinstance(obj, dict):
            if obj.get("type") in ("mrkdwn", "plain_text"):
                return [obj.get("text", "")]
            return [t for k, v in obj.items() if k != "value" for t in texts(v)]
        if isinstance(obj, list):
            return [t for v in obj for t in texts(v)]
        return []

    shown = "".join(texts(block.to_dict()))
    shown = _SHOWN_LINK.sub(r"\1", _SHOWN_MARKUP.sub("", shown))
    return len(html.unescape(shown).replace("\n", ""))


def card(d: Diagnosis, p: PeerDiagnosis, n: int = 1, warnings: bool = False) -> list[Block]:
    """One peer's answer: at most CARD_BLOCKS blocks and about CARD_CHARS characters; what
    does not fit is dropped in order of least use at 3 a.m. (it is all in the details)."""
    top = p.causes[0] if p.causes else None
    action = answer.first_action(p)
    proved = top is not None and top.confidence == CONFIRMED
    watch = top is not None and top.id in WATCH_ONLY and not proved
    must: list[Block | None] = [
        _sentence(p, top),
        _facts(p, one_line=watch),
        _do_first(action) if action else None,
    ]
    # (block, dropped first when over budget: higher goes first)
    optional: list[tuple[Block | None, int]] = [
        (None if watch else _why(action, p, ask=not d.state and not proved), 2),
        (_last_time(p), 1),
        (_contradiction(p), 0),
        (_warnings(d) if warnings else None, 3),
    ]
    buttons = _card_buttons(p, top, n)
    kept = [(b, rank) for b, rank in optional if b is not None]
    body = [b for b in must if b is not None]

    def size() -> int:
        return sum(_shown(b) for b in [*body, *(b for b, _ in kept), buttons])

    while kept and (size() > CARD_CHARS or len(body) + len(kept) + 1 > CARD_BLOCKS):
        kept.remove(max(kept, key=lambda k: k[1]))
    order = [b for b, _ in optional if any(b is k for k, _ in kept)]
    return [*body[:3], *order, buttons]


def diagnosis(d: Diagnosis) -> list[Block]:
    """The threaded reply to a paste: an answer card for one peer, or a card for each of the
    busiest peers under the sentence for the whole paste."""
    if not d.peers:
        return [section(f"*{notification(d)}*"), *filter(None, [_warnings(d)])]
    if len(d.peers) == 1:
        return card(d, d.peers[0], warnings=True)
    blocks: list[Block] = [section(f"*{notification(d)}*"), context(esc(d.summary()))]
    said = _warnings(d, d.box_first)
    if said is not None:
        blocks.append(said)
    for n, p in enumerate(d.peers[:PEERS_SHOWN], 1):
        blocks.append(DividerBlock())
        blocks.extend(card(d, p, n))
    rest = d.peers[PEERS_SHOWN:]
    if rest:
        named = ", ".join(
            f"{esc(p.peer or 'unknown')}: {esc(p.causes[0].id if p.causes else '?')}" for p in rest
        )
        blocks.append(context(f"… and {len(rest)} more peer(s): {named}"))
    return fit(blocks)


# -- the details ---------------------------------------------------------------------------------


def confirmed(title: str, peer: str, finding: str, proof: list[str]) -> str:
    """The short thread reply that says an answer has just been confirmed."""
    said = f"Confirmed: {esc(title)} for {esc(peer)}"
    said += f": {esc(finding)}" if finding else ""
    return clip(f"{said}\n{code(proof_lines(proof))}" if proof else said)


def reason_words(reason: str) -> str | None:
    """A ranking reason as words: no points, and none for the base rate (it is no evidence)."""
    match = _POINTS.match(reason)
    if not match:
        return reason
    if "base rate" in reason:
        return None
    words = reason[match.end() :]
    return f"against it: {words}" if float(match.group(1)) < 0 else words


def _reasons(cause: Cause) -> str:
    said = [w for w in map(reason_words, cause.reasons) if w]
    return "\n".join(f"• {esc(w)}" for w in said)


def _cause_title(cause: Cause) -> str:
    said = "✅ Confirmed" if cause.confidence == CONFIRMED else esc(cause.confidence)
    return f"*{esc(cause.title)}*  {literal(cause.id)} · {said}"


KIND_WORDS = {("verify", "exec"): "Check", ("fix", "exec"): "Fix"}


def command_block(s: Section) -> SectionBlock:
    """One block of `kb.commands.sections`: run-now lines, or configuration under its mode
    path, or settings in a UI (not pasted: shown as a list); placeholders said in words."""
    title = KIND_WORDS.get((s.kind, s.mode)) or (
        "Configuration" if s.mode == "config" else "Settings"
    )
    if s.mode == "ui":
        text = f"*{title}*, {esc(s.heading)}:\n" + "\n".join(f"• {esc(x)}" for x in s.lines)
        return section(text + _fill_in(s.placeholders))
    path = f", in {esc(s.heading)}" if s.heading else ""
    text = f"*{title}*, {esc(s.where_text)}{path}:\n{code(list(s.lines))}"
    return section(text + _fill_in(s.placeholders))


def _sources(cause: Cause) -> ContextBlock | None:
    """The sources that back the commands shown, as links."""
    urls = list(dict.fromkeys(c["source"] for c in cause.commands if c.get("source")))
    if not urls:
        return None
    said = " · ".join(link(u, _source_label(u)) for u in urls[:SOURCES_SHOWN])
    more = f" · and {len(urls) - SOURCES_SHOWN} more" if len(urls) > SOURCES_SHOWN else ""
    return context(f"📚 Sources: {said}{more}")


def _source_label(url: str) -> str:
    """ "cisco.com: 115801-technote-iosvpn-00": the site and the page, not the whole URL."""
    site, _, rest = re.sub(r"^https?://(www\.)?", "", url).partition("/")
    page = re.sub(r"\.html?$", "", rest.split("?")[0].rstrip("/").rsplit("/", 1)[-1])
    return cut(f"{site}: {page}" if page else site, 60)


def _findings(p: PeerDiagnosis) -> list[Block]:
    out: list[Block] = []
    for f in findings_of(p, "contradiction", p.peer)[:CONTRADICTIONS_SHOWN]:
        body = f"❗ *State contradicts the log:* {esc(f.text)}"
        if f.proof:
            body += "\n" + code(proof_lines(f.proof))
        out.append(section(body))
    said = [f"🛡️ *Prevent it:* {esc(f.text)}" for f in findings_of(p, "prevention", p.peer)]
    said += [f"➕ {esc(f.text)}" for f in findings_of(p, "supports", p.peer)]
    if said:
        out.append(context("\n".join(said)))
    return out


def _others(p: PeerDiagnosis, top_n: int) -> list[Block]:
    """The other causes with evidence for them, with their reasons and what would check them;
    a cause nothing points to is no candidate."""
    out: list[Block] = []
    others = [c for c in p.causes[1:top_n] if c.has_evidence][:DETAILED_CAUSES]
    for n, cause in enumerate(others, 2):
        text = f"*{n}.* {_cause_title(cause)}\n{_reasons(cause)}"
        checks = [s for s in sections(cause.commands, "verify") if s.mode == "exec"][:1]
        if checks:
            text += f"\nCheck, {esc(checks[0].where_text)}:\n{code(list(checks[0].lines))}"
        out.append(section(text))
    return out


def _peer_details(d: Diagnosis, p: PeerDiagnosis, several: bool) -> list[Block]:
    top = p.causes[0] if p.causes else None
    out: list[Block] = []
    if several:
        out.append(DividerBlock())
    whose = f"Peer {literal(p.peer or 'unknown')}: " if several else ""
    if top is None:
        return [*out, section(f"{whose}{esc(answer.headline(p))}")]
    out.append(section(f"{whose}{_cause_title(top)}\n{_reasons(top)}"))
    if top.confidence == CONFIRMED and top.proof:
        out.append(section("*Proof*\n" + code(proof_lines(top.proof))))
    out.extend(command_block(s) for s in sections(top.commands))
    if top.caveats:
        out.append(context("\n".join(f"⚠️ {esc(c)}" for c in top.caveats)))
    if p.decide and len(p.causes) > 1:
        pair = f"{esc(p.causes[0].id)} or {esc(p.causes[1].id)}"
        out.append(context(f"🔎 *What would decide it* ({pair}): {esc(p.decide)}"))
    out.extend(_findings(p))
    if not d.state:
        asks = list(dict.fromkeys(asks_of(p)))[:ASKS_SHOWN]
        if asks:
            out.append(section("🔬 *To confirm:* " + "\n".join(_ask_line(*a) for a in asks)))
    out.extend(_others(p, max(d.top, DETAILED_CAUSES + 1)))
    sources = _sources(top)
    if sources is not None:
        out.append(sources)
    return out


def _chosen(d: Diagnosis, peer: str | None) -> list[PeerDiagnosis]:
    picked = [p for p in d.peers if peer is not None and p.peer == peer]
    return picked or d.peers[:PEERS_SHOWN]


def details(d: Diagnosis, peer: str | None = None) -> list[Block]:
    """Everything the card leaves out, as its own message in the thread: for `peer`, or for
    every peer shown when none is named (or it is not in this paste)."""
    chosen = _chosen(d, peer)
    blocks: list[Block] = [section(f"*Details:* {esc(answer.paste_headline(d))}")]
    if len(chosen) == 1:
        blocks = [section(f"*Details:* {esc(answer.headline(chosen[0]))}")]
    for p in chosen:
        blocks.extend(_peer_details(d, p, several=len(chosen) > 1))
    tail: list[Block] = []
    notes = findings_of(d, "note")
    if notes:
        tail.append(context("\n".join(f"ℹ️ {esc(n.text)}" for n in notes)))
    if d.warnings:
        tail.append(context("\n".join(f"⚠️ {esc(w)}" for w in d.warnings)))
    if d.incidents:
        tail.append(section("*Past incidents*"))
        tail.extend(incident_blocks([i.to_dict() for i in d.incidents], limit=3))
    if d.recorded:
        tail.append(context("incident " + ", ".join(f"#{i}" for i in d.recorded[:PEERS_SHOWN])))
    return fit([*blocks, *tail])


def incident_blocks(incidents: list[dict], limit: int = 5, notes: int = 2) -> list[Block]:
    """Incidents in their JSON form (Incident.to_dict, as lookups return them): a line each,
    its latest notes under it as plain text, each with its author and date."""
    out: list[Block] = []
    for i in incidents[:limit]:
        state = f"fixed by {literal(i['fixed_by'])}" if i["fixed_by"] else esc(i["status"])
        spis = f" SPI {', '.join(literal(s) for s in i['spis'])}" if i["spis"] else ""
        when = esc(i["updated_at"][:10])
        out.append(section(f"• #{i['id']} {literal(i['peer'])}{spis}: {state}, {when}"))
        if notes and i["notes"]:
            out.append(quoted([_note_said(n) for n in i["notes"][-notes:]]))
    if len(incidents) > limit:
        out.append(context(f"… and {len(incidents) - limit} more"))
    return out


def _note_said(note: dict) -> str:
    who = note.get("author") or "someone"
    return f"{who}, {(note.get('created_at') or '')[:10]}: {note['text']}"


def fit(blocks: list[Block], limit: int = MAX_BLOCKS) -> list[Block]:
    """At most `limit` blocks; the last one says that the rest was cut."""
    if len(blocks) <= limit:
        return blocks
    return [
        *blocks[: limit - 1],
        context("… more in `spibot diagnose` (Slack allows 50 blocks)"),
    ]


def lookup(result: dict) -> list[Block]:
    out = text_reply(f"{result['kind']}: {result['query']}")
    for a in result["articles"]:
        out.append(
            section(f"• *{esc(a['title'])}* {literal(a['id'])}\n   {esc(a['summary'][:280])}")
        )
    out.extend(incident_blocks(result["incidents"], limit=len(result["incidents"])))
    if len(out) == 1:
        out.append(section("Nothing found."))
    return fit(out)


def text_reply(title: str, body: str | list[Block] = "") -> list[Block]:
    """A bold title (escaped here) over a mrkdwn body the caller escaped, or over blocks."""
    if isinstance(body, list):
        return fit([section(f"*{esc(title)}*"), *body])
    return [section(f"*{esc(title)}*\n{body}" if body else f"*{esc(title)}*")]


def note_modal(text: str, peer: str | None, metadata: dict) -> View:
    return View(
        type="modal",
        callback_id=NOTE_MODAL,
        title=PlainTextObject(text="SPI incident note"),
        submit=PlainTextObject(text="Add note"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=json.dumps(metadata)[:3000],
        blocks=[
            InputBlock(
                block_id="peer",
                label="Peer IP address",
                element=PlainTextInputElement(action_id="value", initial_value=peer or ""),
            ),
            InputBlock(
                block_id="note",
                label="Note",
                element=PlainTextInputElement(
                    action_id="value", multiline=True, initial_value=text[:2900], max_length=3000
                ),
            ),
        ],
    )


def home(counts: dict[str, int], open_incidents: list[Incident], peers: list[str]) -> View:
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text="spibot: IPsec invalid SPI")),
        section(
            f"*{counts['articles']}* cause articles · *{counts['incidents']}* incidents "
            f"(*{counts['open_incidents']}* open) · *{counts['notes']}* notes"
        ),
        DividerBlock(),
        section("*Open incidents*" + ("" if open_incidents else "\nNone.")),
        *incident_blocks([i.to_dict() for i in open_incidents], limit=10),
        section("*Recent peers*\n" + (", ".join(literal(p) for p in peers) or "None yet.")),
        context("Paste logs in a channel I'm in, or use `/spi help`."),
    ]
    return View(type="home", blocks=fit(blocks))
