"""`/spi`: one function for every form, shared by Slack and the console."""

from __future__ import annotations

from dataclasses import dataclass, field

from rapidfuzz import fuzz, process, utils
from rapidfuzz.distance import DamerauLevenshtein
from slack_sdk.models.blocks import Block

from bot import blocks, settings, spi_show, text
from bot.slack_state import SlackState
from kb.commands import PLATFORMS
from kb.diagnose import diagnose
from kb.events import canonical_ip
from kb.lookup import lookup
from kb.store import Store, StoreError

SUBCOMMANDS = ("help", "note", "fixed", "show", "incidents", "watch", "alerts")
TYPO_RATIO = 80  # a single word this close to a subcommand's name is taken for a typo of it
SUGGEST_RATIO = 60  # how close a cause or a peer must be to be offered instead
SUGGESTIONS = 3
NEAR_BEST = 10  # suggestions this close to the best one are offered with it
PEER_RATIO = 80
OPEN_SHOWN = 10
TRY = (
    "Try a peer IP (`/spi 198.51.100.7`), an SPI (`/spi 0x1A2B3C4D`), a device name, a cause "
    "(`/spi show sa-out-of-sync`), or paste the log lines."
)


@dataclass
class Reply:
    text: str  # the plain-text form: Slack's fallback and the console's output
    blocks: list[Block] = field(default_factory=list)
    diagnosis: object | None = None


# What /spi does, written for someone in Slack: one row per form that `run` answers.
HELP = (
    (
        "/spi <pasted log lines>",
        "Diagnose invalid-SPI lines: the likely cause, where to act and the command. Only you "
        "see it until you press Share in channel.",
    ),
    (
        "/spi <peer IP | SPI | device | text>",
        "Look up a peer IP, an SPI (0x1A2B3C4D or decimal), a device name or free text: "
        "past incidents and their notes, or the cause articles that match the text.",
    ),
    (
        "/spi show <cause> [platform]",
        "A cause's article: what it is, and the commands to check and fix it on every "
        f"platform, or on one ({', '.join(PLATFORMS)}).",
    ),
    (
        "/spi fixed <peer IP> <cause> [note]",
        "Close the peer's open incident as fixed by that cause, with an optional note.",
    ),
    ("/spi note <peer IP> <text>", "Add a note to the peer's open incident (or open one)."),
    (
        "/spi incidents [peer IP]",
        "The 10 latest incidents, or that peer's, with their notes and what fixed them.",
    ),
    ("/spi watch on|off", "Answer pastes from other bots (syslog feeds) in this channel, or stop."),
    (
        "/spi alerts here|here all|off",
        "Feed mode: post an alert here for every incident spibot's syslog feed opens (`all`: "
        "lone rekey races too), or stop. `/spi alerts` says what this channel gets.",
    ),
    ("/spi help", "This list."),
)
# Said in Slack only: the console has no channel to paste in.
PASTE_HINT = "Or paste the log lines in a channel I am in: I answer in the message's thread."


def spi_help() -> Reply:
    """Show what /spi can do."""
    plain = "\n".join(f"{form}  {doc}" for form, doc in HELP)
    body = "\n".join(f"`{blocks.esc(form)}`  {blocks.esc(doc)}" for form, doc in HELP)
    return Reply(plain, blocks.text_reply("spibot commands", f"{body}\n\n{blocks.esc(PASTE_HINT)}"))


def spi_watch(state: SlackState | None, channel: str | None, user: str | None, arg: str) -> Reply:
    """Answer pastes from other bots (syslog feeds) in this channel: on or off."""
    if arg not in ("on", "off"):
        return Reply("Usage: /spi watch on|off", blocks.text_reply("Usage", "`/spi watch on|off`"))
    if state is None or channel is None:
        return Reply("watch only works in Slack channels")
    state.watch(channel, user, arg == "on")
    said = (
        "I will answer invalid-SPI pastes from bots (syslog feeds) in this channel."
        if arg == "on"
        else "I will answer only people's pastes in this channel."
    )
    return Reply(said, blocks.text_reply("Watch " + arg, blocks.esc(said)))


