"""The schema, as ordered migrations applied on open (sqlite-utils `Migrations`).

A migration, once released, is never edited: a change to the schema is a new one at the end.
The `articles.platforms` column of 0001 is no longer written or read (Article.platforms was
never used); it stays, because dropping it would be a migration every read-only copy of an
older database needs before it can be opened again.

A read-only copy of a database can be served without the migrations in READ_OPTIONAL: they add
only what writers use (0005's bundled_checksum is read when syncing articles, never to answer).
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


# Every version of the bundled articles committed before 0005 (their git history; a test checks
# it): a row holding one of them came from the bundle, any other text from an operator's own
# directory. Rows written after 0005 record their origin in bundled_checksum instead.
BUNDLED_BEFORE_0005: dict[str, tuple[str, ...]] = {
    "firewall-blocking": (
        "a990729eef57566d9b6e5ff2aa5e3cd3b57ac6052c38ad99924055bebbd7e3db",
        "b81541a84eccb8106d985eb1b987ddffccb2c889f0cfdc1f388b9a27feccf5a4",
        "be7d75a4fcda10f4f9bfcfa8cccdaa47971a7cc1ed81ba2c6d5e1c42be148bd4",
    ),
    "ha-failover": (
        "02c8f745dcc17da3e270986d1f8f98574dd58819eb145c3f78c5e9cd38a0db5e",
        "33ad6553189ad4c3baa74607dc098d8ebe9d4181ccd5d6d38f7bd6507e84dac3",
        "421d4dea689a2f76da6cd97e610beb2ecbb64ab5ce39cfae72beaef7373a8fe5",
    ),
    "lifetime-mismatch": (
        "4901f1ab8f5255d9c52da626f505e46f43893c0046292b015ca7779804c68e0b",
        "91cf4964d591443e2a2f2a2e0fd55d813d60de41b6ab60312d3b161df1bab880",
        "af4c5868281019922809346773f88efc45ea09aa025e91431ccb4783c804e837",
    ),
    "nat-traversal": (
        "07425402d9fc894708a5694b65ef800d72ecbe539abab818b54122ad9e8a2667",
        "2596d250daf63d86fd1ab6a6c920d34064835a7d9e133f27d17f8f499e71835c",
        "5a8f9a0e3213d70e39341cbd23270c0e110c636de53f93270c946294de44bc71",
    ),
    "packet-loss": (
        "012b652d181500ba81d51f67bf3fbd60f2b6032628e6180d462f59349bd5c977",
        "4866bbc3855a530892198ba5596ba396db9ef553b3c231e6abfe35dead636ba1",
        "69fd4297e17818e77cd73db093e74286d32522124b65aa8d4a71cd029bb583fa",
    ),
    "policy-mismatch": (
        "029532a0ecd07a740d9f6f4b3fcaf7b7bf2354edb8cdf4c833c8d84b0f1d4cd4",
        "38f7764c35001cc52a06aa7c883dc0653b416ff50066e59ac289ace1933e29c5",
        "5d5dacdd1869a4ecea94cdee470f32ef01ce345e8ba5d8c7ae1d7698a45f0a28",
    ),
    "rekey-race": (
        "14c0ebf58c8eaf619364f334ad0797e0df7f80ed865109e246e427a1049bd0ed",
        "19492b0ee2dc27b415999a16bdc36787443ba864a50f8bcd19a3824ffcf019cb",
        "c19c1a0c3a31cdb1f97e49d16fc59a397858f4de626f88ef84e07f708496ecb9",
    ),
    "sa-out-of-sync": (
        "3310a885472bc87f0f773865ed4ac688574a69625440a395aeaec29269189780",
        "51888dd82c9074f70bdf971d160236aef4c5bf7914d34180e8ddc4ccaf9d6796",
        "7b7f7e419265fcb23d4f66094e51710d9cb77bf605f29f5cb02a94fda10556a6",
    ),
    "software-defect": (
        "480618fe20d58dabfb0d1ed0fe6cb095d901adbc70961c849a6664025f1ecbf7",
        "67deb67f92842a1cdc5e6cc0e334f1321a2a7cad23f106008cb54a89eeed24f3",
        "6eb9d8130381ac48b3dfff3baa98542727e6d22cf738ebeb4ace7f6ec44a1130",
    ),
    "unsolicited-esp": (
        "349ceb108c5be95f260e01b6e6c6fea6e446d5dbc8c5398619af48f23441a47f",
        "411f7cb61bfed245778a1ebdedb7bd5d821c182a05fa643eb1795b1bcd4ca7b0",
        "fe819c5e3a97a9c977657ff6c3b3b3a4655213c50b0031ea19c95590beba3517",
    ),
}


@MIGRATIONS(name="0005_article_origin")
def _article_origin(db: sqlite_utils.Database) -> None:
    """The checksum of the bundled article a row was synced from (null: not from the bundle).
    A row whose text is still that bundled version is replaced when a release corrects it; a
    row changed locally (`kb sync DIR`) is kept."""
    db["articles"].add_column("bundled_checksum", str)
    for article_id, checksums in BUNDLED_BEFORE_0005.items():
        marks = ", ".join("?" * len(checksums))
        db.execute(
            f"update articles set bundled_checksum = checksum "
            f"where id = ? and checksum in ({marks})",
            [article_id, *checksums],
        )


@MIGRATIONS(name="0006_confirmed")
def _confirmed(db: sqlite_utils.Database) -> None:
    """The cause pasted device state proved for an incident, and the lines that prove it (a
    JSON list of "host: line N: text")."""
    db["incidents"].add_column("confirmed_cause", str)
    db["incidents"].add_column("proof", str)


@MIGRATIONS(name="0007_article_answer")
def _article_answer(db: sqlite_utils.Database) -> None:
    """An article's words for the answer first (kb/answer.py), as JSON: `short`, `action`,
    `key_caveat`, `caveat_platforms`. Null for a row written before it: the answer falls back
    to the title and the first caveat until the bundle (or `kb sync`) rewrites the row."""
    db["articles"].add_column("answer", str)


@MIGRATIONS(name="0008_verdict_per_person")
def _verdict_per_person(db: sqlite_utils.Database) -> None:
    """ "Not it" counts once per person (each engineer who checked a cause says so once), so
    the unique index on verdicts takes the author too."""
    db.execute("drop index if exists idx_feedback_once")
    db.execute(
        "create unique index idx_feedback_once_each on feedback "
        "(incident_id, article_id, verdict, coalesce(author, ''))"
    )


@MIGRATIONS(name="0009_closed_reason")
def _closed_reason(db: sqlite_utils.Database) -> None:
    """Why an incident closed without anyone's fix (null: a person resolved it, or it is
    open): a one-line rekey race that stayed quiet closes by itself, and says so."""
    db["incidents"].add_column("closed_reason", str)


@MIGRATIONS(name="0010_feed")
def _feed(db: sqlite_utils.Database) -> None:
    """Feed mode (kb/feed): the lines each incident was opened and grown from, companion lines
    waiting to be claimed by an incident, and every alert message an incident has, so a
    restart neither loses an incident nor posts its alert twice."""
    db["incidents"].add_column("reviewed_at", str)  # when its lines were last diagnosed
    db["incidents"].add_column("reviewed_count", int)  # its event_count at that diagnosis
    db["feed_lines"].create(
        {
            "id": int,
            "team_id": str,
            "incident_id": int,  # null: a companion line not yet claimed by an incident
            "kind": str,  # invalid_spi | companion
            "device": str,
            "peer": str,
            "received_at": str,
            "line": str,
            "origin": int,  # a claimed companion: the waiting row it was copied from
        },
        pk="id",
        not_null={"team_id", "kind", "received_at", "line"},
        foreign_keys=[("incident_id", "incidents", "id")],
    )
    db["feed_lines"].create_index(["incident_id", "kind"])
    db["feed_lines"].create_index(["team_id", "device", "received_at"])
    db.execute(
        "create unique index idx_feed_lines_claimed on feed_lines (incident_id, origin) "
        "where origin is not null"
    )
    db["alerts"].create(
        {
            "id": int,
            "team_id": str,
            "incident_id": int,  # null for a digest
            "channel": str,  # a Slack channel id, or "stdout"
            "ref": str,  # the message's ts once posted; null while the post is under way
            "digest_id": int,  # folded into this digest alert instead of a message of its own
            "claimed_at": str,
            "posted_at": str,
            "updated_at": str,
            "shown_count": int,  # the incident's event_count the message shows
            "shown_cause": str,
            "resolved_at": str,  # when the message was marked resolved
        },
        pk="id",
        not_null={"team_id", "channel", "claimed_at"},
        foreign_keys=[("incident_id", "incidents", "id")],
    )
    db.execute(
        "create unique index idx_alerts_once on alerts (team_id, channel, incident_id) "
        "where incident_id is not null"
    )
    db["alerts"].create_index(["team_id", "channel", "posted_at"])


READ_OPTIONAL = frozenset(
    {
        "0005_article_origin",
        "0006_confirmed",
        "0007_article_answer",
        "0008_verdict_per_person",
        "0009_closed_reason",
        "0010_feed",
    }
)
