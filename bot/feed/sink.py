"""What every feed door hands its lines to (the ingest queue, or a test's recorder)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Sink(Protocol):
    def offer(self, items: Sequence[bytes], source: str, *, framed: bool) -> int:
        """Hand over received lines; never blocks, never raises for bad content.

        framed=True: each item is one syslog frame as received (RFC 3164 or 5424, PRI included,
        no trailing newline); framed=False: each item is a plain log line (HTTP ingest).
        `source` is the sender (the UDP/TCP peer's address, or an HTTP record's host): the
        reporting device when a line names none. Returns how many were accepted; the rest were
        dropped and counted."""
        ...

    def room(self) -> int:
        """How many more lines the queue takes now (a door that can ask its client to retry,
        such as HTTP, refuses a batch that does not fit rather than drop part of it)."""
        ...
