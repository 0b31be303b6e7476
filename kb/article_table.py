"""The articles table: Article <-> row, sync from kb/articles, and a cache of what was read.

Articles are shared knowledge, the same for every workspace: nothing here is scoped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from kb.article import Article
from kb.commands import Command
from kb.db import Connection, UnknownArticleError, stamp, utcnow


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
    }


def article_from_row(row: dict) -> Article:
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
    )


def _commands_json(table: dict[str, tuple[Command, ...]]) -> str:
    return json.dumps({k: [c.to_json() for c in v] for k, v in table.items()})


def _commands_from_json(text: str) -> dict[str, tuple[Command, ...]]:
    """Stored commands. A row written before commands had fields holds plain strings under
    ios, asa and any: they stay with their own platform, and `any` (prose) is not a command."""
    table = json.loads(text)
    return {k: tuple(Command.from_json(c) for c in v) for k, v in table.items() if k != "any"}


class ArticleTable:
    """The articles of one connection, read once and kept until the next sync."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._articles: list[Article] | None = None

    def empty(self) -> bool:
        return self._connection.db["articles"].count == 0

    def sync(self, articles: Iterable[Article]) -> dict[str, list[str]]:
        """Upsert articles by id; unchanged ones are left alone, so syncing twice is a no-op."""
        now = stamp(utcnow())
        report: dict[str, list[str]] = {"added": [], "updated": [], "unchanged": []}
        with self._connection.writing("sync articles") as db:
            existing = {
                r["id"]: r["checksum"] for r in db["articles"].rows_where(select="id, checksum")
            }
            for article in articles:
                if existing.get(article.id) == article.checksum:
                    report["unchanged"].append(article.id)
                    continue
                report["updated" if article.id in existing else "added"].append(article.id)
                db["articles"].upsert(article_row(article, now), pk="id")
        self._articles = None
        return report

    def all(self) -> list[Article]:
        if self._articles is None:
            rows = self._connection.db["articles"].rows_where(order_by="id")
            self._articles = [article_from_row(r) for r in rows]
        return self._articles

    def get(self, article_id: str) -> Article:
        for article in self.all():
            if article.id == article_id:
                return article
        known = ", ".join(a.id for a in self.all())
        raise UnknownArticleError(f"unknown article id '{article_id}'; known ids: {known}")
