"""The database under stress: old schemas, read-only files, locks, junk, hostile queries."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlite_utils

from kb.diagnose import diagnose
from kb.store import MIGRATIONS, LockedError, ReadOnlyError, Store, UnknownArticleError
from tests.conftest import CLEAN_ENV, PASTES
from tests.conftest import spibot as run

PASTE = (PASTES / "out-of-sync.txt").read_text()


def test_database_from_an_older_schema_is_migrated_on_open(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite_utils.Database(path)
    MIGRATIONS.apply(old, stop_before="0002_search")
    incident = (
        old["incidents"]
        .insert(
            {
                "peer": "198.51.100.7",
                "status": "open",
                "opened_at": "2026-01-01T00:00:00+00:00",
                "updated_at": "2026-01-01T00:00:00+00:00",
                "signals": "[]",
                "event_count": 1,
            }
        )
        .last_pk
    )
    old["notes"].insert(
        {"incident_id": incident, "text": "rebooted the hub router", "created_at": "2026-01-01"}
    )
    old.close()
    with Store(path) as store:
        assert [m.name for m in MIGRATIONS.pending(store.db)] == []
        assert store.search_notes("rebooted")[0]["incident_id"] == incident
        assert store.counts()["articles"] >= 10
    result = json.loads(run("lookup", "--json", "rebooted", "--db", str(path)).stdout)
    assert result["incidents"][0]["notes"][0]["text"] == "rebooted the hub router"


@pytest.mark.parametrize(
    "query",
    [
        '"',
        '"unbalanced',
        "*",
        "NEAR(",
        'NEAR("a" "b")',
        "a OR",
        "-x",
        "title:foo",
        "^",
        "'; DROP TABLE notes; --",
    ],
)
def test_fts_syntax_in_lookups_is_inert(tmp_path: Path, query: str) -> None:
    db = tmp_path / "kb.db"
    with Store(db) as store:
        store.add_note(peer="198.51.100.7", text='he said "NEAR(" * twice')
    result = run("lookup", "--json", "--db", str(db), "--", query)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["query"] == query
    with Store(db) as store:
        assert store.counts()["notes"] == 1


def test_unknown_fixed_by_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "kb.db"
    result = run(
        "note", "add", "x", "--peer", "198.51.100.7", "--fixed-by", "gremlins", "--db", str(db)
    )
    assert result.returncode == 2
    assert "unknown article id 'gremlins'" in result.stderr and "rekey-race" in result.stderr
    with Store(db) as store:
        assert store.counts()["incidents"] == 0 and store.counts()["notes"] == 0
        with pytest.raises(UnknownArticleError):
            store.resolve(1, "gremlins")


def test_bad_peer_and_spi_are_usage_errors(tmp_path: Path) -> None:
    db = str(tmp_path / "kb.db")
    assert run("note", "add", "x", "--peer", "not-an-ip", "--db", db).returncode == 2
    bad_spi = run("note", "add", "x", "--peer", "198.51.100.7", "--spi", "0xZZZ", "--db", db)
    assert bad_spi.returncode == 2 and "SPI" in bad_spi.stderr


def test_locked_database_gives_a_clear_error_and_diagnosis_still_answers(tmp_path: Path) -> None:
    db = tmp_path / "kb.db"
    Store(db).close()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        env = {"SPIBOT_BUSY_TIMEOUT_MS": "200"}
        note = run("note", "add", "x", "--peer", "198.51.100.7", "--db", str(db), env=env)
        assert note.returncode == 4
        assert "locked by another process (waited 0.2 s)" in note.stderr
        assert "Traceback" not in note.stderr
        answer = run("diagnose", "--json", "--db", str(db), stdin=PASTE, env=env)
        assert answer.returncode == 0
        doc = json.loads(answer.stdout)
        assert doc["causes"][0]["id"] == "sa-out-of-sync"
        assert any("not recorded" in w and "locked" in w for w in doc["warnings"])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with Store(db) as store:
        assert store.counts()["notes"] == 0  # nothing half-written


@contextlib.contextmanager
def read_only_copy(source: Path, tmp_path: Path):
    """A directory holding a copy of the database that this process cannot write."""
    if os.geteuid() != 0:
        target = tmp_path / "ro"
        target.mkdir()
        (target / "kb.db").write_bytes(source.read_bytes())
        (target / "kb.db").chmod(0o444)
        target.chmod(0o555)
        try:
            yield target / "kb.db"
        finally:
            target.chmod(0o755)
        return
    # root writes through file modes, so give it a read-only filesystem instead
    mount = tmp_path / "ro"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], check=True)
    try:
        (mount / "kb.db").write_bytes(source.read_bytes())
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        yield mount / "kb.db"
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_read_only_database_still_diagnoses_but_refuses_writes(tmp_path: Path) -> None:
    source = tmp_path / "kb.db"
    with Store(source) as store:
        store.add_note(peer="198.51.100.7", text="cleared on the hub", fixed_by="sa-out-of-sync")
        store.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with read_only_copy(source, tmp_path) as db:
        answer = run("diagnose", "--json", "--db", str(db), stdin=PASTE)
        assert answer.returncode == 0, answer.stderr
        doc = json.loads(answer.stdout)
        assert doc["causes"][0]["id"] == "sa-out-of-sync"
        assert any("history: fixed incident" in r for r in doc["causes"][0]["reasons"])
        assert any("not recorded" in w and "read-only" in w for w in doc["warnings"])
        note = run("note", "add", "x", "--peer", "198.51.100.7", "--db", str(db))
        assert (
            note.returncode == 4 and "read-only" in note.stderr and "Traceback" not in note.stderr
        )
        with Store(db) as store, pytest.raises(ReadOnlyError):
            store.add_note(peer="198.51.100.7", text="x")


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    result = run("incidents", "--db", str(junk))
    assert result.returncode == 4 and "not a spibot database" in result.stderr


def test_default_database_is_created_in_the_user_data_directory(tmp_path: Path) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "HOME": str(tmp_path), "SPIBOT_DB": ""}
    result = run("kb", "list", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["articles"]) >= 10
    assert (tmp_path / "data" / "spibot" / "spibot.db").is_file()


def test_env_file_sets_the_database(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"SPIBOT_DB={tmp_path / 'from-env.db'}\n")
    result = run("kb", "list", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "from-env.db").is_file()


def test_acknowledged_note_is_visible_to_another_connection(tmp_path: Path) -> None:
    db = tmp_path / "kb.db"
    with Store(db) as store:
        _, note_id = store.add_note(peer="198.51.100.7", text="seen by others")
        other = sqlite3.connect(db)
        assert other.execute("select text from notes where id = ?", [note_id]).fetchone() == (
            "seen by others",
        )
        other.close()


def test_reads_go_on_while_another_writer_holds_the_lock(tmp_path: Path) -> None:
    db = tmp_path / "kb.db"
    Store(db).close()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with Store(db, busy_ms=50) as store:
            assert diagnose(PASTE, store, record=False).causes[0].id == "sa-out-of-sync"
            with pytest.raises(LockedError):
                store.add_note(peer="198.51.100.7", text="x")
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_many_threads_opening_a_new_database_at_once(tmp_path: Path) -> None:
    import threading

    db = tmp_path / "new.db"
    errors: list[Exception] = []
    barrier = threading.Barrier(8)

    def open_it() -> None:
        barrier.wait()
        try:
            Store(db).close()
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Store(db) as store:
        applied = [m.name for m in MIGRATIONS.applied(store.db)]
        assert applied == [
            "0001_tables",
            "0002_search",
            "0003_teams",
            "0004_once",
            "0005_article_origin",
            "0006_confirmed",
            "0007_article_answer",
            "0008_verdict_per_person",
            "0009_closed_reason",
            "0010_feed",
        ]
        assert store.counts()["articles"] >= 10


@pytest.mark.parametrize(
    ("call", "index"),
    [
        (lambda s: s.history(["198.51.100.7"]), "idx_incidents_peer_status"),
        (lambda s: s.history([], spis=["0x00000001"]), "idx_incident_spis_spi"),
        (lambda s: s.incidents_on_devices(["rtr-1"]), "idx_incidents_device"),
    ],
)
def test_workspace_scoped_queries_still_use_their_index(tmp_path: Path, call, index: str) -> None:
    # A regression guard: filtering on team_id once made SQLite scan every incident.
    with Store(tmp_path / "kb.db", team="T1") as store:
        statements: list[str] = []
        store.db.conn.set_trace_callback(statements.append)
        call(store)
        store.db.conn.set_trace_callback(None)
        query = next(s for s in statements if s.lstrip().startswith("select * from incidents"))
        plan = " ".join(str(row[-1]) for row in store.db.execute(f"explain query plan {query}"))
        assert index in plan, plan
        assert "SCAN incidents" not in plan, plan


def test_not_it_counts_once_per_person_and_can_be_taken_back(tmp_path: Path) -> None:
    with Store(tmp_path / "kb.db") as store:
        incident = diagnose(PASTE, store).recorded[0]
        assert store.not_it(incident, "rekey-race", author="U1") is True
        assert store.not_it(incident, "rekey-race", author="U1") is False  # a double click
        assert store.not_it(incident, "rekey-race", author="U2") is True  # a second engineer
        assert store.incident(incident).not_it_by == {"rekey-race": ["U1", "U2"]}
        assert store.not_it(incident, "nat-traversal") is True  # another cause is news
        assert store.undo_not_it(incident, "rekey-race", author="U1") is True
        assert store.undo_not_it(incident, "rekey-race", author="U1") is False
        assert store.incident(incident).not_it_by == {
            "rekey-race": ["U2"],
            "nat-traversal": ["someone"],
        }


def test_a_fix_can_be_undone_and_no_longer_counts(tmp_path: Path) -> None:
    with Store(tmp_path / "kb.db") as store:
        incident_id = diagnose(PASTE, store).recorded[0]
        store.resolve(incident_id, "sa-out-of-sync", author="U1")
        reopened, changed = store.reopen(incident_id)
        assert changed and (reopened.status, reopened.fixed_by, reopened.resolved_at) == (
            "open",
            None,
            None,
        )
        assert store.reopen(incident_id)[1] is False  # already open
        fixed = store.db.execute("select count(*) from feedback where verdict = 'fixed'")
        assert fixed.fetchone()[0] == 0
        # The next paste for the peer gets no +4 for a fix that was taken back.
        again = diagnose(PASTE, store, record=False)
        assert not any("history:peer-fix" in s for s, _ in again.causes[0].points)


def test_a_second_fixed_click_counts_once(tmp_path: Path) -> None:
    with Store(tmp_path / "kb.db") as store:
        incident_id = diagnose(PASTE, store).recorded[0]
        first, changed = store.resolve(incident_id, "sa-out-of-sync", author="U1")
        assert changed and first.status == "resolved" and first.fixed_by == "sa-out-of-sync"
        again, changed = store.resolve(incident_id, "sa-out-of-sync", author="U2")
        assert not changed and again.resolved_at == first.resolved_at
        verdicts = store.db.execute(
            "select article_id, verdict, author from feedback where incident_id = ?",
            [incident_id],
        ).fetchall()
        assert verdicts == [("sa-out-of-sync", "fixed", "U1")]
        # the same fix again through a note with --fixed-by adds the note, not a verdict
        store.add_note(
            peer="198.51.100.7", text="x", incident_id=incident_id, fixed_by="sa-out-of-sync"
        )
        assert store.db["feedback"].count == 1


def test_a_repeated_request_key_stores_one_note(tmp_path: Path) -> None:
    with Store(tmp_path / "kb.db", team="T1") as store:
        incident, note_id = store.add_note(
            peer="198.51.100.7", text="cleared the SA", request_key="view:V1"
        )
        again, same_id = store.add_note(
            peer="203.0.113.9", text="cleared the SA (resubmitted)", request_key="view:V1"
        )
        assert (again.id, same_id) == (incident.id, note_id)
        assert store.counts()["notes"] == 1 and store.counts()["incidents"] == 1
        assert [n.text for n in again.notes] == ["cleared the SA"]
        # keys are per workspace, and a note without a key is never a repeat
        other, other_id = store.for_team("T2").add_note(
            peer="198.51.100.7", text="x", request_key="view:V1"
        )
        assert other_id != note_id and other.id != incident.id
        assert store.add_note(peer="198.51.100.7", text="y")[1] not in (note_id, other_id)
        assert store.add_note(peer="198.51.100.7", text="y")[1] not in (note_id, other_id)
        assert store.counts()["notes"] == 3


def test_migration_keeps_the_first_of_each_repeated_verdict(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite_utils.Database(path)
    MIGRATIONS.apply(old, stop_before="0004_once")
    old["incidents"].insert(
        {
            "id": 1,
            "peer": "198.51.100.7",
            "status": "resolved",
            "opened_at": "2026",
            "updated_at": "2026",
            "fixed_by": "rekey-race",
        }
    )
    clicks = [
        ("not_it", "nat-traversal", "U1"),
        ("not_it", "nat-traversal", "U2"),
        ("fixed", "rekey-race", "U3"),
        ("fixed", "rekey-race", "U4"),
        ("not_it", "packet-loss", "U5"),
    ]
    for verdict, article, author in clicks:
        old["feedback"].insert(
            {
                "incident_id": 1,
                "article_id": article,
                "verdict": verdict,
                "author": author,
                "created_at": "2026",
            }
        )
    old.close()
    with Store(path) as store:
        kept = store.db.execute("select verdict, article_id, author from feedback order by id")
        assert kept.fetchall() == [
            ("not_it", "nat-traversal", "U1"),
            ("fixed", "rekey-race", "U3"),
            ("not_it", "packet-loss", "U5"),
        ]
        with pytest.raises(sqlite3.IntegrityError):  # the same person's verdict again
            store.db.execute(
                "insert into feedback (incident_id, article_id, verdict, author, created_at) "
                "values (1, 'packet-loss', 'not_it', 'U5', 'now')"
            )


def stock_sqlite(conn: sqlite3.Connection) -> sqlite3.Connection:
    # SQLite before 3.32 (and builds that keep its default) allow 999 variables per statement;
    # Debian's allows 250,000, which hid the bug.
    conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
    return conn


def test_history_with_50000_spis_fits_a_stock_sqlite(tmp_path: Path) -> None:
    spis = [f"0x{n:08X}" for n in range(1, 50_001)]
    with Store(tmp_path / "kb.db") as store:
        stock_sqlite(store.db.conn)
        store.add_note(peer="198.51.100.7", text="first", spi=spis[-1])
        for k in range(1, 4):
            store.add_note(peer=f"203.0.113.{k}", text="x")
        found = store.history(
            [f"192.0.2.{n % 250}" for n in range(5000)],
            locals_=[f"10.{n // 250}.0.{n % 250}" for n in range(5000)],
            spis=spis,
            devices=[f"rtr-{n}" for n in range(5000)],
            exclude_peers=[f"198.18.{n // 250}.{n % 250}" for n in range(5000)],
        )
        assert [i.peer for i in found] == ["198.51.100.7"]
        everything = store.incidents_by_id(range(1, 50_001))
        assert len(everything) == 4
        assert store.incidents_on_devices([f"rtr-{n}" for n in range(5000)]) == []


STOCK_SQLITE_SPIBOT = (
    "import runpy, sqlite3\n"
    "connect = sqlite3.connect\n"
    "def stock(*args, **kwargs):\n"
    "    conn = connect(*args, **kwargs)\n"
    "    conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)\n"
    "    return conn\n"
    "sqlite3.connect = stock\n"
    "runpy.run_module('bot', run_name='__main__', alter_sys=True)\n"
)


def test_diagnose_of_a_log_with_50000_distinct_spis_on_a_stock_sqlite(tmp_path: Path) -> None:
    line = (
        "Mar  3 09:14:02.113: %CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has "
        "invalid spi for destaddr=192.0.2.1, prot=50, spi=0x{0:08X}({0}), "
        "srcaddr=198.51.100.{1}, input interface=GigabitEthernet0/0/0\n"
    )
    log = tmp_path / "big.log"
    log.write_text("".join(line.format(n, n % 200) for n in range(1, 50_001)))
    db = str(tmp_path / "kb.db")
    result = subprocess.run(
        [sys.executable, "-c", STOCK_SQLITE_SPIBOT, "diagnose", "--json", str(log), "--db", db],
        capture_output=True,
        text=True,
        timeout=300,
        env=CLEAN_ENV,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    doc = json.loads(result.stdout)
    assert doc["causes"] and not any("not recorded" in w for w in doc.get("warnings", []))
    with Store(db) as store:
        assert store.db["incident_spis"].count > 999


def test_a_confirmed_cause_and_its_proof_are_kept_with_the_incident(store):
    from kb.diagnose import diagnose

    case = Path(__file__).parent / "cases" / "ios-hub-asa-spoke-stale-sa-both-ends"
    paste = "\n".join(p.read_text() for p in sorted(case.iterdir()))
    result = diagnose(paste, store)
    incident = store.incident(result.recorded[0])
    assert incident.confirmed_cause == "sa-out-of-sync" == incident.top_cause
    assert incident.proof == result.causes[0].proof
    assert "spoke-asa: line" in incident.proof[0]
    assert incident.to_dict()["proof"] == incident.proof


def test_confirming_later_in_a_thread_makes_it_the_top_cause(store):
    from kb.incidents import Sighting
    from kb.store import StoreError, UnknownArticleError

    seen = Sighting(
        "198.51.100.7", "192.0.2.1", "hub", "ios", ["0x1A2B3C4D"], [], 3, "rekey-race", "3 lines"
    )
    (incident_id,) = store.record_incidents([seen])
    proof = ["spoke: line 9: current outbound spi: 0x1A2B3C4D"]
    incident = store.confirm_incident(incident_id, "sa-out-of-sync", proof)
    assert (incident.confirmed_cause, incident.top_cause, incident.proof) == (
        "sa-out-of-sync",
        "sa-out-of-sync",
        proof,
    )
    with pytest.raises(UnknownArticleError):
        store.confirm_incident(incident_id, "no-such-cause", proof)
    with pytest.raises(StoreError):
        store.confirm_incident(incident_id + 99, "sa-out-of-sync", proof)
