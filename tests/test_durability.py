"""No acknowledged write is ever lost: a database file removed or replaced under a running
spibot, a full disk and a read-only database, through the Store, the CLI and `serve --http`."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bot.server import health
from bot.slack_state import SlackState
from kb.store import ReplacedError, Store
from tests.conftest import PASTES
from tests.conftest import spibot as run
from tests.fakeslack import FakeSlack, command_body, event_body
from tests.slack_harness import ServeProcess
from tests.test_store import read_only_copy

PASTE = (PASTES / "out-of-sync.txt").read_text()
FORM = "application/x-www-form-urlencoded"
REPLACED = "was removed or replaced while spibot was running: restart spibot; nothing was written"


def get(server: ServeProcess, path: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def spi(server: ServeProcess, text: str, *, whole: bool = False) -> tuple[int, str]:
    """The /spi answer's text (the notification); `whole`: its text and blocks as JSON."""
    status, body = server.post(command_body(text), FORM)
    if status != 200:
        return status, body
    return status, body if whole else json.loads(body)["text"]


@contextlib.contextmanager
def serving(db: Path):
    fake = FakeSlack().start()
    server = ServeProcess(fake, db)
    server.fake = fake
    try:
        yield server
    finally:
        server.stop()
        fake.stop()


def test_a_store_refuses_writes_once_its_file_is_replaced(tmp_path: Path) -> None:
    db, other = tmp_path / "kb.db", tmp_path / "restored.db"
    store = Store(db)
    incident, _ = store.add_note(peer="198.51.100.7", text="before")
    Store(other).close()
    os.replace(other, db)
    with pytest.raises(ReplacedError, match=REPLACED):
        store.add_note(peer="198.51.100.7", text="into a file nobody will open")
    with pytest.raises(ReplacedError, match=REPLACED):
        store.not_it(incident.id, "rekey-race")
    assert store.incident(incident.id).notes[0].text == "before"  # reads go on
    with pytest.raises(ReplacedError, match=REPLACED):
        Store(db)  # another thread of this process opening it now
    status, body = health(str(db))
    assert status == 503 and REPLACED in body["database"]
    store.close()


def test_a_store_whose_file_was_removed_never_creates_a_new_one(tmp_path: Path) -> None:
    db = tmp_path / "kb.db"
    store = Store(db)
    store.add_note(peer="198.51.100.7", text="before")
    db.unlink()
    with pytest.raises(ReplacedError, match=REPLACED):
        store.add_note(peer="198.51.100.7", text="lost")
    with pytest.raises(ReplacedError, match=REPLACED):
        Store(db)
    status, body = health(str(db))
    assert status == 503 and REPLACED in body["database"]
    assert not db.exists()
    store.close()


def test_healthz_opens_read_only_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "missing" / "kb.db"
    status, body = health(str(missing))
    assert status == 503 and body["database"].startswith("database file missing")
    assert not missing.parent.exists()
    db = tmp_path / "kb.db"
    Store(db).close()
    before = (db.read_bytes(), db.stat().st_mtime_ns)
    assert health(str(db)) == (200, {"ok": True, "database": "ok"})
    assert (db.read_bytes(), db.stat().st_mtime_ns) == before
    # SQLite reads a WAL database safely only with its -wal and -shm beside it (empty here)
    assert set(os.listdir(tmp_path)) <= {"missing", "kb.db", "kb.db-wal", "kb.db-shm"}
    assert "missing" not in os.listdir(tmp_path)


def test_replacing_the_database_while_serving_refuses_notes_instead_of_losing_them(
    tmp_path: Path,
) -> None:
    db, restored = tmp_path / "kb.db", tmp_path / "restored.db"
    with Store(restored) as store:
        store.add_note(peer="203.0.113.5", text="from the restored copy")
    with serving(db) as server:
        for i in range(3):
            status, text = spi(server, f"note 198.51.100.7 acknowledged {i}")
            assert status == 200 and text.startswith(f"Note {i + 1} added"), text
        os.replace(restored, db)  # `mv backup.db kb.db` under the running bot
        for i in range(6):
            status, text = spi(server, f"note 198.51.100.7 after the swap {i}")
            assert not text.startswith("Note"), text  # never acknowledged
            assert status != 200 or REPLACED in text
        status, body = get(server, "/healthz")
        assert status == 503 and REPLACED in body["database"]
    with Store(db) as store:
        texts = [r["text"] for r in store.db.query("select text from notes")]
        assert texts == ["from the restored copy"]
        assert store.db.execute("pragma integrity_check").fetchone()[0] == "ok"


def test_removing_the_database_while_serving_refuses_notes_and_creates_no_new_file(
    tmp_path: Path,
) -> None:
    db = tmp_path / "kb.db"
    with serving(db) as server:
        status, text = spi(server, "note 198.51.100.7 acknowledged")
        assert status == 200 and text.startswith("Note 1 added"), text
        db.unlink()
        for i in range(6):
            status, text = spi(server, f"note 198.51.100.7 after the rm {i}")
            assert not text.startswith("Note"), text
        status, body = get(server, "/healthz")
        assert status == 503 and REPLACED in body["database"]
        assert not db.exists()


