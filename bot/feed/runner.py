"""Feed mode put together: the ingest queue in every process that takes lines, and the syslog
listeners and the alert loop in exactly one process per database.

Under gunicorn every worker takes `POST /ingest` into its own queue (all of them write to the
same incidents, one transaction per batch). The syslog ports and the alerts belong to the
process holding an exclusive lock on `<database>.feed.lock`; the others try again every
LEADER_RETRY_SECONDS, so when the leader dies another worker takes its place.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from bot.feed.alerter import Alerter, Output
from bot.feed.ingest import Ingest
from kb.feed.alerts import UPDATE_EVERY
from kb.store import Store

log = logging.getLogger("spibot.feed")
LEADER_RETRY_SECONDS = 5.0


@dataclass
class FeedConfig:
    db_path: str | Path
    team: str
    endpoints: list[str]  # udp:// tcp:// tls:// addresses
    tls: tuple[str, str] | None
    quiet: timedelta
    flood: int
    busy_ms: int = 5000
    update_every: timedelta = UPDATE_EVERY
    round_seconds: float = 1.0
    batch_seconds: float = 0.1
    channels: Callable[[Store], dict[str, bool]] = field(default=lambda store: {})


class Feed:
    def __init__(self, config: FeedConfig, output: Output) -> None:
        self.config = config
        self.ingest = Ingest(
            self._store,
            quiet=config.quiet,
            batch_seconds=config.batch_seconds,
            on_commit=self._committed,
        )
        self.alerter = Alerter(
            self._store,
            output,
            config.channels,
            quiet=config.quiet,
            flood=config.flood,
            update_every=config.update_every,
            round_seconds=config.round_seconds,
        )
        self.receivers = None
        self._lock_file = None
        self._stop = threading.Event()

    def _store(self) -> Store:
        return Store(self.config.db_path, busy_ms=self.config.busy_ms, team=self.config.team)

    def _committed(self, recorded: list) -> None:
        if any(r.opened for r in recorded):
            self.alerter.nudge()

    @property
    def leader(self) -> bool:
        return self._lock_file is not None

    def start(self, *, wait_to_lead: bool = False) -> None:
        """Start the queue; lead at once if no other process does (else raise when told not
        to wait, or keep trying in the background)."""
        self.ingest.start()
        if self._try_to_lead():
            return
        if not wait_to_lead:
            self.ingest.stop()
            raise RuntimeError(
                f"another spibot process already runs feed mode on {self.config.db_path} "
                "(it holds the syslog ports and sends the alerts)"
            )
        threading.Thread(target=self._wait_to_lead, name="spibot-feed-leader", daemon=True).start()

    def _wait_to_lead(self) -> None:
        while not self._stop.wait(LEADER_RETRY_SECONDS):
            try:
                if self._try_to_lead():
                    return
            except Exception:  # a port still held by the old leader, say: try again
                log.exception("feed: could not take over the syslog ports and the alerts")

    def _try_to_lead(self) -> bool:
        path = f"{self.config.db_path}.feed.lock"
        handle = open(path, "a+")  # noqa: SIM115 - held open as long as this process leads
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock_file = handle
        try:
            self._lead()
        except BaseException:
            self._give_up_lead()
            raise
        return True

    def _lead(self) -> None:
        if self.config.endpoints:
            from bot.feed.receivers import Receivers, parse_endpoint

            endpoints = [parse_endpoint(url) for url in self.config.endpoints]
            self.receivers = Receivers(endpoints, self.ingest, tls=self.config.tls)
            self.receivers.start()
            for transport, host, port in self.receivers.addresses:
                log.info("spibot: receiving syslog on %s://%s:%s", transport, host, port)
        self.alerter.start()

    def _give_up_lead(self) -> None:
        if self._lock_file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def stop(self) -> None:
        """Stop receiving, write what was received, send the alerts it makes, then stop."""
        self._stop.set()
        if self.receivers is not None:
            self.receivers.stop()
        self.ingest.stop()
        self.alerter.stop()
        self._give_up_lead()
