"""Edited articles reach existing databases: a release's corrected articles replace the old
bundled ones on open, an operator's own (`kb sync DIR`) are kept and doctor says so, a
read-only file is served as it is, and a running bot sees a sync without a restart.

tests/fixtures/previous-articles holds the bundled articles of the release before migration
0005 (as committed at 73f40a4), in the format of that release: a database created by it is
simulated by writing their rows as that release did."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
import sqlite_utils
import yaml

from kb.article import ARTICLES_DIR, load_articles
from kb.diagnose import diagnose
from kb.migrations import BUNDLED_BEFORE_0005, MIGRATIONS
from kb.store import Store
from tests.conftest import FIXTURES, PASTES, ROOT
from tests.conftest import spibot as run
from tests.test_durability import serving, spi
from tests.test_store import read_only_copy

PREVIOUS = FIXTURES / "previous-articles"
BUNDLED = {a.id: a for a in load_articles()}
ASA_PASTE = (
    "Jan 19 2015 20:00:43: %ASA-4-402114: IPSEC: Received an ESP packet (SPI= 0x5A3D1F2C, "
    "sequence number= 0x1) from 198.51.100.50 to 192.0.2.1 with an invalid SPI.\n"
)


def previous_release_row(text: str) -> dict:
    """An article row as the release before 0005 wrote it (kb/article_table.py at 73f40a4)."""
    end = text.find("\n---\n", 4)
    meta = yaml.safe_load(text[4:end])
    return {
        "id": meta["id"],
        "title": meta["title"].strip(),
        "aliases": json.dumps(meta.get("aliases", [])),
        "prior": float(meta["prior"]),
        "evidence": json.dumps(meta["evidence"]),
        "summary": " ".join(meta["summary"].split()),
        "body": text[end + 5 :].strip(),
        "verify": json.dumps(meta["verify"]),
        "fix": json.dumps(meta["fix"]),
        "caveats": json.dumps(meta.get("caveats", [])),
        "sources": json.dumps(meta["sources"]),
        "checksum": hashlib.sha256(text.encode()).hexdigest(),
        "synced_at": "2026-11-29T00:00:00+00:00",
    }


def previous_release_database(path: Path, local_edit: bool = True) -> None:
    """A database of the release before 0005, with its bundled articles synced; packet-loss
    changed locally by its operator (`kb sync DIR` with prior 0.4)."""
    db = sqlite_utils.Database(path)
    MIGRATIONS.apply(db, stop_before="0005_article_origin")
    for file in sorted(PREVIOUS.glob("*.md")):
        text = file.read_text()
        if local_edit and file.stem == "packet-loss":
            text = text.replace("prior: 0.3", "prior: 0.4")
        db["articles"].insert(previous_release_row(text))
    db.close()


def checksums(path: Path) -> dict[str, str]:
    conn = sqlite3.connect(path)
    try:
        return dict(conn.execute("select id, checksum from articles"))
    finally:
        conn.close()


def test_a_database_of_the_previous_release_gets_the_corrected_articles_on_first_open(
    tmp_path: Path,
) -> None:
    path = tmp_path / "kb.db"
    previous_release_database(path)
    before = checksums(path)
    assert before["lifetime-mismatch"] != BUNDLED["lifetime-mismatch"].checksum
    with Store(path) as store:
        after = {a.id: a.checksum for a in store.articles()}
        for article_id, article in BUNDLED.items():
            if article_id != "packet-loss":
                assert after[article_id] == article.checksum, article_id
        # the corrected ASA lifetime, not `crypto ipsec ikev2 sa-lifetime`
        fixes = store.article("lifetime-mismatch").commands("fix", "asa", "198.51.100.50", "x")
        assert any(
            f.startswith("crypto map <crypto-map-name> <crypto-map-seq> set security-association")
            for f in fixes
        )
        assert "CSCwc48375" not in store.article("software-defect").summary
        # the operator's own packet-loss is kept, and still answers (in its old format)
        kept = store.article("packet-loss")
        assert kept.prior == 0.4 and after["packet-loss"] == before["packet-loss"]
        assert kept.commands("fix", "ios", "198.51.100.50", "192.0.2.1") == [
            "crypto ipsec security-association replay window-size 1024"
        ]
        assert kept.commands("fix", "ftd", None, None) == ["no command known for ftd"]
        assert store.article_status()["local"] == ["packet-loss"]
        result = diagnose(ASA_PASTE, store, record=False)
        assert not any("ikev2 sa-lifetime" in f for c in result.causes for f in c.fixes)
    with Store(path) as store:  # a second open writes nothing: it is up to date
        assert checksums(path) == after
    doctor = run("doctor", "--db", str(path))
    assert "1 articles differ from the bundled ones: kept (changed locally): packet-loss" in (
        doctor.stdout
    )


def test_a_locally_synced_article_is_kept_until_the_bundled_ones_are_synced(
    tmp_path: Path,
) -> None:
    path = tmp_path / "kb.db"
    articles = tmp_path / "articles"
    shutil.copytree(ARTICLES_DIR, articles)
    mine = articles / "nat-traversal.md"
    mine.write_text(mine.read_text().replace("prior: 0.3", "prior: 0.6"))
    assert run("kb", "sync", str(articles), "--db", str(path)).returncode == 0
    with Store(path) as store:
        assert store.article("nat-traversal").prior == 0.6
        # a later release corrects rekey-race: simulate a row holding an older bundled text
        store.db.execute(
            "update articles set checksum = 'old', bundled_checksum = 'old', summary = 'old' "
            "where id = 'rekey-race'"
        )
    with Store(path) as store:
        assert store.article("rekey-race").summary == BUNDLED["rekey-race"].summary
        assert store.article("nat-traversal").prior == 0.6  # kept
        assert store.article_status() == {
            "current": sorted(set(BUNDLED) - {"nat-traversal"}),
            "local": ["nat-traversal"],
            "stale": [],
        }
    doctor = run("doctor", "--db", str(path))
    assert (
        "warn  articles: 1 articles differ from the bundled ones: kept (changed locally): "
        "nat-traversal" in doctor.stdout
    )
    # syncing a directory that holds the bundled text makes it bundled again
    mine.write_text((ARTICLES_DIR / "nat-traversal.md").read_text())
    assert run("kb", "sync", str(articles), "--db", str(path)).returncode == 0
    with Store(path) as store:
        assert store.article_status()["local"] == []
    assert "all valid and up to date" in run("doctor", "--db", str(path)).stdout


def test_a_read_only_database_of_the_previous_release_is_served_as_it_is(tmp_path: Path) -> None:
    source = tmp_path / "kb.db"
    previous_release_database(source, local_edit=False)
    with read_only_copy(source, tmp_path) as db:
        before = checksums(db)
        answer = run("diagnose", "--json", "--db", str(db), stdin=ASA_PASTE)
        assert answer.returncode == 0, answer.stderr
        assert checksums(db) == before  # not written, not migrated
        with Store(db) as store:
            assert store.readonly and store.article_status()["stale"] == sorted(BUNDLED)
        doctor = run("doctor", "--db", str(db))
        assert "10 bundled articles are newer than the database's and were not applied" in (
            doctor.stdout
        )
        assert "the database is read-only: it is served as it is" in doctor.stdout


def test_a_store_sees_another_connections_sync_at_its_next_read(tmp_path: Path) -> None:
    path = tmp_path / "kb.db"
    reader = Store(path)
    assert reader.article("packet-loss").prior == 0.3  # read and cached
    articles = tmp_path / "articles"
    shutil.copytree(ARTICLES_DIR, articles)
    edited = articles / "packet-loss.md"
    edited.write_text(edited.read_text().replace("prior: 0.3", "prior: 0.45"))
    with Store(path) as writer:
        writer.sync_articles(load_articles(articles))
    assert reader.article("packet-loss").prior == 0.45
    cached = reader.articles()
    assert reader.articles() is cached  # nothing changed since: no reload
    reader.close()


def test_a_running_bot_answers_with_a_synced_article_without_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "kb.db"
    paste = (PASTES / "rekey-race.txt").read_text()
    articles = tmp_path / "articles"
    shutil.copytree(ARTICLES_DIR, articles)
    edited = articles / "rekey-race.md"
    text = edited.read_text()
    text = text.replace(
        "show logging | include RECVD_PKT_INV_SPI", "show logging | include ZANZIBAR"
    )
    text = text.replace("Around rekey time one end", "Zanzibar marker: around rekey time one end")
    edited.write_text(text)
    with serving(db) as server:
        status, before = spi(server, "rekey race")
        assert status == 200 and "rekey-race" in before and "Zanzibar" not in before
        status, before = spi(server, paste, whole=True)
        assert status == 200 and "rekey-race" in before and "ZANZIBAR" not in before
        synced = run("kb", "sync", str(articles), "--db", str(db))
        assert synced.returncode == 0 and "1 updated" in synced.stdout, synced.stderr
        for _ in range(4):  # whichever worker thread answers, it has the synced article
            status, after = spi(server, "rekey race")
            assert status == 200 and "Zanzibar marker" in after, after
            status, after = spi(server, paste, whole=True)
            assert status == 200 and "show logging | include ZANZIBAR" in after, after


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout


def test_every_article_version_released_before_0005_is_known_as_bundled() -> None:
    """Migration 0005 tells bundled rows from local ones by these checksums: it must know every
    version of kb/articles committed before it."""
    try:
        added = _git("log", "--format=%H", "-S0005_article_origin", "--", "kb/migrations.py")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    base = f"{added.split()[-1]}^" if added.split() else "HEAD"
    known = {c for versions in BUNDLED_BEFORE_0005.values() for c in versions}
    for commit in _git("log", "--format=%H", base, "--", "kb/articles").split():
        for name in _git("ls-tree", "--name-only", commit, "kb/articles/").split():
            if name.endswith(".md"):
                text = _git("show", f"{commit}:{name}")
                assert hashlib.sha256(text.encode()).hexdigest() in known, (commit, name)
