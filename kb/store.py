"""The knowledge base as the doors see it: one `Store`, the only kb name they need for data.

A Store opens, migrates and seeds its SQLite file on first use, and every incident, note and
verdict read or written through it belongs to its workspace (`team`); articles are shared.
Behind it, one module per concern:

    kb/db.py             the open file: read-only, private modes, transactions, StoreErrors
    kb/dbfile.py         the file on disk: private creation, identity, free space
    kb/migrations.py     the schema, as ordered migrations
    kb/article_table.py  articles: rows <-> Article, sync, cache
    kb/workspace.py      the scoping helper every incidents/notes/feedback query goes through
    kb/memory.py         reading a workspace's incidents with their SPIs, notes and verdicts
    kb/recording.py      writing incidents, notes and verdicts
    kb/search.py         full-text search over articles and notes

This facade is also the seam where another database could be added without touching the doors.
kb reads no environment: the doors pass the path (--db, SPIBOT_DB) and busy timeout.

A little over 300 lines: one thin method per operation the doors use, each handing on to
the module above that holds it, so the doors' whole surface reads in one place.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import sqlite_utils
from sqlite_utils.migrations import Migrations

from kb import search
from kb.article import Article, bundled_texts, checksum
from kb.article_table import ArticleTable
from kb.db import (
    DEFAULT_BUSY_MS,
    Connection,
    DiskFullError,
    LockedError,
    MissingDatabaseError,
    ReadOnlyError,
    ReplacedError,
    StoreError,
    UnknownArticleError,
    default_db_path,
    resolve_db_path,
    utcnow,
)
from kb.feed.alerts import AlertBook
from kb.feed.record import FeedRecorder
from kb.incidents import Incident, Sighting
from kb.memory import SIMILAR_DEVICE_CUTOFF, Memory
from kb.migrations import MIGRATIONS, READ_OPTIONAL
from kb.recording import REUSE_WINDOW, Recorder
from kb.workspace import Workspace

__all__ = [
    "DEFAULT_BUSY_MS",
    "MIGRATIONS",
    "REUSE_WINDOW",
    "SIMILAR_DEVICE_CUTOFF",
    "DiskFullError",
    "LockedError",
    "MissingDatabaseError",
    "ReadOnlyError",
    "ReplacedError",
    "Store",
    "StoreError",
    "UnknownArticleError",
    "default_db_path",
    "resolve_db_path",
    "utcnow",
]
OPEN_ATTEMPTS = 3


class Store:
    """One open knowledge base. Cheap to keep open; not shared between threads."""

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        *,
        busy_ms: int | None = None,
        seed: bool = True,
        team: str = "",
        create: bool = True,
        read_only: bool = False,
    ) -> None:
        """`path` None: a file in the user's data directory. create=False refuses a missing
        file (a typo in --db must not back up a new empty database); read_only=True opens
        without writing. `busy_ms`: how long a writer waits for another's lock."""
        path = resolve_db_path(path)
        busy_ms = DEFAULT_BUSY_MS if busy_ms is None else max(0, int(busy_ms))
        for attempt in range(OPEN_ATTEMPTS):
            connection = None
            try:
                # Inside the try: switching a brand-new file to WAL waits for the lock too.
                connection = Connection(path, busy_ms=busy_ms, create=create, read_only=read_only)
                self._connection = connection
                self._articles = ArticleTable(connection)
                with self.translating_errors("open"):
                    self._connection.migrate(MIGRATIONS, read_optional=READ_OPTIONAL)
                    if seed and not self.readonly:
                        # New or corrected bundled articles; locally changed ones are kept.
                        self._articles.update_from_bundle(bundled_texts())
                break
            except LockedError:
                # Several processes creating the same new file race to migrate and seed it;
                # the loser tries again and finds the work done.
                if connection is not None:
                    connection.close()
                if attempt == OPEN_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        self._scope(team)

    def _scope(self, team: str) -> None:
        self._workspace = Workspace(self._connection.db, team)
        self._memory = Memory(self._workspace)
        self._recorder = Recorder(self._connection, self._workspace)
        self.feed = FeedRecorder(self._connection, self._workspace)
        self.alerts = AlertBook(self._connection, self._workspace)

    # -- the connection ------------------------------------------------------------------
    @property
    def db(self) -> sqlite_utils.Database:
        """The raw database, for whole-file work (backup, export, doctor's pragmas) and for
        the doors' own tables; workspace data goes through the methods below."""
        return self._connection.db

    @property
    def path(self) -> Path:
        return self._connection.path

    @property
    def readonly(self) -> bool:
        return self._connection.readonly

    @property
    def busy_ms(self) -> int:
        return self._connection.busy_ms

    @property
    def team(self) -> str:
        return self._workspace.team

    def migrate(self, migrations: Migrations) -> None:
        """Apply pending migrations (kb's, or a door's own set for its own tables)."""
        self._connection.migrate(migrations)

    @contextmanager
    def translating_errors(self, action: str) -> Iterator[None]:
        with self._connection.translating_errors(action):
            yield

    @contextmanager
    def writing(self, action: str) -> Iterator[sqlite_utils.Database]:
        """One write transaction, its failures as clear StoreErrors (kb/db.py)."""
        with self._connection.writing(action) as db:
            yield db

    def write_problem(self) -> str | None:
        """Why a write would fail now, or None. Only looks: for /healthz and `spibot doctor`."""
        return self._connection.write_problem()

    def for_team(self, team: str) -> Store:
        """The same connection and articles, scoped to another workspace (no new connection)."""
        scoped = copy.copy(self)
        scoped._scope(team)
        return scoped

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- articles (shared by every workspace) --------------------------------------------
    def sync_articles(self, articles: Iterable[Article]) -> dict[str, list[str]]:
        """Upsert articles by id; unchanged ones are left alone, so syncing twice is a no-op.
        An article that differs from its bundled version counts as changed locally: later
        releases leave it alone until `spibot kb sync` (the bundled ones) is run."""
        bundled = {i: checksum(text) for i, (_path, text) in bundled_texts().items()}
        return self._articles.sync(articles, bundled)

    def article_status(self) -> dict[str, list[str]]:
        """Bundled article ids by state: current, local (changed locally, kept), stale (not
        updated yet: a read-only file is served as it is)."""
        return self._articles.status(bundled_texts())

    def articles(self) -> list[Article]:
        return self._articles.all()

    def article(self, article_id: str) -> Article:
        """The article, or UnknownArticleError listing the known ids."""
        return self._articles.get(article_id)

    def search_articles(self, query: str, limit: int = 10) -> list[dict]:
        """Full-text search over articles; any user text is quoted, so FTS syntax is inert."""
        return search.search_articles(self.db, query, limit)

    # -- this workspace's incidents, notes and verdicts ----------------------------------
    def search_notes(self, query: str, limit: int = 20) -> list[dict]:
        return search.search_notes(self._workspace, query, limit)

    def incident(self, incident_id: int) -> Incident:
        """The incident, or StoreError when there is none in this workspace."""
        return self._memory.incident(incident_id)

    def incidents(
        self, peer: str | None = None, limit: int = 50, status: str | None = None
    ) -> list[Incident]:
        """Newest first; `status` "open" or "resolved" for those only."""
        return self._memory.incidents(peer, limit, status)

    def history(
        self,
        peers: Iterable[str],
        locals_: Iterable[str] = (),
        spis: Iterable[str] = (),
        devices: Iterable[str] = (),
        limit: int = 200,
        exclude_peers: Iterable[str] = (),
    ) -> list[Incident]:
        """Past incidents that share a peer, local address, SPI or device with a paste."""
        return self._memory.history(peers, locals_, spis, devices, limit, exclude_peers)

    def devices(self) -> list[str]:
        return self._memory.devices()

    def similar_devices(self, name: str, exclude: Iterable[str] = (), limit: int = 5) -> list[str]:
        """Device names in this workspace's incidents that look like `name`."""
        return self._memory.similar_devices(name, exclude, limit)

    def incidents_on_devices(self, devices: Iterable[str], limit: int = 50) -> list[Incident]:
        return self._memory.incidents_on_devices(devices, limit)

    def recent_fixes(self, limit: int = 200) -> list[tuple[int, list[str]]]:
        """(incident id, signal names) of recently resolved incidents, newest first."""
        return self._memory.recent_fixes(limit)

    def incidents_by_id(self, ids: Iterable[int]) -> list[Incident]:
        return self._memory.incidents_by_id(ids)

    def counts(self) -> dict[str, int]:
        return {"articles": self.db["articles"].count, **self._memory.counts()}

    def record_incidents(
        self, sightings: Iterable[Sighting], *, source: str = "cli", now: datetime | None = None
    ) -> list[int]:
        """Open an incident per peer, or update its open one seen within REUSE_WINDOW.

        One transaction for the whole paste: all of it is recorded, or none.
        """
        return self._recorder.record_incidents(sightings, source=source, now=now)

    def add_note(
        self,
        *,
        peer: str,
        text: str,
        spi: str | None = None,
        device: str | None = None,
        fixed_by: str | None = None,
        author: str | None = None,
        source: str = "cli",
        permalink: str | None = None,
        incident_id: int | None = None,
        now: datetime | None = None,
        request_key: str | None = None,
    ) -> tuple[Incident, int]:
        """Attach a note to the peer's open incident (opening one if needed).

        The note is committed before this returns, so an acknowledgement can follow it. A
        request_key already used in this workspace (a retried request, a form submitted twice)
        writes nothing and returns the note that key stored.
        """
        text = text.strip()
        if not text:
            raise StoreError("a note needs some text")
        if fixed_by is not None:
            self.article(fixed_by)  # unknown ids are refused before anything is written
        note = {"text": text, "author": author, "source": source, "permalink": permalink}
        incident_id, note_id = self._recorder.add_note(
            peer=peer,
            note={**note, "request_key": request_key},
            spi=spi,
            device=device,
            fixed_by=fixed_by,
            incident_id=incident_id,
            now=now,
        )
        return self.incident(incident_id), note_id

    def resolve(
        self, incident_id: int, article_id: str, author: str | None = None
    ) -> tuple[Incident, bool]:
        """Record that an article's fix worked and close the incident: (incident, changed).

        changed is False when the incident was already resolved by this article (a second
        click): nothing is written, so the fix counts once.
        """
        self.article(article_id)
        changed = self._recorder.resolve(incident_id, article_id, author)
        return self.incident(incident_id), changed

    def confirm_incident(self, incident_id: int, article_id: str, proof: list[str]) -> Incident:
        """Record that pasted device state proved this cause for the incident (a thread where
        the state came after the log), with the lines that prove it."""
        self.article(article_id)
        self._recorder.confirm(incident_id, article_id, list(proof))
        return self.incident(incident_id)

    def close_quiet_rekey_races(
        self, quiet: timedelta, *, now: datetime | None = None, keep: Iterable[int] = ()
    ) -> list[int]:
        """Close, as resolved with nobody's fix and a `closed_reason`, every open incident
        whose only evidence is one rekey-race line (no note, verdict or proof) when its peer
        has logged nothing for `quiet`; the ids closed. A zero `quiet` (the setting turned
        off) or a read-only file closes nothing. Not a fix: ranking history ignores it.
        `keep`: ids the caller knows are still active (a Slack thread with a newer paste)."""
        if quiet <= timedelta(0) or self.readonly:
            return []
        return self._recorder.close_quiet_rekey_races(quiet, now or utcnow(), keep)

    def reopen(self, incident_id: int) -> tuple[Incident, bool]:
        """Undo "fixed": (the incident, open again; whether it was resolved). Its fix no
        longer counts for the peer's next answers."""
        changed = self._recorder.reopen(incident_id)
        return self.incident(incident_id), changed

    def undo_not_it(self, incident_id: int, article_id: str, author: str | None = None) -> bool:
        """Take back one person's "not it" on a cause; False when they had not said it."""
        self.article(article_id)
        return self._recorder.undo_not_it(incident_id, article_id, author)

    def not_it(self, incident_id: int, article_id: str, author: str | None = None) -> bool:
        """Record that a person checked a cause and it was not it, for this incident.

        True when recorded; False when this person already said so (each person counts once).
        """
        self.article(article_id)
        return self._recorder.not_it(incident_id, article_id, author)
