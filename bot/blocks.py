"""Block Kit for Slack, built with slack-sdk's models and kept inside Slack's limits.

Everything that came from a paste, a person, an import or an article is escaped, so a pasted
<!channel> or <@U123> shows as text and never pings anyone. Free text that people wrote
(notes) is shown as plain_text, so its *, _, ` and URLs stay as typed; every mrkdwn object is
verbatim, so Slack links no bare URL or channel name on its own.

A little over 300 lines: the reply to a paste is most of it, one peer in full or each peer of
a multi-peer paste with its own answer and buttons, and both stay within Slack's limits here.

What pasted device state proved (kb/state/findings.py, issue 11) is shown with the cause: a
confirmed cause says "Confirmed" with its proof lines, a contradiction is shown near the top,
a prevention under the fix, and an answer from the log alone ends with what to run to decide.
"""

from __future__ import annotations

import json

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

from kb.diagnose import Diagnosis
from kb.incidents import Incident
from kb.peers import PeerDiagnosis
from kb.ranking import Cause

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_BUTTON_VALUE = 2000
MAX_CONTEXT_ELEMENTS = 10
DETAILED_CAUSES = 3
PEERS_SHOWN = 5  # a multi-peer reply details this many peers, then names the others
PROOF_LINES = 8  # proof lines shown under a confirmed cause; the rest are counted
CONTRADICTIONS_SHOWN = 3
ASKS_SHOWN = 3
ASK_THREAD = "paste the output in this thread"
NOTE_MODAL = "spi_note_modal"


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


def value(**fields) -> str:
    text = json.dumps(fields, separators=(",", ":"))
    if len(text) > MAX_BUTTON_VALUE:
        raise ValueError("button value too long")
    return text


def _buttons(cause: Cause, incident_id: int, peer: str | None, block_id: str) -> ActionsBlock:
    return ActionsBlock(
        block_id=block_id,
        elements=[
            ButtonElement(
                text="This fixed it",
                action_id="spi_fixed",
                style="primary",
                value=value(incident=incident_id, article=cause.id, peer=peer),
            ),
            ButtonElement(
                text="Not it",
                action_id="spi_not_it",
                value=value(incident=incident_id, article=cause.id, peer=peer),
            ),
        ],
    )


def _note_button(incident_id: int, peer: str | None) -> ButtonElement:
    return ButtonElement(
        text="Add note", action_id="spi_add_note", value=value(incident=incident_id, peer=peer)
    )


def _heading(cause: Cause) -> str:
    """Title, id, confidence in words and score; a confirmed cause needs no score."""
    if cause.confidence == "confirmed":
        return f"*{esc(cause.title)}*  {literal(cause.id)} · ✅ *Confirmed*"
    said = f" · *{esc(cause.confidence)}*" if cause.confidence else ""
    return f"*{esc(cause.title)}*  {literal(cause.id)}{said} · score {cause.score:.1f}"


def proof_lines(proof: list[str], limit: int = PROOF_LINES) -> list[str]:
    """The first `limit` proof lines, and how many more there are."""
    shown = list(proof[:limit])
    if len(proof) > limit:
        shown.append(f"… and {len(proof) - limit} more line(s)")
    return shown


def _proof(cause: Cause) -> list[Block]:
    proof = getattr(cause, "proof", None) or []
    if cause.confidence != "confirmed" or not proof:
        return []
    return [section("*Proof*\n" + code(proof_lines(proof)))]


def findings_of(holder: object, kind: str, peer: str | None = None) -> list:
    """The findings of one kind that a diagnosis (or a peer's) holds; with `peer`, those
    about that peer or about the paste as a whole."""
    found = getattr(holder, "findings", None) or []
    return [f for f in found if f.kind == kind and (peer is None or f.peer in (peer, None))]


def confirmed(title: str, peer: str, finding: str, proof: list[str]) -> str:
    """The short thread reply that says an answer has just been confirmed."""
    said = f"Confirmed: {esc(title)} for {esc(peer)}"
    said += f": {esc(finding)}" if finding else ""
    return clip(f"{said}\n{code(proof_lines(proof))}" if proof else said)


def _contradictions(d: Diagnosis) -> list[Block]:
    out = []
    for f in findings_of(d, "contradiction")[:CONTRADICTIONS_SHOWN]:
        body = f"❗ *State contradicts the log:* {esc(f.text)}"
        if f.proof:
            body += "\n" + code(proof_lines(f.proof))
        out.append(section(body))
    return out


def _notes(d: Diagnosis) -> list[Block]:
    notes = findings_of(d, "note")
    return [context(" · ".join(f"ℹ️ {esc(n.text)}" for n in notes))] if notes else []


