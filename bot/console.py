"""`spibot console`: the Slack replies in a terminal, for people without Slack.

A paste ends at an empty line (or at the end of input); a line starting with /spi, typed
on its own, is the Slack command. Each goes through the same /spi function as in Slack.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from bot import spi_command
from kb.diagnose import MAX_PASTE_CHARS
from kb.store import Store

GREETING = "spibot console: paste log lines and end with an empty line; /spi help; Ctrl-D quits."
NOTHING_FOUND = "No invalid-SPI lines recognised. Type /spi help."


def pastes(lines: Iterable[str], limit: int = MAX_PASTE_CHARS) -> Iterator[str]:
    """The pastes in a stream of typed lines: blocks ended by an empty line, /spi lines on
    their own. A block longer than `limit` characters is handed on at that point, so piping
    a log without empty lines never holds more than one paste's worth in memory."""
    buffer: list[str] = []
    size = 0
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not buffer and line.startswith("/spi"):
            yield line
            continue
        if line.strip():
            buffer.append(line)
            size += len(line) + 1
            if size < limit:
                continue
        if buffer:
            yield "\n".join(buffer)
        buffer, size = [], 0
    if buffer:
        yield "\n".join(buffer)


def answer(store: Store, pasted: str) -> str:
    """The reply Slack would give, as text."""
    if pasted.startswith("/spi"):
        return spi_command.run(store, pasted[4:], source="console").text
    reply = spi_command.run(store, pasted, source="console")
    return reply.text if reply.diagnosis is not None else NOTHING_FOUND


def run(store: Store, lines: Iterable[str], write: Callable[[str], None]) -> None:
    for pasted in pastes(lines):
        write(answer(store, pasted).rstrip() + "\n")
