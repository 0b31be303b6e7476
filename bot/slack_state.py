"""What the Slack door remembers: deliveries seen, replies posted, channels watched, each
answered thread's conversation (what was pasted in it, and what it confirmed), and the /spi
answers that can still be shared in their channel.

Kept in the knowledge base's SQLite file (its own migration set, so kb stays Slack-free), so
a retry or a second worker sees what the first one did, across restarts. Delivery keys are
forgotten after Slack's retry window, threads (and /spi answers kept to share) after
SPIBOT_THREAD_DAYS without a paste.
"""

from __future__ import annotations

import copy
import json
import logging
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlite_utils
from sqlite_utils.migrations import Migrations

from bot import settings
from kb.diagnose import MAX_PASTE_CHARS
from kb.store import Store, StoreError

log = logging.getLogger("spibot.slack")
MIGRATIONS = Migrations("spibot-slack")
SEEN_TTL = timedelta(days=2)  # Slack retries for minutes, not days
MEMORY_KEYS = 10_000  # delivery keys a process remembers when the database cannot
# A server runs for months: besides at start, old keys and threads are forgotten when a new
# thread is opened, at most this often per process.
FORGET_EVERY_SECONDS = 3600
_forgotten_at: float | None = None


class _Remembered:
    """This process's own memory of delivery keys, for a database that takes no writes: a
    message that is also an app_mention is still answered once (per process)."""

    def __init__(self) -> None:
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, key: str) -> bool:
        with self._lock:
            if key in self._keys:
                return False
            self._keys[key] = None
            if len(self._keys) > MEMORY_KEYS:
                self._keys.popitem(last=False)
            return True

    def release(self, key: str) -> None:
        with self._lock:
            self._keys.pop(key, None)


_IN_MEMORY = _Remembered()


@MIGRATIONS(name="0001_slack")
def _slack(db: sqlite_utils.Database) -> None:
    db["slack_seen"].create({"key": str, "seen_at": str}, pk="key")
    db["slack_seen"].create_index(["seen_at"])
    db["slack_replies"].create(
        {
            "channel": str,
            "message_ts": str,
            "thread_ts": str,
            "reply_ts": str,
            "incident_id": int,
            "peer": str,
            "created_at": str,
        },
        pk=("channel", "message_ts"),
    )
    db["slack_replies"].create_index(["channel", "thread_ts"])
    db["slack_watch"].create({"channel": str, "by_user": str, "since": str}, pk="channel")


@MIGRATIONS(name="0002_slack_teams")
def _slack_teams(db: sqlite_utils.Database) -> None:
    for table in ("slack_replies", "slack_watch"):
        db[table].add_column("team_id", str, not_null_default="")


@MIGRATIONS(name="0003_threads")
def _threads(db: sqlite_utils.Database) -> None:
    # One row per thread spibot answers in; `version` counts the texts added, so an answer
    # diagnosed from an older set of texts can tell that a newer one exists.
    db["slack_threads"].create(
        {
            "team_id": str,
            "channel": str,
            "thread_ts": str,
            "reply_ts": str,
            "incident_id": int,
            "peer": str,
            "incidents": str,  # JSON {peer: incident id} of every peer the answer recorded
            "confirmed": str,
            "version": int,
            "created_at": str,
        },
        pk=("team_id", "channel", "thread_ts"),
        not_null={"version"},
        defaults={"version": 0},
    )
    # Each message's text once, keyed by its ts (an edit replaces it). `chars` is the text's
    # length as pasted: a text past the thread's budget is kept as '' and counted, not read.
    db["slack_thread_texts"].create(
        {
            "team_id": str,
            "channel": str,
            "thread_ts": str,
            "message_ts": str,
            "text": str,
            "chars": int,
        },
        pk=("team_id", "channel", "thread_ts", "message_ts"),
    )


