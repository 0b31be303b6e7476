"""Workspace scoping by construction: no Store method reads or writes another workspace's
incidents, notes or verdicts, and every statement on those tables carries the workspace."""

from __future__ import annotations

import contextlib
import inspect
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from kb.incidents import Incident, Sighting
from kb.store import MIGRATIONS, Store, StoreError, utcnow
from kb.workspace import Workspace

PEER, LOCAL, SPI = "198.51.100.7", "192.0.2.1", "0x0000ABCD"
DEVICES = ["hub-rtr-a", "hub-rtr-b"]  # one per workspace
SCOPED = re.compile(r"\b(incidents|notes|feedback)\b", re.I)


def sighting(device: str) -> Sighting:
    return Sighting(PEER, LOCAL, device, "ios", [SPI], ["repeating_spi"], 3, "rekey-race", "x")


def fill(store: Store, tag: str) -> int:
    """One workspace's memory: an incident with a note, a fix and a verdict."""
    [incident_id] = store.record_incidents([sighting(f"hub-rtr-{tag}")])
    store.add_note(peer=PEER, text=f"secret {tag}", spi=SPI, request_key="view:V1")
    store.not_it(incident_id, "nat-traversal", author=tag)
    store.resolve(incident_id, "rekey-race", author=tag)
    return incident_id


def in_a_transaction(store: Store, incident_id: int) -> None:
    with store.writing("nothing"), store.translating_errors("look"):
        store.counts()


# Every public Store method, called for one workspace. A new public method fails the test
# below until it is added here, so it is checked too.
EXERCISE: dict[str, Callable[[Store, int], object]] = {
    "migrate": lambda s, i: s.migrate(MIGRATIONS),
    "translating_errors": in_a_transaction,
    "writing": in_a_transaction,
    "write_problem": lambda s, i: s.write_problem(),
    "for_team": lambda s, i: s.for_team(s.team).incidents(),
    "sync_articles": lambda s, i: s.sync_articles(s.articles()),
    "articles": lambda s, i: s.articles(),
    "article_status": lambda s, i: s.article_status(),
    "article": lambda s, i: s.article("rekey-race"),
    "search_articles": lambda s, i: s.search_articles("rekey race"),
    "search_notes": lambda s, i: s.search_notes("secret"),
    "incident": lambda s, i: s.incident(i),
    "incidents": lambda s, i: s.incidents() + s.incidents(peer=PEER, status="open"),
    "history": lambda s, i: s.history([PEER], [LOCAL], [SPI], DEVICES, exclude_peers=["x"]),
    "devices": lambda s, i: s.devices(),
    "similar_devices": lambda s, i: s.similar_devices("hub-rtr-c"),
    "incidents_on_devices": lambda s, i: s.incidents_on_devices(DEVICES),
    "recent_fixes": lambda s, i: s.recent_fixes(),
    "incidents_by_id": lambda s, i: s.incidents_by_id([i, i + 1, i + 2]),
    "counts": lambda s, i: s.counts(),
    "record_incidents": lambda s, i: s.record_incidents([sighting("hub-rtr-a")]),
    "add_note": lambda s, i: s.add_note(peer=PEER, text="more", spi=SPI, device="hub-rtr-a"),
    "resolve": lambda s, i: s.resolve(i, "sa-out-of-sync"),
    "not_it": lambda s, i: s.not_it(i, "packet-loss"),
    "undo_not_it": lambda s, i: s.undo_not_it(i, "packet-loss"),
    "reopen": lambda s, i: s.reopen(i),
    "close_quiet_rekey_races": lambda s, i: s.close_quiet_rekey_races(
        timedelta(minutes=60), now=utcnow() + timedelta(days=2), keep=[i]
    ),
    "confirm_incident": lambda s, i: s.confirm_incident(i, "sa-out-of-sync", ["hub: line 1: x"]),
    "close": lambda s, i: None,  # closing is the end of the test
}


def public_methods() -> set[str]:
    return {
        name
        for name, member in inspect.getmembers(Store, inspect.isfunction)
        if not name.startswith("_")
    }


def test_every_public_store_method_is_exercised_below() -> None:
    assert public_methods() == set(EXERCISE), "add the new Store method to EXERCISE"