def _prevention(holder: object, peer: str | None) -> list[Block]:
    found = findings_of(holder, "prevention", peer)
    return [context(" · ".join(f"🛡️ *Prevent it:* {esc(f.text)}" for f in found))] if found else []


def ask_lines(d: Diagnosis) -> list[tuple[str, str]]:
    """(where, command) to run when the paste held no device state: what would confirm the
    top cause of each peer shown, each once."""
    if getattr(d, "state", None):
        return []
    asks = [a for p in d.peers[:PEERS_SHOWN] for a in getattr(p, "ask", None) or []]
    asks = asks or list(getattr(d, "ask", None) or [])
    pairs = dict.fromkeys(
        (a.where if a.where.startswith("on ") else f"on {a.where}", a.command) for a in asks
    )
    return list(pairs)[:ASKS_SHOWN]


def _asks(d: Diagnosis) -> list[Block]:
    lines = [f"{esc(where)}: {literal(command)} — {ASK_THREAD}" for where, command in ask_lines(d)]
    return [section("🔬 *To confirm:* " + "\n".join(lines))] if lines else []


def _commands(title: str, runs: list[tuple[str, list[str]]]) -> str:
    """Each run of commands in its own code block, under where it runs."""
    return "\n".join(
        f"*{title}*, {esc(where)}\n{code(lines)}" if where else f"*{title}*\n{code(lines)}"
        for where, lines in runs
    )


def _decide(causes: list[Cause], decide: str | None) -> str | None:
    if not decide or len(causes) < 2:
        return None
    pair = f"{esc(causes[0].id)} or {esc(causes[1].id)}"
    return f"🔎 *What would decide it* ({pair}): {esc(decide)}"


def _cause_blocks(
    n: int, cause: Cause, incident_id: int | None, peer: str | None, findings: object = None
) -> list[Block]:
    reasons = "\n".join(f"• {esc(r)}" for r in cause.reasons)
    blocks: list[Block] = [section(f"*{n}.* {_heading(cause)}\n{reasons}"), *_proof(cause)]
    if n > DETAILED_CAUSES:
        return blocks
    if cause.worth_detailing(n, DETAILED_CAUSES):
        blocks.append(section(_commands("Check", cause.verify_where)))
        blocks.append(section(_commands("Fix", cause.fixes_where)))
        if n == 1:
            blocks.extend(_prevention(findings, peer))
        if cause.caveats:
            blocks.append(context("⚠️ " + esc(cause.caveats[0])))
    # Buttons even without evidence: "this fixed it" on a cause nothing suggested is the
    # most useful thing the knowledge base can learn.
    if incident_id is not None:
        blocks.append(_buttons(cause, incident_id, peer, f"cause_{cause.id}"))
    return blocks


def _peer_line(p: PeerDiagnosis) -> str:
    to = f" → {literal(p.local)}" if p.local else ""
    spis = ", ".join(literal(s) for s in p.spis[:3]) or "unknown"
    more = f" and {len(p.spis) - 3} more" if len(p.spis) > 3 else ""
    incident = f" · incident #{p.incident}" if p.incident is not None else ""
    who = f"*Peer {literal(p.peer or 'unknown')}*{to}"
    return f"{who} · {p.lines} line(s) · SPI {spis}{more}{incident}"


def _peer_blocks(n: int, p: PeerDiagnosis) -> list[Block]:
    """One peer of a multi-peer paste: its top cause in detail, its own buttons."""
    top = p.causes[0]
    reasons = "\n".join(f"• {esc(r)}" for r in top.reasons)
    blocks: list[Block] = [
        DividerBlock(),
        section(f"{_peer_line(p)}\n{_heading(top)}\n{reasons}"),
        *_proof(top),
        # Check and Fix apart, as for a single peer: clip() must never cut inside a code block.
        section(_commands("Check", top.verify_where)),
        section(_commands("Fix", top.fixes_where)),
        *_prevention(p, p.peer),
    ]
    notes = [f"⚠️ {esc(top.caveats[0])}"] if top.caveats else []
    if decided := _decide(p.causes, p.decide):
        notes.append(decided)
    nxt = [
        f"{i}. {esc(c.id)} ({esc(c.confidence)}, {c.score:.1f})"
        for i, c in enumerate(p.causes[1:3], 2)
    ]
    notes.append("Next: " + "; ".join(nxt))
    blocks.append(
        ContextBlock(elements=[MarkdownTextObject(text=clip(t), verbatim=True) for t in notes])
    )
    if p.incident is not None:
        actions = _buttons(top, p.incident, p.peer, f"peer_{n}")
        actions.elements.append(_note_button(p.incident, p.peer))
        blocks.append(actions)
    return blocks


