"""Feed mode's upkeep loop: close quiet incidents, diagnose the ones that grew, and send what
kb/feed/alerts.py plans to an output (Slack channels, or JSON lines on stdout for `listen`).

One round every ROUND_SECONDS on one thread. Only one process runs it for a database (see
bot/feed/runner.py), and every message is claimed in SQLite before it is sent.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol, TextIO

from bot import metrics
from kb.db import stamp
from kb.feed.alerts import (
    STALE_CLAIM,
    UPDATE_EVERY,
    Action,
    Subject,
    digest_sentence,
    digest_signature,
    plan,
)
from kb.feed.record import COMPANION_WINDOW
from kb.feed.review import Review, is_lone_race, review
from kb.store import Store

log = logging.getLogger("spibot.feed")
ROUND_SECONDS = 1.0
# Diagnosing an incident costs milliseconds of CPU: a round diagnoses for about this long, so
# a hub whose 400 tunnels fail at once is read over a few rounds while the feed keeps up.
REVIEW_BUDGET_SECONDS = 0.2
# An incident whose count grows by less than a quarter is diagnosed again this often; its
# alert's count is updated from a fresh reading whenever it changes anyway.
REVIEW_AT_LEAST_EVERY = timedelta(minutes=5)
# A resolved alert's row is kept this long: an Undo within it reopens the same message.
KEEP_RESOLVED_ALERTS = timedelta(days=7)


@dataclass
class Message:
    """What an output shows: one incident's alert, or a digest of several."""

    state: str  # open | resolved
    review: Review | None = None
    digest: list[Subject] = field(default_factory=list)
    closed_reason: str | None = None
    fixed_title: str | None = None  # the cause someone said fixed it

    @property
    def how_closed(self) -> str:
        if self.fixed_title:
            return f"fixed by {self.fixed_title}"
        return self.closed_reason or "closed"

    @property
    def text(self) -> str:
        """The one sentence (Slack's notification text, the JSON's "text")."""
        if self.review is None:
            sentence = digest_sentence(self.digest)
            if self.state == "resolved":
                return f"Resolved: {sentence}"
            return sentence
        incident = self.review.incident
        if self.state == "resolved":
            return f"Resolved: {incident.peer} ({self.how_closed})"
        return incident.summary or f"invalid-SPI lines from {incident.peer}"


class Output(Protocol):
    def post(self, channel: str, message: Message) -> str:
        """Send a new message; its reference (Slack's ts) for later updates."""
        ...

    def update(self, channel: str, ref: str, message: Message) -> None: ...


class JsonLines:
    """`spibot listen`'s output: one JSON object per alert event on a stream."""

    def __init__(self, stream: TextIO = sys.stdout) -> None:
        self.stream = stream
        self._lock = threading.Lock()
        self._count = 0

    def post(self, channel: str, message: Message) -> str:
        with self._lock:
            self._count += 1
            ref = f"{self._count}"
        self._write("alert", ref, message)
        return ref

    def update(self, channel: str, ref: str, message: Message) -> None:
        self._write("resolved" if message.state == "resolved" else "update", ref, message)

    def _write(self, event: str, ref: str, message: Message) -> None:
        doc: dict = {"event": event, "ref": ref, "state": message.state, "text": message.text}
        if message.review is not None:
            incident = message.review.incident
            doc["incident"] = incident.to_dict() | {"event_count": incident.event_count}
            top = message.review.top
            doc["cause"] = top.id if top else None
            doc["confidence"] = top.confidence if top else None
            doc["devices"] = message.review.devices
        else:
            doc["incidents"] = [s.id for s in message.digest]
        with self._lock:
            self.stream.write(json.dumps(doc, ensure_ascii=False) + "\n")
            self.stream.flush()


