"""Production: crashing workers and writers, backups and moves between hosts, doctor, logs."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlencode

import psutil
import pytest

from kb.diagnose import diagnose
from kb.store import Store
from tests.conftest import CLEAN_ENV, PASTES, wait_until
from tests.conftest import spibot as run
from tests.fakeslack import TEAM, FakeSlack, event_body
from tests.slack_harness import ServeProcess

PASTE = (PASTES / "out-of-sync.txt").read_text()


def test_sigkilled_writer_leaves_an_intact_database_with_every_acknowledged_note(
    tmp_path: Path,
) -> None:
    db = tmp_path / "kb.db"
    Store(db).close()
    writer = (
        "import sys, time\n"
        "from kb.store import Store\n"
        "k = int(sys.argv[1])\n"
        "store = Store(sys.argv[2])\n"
        "for i in range(250):\n"
        "    _, note = store.add_note(peer=f'198.51.100.{k}', text=f'writer {k} note {i}')\n"
        "    print(note, f'writer {k} note {i}', flush=True)\n"
        # The sleep is the behaviour under test, not a wait: the writer we kill paces itself,
        # so that it is certainly killed midway through its 250 notes.
        "    time.sleep(float(sys.argv[3]))\n"
    )
    procs = [
        subprocess.Popen(
            # the one we kill paces itself, so that "midway" is certain
            [sys.executable, "-c", writer, str(k), str(db), "0.005" if k == 1 else "0"],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path.cwd(),
            env=CLEAN_ENV,
        )
        for k in range(4)
    ]
    acknowledged: dict[int, str] = {}
    lock = threading.Lock()

    def collect(proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            if not line.endswith("\n"):
                continue  # cut short by the kill: never a whole acknowledgement
            note_id, _, text = line.strip().partition(" ")
            with lock:
                acknowledged[int(note_id)] = text

    readers = [threading.Thread(target=collect, args=(p,)) for p in procs]
    for r in readers:
        r.start()
    victim = procs[1]

    def victim_wrote_40() -> bool:
        with lock:
            return sum("writer 1 " in t for t in acknowledged.values()) >= 40

    wait_until(victim_wrote_40, timeout=60, what="40 notes from the writer to kill")
    victim.send_signal(signal.SIGKILL)
    for p in procs:
        p.wait(timeout=120)
    for r in readers:
        r.join()
    assert victim.returncode == -signal.SIGKILL
    assert all(p.returncode == 0 for p in procs if p is not victim)
    written_by_victim = sum("writer 1 " in t for t in acknowledged.values())
    assert 40 <= written_by_victim < 250  # it really died midway
    assert len(acknowledged) == 750 + written_by_victim
    conn = sqlite3.connect(db)
    assert conn.execute("pragma integrity_check").fetchone() == ("ok",)
    stored = dict(conn.execute("select id, text from notes"))
    missing = {i: t for i, t in acknowledged.items() if stored.get(i) != t}
    assert missing == {}
    assert conn.execute("select count(*) from notes_fts where notes_fts match 'writer'").fetchone()[
        0
    ] == len(stored)
    conn.close()


# The killed worker took about a quarter of the pastes, and every one it had acknowledged but
# not yet answered (queued on its background pool) dies with it; the three live workers answer
# all of theirs. Measured: 6-24 % unanswered on this 2-core machine under load.
ANSWERED_SHARE = 0.7


@pytest.mark.alone  # 16 clients on 4 workers: other tests' load makes notes wait on locks
def test_four_workers_one_killed_midway_lose_no_acknowledged_note(tmp_path: Path) -> None:
    fake = FakeSlack().start()
    db = tmp_path / "kb.db"
    server = ServeProcess(fake, db, "--workers", "4")
    acknowledged: dict[int, str] = {}
    pastes_acked: list[str] = []
    sent_after_the_kill: list[str] = []  # acknowledged pastes sent once the worker was dead
    unexpected: list[str] = []
    lock = threading.Lock()
    halfway = threading.Event()
    killed = threading.Event()

    def client(k: int) -> None:
        for i in range(12):
            if k == 0 and i == 6:
                halfway.set()
            text = f"note from client {k} number {i}"
            body = urlencode(
                {
                    "command": "/spi",
                    "text": f"note 198.51.100.{k + 1} {text}",
                    "team_id": TEAM,
                    "channel_id": f"C{k}",
                    "user_id": f"U{k}",
                    "response_url": "https://fake.example/r",
                    "trigger_id": f"t-{k}-{i}",  # one per invocation, as in Slack
                }
            )
            status, answer = server.post(body, "application/x-www-form-urlencoded")
            if status == 200:
                said = json.loads(answer)["text"]
                note = re.search(r"Note (\d+) added", said)
                with lock:
                    if note is None and "is locked by another process" in said:
                        pass  # told to try again inside Slack's window: not stored, not lost
                    elif note is None:  # any other 200 that is not an acknowledgement fails
                        unexpected.append(answer)
                    else:
                        acknowledged[int(note.group(1))] = text
            ts = f"17000{k:02d}{i:03d}.000100"
            event = {"type": "message", "channel": f"C{k}", "user": "U1", "text": PASTE, "ts": ts}
            after_the_kill = killed.is_set()
            status, _ = server.post(event_body(event, f"Ev{k:02d}{i:03d}"), "application/json")
            if status == 200:
                with lock:
                    pastes_acked.append(ts)
                    if after_the_kill:
                        sent_after_the_kill.append(ts)

    try:
        threads = [threading.Thread(target=client, args=(k,)) for k in range(16)]
        for t in threads:
            t.start()
        assert halfway.wait(60)
        workers = psutil.Process(server.process.pid).children()
        assert len(workers) == 4
        os.kill(workers[0].pid, signal.SIGKILL)
        killed.set()
        for t in threads:
            t.join(timeout=120)

        def unanswered() -> set[str]:
            return set(sent_after_the_kill) - {
                r["thread_ts"] for r in fake.calls_to("chat.postMessage")
            }

        # Only a live worker acknowledged these, so each gets its reply, after those its
        # worker acknowledged before them (each worker answers its pastes in order).
        wait_until(
            lambda: not unanswered(),
            timeout=60,
            what=f"replies to the {len(sent_after_the_kill)} pastes sent after the kill",
        )
        # and to the others a live worker acknowledged, however long a loaded machine takes
        wait_until(
            lambda: len(fake.calls_to("chat.postMessage")) >= ANSWERED_SHARE * len(pastes_acked),
            timeout=10,
            fail=False,  # the assertion below says how many are missing
        )
        replies = fake.calls_to("chat.postMessage")
    finally:
        server.stop()
        fake.stop()
    assert unexpected == []
    assert len(acknowledged) >= 150  # most of the 192 notes got through
    with Store(db) as store:
        stored = dict(store.db.execute("select id, text from notes").fetchall())
        assert store.db.execute("pragma integrity_check").fetchone()[0] == "ok"
    assert {i: t for i, t in acknowledged.items() if stored.get(i) != t} == {}
    threads_replied = [(r["channel"], r["thread_ts"]) for r in replies]
    assert len(threads_replied) == len(set(threads_replied)), "a paste got two replies"
    # only the pastes acked by the killed worker but not yet answered may go unanswered
    assert len(replies) >= ANSWERED_SHARE * len(pastes_acked)


def test_backup_then_import_on_a_fresh_host_round_trips_every_row(tmp_path: Path) -> None:
    source = tmp_path / "old-host" / "kb.db"
    source.parent.mkdir()
    with Store(source) as store:
        for paste in ("out-of-sync.txt", "ha-failover.txt", "rekey-race.txt"):
            diagnose((PASTES / paste).read_text(), store)
        store.add_note(
            peer="198.51.100.7", text="cleared on the hub — ünïcode ✓", fixed_by="sa-out-of-sync"
        )
        store.add_note(peer="203.0.113.77", text="hsrp flap", spi="0x0BADF00D")
        result = diagnose((PASTES / "rekey-race.txt").read_text(), store)
        store.not_it(result.recorded[0], "rekey-race")
    with Store(source, team="T2") as other_workspace:
        other_workspace.add_note(peer="198.51.100.9", text="from another workspace")
    backup = tmp_path / "kb-backup.db"
    assert run("backup", str(backup), "--db", str(source)).returncode == 0
    assert run("backup", str(backup), "--db", str(source)).returncode == 2  # no silent overwrite
    exported = run("export", "--db", str(source)).stdout
    assert exported.count('"table": "notes"') == 3

    fresh = tmp_path / "new-host"
    fresh.mkdir()
    (fresh / "from-backup.db").write_bytes(backup.read_bytes())
    assert run("export", "--db", str(fresh / "from-backup.db")).stdout == exported
    imported = run("import", "-", "--db", str(fresh / "kb.db"), stdin=exported)
    assert imported.returncode == 0, imported.stderr
    assert "3 notes" in imported.stdout
    assert run("export", "--db", str(fresh / "kb.db")).stdout == exported
    again = run("import", "-", "--db", str(fresh / "kb.db"), stdin=exported)  # idempotent
    assert run("export", "--db", str(fresh / "kb.db")).stdout == exported and again.returncode == 0
    lookup = json.loads(run("lookup", "--json", "ünïcode", "--db", str(fresh / "kb.db")).stdout)
    assert lookup["incidents"][0]["peer"] == "198.51.100.7"


def test_import_of_a_bad_file_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "kb.db"
    incident = {
        "id": 1,
        "peer": "198.51.100.7",
        "status": "open",
        "opened_at": "2026",
        "updated_at": "2026",
    }
    good = json.dumps({"table": "incidents", "row": incident})
    for bad in (
        "not json",
        json.dumps({"table": "articles", "row": {}}),
        json.dumps({"table": "notes", "row": {"evil; drop": 1}}),
        json.dumps(
            {
                "table": "notes",
                "row": {"id": 5, "incident_id": 99, "text": "orphan", "created_at": "2026"},
            }
        ),
    ):
        result = run("import", "-", "--db", str(db), stdin=f"{good}\n{bad}\n")
        assert result.returncode == 2 and "line 2" in result.stderr
    with Store(db) as store:
        assert store.db["incidents"].count == 0 and store.db["notes"].count == 0


def test_doctor_checks_settings_database_articles_and_scopes(tmp_path: Path) -> None:
    db = str(tmp_path / "kb.db")
    plain = run("doctor", "--db", db)
    assert (
        plain.returncode == 0 and "ok    database" in plain.stdout and "10 articles" in plain.stdout
    )
    assert "ok    scanner" in plain.stdout  # the C line finder, built by pip here
    fake = FakeSlack().start()
    try:
        env = {
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_APP_TOKEN": "xapp-test",
            "SLACK_API_URL": fake.url,
        }
        ready = run("doctor", "--db", db, env=env)
        assert ready.returncode == 0 and "every scope of the manifest is granted" in ready.stdout
        fake.scopes.remove("reactions:read")
        lacking = run("doctor", "--db", db, env=env)
        assert lacking.returncode == 1 and "missing scopes reactions:read" in lacking.stdout
    finally:
        fake.stop()
    broken = run("doctor", "--db", db, env={"SLACK_APP_TOKEN": "xapp-only"})
    assert broken.returncode == 1 and "FAIL  settings" in broken.stdout


def test_json_logs_are_one_object_per_line(tmp_path: Path) -> None:
    fake = FakeSlack().start()
    server = ServeProcess(fake, tmp_path / "kb.db", "--log-format", "json")
    try:
        record = json.loads(server.first_line)
        assert record["level"] == "info" and record["logger"] == "spibot.server"
        assert "listening on http://127.0.0.1:" in record["message"]
    finally:
        server.stop()
        fake.stop()


def test_healthz_reports_a_broken_database(tmp_path: Path) -> None:
    from bot.server import wsgi_app

    def get_healthz(db: Path) -> tuple[str, dict]:
        """GET /healthz from the WSGI app gunicorn serves (no Bolt needed for it)."""
        answered = {}
        app = wsgi_app(None, str(db), "secret")
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/healthz"}
        body = b"".join(app(environ, lambda status, headers: answered.update(status=status)))
        return answered["status"], json.loads(body)

    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database" * 100)
    status, body = get_healthz(junk)
    assert status == "503 Service Unavailable"
    assert body["ok"] is False and "not a spibot database" in body["database"]
    Store(tmp_path / "fine.db").close()  # /healthz never creates the database it checks
    status, body = get_healthz(tmp_path / "fine.db")
    assert status == "200 OK" and body["ok"] is True