def incident_blocks(incidents: list[dict], limit: int = 5, notes: int = 2) -> list[Block]:
    """Incidents in their JSON form (Incident.to_dict, as lookups return them): a line each,
    its latest notes under it as plain text."""
    out: list[Block] = []
    for i in incidents[:limit]:
        state = f"fixed by {literal(i['fixed_by'])}" if i["fixed_by"] else esc(i["status"])
        spis = f" SPI {', '.join(literal(s) for s in i['spis'])}" if i["spis"] else ""
        when = esc(i["updated_at"][:10])
        out.append(section(f"• #{i['id']} {literal(i['peer'])}{spis}: {state}, {when}"))
        if notes and i["notes"]:
            out.append(quoted([f"note: {n['text']}" for n in i["notes"][-notes:]]))
    if len(incidents) > limit:
        out.append(context(f"… and {len(incidents) - limit} more"))
    return out


def diagnosis(d: Diagnosis) -> list[Block]:
    """The threaded reply to a paste: one peer in full, or each peer with its own answer."""
    blocks: list[Block] = [section(f"*Invalid SPI:* {esc(d.summary())}")]
    if d.box_first:
        blocks.append(section(f"🧭 *{esc(d.box_first)}*"))
    if d.warnings:
        blocks.append(context(" · ".join(f"⚠️ {esc(w)}" for w in d.warnings)))
    blocks.extend(_contradictions(d))
    blocks.extend(_notes(d))
    if len(d.peers) > 1:
        for n, p in enumerate(d.peers[:PEERS_SHOWN], 1):
            blocks.extend(_peer_blocks(n, p))
        rest = d.peers[PEERS_SHOWN:]
        if rest:
            named = ", ".join(f"{esc(p.peer or 'unknown')}: {esc(p.causes[0].id)}" for p in rest)
            blocks.append(context(f"… and {len(rest)} more peer(s): {named}"))
    else:
        blocks.extend(_single_peer(d))
    if d.incidents:
        blocks.append(DividerBlock())
        blocks.append(section("*Past incidents*"))
        blocks.extend(incident_blocks([i.to_dict() for i in d.incidents]))
    footer = []
    if d.recorded:
        footer.append("incident " + ", ".join(f"#{i}" for i in d.recorded[:PEERS_SHOWN]))
    footer.append("spibot · reasons show what moved each score")
    # What to run next is the point of a log-only answer: never the part that is cut.
    tail = [*_asks(d), context(" · ".join(footer))]
    return [*fit(blocks, MAX_BLOCKS - len(tail)), *tail]


def _single_peer(d: Diagnosis) -> list[Block]:
    """One peer: its ranked causes, the first three in detail, one set of buttons."""
    p = d.peers[0] if d.peers else None
    incident_id = p.incident if p else None
    out: list[Block] = []
    for n, cause in enumerate(d.causes[: d.top], 1):
        out.append(DividerBlock())
        holder = p if getattr(p, "findings", None) is not None else d
        out.extend(_cause_blocks(n, cause, incident_id, d.peer, holder))
        if n == 1 and (decided := _decide(d.causes, d.decide)):
            out.append(context(decided))
    if incident_id is not None:
        out.append(ActionsBlock(block_id="notes", elements=[_note_button(incident_id, d.peer)]))
    return out


def fit(blocks: list[Block], limit: int = MAX_BLOCKS) -> list[Block]:
    """At most `limit` blocks; the last one says that the rest was cut."""
    if len(blocks) <= limit:
        return blocks
    return [
        *blocks[: limit - 1],
        context("… more in `spibot diagnose` (Slack allows 50 blocks)"),
    ]


def resolved(
    blocks: list[dict], article: str, user: str, incident: int | None = None, peer=None
) -> list[dict]:
    """The reply after "This fixed it": that incident's buttons gone (every button when no
    incident is named), the verdict stated; other peers' buttons stay."""

    def ours(block: dict) -> bool:
        if block.get("type") != "actions":
            return False
        if incident is None:
            return True
        values = [_value(e.get("value")) for e in block.get("elements") or []]
        return any(v.get("incident") == incident for v in values)

    kept = [b for b in blocks if not ours(b)]
    whose = f" for {literal(peer)}" if peer and incident is not None else ""
    said = f"✅ Fixed by {literal(article)}{whose}, marked by <@{esc(user)}>"
    kept.append(context(said).to_dict())
    return kept


def _value(text: object) -> dict:
    try:
        found = json.loads(text) if isinstance(text, str) else {}
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


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
