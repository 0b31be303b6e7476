"""The SQLite knowledge base: articles, incidents, notes and feedback.

Opens, migrates and seeds itself on first use. WAL so readers never wait for a writer, a busy
timeout so two writers queue instead of failing, and a clear error when the file is read-only,
stays locked, fills the disk, or was removed or replaced under a running process. The file
holds OAuth bot tokens, so it is created private to its owner (0600, in a 0700 directory).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import platformdirs
import sqlite_utils
from rapidfuzz import fuzz, process, utils
from sqlite_utils.migrations import Migrations

from kb.article import ARTICLES_DIR, Article, load_articles
from kb.incidents import Incident, Note, Sighting

DEFAULT_BUSY_MS = 5000
OPEN_ATTEMPTS = 3
SIMILAR_DEVICE_CUTOFF = 85.0
REUSE_WINDOW = timedelta(hours=24)  # a paste for the same peer within a day is the same incident
MIN_FREE_BYTES = 1 << 20  # below this, the next write is likely to meet "database or disk is full"
MIGRATIONS = Migrations("spibot")
# "column in" a list as one JSON parameter: a paste with 50,000 distinct SPIs cannot exceed
# SQLITE_MAX_VARIABLE_NUMBER (999 on older builds), and SQLite still searches the column's index.
_IN = "{} in (select value from json_each(?))"
# The file (st_dev, st_ino) each database path named when this process first opened it. Every
# Store compares against it, not against what it found itself: a thread or a forked worker
# opening after the file was replaced must refuse writes like the others, not start a new file.
_FIRST_SEEN: dict[str, tuple[int, int]] = {}


class StoreError(Exception):
    """The database cannot do what was asked; the message says why and what to do."""


class ReadOnlyError(StoreError):
    pass


class LockedError(StoreError):
    pass


class UnknownArticleError(StoreError):
    pass


class DiskFullError(StoreError):
    pass


class ReplacedError(StoreError):
    pass


class MissingDatabaseError(StoreError):
    pass


def default_db_path() -> Path:
    return platformdirs.user_data_path("spibot", appauthor=False) / "spibot.db"


def resolve_db_path(path: str | os.PathLike | None = None) -> Path:
    """--db, else SPIBOT_DB, else the user's data directory."""
    chosen = path or os.environ.get("SPIBOT_DB") or default_db_path()
    return Path(chosen).expanduser()


def utcnow() -> datetime:
    return datetime.now(UTC)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds")


@MIGRATIONS(name="0001_tables")
def _tables(db: sqlite_utils.Database) -> None:
    db["articles"].create(
        {
            "id": str,
            "title": str,
            "aliases": str,
            "platforms": str,
            "prior": float,
            "evidence": str,
            "summary": str,
            "body": str,
            "verify": str,
            "fix": str,
            "caveats": str,
            "sources": str,
            "checksum": str,
            "synced_at": str,
        },
        pk="id",
    )
    db["incidents"].create(
        {
            "id": int,
            "peer": str,
            "local": str,
            "device": str,
            "platform": str,
            "status": str,
            "opened_at": str,
            "updated_at": str,
            "resolved_at": str,
            "fixed_by": str,
            "top_cause": str,
            "summary": str,
            "signals": str,
            "event_count": int,
            "source": str,
        },
        pk="id",
        not_null={"status", "opened_at", "updated_at"},
        defaults={"status": "open", "event_count": 0},
    )
    db["incidents"].create_index(["peer", "status"])
    db["incidents"].create_index(["local"])
    db["incidents"].create_index(["device"])
    db["incidents"].create_index(["updated_at"])
    db["incident_spis"].create(
        {"incident_id": int, "spi": str},
        pk=("incident_id", "spi"),
        foreign_keys=[("incident_id", "incidents", "id")],
    )
    db["incident_spis"].create_index(["spi"])
    db["notes"].create(
        {
            "id": int,
            "incident_id": int,
            "text": str,
            "author": str,
            "source": str,
            "permalink": str,
            "created_at": str,
        },
        pk="id",
        foreign_keys=[("incident_id", "incidents", "id")],
        not_null={"text", "created_at"},
    )
    db["notes"].create_index(["incident_id"])
    db["feedback"].create(
        {
            "id": int,
            "incident_id": int,
            "article_id": str,
            "verdict": str,
            "author": str,
            "created_at": str,
        },
        pk="id",
        foreign_keys=[("incident_id", "incidents", "id")],
        not_null={"article_id", "verdict", "created_at"},
    )
    db["feedback"].create_index(["incident_id"])


