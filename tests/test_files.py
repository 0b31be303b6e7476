"""Files and data: private modes, and one-line refusals of hostile article directories,
backup and export destinations, and import files, all through the real CLI."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from kb.article import ARTICLES_DIR
from kb.store import Store
from tests.conftest import ROOT
from tests.conftest import spibot as run

ARTICLE = (ARTICLES_DIR / "rekey-race.md").read_text()


@contextlib.contextmanager
def umask(mask: int):
    """A permissive umask for the spawned spibot: its private modes must not be umask luck."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def one_line_error(result, *needles: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_database_wal_shm_backup_and_export_are_private(tmp_path: Path) -> None:
    db = tmp_path / "new" / "deeper" / "kb.db"
    with umask(0):
        assert run("note", "add", "x", "--peer", "198.51.100.7", "--db", str(db)).returncode == 0
        assert run("backup", str(tmp_path / "copy.db"), "--db", str(db)).returncode == 0
        assert run("export", str(tmp_path / "rows.jsonl"), "--db", str(db)).returncode == 0
        with Store(db):  # -wal and -shm exist while a connection is open
            private = [db, Path(f"{db}-wal"), Path(f"{db}-shm")]
            assert {p.name: mode(p) for p in private} == {p.name: 0o600 for p in private}
    assert mode(tmp_path / "new") == mode(tmp_path / "new" / "deeper") == 0o700
    assert mode(tmp_path / "copy.db") == mode(tmp_path / "rows.jsonl") == 0o600
    assert not list(tmp_path.glob(".*partial*"))  # no temporary file left behind
    with sqlite3.connect(tmp_path / "copy.db") as copy:
        assert copy.execute("select text from notes").fetchall() == [("x",)]


def test_default_data_directory_is_private(tmp_path: Path) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "HOME": str(tmp_path), "SPIBOT_DB": ""}
    with umask(0):
        assert run("kb", "list", env=env).returncode == 0
    assert mode(tmp_path / "data" / "spibot") == 0o700
    assert mode(tmp_path / "data" / "spibot" / "spibot.db") == 0o600


def test_systemd_unit_sets_a_private_umask() -> None:
    unit = (ROOT / "deploy" / "spibot.service").read_text()
    assert "\nUMask=0077\n" in unit


def with_front_matter(extra: str, article: str = ARTICLE) -> str:
    return article.replace("---\n", f"---\n{extra}\n", 1)


def with_prior(value: str) -> str:
    return ARTICLE.replace("prior: ", f"prior: {value} #", 1)


BILLION_LAUGHS = "\n".join(
    ["lol0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"lol{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 10)]
)


@pytest.mark.parametrize(
    ("name", "text", "needle"),
    [
        ("rekey-race.md", with_prior(".nan"), "finite"),
        ("rekey-race.md", with_prior("-.inf"), "finite"),
        ("rekey-race.md", with_prior("1.0e+999"), "finite"),
        ("rekey-race.md", with_prior("1" + "0" * 5000), "front-matter"),
        ("Rekey_Race.md", ARTICLE.replace("id: rekey-race", "id: Rekey_Race"), "slug"),
        ("rekey-race.md", with_front_matter("caveats: " + "[" * 40 + "]" * 40), "nested"),
        ("rekey-race.md", with_front_matter(BILLION_LAUGHS), "aliases"),
        ("rekey-race.md", with_front_matter("x: [" + "1, " * 6000 + "1]"), "5000"),
        ("rekey-race.md", ARTICLE + "x" * 300_000, "256 KB"),
        ("rekey-race.md", with_front_matter("# " + "x" * 70_000), "front-matter"),
    ],
)
def test_kb_sync_refuses_a_hostile_article(tmp_path: Path, name: str, text: str, needle: str):
    articles = tmp_path / "articles"
    articles.mkdir()
    (articles / name).write_text(text)
    db = str(tmp_path / "kb.db")
    result = run("kb", "sync", str(articles), "--db", db, timeout=30)
    one_line_error(result, str(articles / name), needle)
    assert not Path(db).exists()  # refused before the database was even opened


def test_kb_sync_refuses_undecodable_bytes(tmp_path: Path) -> None:
    articles = tmp_path / "articles"
    articles.mkdir()
    (articles / "rekey-race.md").write_bytes(ARTICLE.encode() + b"\n\xff\xfe\n")
    result = run("kb", "sync", str(articles), "--db", str(tmp_path / "kb.db"))
    one_line_error(result, "rekey-race.md", "UTF-8")


@pytest.mark.parametrize("kind", ["fifo", "link to /dev/zero", "directory"])
def test_kb_sync_never_opens_what_is_not_a_regular_file(tmp_path: Path, kind: str) -> None:
    articles = tmp_path / "articles"
    articles.mkdir()
    (articles / "packet-loss.md").write_text(
        (ARTICLES_DIR / "packet-loss.md").read_text()
    )  # a good one first: the bad one still stops the sync
    odd = articles / "rekey-race.md"
    if kind == "fifo":
        os.mkfifo(odd)
    elif kind == "directory":
        odd.mkdir()
    else:
        odd.symlink_to("/dev/zero")
    result = run("kb", "sync", str(articles), "--db", str(tmp_path / "kb.db"), timeout=30)
    one_line_error(result, str(odd), "not a regular file")


