"""Full-text search over articles and notes.

Any user text is reduced to words and each word quoted, so FTS syntax (quotes, stars,
parentheses, NEAR, column filters) is inert. All the words first; if nothing has them all,
any of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import sqlite_utils

from kb.workspace import Workspace

MAX_TOKENS = 32


def tokens(query: str) -> list[str]:
    # Words only: quotes, stars, parentheses and NEAR( are FTS syntax, never search terms.
    return re.findall(r"\w+", query)[:MAX_TOKENS]


def first_hits(db: sqlite_utils.Database, query: str, run: Callable[[str], list[dict]]):
    """The rows `run` finds for every word of `query`, else for any word, else []."""
    quoted = [db.quote_fts(t) for t in tokens(query)]
    if not quoted:
        return []
    for expression in (" ".join(quoted), " OR ".join(quoted)):
        rows = run(expression)
        if rows:
            return rows
    return []


def search_articles(db: sqlite_utils.Database, query: str, limit: int) -> list[dict]:
    """Articles (shared by every workspace) matching `query`: id, title, summary, rank."""
    sql = db["articles"].search_sql(
        columns=["id", "title", "summary"], limit=limit, include_rank=True
    )
    return first_hits(db, query, lambda e: [dict(r) for r in db.query(sql, {"query": e})])


def search_notes(workspace: Workspace, query: str, limit: int) -> list[dict]:
    """This workspace's notes matching `query`: id, incident_id, text, rank."""
    columns = ["id", "incident_id", "text"]
    return first_hits(workspace.db, query, lambda e: workspace.search("notes", e, columns, limit))
