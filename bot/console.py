"""`spibot console`: the Slack replies in a terminal, for people without Slack.

A paste ends at an empty line (or at the end of input); a line starting with /spi, typed
on its own, is the Slack command. Each goes through the same /spi function as in Slack.

Device state (`show crypto ipsec sa` and friends, issue 11) has empty lines of its own: once a
paste holds some, empty lines belong to it and it ends at a line holding only "." (or at the
end of input). As in a Slack thread, state pasted after a log is read together with that log
(and with the state pasted after it), and the answer is given again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from bot import spi_command, text
from kb.confidence import CONFIRMED
from kb.diagnose import MAX_PASTE_CHARS, Diagnosis, diagnose
from kb.scan import may_hold_events
from kb.state.reader import may_hold_state
from kb.store import Store, StoreError

GREETING = (
    "spibot console: paste log lines and end with an empty line; device state (show output) "
    'ends with a line holding only "."; /spi help; Ctrl-D quits.'
)
NOTHING_FOUND = "No invalid-SPI lines recognised. Type /spi help."
END_OF_STATE = "."


def pastes(
    lines: Iterable[str],
    limit: int = MAX_PASTE_CHARS,
    holds_state: Callable[[str], bool] | None = None,
) -> Iterator[str]:
    """The pastes in a stream of typed lines: blocks ended by an empty line (by a "." line
    once they hold device state), /spi lines on their own. A block longer than `limit`
    characters is handed on at that point, so piping a log without empty lines never holds
    more than one paste's worth in memory."""
    holds_state = holds_state or may_hold_state
    buffer: list[str] = []
    size = 0
    state = False
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not buffer and line.startswith("/spi"):
            yield line
            continue
        ends = line.strip() == END_OF_STATE if state else not line.strip()
        # A "." with nothing before it (one too many) ends nothing and is no paste.
        if not ends and (buffer or line.strip() not in ("", END_OF_STATE)):
            buffer.append(line)
            size += len(line) + 1
            state = state or holds_state(line)
            if size < limit:
                continue
        if buffer:
            yield "\n".join(buffer).rstrip("\n")
        buffer, size, state = [], 0, False
    if buffer:
        yield "\n".join(buffer).rstrip("\n")


def answer(store: Store, pasted: str) -> str:
    """The reply Slack would give, as text."""
    if pasted.startswith("/spi"):
        return spi_command.run(store, pasted[4:], source="console").text
    reply = spi_command.run(store, pasted, source="console")
    return reply.text if reply.diagnosis is not None else NOTHING_FOUND


def _continues(pasted: str) -> bool:
    """Whether a paste adds state to the log before it: it holds state and no invalid-SPI
    line of its own (a new log starts a new conversation)."""
    if not may_hold_state(pasted):
        return False
    return not (may_hold_events(pasted) and diagnose(pasted, record=False).groups)


def _again(store: Store, conversation: list[str], first: Diagnosis | None) -> str:
    """The log and the state pasted after it, answered again without counting the log's lines
    twice: the incidents are the first answer's, and a cause the state proves is recorded on
    them (as a Slack thread does)."""
    result = diagnose("\n".join(conversation), store, record=False, source="console")
    if not result.groups:
        return NOTHING_FOUND
    known = {p.peer: p.incident for p in (first.peers if first else []) if p.incident}
    for peer in result.peers:
        peer.incident = known.get(peer.peer)
        top = peer.causes[0] if peer.causes else None
        if peer.incident and top is not None and top.confidence == CONFIRMED:
            try:
                store.confirm_incident(peer.incident, top.id, top.proof)
            except StoreError as exc:
                result.warnings.append(f"the confirmed cause was not recorded: {exc}")
    return text.diagnosis(result)


def run(store: Store, lines: Iterable[str], write: Callable[[str], None]) -> None:
    conversation: list[str] = []  # the last log paste and the state pasted after it
    first: Diagnosis | None = None  # the answer to that log paste, which recorded it
    size = 0
    for pasted in pastes(lines):
        if pasted.startswith("/spi"):
            write(answer(store, pasted).rstrip() + "\n")
            continue
        if conversation and _continues(pasted) and size + len(pasted) < MAX_PASTE_CHARS:
            conversation.append(pasted)
            size += len(pasted) + 1
            write(_again(store, conversation, first).rstrip() + "\n")
            continue
        conversation, size = [pasted], len(pasted) + 1
        reply = spi_command.run(store, pasted, source="console")
        first = reply.diagnosis
        write((reply.text if first is not None else NOTHING_FOUND).rstrip() + "\n")