ALERT_MODES = {"here": "alerts", "here all": "all", "off": "off"}


def spi_alerts(state: SlackState | None, channel: str | None, user: str | None, arg: str) -> Reply:
    """Feed alerts in this channel: here, here all, off; no argument says what it gets."""
    usage = "/spi alerts here|here all|off"
    if state is None or channel is None:
        return Reply("alerts only work in Slack channels")
    arg = " ".join(arg.split())
    if arg == "":
        wants = state.alert_channels(settings.alert_channel()).get(channel)
        said = (
            "This channel gets no feed alerts."
            if wants is None
            else "This channel gets an alert for every feed incident"
            + (", lone rekey races too." if wants else " (lone rekey races left out).")
        )
        return Reply(f"{said} ({usage})", blocks.text_reply("Alerts", blocks.esc(said)))
    mode = ALERT_MODES.get(arg)
    if mode is None:
        return Reply(f"Usage: {usage}", blocks.text_reply("Usage", f"`{usage}`"))
    state.set_alerts(channel, user, mode)
    said = {
        "alerts": "I will post an alert here for each incident the syslog feed opens, "
        "updated in place, and mark it resolved when it goes quiet.",
        "all": "I will post an alert here for every incident the syslog feed opens, "
        "lone rekey races included.",
        "off": "I will post no feed alerts in this channel.",
    }[mode]
    return Reply(said, blocks.text_reply("Alerts " + arg, blocks.esc(said)))


def _note(store: Store, rest: str, user: str | None, source: str, request_key: str | None) -> Reply:
    peer_text, _, note_text = rest.partition(" ")
    peer = canonical_ip(peer_text)
    if peer is None or not note_text.strip():
        usage = "Usage: /spi note <peer IP> <text>"
        return Reply(usage, blocks.text_reply("Usage", "`/spi note <peer IP> <text>`"))
    incident, note_id = store.add_note(
        peer=peer, text=note_text, author=user, source=source, request_key=request_key
    )
    said = f"Note {note_id} added to incident #{incident.id} for {peer}."
    return Reply(said, blocks.text_reply("Note added", blocks.esc(said)))


def _incidents(store: Store, rest: str) -> Reply:
    peer = canonical_ip(rest) if rest else None
    if rest and peer is None:
        return Reply("Usage: /spi incidents [peer IP]")
    found = [i.to_dict() for i in store.incidents(peer, limit=10)]
    plain = "\n".join(text.incident_lines(found)) or "No incidents."
    title = f"Incidents for {peer}" if peer else "Recent incidents"
    body = blocks.incident_blocks(found, limit=10) or "None."
    return Reply(plain, blocks.text_reply(title, body))


def _code(value: object) -> str:
    """A value as inline code in a sentence shown in Slack (escaped there) and the console."""
    return "`" + str(value).replace("`", "'") + "`"


def _said(title: str, *parts: str) -> Reply:
    """A short answer: its sentences (inline code marked with backticks), escaped for Slack."""
    plain = " ".join(p for p in parts if p)
    return Reply(plain, blocks.text_reply(title, blocks.esc(plain)))


def _usage(form: str) -> Reply:
    return _said("Usage", _code(form))


def closest(
    word: str, choices: dict[str, str], scorer=fuzz.token_set_ratio, cutoff: float = SUGGEST_RATIO
) -> list[str]:
    """The values of the choices (name -> value) nearest to `word`: the best, and the others
    as near as it (within NEAR_BEST points), each once."""
    found = process.extract(
        word, list(choices), scorer=scorer, processor=utils.default_process, score_cutoff=cutoff
    )
    if not found:
        return []
    best = found[0][1]
    near = [choices[name] for name, score, _ in found if score >= best - NEAR_BEST]
    return list(dict.fromkeys(near))[:SUGGESTIONS]