@contextlib.contextmanager
def tiny_disk(tmp_path: Path, size: str = "4m"):
    """A filesystem of `size` this test can fill: a tmpfs mount, which needs root."""
    if os.geteuid() != 0:
        pytest.skip("filling a disk needs a tmpfs mount, and mounting needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(directory: Path) -> Path:
    ballast = directory / "ballast"
    with ballast.open("wb", buffering=0) as out:
        for chunk in (1 << 20, 1 << 12, 1):
            with contextlib.suppress(OSError):
                while out.write(bytes(chunk)):
                    pass
    return ballast


def one_line(stderr: str) -> str:
    assert "Traceback" not in stderr and stderr.count("\n") == 1, stderr
    return stderr


def test_a_full_disk_is_one_clear_line_and_diagnosis_still_answers(tmp_path: Path) -> None:
    with tiny_disk(tmp_path) as disk:
        db = disk / "kb.db"
        # The serving bot keeps the database open: its -wal and -shm exist when the disk fills.
        holder = Store(db)
        holder.add_note(peer="198.51.100.7", text="before the disk filled")
        holder.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        with serving(db) as server:
            assert get(server, "/healthz")[0] == 200  # its worker is up (and migrated)
            ballast = fill(disk)
            note = run("note", "add", "x", "--peer", "198.51.100.7", "--db", str(db))
            assert note.returncode == 4
            assert "the database could not be used: disk full" in one_line(note.stderr)
            answer = run("diagnose", "--json", "--db", str(db), stdin=PASTE)
            assert answer.returncode == 0, answer.stderr
            doc = json.loads(answer.stdout)
            assert doc["causes"][0]["id"] == "sa-out-of-sync"
            assert any("not recorded" in w and "disk full" in w for w in doc["warnings"])
            doctor = run("doctor", "--db", str(db))
            assert doctor.returncode == 1 and "FAIL  writes" in doctor.stdout
            assert "disk full" in doctor.stdout
            status, body = get(server, "/healthz")
            assert status == 503 and "disk full" in body["database"]
            status, text = spi(server, "note 198.51.100.7 while full")
            assert status == 200 and "disk full" in text and not text.startswith("Note")
            # A paste in a channel is still answered, marked "not recorded".
            event = {"type": "message", "channel": "C9", "user": "U1", "text": PASTE, "ts": "9.2"}
            assert server.post(event_body(event, "EvFULL"), "application/json")[0] == 200
            [reply] = server.fake.wait_for("chat.postMessage")
            assert "not recorded" in json.dumps(reply["blocks"]) and reply["thread_ts"] == "9.2"

            ballast.unlink()  # space again: everything works, nothing needs a restart
            assert get(server, "/healthz")[0] == 200
            status, text = spi(server, "note 198.51.100.7 after the cleanup")
            assert text.startswith("Note 2 added"), text
        after = run("note", "add", "y", "--peer", "198.51.100.7", "--db", str(db))
        assert after.returncode == 0, after.stderr
        assert [n.text for n in holder.incidents()[0].notes] == [
            "before the disk filled",
            "after the cleanup",
            "y",
        ]
        holder.close()


def test_a_read_only_database_serves_answers_and_doctor_fails_it(tmp_path: Path) -> None:
    source = tmp_path / "kb.db"
    with Store(source) as store:
        SlackState(store)  # a database that has served before: its Slack tables exist
        store.add_note(peer="198.51.100.7", text="cleared on the hub", fixed_by="sa-out-of-sync")
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with read_only_copy(source, tmp_path) as db, serving(db) as server:
        status, text = spi(server, "198.51.100.7")
        assert status == 200 and "cleared on the hub" in text, text
        status, body = server.post(command_body(PASTE), FORM)  # the text is cut at 3,000
        assert status == 200 and "sa-out-of-sync" in body and "not recorded" in body, body
        # A paste in a channel is answered too: its delivery key is kept in memory instead.
        event = {"type": "message", "channel": "C9", "user": "U1", "text": PASTE, "ts": "9.1"}
        status, _ = server.post(event_body(event, "EvRO"), "application/json")
        assert status == 200
        [reply] = server.fake.wait_for("chat.postMessage")
        assert reply["thread_ts"] == "9.1" and "not recorded" in json.dumps(reply["blocks"])
        status, body = get(server, "/healthz")
        assert status == 503 and "read-only" in body["database"]
        doctor = run("doctor", "--db", str(db))
        assert doctor.returncode == 1 and "FAIL  writes" in doctor.stdout
        assert "read-only" in doctor.stdout


def test_serve_refuses_in_one_line_a_read_only_database_it_cannot_prepare(tmp_path: Path) -> None:
    source = tmp_path / "kb.db"
    Store(source).close()  # never served: the Slack tables are missing and cannot be made
    fake = FakeSlack().start()
    try:
        with read_only_copy(source, tmp_path) as db:
            result = run(
                "serve",
                "--http",
                "--port",
                "0",
                "--db",
                str(db),
                env={
                    "SLACK_BOT_TOKEN": "xoxb-test",
                    "SLACK_SIGNING_SECRET": "s",
                    "SLACK_API_URL": fake.url,
                },
                timeout=60,
            )
    finally:
        fake.stop()
    assert result.returncode == 4
    assert result.stderr.count("\n") == 1 and "read-only" in result.stderr
    assert "Traceback" not in result.stderr