@MIGRATIONS(name="0004_thread_upkeep")
def _thread_upkeep(db: sqlite_utils.Database) -> None:
    # `updated_at`: the last paste, for forgetting old threads. `unread*`: messages past the
    # thread's budget are counted here instead of each getting a row; `unread_last` is the
    # latest such message's ts, so that an edit of one is not counted twice.
    threads = db["slack_threads"]
    threads.add_column("updated_at", str, not_null_default="")
    threads.add_column("unread", int, not_null_default=0)
    threads.add_column("unread_chars", int, not_null_default=0)
    threads.add_column("unread_last", str, not_null_default="")
    threads.create_index(["updated_at"])
    db.execute("update slack_threads set updated_at = created_at")
    past = (
        "from slack_thread_texts t where t.text = '' and t.chars > 0 and t.team_id = "
        "slack_threads.team_id and t.channel = slack_threads.channel "
        "and t.thread_ts = slack_threads.thread_ts"
    )
    db.execute(
        f"update slack_threads set unread = (select count(*) {past}), "
        f"unread_chars = (select coalesce(sum(t.chars), 0) {past}), "
        f"unread_last = (select coalesce(max(t.message_ts), '') {past})"
    )
    db.execute("delete from slack_thread_texts where text = '' and chars > 0")
    # Every cause a "Confirmed:" reply was posted for, not only the last one.
    db["slack_thread_causes"].create(
        {"team_id": str, "channel": str, "thread_ts": str, "cause": str},
        pk=("team_id", "channel", "thread_ts", "cause"),
    )
    db.execute(
        "insert into slack_thread_causes select team_id, channel, thread_ts, confirmed "
        "from slack_threads where confirmed is not null"
    )
    threads.transform(drop={"confirmed"})


@MIGRATIONS(name="0005_shares")
def _shares(db: sqlite_utils.Database) -> None:
    # A /spi paste answered ephemerally, kept for its "Share in channel" button: the button's
    # value carries only `id` (a paste can be 40,000 characters; a value 2,000). `incidents` is
    # JSON {peer: incident id} as the answer recorded them; `shared_ts` is set once it is
    # shared ('' while a click is posting it), so a second click posts nothing.
    db["slack_shares"].create(
        {
            "team_id": str,
            "id": str,
            "channel": str,
            "user": str,
            "paste": str,
            "incidents": str,
            "confirmed": str,
            "created_at": str,
            "shared_ts": str,
            "shared_by": str,
        },
        pk=("team_id", "id"),
    )
    db["slack_shares"].create_index(["created_at"])


@MIGRATIONS(name="0006_alert_channels")
def _alert_channels(db: sqlite_utils.Database) -> None:
    # Feed mode's alert channels as /spi alerts set them: mode `alerts` (lone rekey races
    # left out), `all` (every incident), or `off` (also silences SPIBOT_ALERT_CHANNEL there).
    db["slack_alert_channels"].create(
        {"team_id": str, "channel": str, "mode": str, "by_user": str, "since": str},
        pk=("team_id", "channel"),
    )


_THREAD_KEY = "team_id = ? and channel = ? and thread_ts = ?"
_OLD_THREADS = "select team_id, channel, thread_ts from slack_threads where updated_at < ?"