@pytest.mark.parametrize("command", ["backup", "export"])
def test_backup_and_export_refuse_a_symbolic_link_even_with_force(tmp_path: Path, command):
    db = str(tmp_path / "kb.db")
    Store(db).close()
    link = tmp_path / "out"
    link.symlink_to(tmp_path / "elsewhere" / "target")
    (tmp_path / "elsewhere").mkdir()
    for force in ([], ["--force"]):
        one_line_error(run(command, str(link), "--db", db, *force), "symbolic link")
    assert not (tmp_path / "elsewhere" / "target").exists()


def test_export_to_a_file_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    db = str(tmp_path / "kb.db")
    with Store(db) as store:
        store.add_note(peer="198.51.100.7", text="keep me")
    out = tmp_path / "rows.jsonl"
    out.write_text("precious\n")
    one_line_error(run("export", str(out), "--db", db), "exists", "--force")
    assert out.read_text() == "precious\n"
    forced = run("export", str(out), "--db", db, "--force")
    assert forced.returncode == 0, forced.stderr
    assert "keep me" in out.read_text() and mode(out) == 0o600
    to_stdout = run("export", "-", "--db", db)
    assert to_stdout.stdout == out.read_text()


@pytest.mark.parametrize("command", ["backup", "export"])
def test_backup_and_export_refuse_a_database_that_does_not_exist(tmp_path: Path, command):
    typo = tmp_path / "kb-typo.db"
    one_line_error(run(command, str(tmp_path / "out"), "--db", str(typo)), "missing", str(typo))
    assert not typo.exists() and not (tmp_path / "out").exists()


INCIDENT = {
    "id": 1,
    "peer": "198.51.100.7",
    "status": "open",
    "opened_at": "2026",
    "updated_at": "2026",
    "team_id": "T1",
}


def note(**row) -> str:
    base = {"id": 1, "incident_id": 1, "text": "n", "created_at": "2026", "team_id": "T1"}
    return json.dumps({"table": "notes", "row": {**base, **row}})


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        (note(id="one"), "notes.id must be a whole number, not str"),
        (note(text=5), "notes.text must be text, not int"),
        (note(text=["a"]), "notes.text must be text, not list"),
        (note(text={"a": 1}), "must be text, not dict"),
        (note(incident_id=True), "must be a whole number, not bool"),
        (note(id=2**63), "out of range"),
        (note(id=-(2**64)), "out of range"),
        ('{"table": "notes", "row": {"id": 1' + "0" * 5000 + "}}", "not an export record"),
        (note(text="\ud800"), "not valid Unicode"),
        (note(request_key=1.5), "must be text"),
        (note(team_id="T2"), "different workspaces"),
        (json.dumps({"table": "notes", "row": {"text": "no id"}}), "has no id"),
    ],
)
def test_import_refuses_a_bad_line_in_one_line(tmp_path: Path, bad: str, needle: str) -> None:
    db = tmp_path / "kb.db"
    good = json.dumps({"table": "incidents", "row": INCIDENT})
    result = run("import", "-", "--db", str(db), stdin=f"{good}\n{bad}\n")
    one_line_error(result, "line 2", needle)
    with Store(db) as store:
        assert store.db["incidents"].count == 0 and store.db["notes"].count == 0


def test_import_refuses_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    db = tmp_path / "kb.db"
    good = json.dumps({"table": "incidents", "row": INCIDENT}).encode()
    bad = note().encode().replace(b'"n"', b'"\xff\xfe"')
    result = run("import", "-", "--db", str(db), stdin=good + b"\n" + bad + b"\n", text=False)
    assert result.returncode == 2
    stderr = result.stderr.decode()
    assert stderr.count("\n") == 1 and "line 2: not UTF-8" in stderr and "Traceback" not in stderr


def test_import_refuses_moving_an_incident_away_from_its_notes(tmp_path: Path) -> None:
    db = tmp_path / "kb.db"
    lines = [json.dumps({"table": "incidents", "row": INCIDENT}), note()]
    assert run("import", "-", "--db", str(db), stdin="\n".join(lines)).returncode == 0
    moved = json.dumps({"table": "incidents", "row": {**INCIDENT, "team_id": "T2"}})
    one_line_error(run("import", "-", "--db", str(db), stdin=moved), "line 1", "workspaces")
    with Store(db, team="T1") as store:
        assert store.incident(1).notes[0].text == "n"


def test_import_carries_the_request_key(tmp_path: Path) -> None:
    source, target = tmp_path / "a.db", tmp_path / "b.db"
    with Store(source, team="T1") as store:
        store.add_note(peer="198.51.100.7", text="once", request_key="view:V1")
    exported = run("export", "--db", str(source)).stdout
    assert '"request_key": "view:V1"' in exported
    assert run("import", "-", "--db", str(target), stdin=exported).returncode == 0
    with Store(target, team="T1") as store:
        _, note_id = store.add_note(peer="198.51.100.7", text="again", request_key="view:V1")
        assert store.counts()["notes"] == 1 and note_id == 1


def test_an_export_from_before_verdicts_counted_once_still_imports(tmp_path: Path) -> None:
    source, target = tmp_path / "old.db", tmp_path / "new.db"
    with Store(source) as store:
        incident, _ = store.add_note(peer="198.51.100.7", text="checked the ACLs")
        store.not_it(incident.id, "firewall-blocking")
    lines = run("export", "--db", str(source)).stdout.splitlines()
    # An older release stored a double click as two rows: the export carries both.
    [verdict] = [json.loads(line) for line in lines if '"table": "feedback"' in line]
    lines.append(json.dumps({**verdict, "row": {**verdict["row"], "id": 99}}))
    result = run("import", "-", "--db", str(target), stdin="\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    with Store(target) as store:
        assert store.incident(incident.id).not_it == ["firewall-blocking"]