@MIGRATIONS(name="0002_search")
def _search(db: sqlite_utils.Database) -> None:
    db["articles"].enable_fts(["title", "aliases", "summary", "body"], create_triggers=True)
    db["notes"].enable_fts(["text"], create_triggers=True)


@MIGRATIONS(name="0003_teams")
def _teams(db: sqlite_utils.Database) -> None:
    """Scope incidents, notes and feedback to a Slack workspace ('' = this install's own)."""
    for table in ("incidents", "notes", "feedback"):
        db[table].add_column("team_id", str, not_null_default="")
    db["incidents"].create_index(["team_id", "peer", "status"])
    db["incidents"].create_index(["team_id", "updated_at"])
    db["incidents"].create_index(["team_id", "device"])


@MIGRATIONS(name="0004_once")
def _once(db: sqlite_utils.Database) -> None:
    """A retried request stores its note once; a verdict counts once per incident and cause."""
    db["notes"].add_column("request_key", str)
    db.execute(
        "create unique index idx_notes_team_request_key on notes (team_id, request_key) "
        "where request_key is not null"
    )
    # Older databases may hold double clicks already: the first of each stands.
    db.execute(
        "delete from feedback where id not in "
        "(select min(id) from feedback group by incident_id, article_id, verdict)"
    )
    db.execute(
        "create unique index idx_feedback_once on feedback (incident_id, article_id, verdict)"
    )


def _article_row(article: Article, now: str) -> dict:
    return {
        "id": article.id,
        "title": article.title,
        "aliases": json.dumps(list(article.aliases)),
        "prior": article.prior,
        "evidence": json.dumps(article.evidence),
        "summary": article.summary,
        "body": article.body,
        "verify": json.dumps({k: list(v) for k, v in article.verify.items()}),
        "fix": json.dumps({k: list(v) for k, v in article.fix.items()}),
        "caveats": json.dumps(list(article.caveats)),
        "sources": json.dumps(list(article.sources)),
        "checksum": article.checksum,
        "synced_at": now,
    }