@dataclass
class Thread:
    """What was pasted in one answered thread, oldest first, within MAX_PASTE_CHARS."""

    channel: str
    thread_ts: str
    reply_ts: str
    incident_id: int | None  # the busiest peer's
    peer: str | None
    incidents: dict[str, int]  # each recorded peer's incident
    confirmed: set[str]  # the cause ids a "Confirmed:" reply was posted for
    version: int
    texts: list[str]
    unread: int = 0  # later messages left out: the thread holds more than the budget
    unread_chars: int = 0

    def combined(self) -> str:
        return "\n".join(self.texts)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class SlackState:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db
        self.team = store.team
        store.migrate(MIGRATIONS)

    def first_time(self, key: str) -> bool:
        """True once per key, across processes: the primary key makes the insert atomic.

        A database that takes no writes (read-only, disk full, file replaced) still answers:
        the key is then remembered in this process only, and the reply says "not recorded".
        """
        if not self.store.readonly:
            try:
                with self.store.writing("remember the delivery") as db:
                    cursor = db.execute(
                        "insert or ignore into slack_seen (key, seen_at) values (?, ?)",
                        [key, _now()],
                    )
                    return cursor.rowcount == 1
            except StoreError as exc:
                log.warning("delivery %s remembered in this process only: %s", key, exc)
        return _IN_MEMORY.first_time(key)

    def release(self, key: str) -> None:
        """Give a claim back, when what it was claimed for could not be done."""
        _IN_MEMORY.release(key)
        if self.store.readonly:
            return
        try:
            with self.store.writing("release the delivery") as db:
                db.execute("delete from slack_seen where key = ?", [key])
        except StoreError as exc:
            log.warning("claim %s kept: %s", key, exc)

    def forget_old(self, thread_days: int | None = None) -> int:
        """Delivery keys past Slack's retry window, and threads without a paste for
        `thread_days` (SPIBOT_THREAD_DAYS) with what was pasted in them, and /spi answers
        kept as long for their "Share in channel" button: how many were
        forgotten. Housekeeping, never a reason not to start: on a read-only or full database
        they stay (/healthz and `spibot doctor` report why writes fail)."""
        global _forgotten_at
        _forgotten_at = time.monotonic()
        days = settings.thread_days() if thread_days is None else thread_days
        now = datetime.now(UTC)
        seen_cutoff = (now - SEEN_TTL).isoformat(timespec="seconds")
        thread_cutoff = (now - timedelta(days=days)).isoformat(timespec="seconds")
        try:
            with self.store.writing("forget old deliveries and threads") as db:
                seen = db.execute("delete from slack_seen where seen_at < ?", [seen_cutoff])
                for table in ("slack_thread_texts", "slack_thread_causes"):
                    db.execute(
                        f"delete from {table} where (team_id, channel, thread_ts) in "
                        f"({_OLD_THREADS})",
                        [thread_cutoff],
                    )
                threads = db.execute(
                    "delete from slack_threads where updated_at < ?", [thread_cutoff]
                )
                shares = db.execute(
                    "delete from slack_shares where created_at < ?", [thread_cutoff]
                )
                return seen.rowcount + threads.rowcount + shares.rowcount
        except StoreError as exc:
            log.warning("old delivery keys and threads kept: %s", exc)
            return 0

    def _forget_now_and_then(self) -> None:
        if _forgotten_at is None or time.monotonic() - _forgotten_at > FORGET_EVERY_SECONDS:
            try:
                self.forget_old()
            except settings.SettingsError as exc:  # `spibot serve` refuses it at start
                log.warning("old threads kept: %s", exc)

    def remember_reply(
        self, channel: str, message_ts: str, thread_ts: str, reply_ts: str, incident_id, peer
    ) -> None:
        """Which reply answers a paste, for edits, buttons and reactions. Not remembering it
        costs only that: the reply stands, and an edit gets a new one."""
        if self.store.readonly:
            return
        row = [channel, message_ts, thread_ts, reply_ts, incident_id, peer, _now(), self.team]
        try:
            with self.store.writing("remember the reply") as db:
                db.execute(
                    "insert or replace into slack_replies (channel, message_ts, thread_ts, "
                    "reply_ts, incident_id, peer, created_at, team_id) "
                    "values (?, ?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
        except StoreError as exc:
            log.warning("reply to %s/%s not remembered: %s", channel, message_ts, exc)

    def reply_for(self, channel: str, message_ts: str) -> dict | None:
        rows = self.db.query(
            "select * from slack_replies where team_id = ? and channel = ? and message_ts = ?",
            [self.team, channel, message_ts],
        )
        return next(rows, None)

    def reply_in_thread(self, channel: str, thread_ts: str) -> dict | None:
        rows = self.db.query(
            "select * from slack_replies where team_id = ? and channel = ? and thread_ts = ? "
            "order by created_at desc limit 1",
            [self.team, channel, thread_ts],
        )
        return next(rows, None)

    def open_thread(
        self,
        channel: str,
        thread_ts: str,
        reply_ts: str,
        peer: str | None,
        incidents: dict[str, int],
        message_ts: str,
        text: str,
        confirmed: str | None = None,
    ) -> None:
        """The thread of a new answer, with the paste it answered. Two answers in one thread
        (pastes answered at once, before either was remembered) share it: the first answer's
        context is kept and updated, the second's paste added to it. Not remembering it costs
        a later reply in the thread its context: it is then answered on its own, as before."""
        if self.store.readonly:
            return
        key = [self.team, channel, thread_ts]
        now = _now()
        row = [*key, reply_ts, incidents.get(peer or ""), peer, json.dumps(incidents), now, now]
        try:
            with self.store.writing("remember the thread") as db:
                opened = db.execute(
                    "insert or ignore into slack_threads (team_id, channel, thread_ts, "
                    "reply_ts, incident_id, peer, incidents, version, created_at, updated_at) "
                    "values (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
                    row,
                )
                if opened.rowcount == 0:
                    self._join(db, key, peer, incidents)
                if confirmed is not None:
                    db.execute(
                        "insert or ignore into slack_thread_causes (team_id, channel, "
                        "thread_ts, cause) values (?, ?, ?, ?)",
                        [*key, confirmed],
                    )
                self._add_text(db, channel, thread_ts, message_ts, text)
        except StoreError as exc:
            log.warning("thread %s/%s not remembered: %s", channel, thread_ts, exc)
        self._forget_now_and_then()

    def _join(self, db, key: list[str], peer: str | None, incidents: dict[str, int]) -> None:
        """A second answer's peers added to the thread; the first answer's stay as they were."""
        found = db.execute(f"select incidents from slack_threads where {_THREAD_KEY}", key)
        held = json.loads(found.fetchone()[0] or "{}")
        db.execute(
            "update slack_threads set incidents = ?, incident_id = coalesce(incident_id, ?), "
            f"peer = coalesce(peer, ?) where {_THREAD_KEY}",
            [json.dumps({**incidents, **held}), incidents.get(peer or ""), peer, *key],
        )

    def add_to_thread(self, channel: str, thread_ts: str, message_ts: str, text: str) -> None:
        """A message's text in the thread (an edit replaces the text it had)."""
        if self.store.readonly:
            return
        try:
            with self.store.writing("remember the thread's paste") as db:
                self._add_text(db, channel, thread_ts, message_ts, text)
        except StoreError as exc:
            log.warning("paste %s in thread %s not remembered: %s", message_ts, thread_ts, exc)

    def _add_text(self, db, channel: str, thread_ts: str, message_ts: str, text: str) -> None:
        key = [self.team, channel, thread_ts]
        held = db.execute(
            f"select coalesce(sum(length(text)), 0) from slack_thread_texts where {_THREAD_KEY} "
            "and message_ts != ?",
            [*key, message_ts],
        ).fetchone()[0]
        if held + len(text) <= MAX_PASTE_CHARS:
            db.execute(
                "insert or replace into slack_thread_texts (team_id, channel, thread_ts, "
                "message_ts, text, chars) values (?, ?, ?, ?, ?, ?)",
                [*key, message_ts, text, len(text)],
            )
        else:
            # Bounded storage: past the budget a message is counted on the thread, not kept
            # (an edit that grows a kept text past it drops the text).
            dropped = db.execute(
                f"delete from slack_thread_texts where {_THREAD_KEY} and message_ts = ?",
                [*key, message_ts],
            ).rowcount
            db.execute(
                "update slack_threads set unread = unread + 1, unread_chars = unread_chars + ?, "
                f"unread_last = max(unread_last, ?) where {_THREAD_KEY} "
                "and (? > 0 or unread_last < ?)",
                [len(text), message_ts, *key, dropped, message_ts],
            )
        db.execute(
            f"update slack_threads set version = version + 1, updated_at = ? where {_THREAD_KEY}",
            [_now(), *key],
        )

    def thread(
        self, channel: str, thread_ts: str, message_ts: str | None = None, text: str = ""
    ) -> Thread | None:
        """The thread's context, or None when spibot has not answered in it. With
        `message_ts`, that message's text is `text` whether or not it could be stored."""
        key = [self.team, channel, thread_ts]
        row = next(self.db.query(f"select * from slack_threads where {_THREAD_KEY}", key), None)
        if row is None:
            return None
        stored = dict(
            self.db.execute(
                f"select message_ts, text from slack_thread_texts where {_THREAD_KEY}", key
            ).fetchall()
        )
        causes = self.db.execute(
            f"select cause from slack_thread_causes where {_THREAD_KEY}", key
        ).fetchall()
        pasted = dict(stored)
        if message_ts is not None:
            pasted[message_ts] = text
        found = Thread(
            channel,
            thread_ts,
            row["reply_ts"],
            row["incident_id"],
            row["peer"],
            json.loads(row["incidents"] or "{}"),
            {cause for (cause,) in causes},
            row["version"],
            [],
            row["unread"],
            row["unread_chars"],
        )
        size = 0
        for ts in sorted(pasted):
            kept = pasted[ts]
            if size + len(kept) > MAX_PASTE_CHARS:
                # Counted on the thread already unless it is stored, or newer than the last
                # message counted there (its write failed).
                if ts in stored or ts > row["unread_last"]:
                    found.unread += 1
                    found.unread_chars += len(kept)
                continue
            found.texts.append(kept)
            size += len(kept) + 1
        return found

    def version(self, channel: str, thread_ts: str) -> int | None:
        found = self.db.execute(
            "select version from slack_threads where team_id = ? and channel = ? and thread_ts = ?",
            [self.team, channel, thread_ts],
        ).fetchone()
        return found[0] if found else None

    def confirm_thread(self, channel: str, thread_ts: str, cause: str) -> bool:
        """True once per thread and cause: the claim to post its "Confirmed:" reply. A
        database that takes no writes claims nothing: the answer still shows it confirmed."""
        if self.store.readonly:
            return False
        try:
            with self.store.writing("remember the confirmation") as db:
                cursor = db.execute(
                    "insert or ignore into slack_thread_causes (team_id, channel, thread_ts, "
                    "cause) values (?, ?, ?, ?)",
                    [self.team, channel, thread_ts, cause],
                )
                return cursor.rowcount == 1
        except StoreError as exc:
            log.warning("confirmation in %s/%s not remembered: %s", channel, thread_ts, exc)
            return False

    def unconfirm_thread(self, channel: str, thread_ts: str, cause: str) -> None:
        """The claim given back: its "Confirmed:" reply could not be posted, and a later
        delivery may post it."""
        try:
            with self.store.writing("give the confirmation back") as db:
                db.execute(
                    f"delete from slack_thread_causes where {_THREAD_KEY} and cause = ?",
                    [self.team, channel, thread_ts, cause],
                )
        except StoreError as exc:
            log.warning("confirmation in %s/%s kept: %s", channel, thread_ts, exc)

    def keep_share(
        self,
        channel: str,
        user: str | None,
        paste: str,
        incidents: dict[str, int],
        confirmed: str | None = None,
    ) -> str | None:
        """A /spi answer kept for its "Share in channel" button: the short id its button
        carries, or None when the database takes no writes (the answer then has no button)."""
        if self.store.readonly:
            return None
        share_id = secrets.token_urlsafe(9)
        row = [self.team, share_id, channel, user, paste, json.dumps(incidents), confirmed]
        try:
            with self.store.writing("keep the answer to share") as db:
                db.execute(
                    "insert into slack_shares (team_id, id, channel, user, paste, incidents, "
                    "confirmed, created_at) values (?, ?, ?, ?, ?, ?, ?, ?)",
                    [*row, _now()],
                )
        except StoreError as exc:
            log.warning("the /spi answer in %s is not shareable: %s", channel, exc)
            return None
        self._forget_now_and_then()
        return share_id

    def share(self, share_id: str) -> dict | None:
        """A kept /spi answer: its channel, user, paste, incidents ({peer: id}), confirmed
        cause and, once shared, shared_ts and shared_by."""
        rows = self.db.query(
            "select * from slack_shares where team_id = ? and id = ?", [self.team, share_id]
        )
        row = next(rows, None)
        if row is not None:
            row["incidents"] = json.loads(row["incidents"] or "{}")
        return row

    def claim_share(self, share_id: str, user: str) -> bool:
        """True once per kept answer: the claim to post it in the channel."""
        with self.store.writing("claim the answer to share") as db:
            cursor = db.execute(
                "update slack_shares set shared_ts = '', shared_by = ? "
                "where team_id = ? and id = ? and shared_ts is null",
                [user, self.team, share_id],
            )
            return cursor.rowcount == 1

    def shared(self, share_id: str, ts: str | None) -> None:
        """The claim settled: posted at `ts`, or (None) given back for a later click."""
        with self.store.writing("remember the shared answer") as db:
            if ts is None:
                db.execute(
                    "update slack_shares set shared_ts = null, shared_by = null "
                    "where team_id = ? and id = ?",
                    [self.team, share_id],
                )
            else:
                db.execute(
                    "update slack_shares set shared_ts = ? where team_id = ? and id = ?",
                    [ts, self.team, share_id],
                )

    def watch(self, channel: str, user: str | None, on: bool) -> None:
        with self.store.writing("change the watch list") as db:
            if on:
                db.execute(
                    "insert or replace into slack_watch (channel, by_user, since, team_id) "
                    "values (?, ?, ?, ?)",
                    [channel, user, _now(), self.team],
                )
            else:
                db.execute(
                    "delete from slack_watch where channel = ? and team_id = ?",
                    [channel, self.team],
                )

    def watched(self, channel: str) -> bool:
        found = self.db.execute(
            "select 1 from slack_watch where channel = ? and team_id = ?", [channel, self.team]
        )
        return found.fetchone() is not None

    def set_alerts(self, channel: str, user: str | None, mode: str) -> None:
        """Feed alerts in this channel: `alerts`, `all` (lone rekey races too) or `off`."""
        with self.store.writing("change the alert channels") as db:
            db.execute(
                "insert or replace into slack_alert_channels "
                "(team_id, channel, mode, by_user, since) values (?, ?, ?, ?, ?)",
                [self.team, channel, mode, user, _now()],
            )

    def alert_channels(self, default: str | None = None) -> dict[str, bool]:
        """channel -> whether it wants every event: SPIBOT_ALERT_CHANNEL (`default`) unless
        /spi alerts turned it off there, and each channel /spi alerts turned on."""
        rows = self.db.execute(
            "select channel, mode from slack_alert_channels where team_id = ?", [self.team]
        ).fetchall()
        modes = dict(rows)
        channels = {default: False} if default and modes.get(default) is None else {}
        channels.update({c: mode == "all" for c, mode in modes.items() if mode != "off"})
        return channels

    def for_team(self, team: str) -> SlackState:
        scoped = copy.copy(self)
        scoped.store = self.store.for_team(team)
        scoped.team = scoped.store.team
        return scoped
