"""The schema, as ordered migrations applied on open (sqlite-utils `Migrations`).

A migration, once released, is never edited: a change to the schema is a new one at the end.
The `articles.platforms` column of 0001 is no longer written or read (Article.platforms was
never used); it stays, because dropping it would be a migration every read-only copy of an
older database needs before it can be opened again.
"""

from __future__ import annotations

import sqlite_utils
from sqlite_utils.migrations import Migrations

MIGRATIONS = Migrations("spibot")


@MIGRATIONS(name="0001_tables")
def _tables(db: sqlite_utils.Database) -> None:
    _articles_table(db)
    _incidents_tables(db)
    _notes_and_feedback_tables(db)


def _articles_table(db: sqlite_utils.Database) -> None:
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


def _incidents_tables(db: sqlite_utils.Database) -> None:
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


def _notes_and_feedback_tables(db: sqlite_utils.Database) -> None:
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