def subcommand_typo(word: str) -> str | None:
    """The subcommand a word looks like a typo of (`incidnets`, `ntoe`), or None."""
    typed = word.lower()
    if typed in SUBCOMMANDS:
        return None
    found = process.extractOne(typed, SUBCOMMANDS, scorer=fuzz.ratio, score_cutoff=TYPO_RATIO)
    if found:
        return found[0]
    # ratio() counts a swap of two letters as two edits: `ntoe` is 75 from `note`.
    swapped = [
        s for s in SUBCOMMANDS if len(typed) >= 4 and DamerauLevenshtein.distance(typed, s) == 1
    ]
    return swapped[0] if swapped else None


def did_you_mean(forms: list[str]) -> str:
    """ "Did you mean `/spi a` or `/spi b`?", or nothing."""
    shown = [_code(f) for f in forms]
    if not shown:
        return ""
    listed = f"{', '.join(shown[:-1])} or {shown[-1]}" if len(shown) > 1 else shown[0]
    return f"Did you mean {listed}?"


def _cause_names(store: Store) -> dict[str, str]:
    """What people call a cause (its id, title, aliases) -> its id."""
    names: dict[str, str] = {}
    for article in store.articles():
        for name in (article.id, article.title, *article.aliases):
            names.setdefault(name, article.id)
    return names


def _cause_id(store: Store, typed: str) -> str | None:
    typed = typed.strip().lower()
    return typed if typed in {a.id for a in store.articles()} else None


def _unknown_cause(store: Store, typed: str, retry: str) -> Reply:
    """A cause id that is not one: the nearest ones, and every id."""
    near = closest(typed, _cause_names(store))
    ids = sorted(a.id for a in store.articles())
    return _said(
        "Unknown cause",
        f"No cause called {_code(typed)}.",
        did_you_mean([retry.format(n) for n in near]),
        "Causes: " + ", ".join(_code(i) for i in ids) + ".",
    )


def _show(store: Store, rest: str) -> Reply:
    words = rest.split()
    if not words:
        ids = sorted(a.id for a in store.articles())
        return _said(
            "Usage", _code("/spi show <cause> [platform]"), "Causes: " + ", ".join(map(_code, ids))
        )
    platform = spi_show.platform_of(words[-1]) if len(words) > 1 else None
    if platform is not None:
        words = words[:-1]
    cause = _cause_id(store, "-".join(words))  # "rekey race" is rekey-race
    if cause is None and platform is None and len(words) > 1:
        cause = _cause_id(store, "-".join(words[:-1]))
        if cause is not None:  # `/spi show sa-out-of-sync fortigte`
            near = closest(words[-1], {p: p for p in PLATFORMS}, fuzz.ratio)
            return _said(
                "Unknown platform",
                f"No platform called {_code(words[-1])}.",
                did_you_mean([f"/spi show {cause} {p}" for p in near]),
                "Platforms: " + ", ".join(map(_code, PLATFORMS)) + ".",
            )
    if cause is None:
        retry = f"/spi show {{}} {platform}" if platform else "/spi show {}"
        return _unknown_cause(store, " ".join(words), retry)
    article = store.article(cause)
    return Reply(
        spi_show.article_text(article, platform), spi_show.article_blocks(article, platform)
    )


def _open_peers(store: Store) -> list[str]:
    """Peers with an open incident, the most recently seen first."""
    found = [i.peer for i in store.incidents(limit=500) if i.status == "open" and i.peer]
    return list(dict.fromkeys(found))


def _no_open_incident(store: Store, typed: str, peer: str | None, cause: str) -> Reply:
    """What exists instead: the peer's last incident, peers like it, every open one."""
    said = f"No open incident for {_code(typed)}."
    last = store.incidents(peer, limit=1) if peer else []
    if last:
        how = f", fixed by {_code(last[0].fixed_by)}" if last[0].fixed_by else ""
        said = f"{_code(peer)} has no open incident: #{last[0].id} is {last[0].status}{how}."
    open_peers = _open_peers(store)
    near = closest(typed, {p: p for p in open_peers if p != peer}, fuzz.ratio, PEER_RATIO)
    listed = ", ".join(map(_code, open_peers[:OPEN_SHOWN]))
    more = f" and {len(open_peers) - OPEN_SHOWN} more" if len(open_peers) > OPEN_SHOWN else ""
    known = f"Open incidents: {listed}{more}." if open_peers else "No incident is open."
    tip = did_you_mean([f"/spi fixed {p} {cause}" for p in near])
    return _said("No open incident", said, tip, known)


