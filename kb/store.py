"""The SQLite knowledge base: articles, incidents, notes and feedback.

Opens, migrates and seeds itself on first use. WAL so readers never wait for a writer, a busy
timeout so two writers queue instead of failing, and a clear error when the file is read-only
or stays locked.
"""

from __future__ import annotations

import copy
import json
import os
import re
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
MIGRATIONS = Migrations("spibot")


class StoreError(Exception):
    """The database cannot do what was asked; the message says why and what to do."""


class ReadOnlyError(StoreError):
    pass


class LockedError(StoreError):
    pass


class UnknownArticleError(StoreError):
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


def _article_row(article: Article, now: str) -> dict:
    return {
        "id": article.id,
        "title": article.title,
        "aliases": json.dumps(list(article.aliases)),
        "platforms": json.dumps(list(article.platforms)),
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
        platforms=tuple(json.loads(row["platforms"])),
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
    ) -> None:
        # Every incident, note and verdict read or written through this Store belongs to
        # `team`; articles are shared knowledge.
        self.team = team or ""
        self.path = resolve_db_path(path)
        self.busy_ms = busy_ms if busy_ms is not None else _env_busy_ms()
        self.readonly = False
        self._articles: list[Article] | None = None
        for attempt in range(OPEN_ATTEMPTS):
            self.db = self._connect()
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
    def _connect(self) -> sqlite_utils.Database:
        path = self.path
        if str(path) != ":memory:":
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the directory for {path}: {exc.strerror}") from exc
            if path.exists() and not os.access(path, os.W_OK):
                self.readonly = True
            elif not path.exists() and not os.access(path.parent, os.W_OK):
                raise ReadOnlyError(
                    f"cannot create {path}: its directory is not writable "
                    "(set SPIBOT_DB or --db to a writable path)"
                )
        try:
            if self.readonly:
                conn = self._connect_read_only(path)
            else:
                conn = sqlite3.connect(str(path), check_same_thread=False)
            # Autocommit: transactions are only the ones sqlite-utils' atomic() and writing() open.
            conn.isolation_level = None
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_ms)}")
            db = sqlite_utils.Database(conn)
            if not self.readonly:
                with self.translating_errors("open"):
                    db.enable_wal()
                    conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise LockedError(self._locked_message()) from exc
            raise StoreError(f"{path} is not a spibot database: {exc}") from exc
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
            raise

    @contextmanager
    def writing(self, action: str) -> Iterator[sqlite_utils.Database]:
        """One write transaction; read-only and lock errors become clear StoreErrors."""
        if self.readonly:
            raise ReadOnlyError(f"{self.path} is read-only: cannot {action}")
        with self.translating_errors(action):
            # IMMEDIATE takes the write lock up front, so the busy timeout applies to it.
            self.db.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.conn.execute("ROLLBACK")
                raise
            self.db.conn.execute("COMMIT")

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
        marks = ",".join("?" * len(ids))
        spis: dict[int, list[str]] = {i: [] for i in ids}
        for r in self.db.query(
            f"select incident_id, spi from incident_spis where incident_id in ({marks})", ids
        ):
            spis[r["incident_id"]].append(r["spi"])
        notes: dict[int, list[Note]] = {i: [] for i in ids}
        for r in self.db.query(
            f"select * from notes where incident_id in ({marks}) order by id", ids
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
            f"and incident_id in ({marks}) order by id",
            ids,
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
                clauses.append(f"{column} in ({','.join('?' * len(values))})")
                args.extend(values)
        spis = sorted({s for s in spis if s})
        if spis:
            marks = ",".join("?" * len(spis))
            clauses.append(f"id in (select incident_id from incident_spis where spi in ({marks}))")
            args.extend(spis)
        if not clauses:
            return []
        where = " or ".join(clauses)
        excluded = sorted(set(exclude_peers))
        if excluded:
            where = f"({where}) and peer not in ({','.join('?' * len(excluded))})"
            args.extend(excluded)
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
        return self._incidents(f"device in ({','.join('?' * len(devices))})", devices, limit)

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
        return self._incidents(f"id in ({','.join('?' * len(ids))})", ids)

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
    ) -> tuple[Incident, int]:
        """Attach a note to the peer's open incident (opening one if needed).

        The note is committed before this returns, so an acknowledgement can follow it.
        """
        text = text.strip()
        if not text:
            raise StoreError("a note needs some text")
        if fixed_by is not None:
            self.article(fixed_by)  # unknown ids are refused before anything is written
        stamp = _iso(now or utcnow())
        with self.writing("add the note") as db:
            if incident_id is not None:
                self._require_incident(db, incident_id)
            else:
                row = db.execute(
                    "select id from incidents where team_id = ? and peer = ? and status = 'open' "
                    "order by updated_at desc limit 1",
                    [self.team, peer],
                ).fetchone()
                if row is None:
                    incident_id = db.execute(
                        "insert into incidents (team_id, peer, device, status, opened_at, "
                        "updated_at, summary, signals, event_count, source) "
                        "values (?, ?, ?, 'open', ?, ?, 'opened by a note', '[]', 0, ?)",
                        [self.team, peer, device, stamp, stamp, source],
                    ).lastrowid
                else:
                    incident_id = row[0]
            if spi:
                db.execute(
                    "insert or ignore into incident_spis (incident_id, spi) values (?, ?)",
                    [incident_id, spi],
                )
            note_id = db.execute(
                "insert into notes (incident_id, team_id, text, author, source, permalink, "
                "created_at) values (?, ?, ?, ?, ?, ?, ?)",
                [incident_id, self.team, text, author, source, permalink, stamp],
            ).lastrowid
            db.execute(
                "update incidents set updated_at = ?, device = coalesce(?, device) where id = ?",
                [stamp, device, incident_id],
            )
            if fixed_by:
                self._resolve(db, incident_id, fixed_by, author, stamp)
        return self.incident(incident_id), note_id

    def resolve(self, incident_id: int, article_id: str, author: str | None = None) -> Incident:
        """Record that an article's fix worked and close the incident."""
        self.article(article_id)
        with self.writing("resolve the incident") as db:
            self._resolve(db, incident_id, article_id, author, _iso(utcnow()))
        return self.incident(incident_id)

    def not_it(self, incident_id: int, article_id: str, author: str | None = None) -> None:
        """Record that a cause was checked and was not it, for this incident."""
        self.article(article_id)
        with self.writing("record the feedback") as db:
            self._require_incident(db, incident_id)
            self._feedback(db, incident_id, article_id, "not_it", author, _iso(utcnow()))

    def _require_incident(self, db: sqlite_utils.Database, incident_id: int) -> None:
        # Another workspace's incident is "no incident" here: ids are not capabilities.
        found = db.execute(
            "select 1 from incidents where id = ? and team_id = ?", [incident_id, self.team]
        ).fetchone()
        if found is None:
            raise StoreError(f"no incident #{incident_id}")

    def _feedback(self, db, incident_id, article_id, verdict, author, stamp) -> None:
        db.execute(
            "insert into feedback (incident_id, team_id, article_id, verdict, author, created_at) "
            "values (?, ?, ?, ?, ?, ?)",
            [incident_id, self.team, article_id, verdict, author, stamp],
        )

    def _resolve(self, db, incident_id: int, article_id: str, author: str | None, stamp: str):
        self._require_incident(db, incident_id)
        db.execute(
            "update incidents set status = 'resolved', fixed_by = ?, resolved_at = ?, "
            "updated_at = ? where id = ?",
            [article_id, stamp, stamp, incident_id],
        )
        self._feedback(db, incident_id, article_id, "fixed", author, stamp)

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