def test_every_statement_on_a_scoped_table_filters_by_workspace(tmp_path: Path) -> None:
    db = tmp_path / "kb.db"
    with Store(db, team="T2") as other:
        fill(other, "b")
    with Store(db, team="T1") as store:
        incident_id = fill(store, "a")
        statements: list[str] = []
        store.db.conn.set_trace_callback(statements.append)
        for call in EXERCISE.values():
            call(store, incident_id)
        store.db.conn.set_trace_callback(None)
    # "-- ..." runs inside SQLite's FTS machinery; sqlite_master lookups are sqlite-utils
    # reading the schema. Everything else naming a scoped table names this workspace.
    scoped = [
        s
        for s in statements
        if SCOPED.search(s) and not s.startswith("--") and "sqlite_master" not in s
    ]
    unscoped = [s for s in scoped if "team_id" not in s or "'T1'" not in s]
    assert unscoped == []
    seen = " ".join(scoped)
    for table in ("incidents", "notes", "feedback"):
        assert re.search(rf"(from|into|update) \"?{table}\b", seen), f"nothing touched {table}"


def owners(store: Store, ids: dict[int, str]) -> set[str]:
    """The workspaces ('a', 'b') whose rows any read of `store` shows: through the incident
    ids, the device names and the note texts both workspaces use."""
    found: list[Incident] = []
    found += store.incidents() + store.incidents(peer=PEER)
    found += store.history([PEER], [LOCAL], [SPI], DEVICES)
    found += store.history([], spis=[SPI]) + store.history([], devices=DEVICES)
    found += store.incidents_on_devices(DEVICES) + store.incidents_by_id(ids)
    for incident_id in ids:
        with contextlib.suppress(StoreError):
            found.append(store.incident(incident_id))
    words = [incident.device or "" for incident in found]
    words += [note.text for incident in found for note in incident.notes]
    words += store.devices() + store.similar_devices("hub-rtr-c")
    words += [row["text"] for row in store.search_notes("secret")]
    tags = {ids[i.id] for i in found}
    tags |= {ids[i] for i, _signals in store.recent_fixes()}
    tags |= {ids[row["incident_id"]] for row in store.search_notes("secret")}
    return tags | set(re.findall(r"(?:rtr-|secret )([ab])\b", " ".join(words)))


def test_two_workspaces_on_one_file_never_see_each_others_rows(tmp_path: Path) -> None:
    db = tmp_path / "kb.db"
    with Store(db, team="T1") as one, Store(db, team="T2") as two:
        a, b = fill(one, "a"), fill(two, "b")
        ids = {a: "a", b: "b"}
        assert owners(one, ids) == {"a"}
        assert owners(two, ids) == {"b"}
        assert {i.id for i in one.incidents_by_id(ids)} == {a}
        assert {i.id for i in two.incidents_by_id(ids)} == {b}
        assert one.counts() == two.counts() == {**one.counts(), "incidents": 1, "notes": 1}
        # Another workspace's id is "no incident": it can be neither read nor written.
        for store, foreign in ((one, b), (two, a)):
            with pytest.raises(StoreError, match="no incident"):
                store.incident(foreign)
            with pytest.raises(StoreError, match="no incident"):
                store.resolve(foreign, "sa-out-of-sync")
            with pytest.raises(StoreError, match="no incident"):
                store.not_it(foreign, "packet-loss")
            with pytest.raises(StoreError, match="no incident"):
                store.add_note(peer=PEER, text="into theirs", incident_id=foreign)
        before = two.incident(b)
        assert before.fixed_by == "rekey-race" and before.not_it == ["nat-traversal"]
        assert [n.text for n in before.notes] == ["secret b"]
        # The same scoping through for_team, which shares one connection.
        assert owners(one.for_team("T2"), ids) == {"b"}
        assert owners(two.for_team(""), ids) == set()


def test_the_workspace_helper_refuses_what_would_escape_it(tmp_path: Path) -> None:
    with Store(tmp_path / "kb.db", team="T1") as store:
        workspace = Workspace(store.db, "T1")
        with pytest.raises(ValueError, match="not a workspace-scoped table"):
            workspace.select("articles")
        with pytest.raises(ValueError, match="workspace's own parameter"):
            workspace.select("incidents", "team_id = :team", {"team": "T2"})
        with pytest.raises(ValueError, match="sets team_id itself"):
            workspace.insert("notes", {"team_id": "T2", "text": "x", "created_at": "now"})
