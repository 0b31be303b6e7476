"""The articles table: Article <-> row; sync; the bundled articles brought in on open (those
changed locally kept); and a cache of what was read, reloaded when another connection changes it.

Articles are shared knowledge, the same for every workspace: nothing here is scoped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

import sqlite_utils

from kb.article import Article, checksum, parse_article
from kb.commands import Command
from kb.db import Connection, UnknownArticleError, stamp, utcnow
from kb.migrations import BUNDLED_BEFORE_0005


def article_row(article: Article, now: str) -> dict:
    return {
        "id": article.id,
        "title": article.title,
        "aliases": json.dumps(list(article.aliases)),
        "prior": article.prior,
        "evidence": json.dumps(article.evidence),
        "summary": article.summary,
        "body": article.body,
        "verify": _commands_json(article.verify),
        "fix": _commands_json(article.fix),
        "caveats": json.dumps(list(article.caveats)),
        "sources": json.dumps(list(article.sources)),
        "checksum": article.checksum,
        "synced_at": now,
        "answer": json.dumps(
            {
                "short": article.short,
                "action": article.action,
                "key_caveat": article.key_caveat,
                "caveat_platforms": {k: list(v) for k, v in article.caveat_platforms.items()},
            }
        ),
    }


def article_from_row(row: dict) -> Article:
    answer = json.loads(row.get("answer") or "{}")  # null: a row written before 0007
    return Article(
        id=row["id"],
        title=row["title"],
        summary=row["summary"],
        body=row["body"],
        prior=row["prior"],
        evidence=json.loads(row["evidence"]),
        aliases=tuple(json.loads(row["aliases"])),
        verify=_commands_from_json(row["verify"]),
        fix=_commands_from_json(row["fix"]),
        caveats=tuple(json.loads(row["caveats"])),
        sources=tuple(json.loads(row["sources"])),
        checksum=row["checksum"],
        short=answer.get("short", ""),
        action=answer.get("action", ""),
        key_caveat=answer.get("key_caveat", {}),
        caveat_platforms={k: tuple(v) for k, v in answer.get("caveat_platforms", {}).items()},
    )


def _commands_json(table: dict[str, tuple[Command, ...]]) -> str:
    return json.dumps({k: [c.to_json() for c in v] for k, v in table.items()})


def _commands_from_json(text: str) -> dict[str, tuple[Command, ...]]:
    """Stored commands. A row written before commands had fields holds plain strings under
    ios, asa and any: they stay with their own platform, and `any` (prose) is not a command."""
    table = json.loads(text)
    return {k: tuple(Command.from_json(c) for c in v) for k, v in table.items() if k != "any"}


class ArticleTable:
    """The articles of one connection, cached, and reloaded when another connection (another
    thread, or a `spibot kb sync` in another process) has changed them.

    Each row records the checksum of the bundled article it was synced from
    (`bundled_checksum`). On open, a row still holding that bundled text is replaced when the
    bundle has a newer one; a row whose text differs from it was changed locally and is kept.
    """

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._articles: list[Article] | None = None
        self._data_version: int | None = None
        self._fingerprint: tuple = ()

    def _origins(self) -> dict[str, tuple[str, str | None]]:
        """id -> (checksum, checksum of the bundled article it was synced from) of every row."""
        db = self._connection.db
        if "bundled_checksum" not in db["articles"].columns_dict:
            # A read-only copy served without migration 0005: what it would have recorded.
            rows = db.query("select id, checksum from articles")
            return {
                r["id"]: (r["checksum"], r["checksum"])
                if r["checksum"] in BUNDLED_BEFORE_0005.get(r["id"], ())
                else (r["checksum"], None)
                for r in rows
            }
        rows = db.query("select id, checksum, bundled_checksum from articles")
        return {r["id"]: (r["checksum"], r["bundled_checksum"]) for r in rows}

    def sync(
        self, articles: Iterable[Article], bundled: Mapping[str, str] | None = None
    ) -> dict[str, list[str]]:
        """Upsert articles by id; unchanged ones are left alone, so syncing twice is a no-op.

        `bundled` (id -> checksum of the bundled article): an article equal to its bundled
        version is recorded as synced from the bundle; any other keeps the bundled version it
        was last synced from, so that it counts as changed locally."""
        with self._connection.writing("sync articles") as db:
            return self._upsert(db, articles, bundled or {})

    def _upsert(
        self, db: sqlite_utils.Database, articles: Iterable[Article], bundled: Mapping[str, str]
    ) -> dict[str, list[str]]:
        now = stamp(utcnow())
        report: dict[str, list[str]] = {"added": [], "updated": [], "unchanged": []}
        existing = self._origins()
        for article in articles:
            old = existing.get(article.id)
            origin = article.checksum if bundled.get(article.id) == article.checksum else None
            if old is not None and old[0] == article.checksum:
                report["unchanged"].append(article.id)
                if origin and old[1] != origin:
                    db["articles"].update(article.id, {"bundled_checksum": origin})
                continue
            report["updated" if old is not None else "added"].append(article.id)
            row = article_row(article, now)
            row["bundled_checksum"] = origin or (old[1] if old else None)
            db["articles"].upsert(row, pk="id")
        self._articles = None
        return report

    def _stale(self, texts: Mapping[str, tuple[Path, str]]) -> list[str]:
        """Bundled articles that are missing, or whose row still holds an older bundled text."""
        rows = self._origins()
        stale = []
        for article_id, (_path, text) in texts.items():
            row = rows.get(article_id)
            if row is None or (row[0] != checksum(text) and row[0] == row[1]):
                stale.append(article_id)
        return stale

    def update_from_bundle(self, texts: Mapping[str, tuple[Path, str]]) -> list[str]:
        """Bring in bundled articles that are new, or corrected since they were synced, and
        leave locally changed ones alone: the ids written. Writes only when there is something
        to write, so opening an up-to-date database takes no write lock."""
        if not self._stale(texts):
            return []
        with self._connection.writing("update bundled articles") as db:
            stale = self._stale(texts)  # again under the lock: another process may have done it
            articles = [parse_article(*texts[i]) for i in stale]
            self._upsert(db, articles, {a.id: a.checksum for a in articles})
        return stale

    def status(self, texts: Mapping[str, tuple[Path, str]]) -> dict[str, list[str]]:
        """How the rows compare with the bundle: `current`; `local` (changed with `kb sync
        DIR`: kept); `stale` (missing, or an older bundled text not yet replaced, as on a
        read-only file)."""
        rows = self._origins()
        out: dict[str, list[str]] = {"current": [], "local": [], "stale": []}
        for article_id, (_path, text) in sorted(texts.items()):
            row = rows.get(article_id)
            if row is not None and row[0] == checksum(text):
                out["current"].append(article_id)
            elif row is None or row[0] == row[1]:
                out["stale"].append(article_id)
            else:
                out["local"].append(article_id)
        return out

    def _changed_elsewhere(self) -> bool:
        """Whether another connection committed since the articles were read: SQLite's
        data_version says whether anything changed; the rows' ids and checksums, what."""
        db = self._connection.db
        version = db.execute("PRAGMA data_version").fetchone()[0]
        if version == self._data_version:
            return False
        self._data_version = version
        fingerprint = tuple(db.execute("select id, checksum from articles order by id"))
        if fingerprint == self._fingerprint:
            return False
        self._fingerprint = fingerprint
        return True

    def all(self) -> list[Article]:
        if self._changed_elsewhere() or self._articles is None:
            rows = self._connection.db["articles"].rows_where(order_by="id")
            self._articles = [article_from_row(r) for r in rows]
        return self._articles

    def get(self, article_id: str) -> Article:
        for article in self.all():
            if article.id == article_id:
                return article
        known = ", ".join(a.id for a in self.all())
        raise UnknownArticleError(f"unknown article id '{article_id}'; known ids: {known}")
