"""The ingest queue: every door offers lines here and returns at once; one thread writes them.

`offer` runs on the receiving thread (a UDP loop, a TCP connection, an HTTP request), so it
does as little as can be: count, drop the lines no recogniser would read (one C-speed search
each: most of a router's syslog is about something else), and append the rest to a buffer
bounded in lines and bytes. Past the bound, or past one sender's share of it, lines are
dropped and counted (`spibot_ingest_dropped_total`), never waited for. The writer thread
takes the whole buffer every BATCH_SECONDS, recognises it, and commits it as one transaction
(kb/feed/record.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from bot import metrics
from kb.db import StoreError
from kb.feed.batch import Received, sort_batch
from kb.feed.syslog import read_frame
from kb.scan import has_candidate
from kb.store import Store

log = logging.getLogger("spibot.feed")

CAPACITY = 100_000  # lines waiting to be written
CAPACITY_BYTES = 64 * 1024 * 1024  # and their bytes: long lines fill the queue sooner
BATCH_SECONDS = 0.1
BATCH_MAX = 10_000  # lines written in one transaction
MAX_LINE_BYTES = 16 * 1024  # a log line longer than this is cut before it is queued


class Ingest:
    """The Sink (bot/feed/sink.py) every feed door hands its lines to."""

    def __init__(
        self,
        open_store: Callable[[], Store],
        *,
        quiet: timedelta,
        capacity: int = CAPACITY,
        batch_seconds: float = BATCH_SECONDS,
        on_commit: Callable[[list], None] | None = None,
    ) -> None:
        self._open_store = open_store
        self._quiet = quiet
        self._capacity = capacity
        self._bytes = 0
        self._batch_seconds = batch_seconds
        self._on_commit = on_commit
        self._lock = threading.Lock()
        self._waiting: list[tuple[bytes, str, bool, float]] = []
        self._per_source: dict[str, int] = {}
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._thread: threading.Thread | None = None

    # -- the doors' side -------------------------------------------------------------------
    def offer(self, items: Sequence[bytes], source: str, *, framed: bool) -> int:
        if not items:
            return 0
        metrics.INGEST_LINES.labels("syslog" if framed else "http").inc(len(items))
        wanted = [item[:MAX_LINE_BYTES] for item in items if has_candidate(item)]
        if not wanted:
            return len(items)
        now = time.monotonic()
        with self._lock:
            held = self._per_source.get(source, 0)
            # A sender's share shrinks as more senders wait: one address flooding (a device
            # stuck in a loop, an attacker) or two never fill the queue for everyone else.
            share = self._capacity // (len(self._per_source) + (held == 0) + 1) - held
            free = self._capacity - len(self._waiting)
            taken = wanted[: max(0, min(free, share))]
            size = sum(map(len, taken))
            while taken and self._bytes + size > CAPACITY_BYTES:
                size -= len(taken.pop())
            if taken:
                self._idle.clear()
                self._waiting.extend((item, source, framed, now) for item in taken)
                self._per_source[source] = held + len(taken)
                self._bytes += size
        dropped = len(wanted) - len(taken)
        if dropped:
            metrics.INGEST_DROPPED.labels("flood" if share < free else "queue_full").inc(dropped)
        return len(items) - dropped

    def room(self) -> int:
        with self._lock:
            return self._capacity - len(self._waiting)

    # -- the writer's side -----------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="spibot-ingest", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is waiting, then stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def drained(self, timeout: float) -> bool:
        """Wait until every line offered so far is written (for tests and shutdown)."""
        return self._idle.wait(timeout)

    def _take(self) -> list[tuple[bytes, str, bool, float]]:
        """The oldest BATCH_MAX lines: a backlog is written in batches, each one transaction
        of a bounded size, so memory stays flat while it drains."""
        with self._lock:
            taken, self._waiting = self._waiting[:BATCH_MAX], self._waiting[BATCH_MAX:]
            if self._waiting:
                for _, source, _, _ in taken:
                    self._per_source[source] -= 1
                self._per_source = {k: n for k, n in self._per_source.items() if n}
                self._bytes -= sum(len(item) for item, *_ in taken)
            else:
                self._per_source, self._bytes = {}, 0
        return taken

    def _run(self) -> None:
        store = self._open_store()
        try:
            while not self._stop.is_set():
                if self._capacity - self.room() < BATCH_MAX:
                    self._stop.wait(self._batch_seconds)  # a full batch is written at once
                self._write_safely(store, self._take())
            while taken := self._take():
                self._write_safely(store, taken)
            self._write_safely(store, [])
        finally:
            store.close()

    def _write_safely(self, store: Store, taken: list[tuple[bytes, str, bool, float]]) -> None:
        try:
            self._write(store, taken)
        except Exception:  # a bug on one odd line must not stop the feed: the batch is lost
            metrics.INGEST_DROPPED.labels("not_written").inc(len(taken))
            metrics.ERRORS.labels("feed").inc()
            log.exception("feed: %d line(s) not written", len(taken))

    def _write(self, store: Store, taken: list[tuple[bytes, str, bool, float]]) -> None:
        if not taken:
            with self._lock:
                if not self._waiting:
                    self._idle.set()
            return

        received, not_text = [], 0
        for item, source, framed, arrived in taken:
            if framed:
                frame = read_frame(item[:MAX_LINE_BYTES], source)
                if frame is not None:
                    received.append(Received(frame.line, frame.device, arrived))
                    continue
            elif (line := _plain(item)) is not None:
                received.append(Received(line, source, arrived))
                continue
            not_text += 1
        if not_text:
            metrics.INGEST_DROPPED.labels("not_text").inc(not_text)
        batch = sort_batch(received)
        metrics.INGEST_RECOGNISED.inc(batch.recognised)
        try:
            recorded = store.feed.record(batch, datetime.now(UTC), self._quiet)
        except StoreError as exc:
            # The lines are lost, loudly: the database refused them (full disk, locked for
            # longer than the busy timeout, replaced). Later batches try again.
            metrics.INGEST_DROPPED.labels("not_written").inc(len(taken))
            log.error("feed: %d line(s) not written: %s", len(taken), exc)
            return
        done = time.monotonic()
        for tunnel in batch.tunnels:
            for seen in tunnel.seen:
                metrics.INGEST_COMMIT_SECONDS.observe(done - seen.arrived)
        opened = sum(1 for r in recorded if r.opened)
        if opened:
            metrics.INCIDENTS_OPENED.inc(opened)
        if self._on_commit is not None:
            self._on_commit(recorded)


def _plain(item: bytes) -> str | None:
    text = item[:MAX_LINE_BYTES].decode("utf-8", "replace")
    return None if "\x00" in text else text.strip("\r\n")
