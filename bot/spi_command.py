"""`/spi`: one function for every form, shared by Slack and the console."""

from __future__ import annotations

from dataclasses import dataclass, field

from slack_sdk.models.blocks import Block

from bot import blocks, text
from bot.slack_state import SlackState
from kb.diagnose import diagnose
from kb.events import canonical_ip
from kb.lookup import lookup
from kb.store import Store, StoreError


@dataclass
class Reply:
    text: str  # the plain-text form: Slack's fallback and the console's output
    blocks: list[Block] = field(default_factory=list)
    diagnosis: object | None = None


# What /spi does, written for someone in Slack: one row per form that `run` answers.
HELP = (
    (
        "/spi <pasted log lines>",
        "Diagnose invalid-SPI lines: the likely causes, ranked, with the commands to check "
        "and fix them.",
    ),
    (
        "/spi <peer IP | SPI | device | text>",
        "Look up a peer IP, an SPI (0x1A2B3C4D or decimal), a device name or free text: "
        "past incidents and their notes, or the cause articles that match the text.",
    ),
    ("/spi note <peer IP> <text>", "Add a note to the peer's open incident (or open one)."),
    (
        "/spi incidents [peer IP]",
        "The 10 latest incidents, or that peer's, with their notes and what fixed them.",
    ),
    ("/spi watch on|off", "Answer pastes from other bots (syslog feeds) in this channel, or stop."),
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


def _lookup(store: Store, query: str) -> Reply:
    result = lookup(store, query, limit=10)
    return Reply(text.lookup(result), blocks.lookup(result))


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
    """Every /spi form: help, note, incidents, watch, a pasted log, or a lookup.

    `request_key` names this request: the same request delivered twice stores one note."""
    raw = command_text.strip()
    word, _, rest = raw.partition(" ")
    word, rest = word.lower(), rest.strip()
    try:
        if word in ("", "help"):
            return spi_help()
        if word == "note":
            return _note(store, rest, user, source, request_key)
        if word == "incidents":
            return _incidents(store, rest)
        if word == "watch":
            return spi_watch(state, channel, user, rest.lower())
        result = diagnose(raw, store, source=source)
        if result.groups:
            return Reply(text.diagnosis(result), blocks.diagnosis(result), result)
        return _lookup(store, raw)
    except StoreError as exc:
        return Reply(f"Sorry: {exc}", blocks.text_reply("Sorry", blocks.esc(str(exc))))