class Alerter:
    def __init__(
        self,
        open_store: Callable[[], Store],
        output: Output,
        channels: Callable[[Store], dict[str, bool]],  # channel -> wants every event
        *,
        quiet: timedelta,
        flood: int,
        update_every: timedelta = UPDATE_EVERY,
        round_seconds: float = ROUND_SECONDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._open_store = open_store
        self.output = output
        self.channels = channels
        self.quiet = quiet
        self.flood = flood
        self.update_every = update_every
        self.round_seconds = round_seconds
        self.clock = clock
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_sweep: datetime | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="spibot-alerts", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def nudge(self, *_: object) -> None:
        """Run the next round now (new lines were committed)."""
        self._wake.set()

    def _run(self) -> None:
        store = self._open_store()
        try:
            last = False
            while True:
                try:
                    self.run_once(store)
                except Exception:  # one bad round must not end feed mode
                    metrics.ERRORS.labels("feed").inc()
                    log.exception("feed: the alert round failed")
                if last:
                    break
                if self._stop.is_set():
                    # One more round, begun after the stop: it sees what the queue wrote on
                    # its way out (the one just run may have begun before).
                    last = True
                    continue
                self._wake.wait(self.round_seconds)
                self._wake.clear()
        finally:
            store.close()

    def run_once(self, store: Store) -> list[Action]:
        now = self.clock()
        store.feed.close_quiet(self.quiet, now)
        if self._last_sweep is None or now - self._last_sweep >= COMPANION_WINDOW:
            store.feed.forget_waiting(now - 2 * COMPANION_WINDOW)
            store.alerts.forget_resolved(now - KEEP_RESOLVED_ALERTS)
            self._last_sweep = now
        reviews: dict[int, Review] = {}
        started = time.monotonic()
        due, stale = stamp(now - self.update_every), stamp(now - REVIEW_AT_LEAST_EVERY)
        for incident_id in store.feed.to_review(due, stale):
            reviews[incident_id] = review(store, incident_id, now)
            if time.monotonic() - started > REVIEW_BUDGET_SECONDS:
                break  # the rest next round: receiving and writing must not wait on this
        channels = self.channels(store)
        if not channels:
            return []
        sent = store.alerts.rows(channels)
        subjects = self._subjects(store, {r.incident_id for r in sent})
        actions = plan(
            list(subjects.values()),
            sent,
            channels,
            now,
            flood=self.flood,
            update_every=self.update_every,
        )
        for action in actions:
            try:
                self._act(store, action, subjects, reviews, now)
            except Exception:
                metrics.ERRORS.labels("feed").inc()
                log.exception("feed: %s to %s failed", action.kind, action.channel)
        return actions

    def _subjects(self, store: Store, alerted: set[int | None]) -> dict[int, Subject]:
        """The feed's open incidents and those with a live alert, as the planner sees them."""
        return {
            row["id"]: Subject(
                row["id"],
                row["status"],
                row["event_count"],
                row["top_cause"],
                row["device"],
                row["peer"],
                reviewed=row["reviewed_at"] is not None,
                lone_race=is_lone_race(row["top_cause"], row["event_count"], row["devices"]),
            )
            for row in store.feed.states({i for i in alerted if i is not None})
        }

    def _message(self, store, incident_id: int, reviews, now, state: str) -> Message:
        done = reviews.get(incident_id) or review(store, incident_id, now, write=False)
        reviews[incident_id] = done
        fixed = done.incident.fixed_by
        title = store.article(fixed).title if fixed and state == "resolved" else None
        return Message(state, done, closed_reason=done.incident.closed_reason, fixed_title=title)

    def _act(self, store: Store, action: Action, subjects, reviews, now: datetime) -> None:
        """One planned action. A post Slack refuses keeps its claim, so it is tried again when
        the claim goes stale (STALE_CLAIM); a refused update waits UPDATE_EVERY: an error that
        lasts (the bot not in the channel) costs a call every few minutes, not every round."""
        book, channel = store.alerts, action.channel
        if action.kind == "post":
            if action.sent is not None:  # a stale claim: a failed post, or a process that died
                if not book.reclaim(action.sent.id, now - STALE_CLAIM, now):
                    return
                alert_id = action.sent.id
            else:
                alert_id = book.claim(channel, action.incident_id, now)
                if alert_id is None:
                    return
            message = self._message(store, action.incident_id, reviews, now, "open")
            ref = self.output.post(channel, message)
            incident = message.review.incident
            book.shown(alert_id, now, ref=ref, count=incident.event_count, cause=incident.top_cause)
            metrics.ALERTS.labels("post").inc()
        elif action.kind in ("update", "resolve"):
            state = "open" if action.kind == "update" else "resolved"
            message = self._message(store, action.incident_id, reviews, now, state)
            try:
                self.output.update(channel, action.sent.ref, message)
            except Exception:
                book.tried(action.sent.id, now)
                raise
            incident = message.review.incident
            book.shown(
                action.sent.id,
                now,
                count=incident.event_count,
                cause=incident.top_cause,
                resolved=state == "resolved",
            )
            metrics.ALERTS.labels(action.kind).inc()
        elif action.kind == "digest_post":
            digest_id = book.claim(channel, None, now)
            members = [subjects[i] for i in action.members]
            ref = self.output.post(channel, Message("open", digest=members))
            signature = digest_signature([s.status for s in members])
            book.shown(digest_id, now, ref=ref, count=len(members), cause=signature)
            book.fold(channel, digest_id, action.members, now)
            metrics.ALERTS.labels("digest").inc()
        elif action.kind == "fold":
            book.fold(channel, action.sent.id, action.members, now)
        elif action.kind == "digest_forget":
            book.release(action.sent.id)
        elif action.kind in ("digest_update", "digest_resolve"):
            state = "open" if action.kind == "digest_update" else "resolved"
            members = [subjects[i] for i in action.members if i in subjects]
            try:
                self.output.update(channel, action.sent.ref, Message(state, digest=members))
            except Exception:
                book.tried(action.sent.id, now)
                raise
            signature = digest_signature([s.status for s in members])
            book.shown(
                action.sent.id,
                now,
                count=len(members),
                cause=signature,
                resolved=state == "resolved",
            )
            if state == "resolved":
                book.resolve_members(action.sent.id, now)
            metrics.ALERTS.labels("digest").inc()