def _article_from_row(row: dict) -> Article:
    return Article(
        id=row["id"],
        title=row["title"],
        summary=row["summary"],
        body=row["body"],
        prior=row["prior"],
        evidence=json.loads(row["evidence"]),
        aliases=tuple(json.loads(row["aliases"])),
        verify={k: tuple(v) for k, v in json.loads(row["verify"]).items()},
        fix={k: tuple(v) for k, v in json.loads(row["fix"]).items()},
        caveats=tuple(json.loads(row["caveats"])),
        sources=tuple(json.loads(row["sources"])),
        checksum=row["checksum"],
    )


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
        # Every incident, note and verdict read or written through this Store belongs to
        # `team`; articles are shared knowledge. create=False refuses a missing file (a typo in
        # --db must not back up a new empty database); read_only=True opens without writing.
        self.team = team or ""
        self.path = resolve_db_path(path)
        self.busy_ms = busy_ms if busy_ms is not None else _env_busy_ms()
        self.readonly = read_only
        self._identity: tuple[int, int] | None = None
        self._articles: list[Article] | None = None
        for attempt in range(OPEN_ATTEMPTS):
            self.db = self._connect(create)
            try:
                with self.translating_errors("open"):
                    self._migrate()
                    if seed and not self.readonly and self.db["articles"].count == 0:
                        self.sync_articles(load_articles(ARTICLES_DIR))
                break
            except LockedError:
                # Several processes creating the same new file race to migrate and seed it;
                # the loser tries again and finds the work done.
                self.db.conn.close()
                if attempt == OPEN_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))

    # -- opening -------------------------------------------------------------------------
    def _connect(self, create: bool) -> sqlite_utils.Database:
        path = self.path
        in_memory = str(path) == ":memory:"
        if not in_memory:
            self._prepare_file(create)
        try:
            with self.translating_errors("open"):
                db = self._open(path)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path} is not a spibot database: {exc}") from exc
        if not in_memory:
            found = _file_identity(path)
            self._identity = _FIRST_SEEN.setdefault(_path_key(path), found) if found else None
        return db

    def _prepare_file(self, create: bool) -> None:
        """Decide read-only or writable, and create a missing file (private) when allowed."""
        path = self.path
        known, found = _FIRST_SEEN.get(_path_key(path)), _file_identity(path)
        if known is not None and found != known:
            # Never a new empty file in its place; and never open a replacement while this
            # process's connections to the old file share its -wal and -shm (by name).
            raise ReplacedError(self._replaced_message())
        if found is not None:
            if self.readonly or not os.access(path, os.W_OK):
                self.readonly = True
            return
        if not create or self.readonly:
            raise MissingDatabaseError(f"database file missing: {path} (check --db or SPIBOT_DB)")
        try:
            _make_private_dirs(path.parent)
        except OSError as exc:
            raise StoreError(f"cannot create the directory for {path}: {exc.strerror}") from exc
        if not os.access(path.parent, os.W_OK):
            raise ReadOnlyError(
                f"cannot create {path}: its directory is not writable "
                "(set SPIBOT_DB or --db to a writable path)"
            )
        _create_private_file(path)

    def _open(self, path: Path) -> sqlite_utils.Database:
        if self.readonly:
            conn = self._connect_read_only(path)
        else:
            conn = sqlite3.connect(str(path), check_same_thread=False)
        # Autocommit: transactions are only the ones sqlite-utils' atomic() and writing() open.
        conn.isolation_level = None
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_ms)}")
        db = sqlite_utils.Database(conn)
        if not self.readonly:
            db.enable_wal()
            conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        return db

    @staticmethod
    def _connect_read_only(path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        try:
            conn.execute("select count(*) from sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError:
            # A WAL database on a read-only filesystem has no -shm file and cannot get one;
            # nobody can be writing it there, so reading it as immutable is safe.
            conn.close()
            return sqlite3.connect(
                f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False
            )

    def _migrate(self) -> None:
        self.migrate(MIGRATIONS)

    def migrate(self, migrations: Migrations) -> None:
        """Apply pending migrations; safe when several processes open a new file at once."""
        pending = migrations.pending(self.db)
        if not pending:
            return
        if self.readonly:
            raise ReadOnlyError(
                f"{self.path} is read-only and needs migrating "
                f"({', '.join(m.name for m in pending)}); open it once with write access"
            )
        # The write lock first, then a second look: whoever got here first has migrated.
        with self.writing("migrate"):
            if migrations.pending(self.db):
                migrations.apply(self.db)

    def _locked_message(self) -> str:
        return (
            f"{self.path} is locked by another process (waited {self.busy_ms / 1000:g} s); "
            "try again, or raise SPIBOT_BUSY_TIMEOUT_MS"
        )

    def _replaced_message(self) -> str:
        return (
            f"the database file {self.path} was removed or replaced while spibot was running: "
            "restart spibot; nothing was written"
        )

    def _disk_full_message(self, action: str) -> str:
        return (
            f"the database could not be used: disk full, cannot {action} in {self.path}; "
            "free some space and try again (nothing was written)"
        )

    @contextmanager
    def translating_errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if "locked" in text or "busy" in text:
                raise LockedError(self._locked_message()) from exc
            if "readonly" in text or "read-only" in text:
                raise ReadOnlyError(f"{self.path} is read-only: cannot {action}") from exc
            # SQLITE_FULL; or an I/O error where the disk is full (growing the -shm file)
            if "disk is full" in text or ("disk I/O" in text and self._low_on_space()):
                raise DiskFullError(self._disk_full_message(action)) from exc
            raise

    @contextmanager
    def writing(self, action: str) -> Iterator[sqlite_utils.Database]:
        """One write transaction; read-only, lock, full-disk and replaced-file errors become
        clear StoreErrors, and a failed commit leaves no transaction open."""
        if self.readonly:
            raise ReadOnlyError(f"{self.path} is read-only: cannot {action}")
        if self._file_changed():
            # Writing to a file nobody will open again would lose the write.
            self._hand_back_wal()
            raise ReplacedError(self._replaced_message())
        with self.translating_errors(action):
            # IMMEDIATE takes the write lock up front, so the busy timeout applies to it.
            self.db.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
                self.db.conn.execute("COMMIT")
            except BaseException:
                if self.db.conn.in_transaction:
                    self.db.conn.execute("ROLLBACK")
                raise

    def _hand_back_wal(self) -> None:
        # SQLite finds -wal and -shm by name, so the file now at our path would take our WAL
        # frames for its own when next opened: move them into our (old) file, empty the -wal.
        with contextlib.suppress(sqlite3.Error):
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _file_changed(self) -> bool:
        return self._identity is not None and _file_identity(self.path) != self._identity

    def _low_on_space(self) -> bool:
        return str(self.path) != ":memory:" and _free_bytes(self.path) < MIN_FREE_BYTES

    def write_problem(self) -> str | None:
        """Why a write would fail now (file replaced or removed, read-only, disk full), or None.

        Only looks, never writes: for /healthz and `spibot doctor`.
        """
        if str(self.path) == ":memory:":
            return None
        if self._file_changed():
            return self._replaced_message()
        if not os.access(self.path, os.W_OK):
            return (
                f"{self.path} is read-only: notes, verdicts and Slack deliveries cannot be recorded"
            )
        if self._low_on_space():
            return (
                f"the database could not be used: disk full ({_free_bytes(self.path):,} bytes "
                f"free where {self.path} lives); free some space"
            )
        return None

    def for_team(self, team: str) -> Store:
        """The same connection, scoped to another workspace (cheap: no new connection)."""
        self.articles()  # fill the cache first, so every scoped copy shares it
        scoped = copy.copy(self)
        scoped.team = team or ""
        return scoped

    def close(self) -> None:
        self.db.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- articles ------------------------------------------------------------------------
    def sync_articles(self, articles: Iterable[Article]) -> dict[str, list[str]]:
        """Upsert articles by id; unchanged ones are left alone, so syncing twice is a no-op."""
        now = _iso(utcnow())
        report: dict[str, list[str]] = {"added": [], "updated": [], "unchanged": []}
        with self.writing("sync articles") as db:
            existing = {
                r["id"]: r["checksum"] for r in db["articles"].rows_where(select="id, checksum")
            }
            for article in articles:
                if existing.get(article.id) == article.checksum:
                    report["unchanged"].append(article.id)
                    continue
                report["updated" if article.id in existing else "added"].append(article.id)
                db["articles"].upsert(_article_row(article, now), pk="id")
        self._articles = None
        return report

    def articles(self) -> list[Article]:
        if self._articles is None:
            rows = self.db["articles"].rows_where(order_by="id")
            self._articles = [_article_from_row(r) for r in rows]
        return self._articles

    def article(self, article_id: str) -> Article:
        for article in self.articles():
            if article.id == article_id:
                return article
        known = ", ".join(a.id for a in self.articles())
        raise UnknownArticleError(f"unknown article id '{article_id}'; known ids: {known}")

    def search_articles(self, query: str, limit: int = 10) -> list[dict]:
        """Full-text search over articles; any user text is quoted, so FTS syntax is inert."""
        return self._search("articles", query, limit, columns=["id", "title", "summary"])

    def search_notes(self, query: str, limit: int = 20) -> list[dict]:
        return self._search(
            "notes", query, limit, columns=["id", "incident_id", "text"], where="+team_id = :team"
        )

    def _search(
        self, table: str, query: str, limit: int, columns: list[str], where: str | None = None
    ) -> list[dict]:
        tokens = _fts_tokens(query)
        if not tokens:
            return []
        quoted = [self.db.quote_fts(t) for t in tokens]
        for expression in (" ".join(quoted), " OR ".join(quoted)):
            sql = self.db[table].search_sql(
                columns=columns, limit=limit, include_rank=True, where=where
            )
            params = {"query": expression, "team": self.team}
            rows = [dict(r) for r in self.db.query(sql, params)]
            if rows:
                return rows
        return []

    # -- incidents -----------------------------------------------------------------------
    def _incidents(self, where: str, args: Iterable, limit: int | None = None) -> list[Incident]:
        # "+team_id": filter on the workspace without letting SQLite pick its index, so the
        # peer, local, device and SPI indexes drive the query (a workspace has many rows).
        sql = (
            f"select * from incidents where +team_id = ? and ({where}) "
            "order by updated_at desc, id desc"
        )
        args = [self.team, *args]
        if limit:
            sql += f" limit {int(limit)}"
        rows = list(self.db.query(sql, list(args)))
        return self._hydrate(rows)

    def _hydrate(self, rows: list[dict]) -> list[Incident]:
        if not rows:
            return []
        ids = [r["id"] for r in rows]
        listed = [json.dumps(ids)]
        spis: dict[int, list[str]] = {i: [] for i in ids}
        for r in self.db.query(
            f"select incident_id, spi from incident_spis where {_IN.format('incident_id')}",
            listed,
        ):
            spis[r["incident_id"]].append(r["spi"])
        notes: dict[int, list[Note]] = {i: [] for i in ids}
        for r in self.db.query(
            f"select * from notes where {_IN.format('incident_id')} order by id", listed
        ):
            notes[r["incident_id"]].append(
                Note(
                    r["id"],
                    r["incident_id"],
                    r["text"],
                    r["author"],
                    r["created_at"],
                    r["permalink"],
                )
            )
        not_it: dict[int, list[str]] = {i: [] for i in ids}
        for r in self.db.query(
            f"select incident_id, article_id from feedback where verdict = 'not_it' "
            f"and {_IN.format('incident_id')} order by id",
            listed,
        ):
            not_it[r["incident_id"]].append(r["article_id"])
        return [
            Incident(
                id=r["id"],
                peer=r["peer"],
                local=r["local"],
                device=r["device"],
                platform=r["platform"],
                status=r["status"],
                opened_at=r["opened_at"],
                updated_at=r["updated_at"],
                resolved_at=r["resolved_at"],
                fixed_by=r["fixed_by"],
                top_cause=r["top_cause"],
                summary=r["summary"],
                signals=json.loads(r["signals"] or "[]"),
                event_count=r["event_count"] or 0,
                spis=sorted(spis[r["id"]]),
                notes=notes[r["id"]],
                not_it=not_it[r["id"]],
            )
            for r in rows
        ]

    def incident(self, incident_id: int) -> Incident:
        found = self._incidents("id = ?", [incident_id])
        if not found:
            raise StoreError(f"no incident #{incident_id}")
        return found[0]

    def incidents(self, peer: str | None = None, limit: int = 50) -> list[Incident]:
        if peer:
            return self._incidents("peer = ?", [peer], limit)
        return self._incidents("1 = 1", [], limit)

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
        clauses, args = [], []
        for column, values in (("peer", peers), ("local", locals_), ("device", devices)):
            values = sorted({v for v in values if v})
            if values:
                clauses.append(_IN.format(column))
                args.append(json.dumps(values))
        spis = sorted({s for s in spis if s})
        if spis:
            by_spi = f"select incident_id from incident_spis where {_IN.format('spi')}"
            clauses.append(f"id in ({by_spi})")
            args.append(json.dumps(spis))
        if not clauses:
            return []
        where = " or ".join(clauses)
        excluded = sorted(set(exclude_peers))
        if excluded:
            where = f"({where}) and not {_IN.format('peer')}"
            args.append(json.dumps(excluded))
        return self._incidents(where, args, limit)

    def devices(self) -> list[str]:
        return [
            r["device"]
            for r in self.db.query(
                "select distinct device from incidents where team_id = ? and device is not null",
                [self.team],
            )
        ]

    def similar_devices(self, name: str, exclude: Iterable[str] = (), limit: int = 5) -> list[str]:
        """Device names in this workspace's incidents that look like `name` (typos,
        -a/-b pairs, another domain suffix): rapidfuzz ratio on normalised names."""
        excluded = set(exclude)
        known = [d for d in self.devices() if d not in excluded]
        found = process.extract(
            name,
            known,
            scorer=fuzz.ratio,
            processor=utils.default_process,
            score_cutoff=SIMILAR_DEVICE_CUTOFF,
            limit=limit,
        )
        return [match for match, _score, _index in found]

    def incidents_on_devices(self, devices: Iterable[str], limit: int = 50) -> list[Incident]:
        devices = sorted(set(devices))
        if not devices:
            return []
        return self._incidents(_IN.format("device"), [json.dumps(devices)], limit)

    def recent_fixes(self, limit: int = 200) -> list[tuple[int, list[str]]]:
        """(incident id, signal names) of recently resolved incidents, newest first."""
        rows = self.db.query(
            "select id, signals from incidents where team_id = ? and fixed_by is not null "
            "order by updated_at desc limit ?",
            [self.team, limit],
        )
        return [(r["id"], json.loads(r["signals"] or "[]")) for r in rows]

    def incidents_by_id(self, ids: Iterable[int]) -> list[Incident]:
        ids = sorted(set(ids))
        if not ids:
            return []
        return self._incidents(_IN.format("id"), [json.dumps(ids)])

    def record_incidents(
        self, sightings: Iterable[Sighting], *, source: str = "cli", now: datetime | None = None
    ) -> list[int]:
        """Open an incident per peer, or update its open one seen within REUSE_WINDOW.

        One transaction for the whole paste: all of it is recorded, or none.
        """
        now = now or utcnow()
        stamp, cutoff = _iso(now), _iso(now - REUSE_WINDOW)
        ids = []
        with self.writing("record the incident") as db:
            for seen in sightings:
                row = next(
                    db.query(
                        "select id, event_count from incidents where team_id = ? and peer = ? "
                        "and status = 'open' and updated_at >= ? order by updated_at desc limit 1",
                        [self.team, seen.peer, cutoff],
                    ),
                    None,
                )
                values = {
                    "local": seen.local,
                    "device": seen.device,
                    "platform": seen.platform,
                    "updated_at": stamp,
                    "top_cause": seen.top_cause,
                    "summary": seen.summary,
                    "signals": json.dumps(sorted(set(seen.signals))),
                }
                # Plain SQL on this hot path: sqlite-utils' insert/update re-read the table's
                # schema on every call, which was half the cost of answering a paste.
                if row is None:
                    values |= {
                        "team_id": self.team,
                        "peer": seen.peer,
                        "status": "open",
                        "opened_at": stamp,
                        "event_count": seen.event_count,
                        "source": source,
                    }
                    columns = ", ".join(values)
                    marks = ", ".join("?" * len(values))
                    incident_id = db.execute(
                        f"insert into incidents ({columns}) values ({marks})", list(values.values())
                    ).lastrowid
                else:
                    incident_id = row["id"]
                    values["event_count"] = row["event_count"] + seen.event_count
                    assignments = ", ".join(f"{c} = ?" for c in values)
                    db.execute(
                        f"update incidents set {assignments} where id = ?",
                        [*values.values(), incident_id],
                    )
                db.conn.executemany(
                    "insert or ignore into incident_spis (incident_id, spi) values (?, ?)",
                    [(incident_id, s) for s in sorted(set(seen.spis))],
                )
                ids.append(incident_id)
        return ids

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
        stamp = _iso(now or utcnow())
        with self.writing("add the note") as db:
            stored = self._note_by_key(db, request_key)
            if stored is None:
                if incident_id is None:
                    incident_id = self._open_incident_for(db, peer, device, source, stamp)
                else:
                    self._require_incident(db, incident_id)
                note = {
                    "text": text,
                    "author": author,
                    "source": source,
                    "permalink": permalink,
                    "request_key": request_key,
                }
                note_id = self._insert_note(db, incident_id, note, spi, device, stamp)
                if fixed_by:
                    self._resolve(db, incident_id, fixed_by, author, stamp)
            else:
                incident_id, note_id = stored
        return self.incident(incident_id), note_id

    def _note_by_key(self, db, request_key: str | None) -> tuple[int, int] | None:
        if request_key is None:
            return None
        row = db.execute(
            "select incident_id, id from notes where team_id = ? and request_key = ?",
            [self.team, request_key],
        ).fetchone()
        return (row[0], row[1]) if row else None

    def _open_incident_for(self, db, peer: str, device, source: str, stamp: str) -> int:
        row = db.execute(
            "select id from incidents where team_id = ? and peer = ? and status = 'open' "
            "order by updated_at desc limit 1",
            [self.team, peer],
        ).fetchone()
        if row is not None:
            return row[0]
        return db.execute(
            "insert into incidents (team_id, peer, device, status, opened_at, "
            "updated_at, summary, signals, event_count, source) "
            "values (?, ?, ?, 'open', ?, ?, 'opened by a note', '[]', 0, ?)",
            [self.team, peer, device, stamp, stamp, source],
        ).lastrowid

    def _insert_note(self, db, incident_id: int, note: dict, spi, device, stamp: str) -> int:
        if spi:
            db.execute(
                "insert or ignore into incident_spis (incident_id, spi) values (?, ?)",
                [incident_id, spi],
            )
        row = {"incident_id": incident_id, "team_id": self.team, "created_at": stamp, **note}
        note_id = db.execute(
            f"insert into notes ({', '.join(row)}) values ({', '.join('?' * len(row))})",
            list(row.values()),
        ).lastrowid
        db.execute(
            "update incidents set updated_at = ?, device = coalesce(?, device) where id = ?",
            [stamp, device, incident_id],
        )
        return note_id

    def resolve(
        self, incident_id: int, article_id: str, author: str | None = None
    ) -> tuple[Incident, bool]:
        """Record that an article's fix worked and close the incident: (incident, changed).

        changed is False when the incident was already resolved by this article (a second
        click): nothing is written, so the fix counts once.
        """
        self.article(article_id)
        with self.writing("resolve the incident") as db:
            changed = self._resolve(db, incident_id, article_id, author, _iso(utcnow()))
        return self.incident(incident_id), changed

    def not_it(self, incident_id: int, article_id: str, author: str | None = None) -> bool:
        """Record that a cause was checked and was not it, for this incident.

        True when recorded; False when it already was (a second click counts once).
        """
        self.article(article_id)
        with self.writing("record the feedback") as db:
            self._require_incident(db, incident_id)
            return self._feedback(db, incident_id, article_id, "not_it", author, _iso(utcnow()))

    def _require_incident(self, db: sqlite_utils.Database, incident_id: int) -> tuple:
        # Another workspace's incident is "no incident" here: ids are not capabilities.
        found = db.execute(
            "select status, fixed_by from incidents where id = ? and team_id = ?",
            [incident_id, self.team],
        ).fetchone()
        if found is None:
            raise StoreError(f"no incident #{incident_id}")
        return tuple(found)

    def _feedback(self, db, incident_id, article_id, verdict, author, stamp) -> bool:
        # The unique index (migration 0004_once) makes a repeated verdict a no-op.
        return (
            db.execute(
                "insert into feedback (incident_id, team_id, article_id, verdict, author, "
                "created_at) values (?, ?, ?, ?, ?, ?) "
                "on conflict (incident_id, article_id, verdict) do nothing",
                [incident_id, self.team, article_id, verdict, author, stamp],
            ).rowcount
            == 1
        )

    def _resolve(self, db, incident_id: int, article_id: str, author, stamp: str) -> bool:
        if self._require_incident(db, incident_id) == ("resolved", article_id):
            return False
        db.execute(
            "update incidents set status = 'resolved', fixed_by = ?, resolved_at = ?, "
            "updated_at = ? where id = ?",
            [article_id, stamp, stamp, incident_id],
        )
        self._feedback(db, incident_id, article_id, "fixed", author, stamp)
        return True

    def counts(self) -> dict[str, int]:
        team = [self.team]
        return {
            "articles": self.db["articles"].count,
            "incidents": self.db["incidents"].count_where("team_id = ?", team),
            "open_incidents": self.db["incidents"].count_where(
                "team_id = ? and status = 'open'", team
            ),
            "notes": self.db["notes"].count_where("team_id = ?", team),
        }


def _path_key(path: Path) -> str:
    return os.path.abspath(path)


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


def _free_bytes(path: Path) -> int:
    try:
        return shutil.disk_usage(path.parent).free
    except OSError:
        return MIN_FREE_BYTES  # unknown is not full: the write itself will tell


def _make_private_dirs(directory: Path) -> None:
    """Create `directory` and any missing parents 0700 (Path.mkdir gives parents 0777)."""
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for each in reversed(missing):
        each.mkdir(mode=0o700, exist_ok=True)


def _create_private_file(path: Path) -> None:
    # Created 0600 before SQLite opens it: SQLite gives -wal and -shm the main file's mode,
    # so OAuth tokens in any of the three are for the owner only. O_NOFOLLOW: a dangling
    # link named as the database is refused, not followed to wherever it points.
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600))
    except OSError as exc:
        raise StoreError(f"cannot create {path}: {exc.strerror}") from exc


def _fts_tokens(query: str) -> list[str]:
    # Words only: quotes, stars, parentheses and NEAR( are FTS syntax, never search terms.
    return re.findall(r"\w+", query)[:32]


def _env_busy_ms() -> int:
    raw = os.environ.get("SPIBOT_BUSY_TIMEOUT_MS")
    if not raw:
        return DEFAULT_BUSY_MS
    try:
        return max(0, int(raw))
    except ValueError as exc:
        raise StoreError(
            f"SPIBOT_BUSY_TIMEOUT_MS must be a whole number of ms, not {raw!r}"
        ) from exc