def _fixed(
    store: Store, rest: str, user: str | None, source: str, request_key: str | None
) -> Reply:
    words = rest.split(maxsplit=2)
    if len(words) < 2:
        return _usage("/spi fixed <peer IP> <cause> [note]")
    typed_peer, typed_cause, note = (*words, "")[:3]
    cause = _cause_id(store, typed_cause)
    if cause is None:
        return _unknown_cause(store, typed_cause, f"/spi fixed {typed_peer} {{}}")
    peer = canonical_ip(typed_peer)
    found = [i for i in store.incidents(peer, limit=50) if i.status == "open"] if peer else []
    if not found:
        return _no_open_incident(store, typed_peer, peer, cause)
    incident = found[0]
    filed = ""
    if note.strip():
        _, note_id = store.add_note(
            peer=peer,
            text=note,
            fixed_by=cause,
            author=user,
            source=source,
            incident_id=incident.id,
            request_key=request_key,
        )
        filed = f"Note {note_id} filed with it."
    else:
        store.resolve(incident.id, cause, author=user)
    title = store.article(cause).title
    return _said(
        "Fixed",
        f"Incident #{incident.id} for {_code(peer)} resolved: fixed by {_code(cause)} ({title}).",
        filed,
        "It ranks higher for this peer from now on.",
    )


def _nothing_found(result: dict, typo: str | None) -> Reply:
    """An empty lookup: what was looked for, and what to try instead."""
    query = result["query"]
    said = {
        "peer": f"Nothing found: no incidents for {_code(query)} yet.",
        "spi": f"Nothing found: no incident has seen SPI {_code(query)}.",
    }.get(result["kind"], f"Nothing found for {_code(query)}: no cause, device or note matches.")
    return _said("Nothing found", said, did_you_mean([f"/spi {typo}"] if typo else []), TRY)


def _lookup(store: Store, query: str) -> Reply:
    word, _, rest = query.partition(" ")
    typo = subcommand_typo(word)
    meant = f"{typo} {rest}".strip() if typo else None
    result = lookup(store, query, limit=10)
    if not result["articles"] and not result["incidents"]:
        return _nothing_found(result, meant)
    reply = Reply(text.lookup(result), blocks.lookup(result))
    if meant:  # a typo whose words found something too: both
        hint = did_you_mean([f"/spi {meant}"])
        reply.text = f"{hint}\n{reply.text}"
        reply.blocks = [blocks.context(blocks.esc(hint)), *reply.blocks]
    return reply


def run(
    store: Store,
    command_text: str,
    *,
    state: SlackState | None = None,
    channel: str | None = None,
    user: str | None = None,
    source: str = "slack",
    request_key: str | None = None,
) -> Reply:
    """Every /spi form: help, note, fixed, show, incidents, watch, alerts, a pasted log, or a
    lookup.

    `request_key` names this request: the same request delivered twice stores one note."""
    raw = command_text.strip()
    word, _, rest = raw.partition(" ")
    word, rest = word.lower(), rest.strip()
    try:
        if word in ("", "help"):
            return spi_help()
        if word == "note":
            return _note(store, rest, user, source, request_key)
        if word == "fixed":
            return _fixed(store, rest, user, source, request_key)
        if word == "show":
            return _show(store, rest)
        if word == "incidents":
            return _incidents(store, rest)
        if word == "watch":
            return spi_watch(state, channel, user, rest.lower())
        if word == "alerts":
            return spi_alerts(state, channel, user, rest.lower())
        result = diagnose(raw, store, source=source)
        if result.groups:
            return Reply(text.diagnosis(result), blocks.diagnosis(result), result)
        return _lookup(store, raw)
    except StoreError as exc:
        return Reply(f"Sorry: {exc}", blocks.text_reply("Sorry", blocks.esc(str(exc))))
