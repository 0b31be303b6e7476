"""Articles are data with a schema: each validates, ids are unique, each is found by its title."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kb.article import ARTICLES_DIR, REQUIRED_IDS, ArticleError, load_articles, parse_article
from kb.lookup import lookup
from kb.store import Store
from tests.conftest import spibot

ARTICLES = load_articles()


def test_every_required_id_is_present_and_unique() -> None:
    ids = [a.id for a in ARTICLES]
    assert len(ids) == len(set(ids))
    assert set(REQUIRED_IDS) <= set(ids)


@pytest.mark.parametrize("article", ARTICLES, ids=[a.id for a in ARTICLES])
def test_article_has_commands_for_ios_and_asa(article) -> None:
    for platform in ("ios", "asa"):
        checks = article.commands("verify", platform, "198.51.100.7", "192.0.2.1")
        assert checks and "no command known" not in checks[0]
        fixes = article.commands("fix", platform, "198.51.100.7", "192.0.2.1")
        assert not any("{peer}" in c or "{local}" in c for c in fixes + checks)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    return Store(tmp_path_factory.mktemp("kb") / "kb.db")


@pytest.mark.parametrize("article", ARTICLES, ids=[a.id for a in ARTICLES])
def test_article_is_found_first_by_its_own_title(store: Store, article) -> None:
    result = lookup(store, article.title)
    assert result["kind"] == "text"
    assert result["articles"][0]["id"] == article.id


GOOD = (ARTICLES_DIR / "rekey-race.md").read_text()


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (GOOD.replace("---\n", "", 1), "front-matter"),
        (GOOD.replace("title: Rekey", "title: [Rekey"), "front-matter"),
        (GOOD.replace("single_event: 2.0", "no_such_signal: 2.0"), "evidence"),
        (GOOD.replace("single_event: 2.0", "single_event: lots"), "evidence"),
        (GOOD.replace("id: rekey-race", "id: other-id"), "id"),
        (GOOD.replace("tac115801: https://", "tac115801: http://"), "sources"),
        (GOOD.replace("verify:\n  ios:", "verify:\n  junos:"), "verify"),
        (GOOD.replace("verify:\n  ios:", "verify:\n  any:"), "verify"),
        # a command must paste: no annotations, arrows or prose in it
        (
            GOOD.replace(
                "- command: show crypto ipsec sa peer {peer}",
                "- command: '[on {peer}] show crypto ipsec sa'",
            ),
            "verify",
        ),
        (
            GOOD.replace(
                "- command: show crypto ipsec sa peer {peer}",
                "- command: show crypto ipsec sa -> spi",
            ),
            "verify",
        ),
        (
            GOOD.replace(
                "- command: show crypto ipsec sa peer {peer}", "- command: Check the SAs."
            ),
            "verify",
        ),
        (
            GOOD.replace(
                "- command: show crypto ipsec sa peer {peer}\n      source: tac115801",
                "- show crypto ipsec sa peer {peer}",
            ),
            "verify",
        ),
        # every command is backed by a source of the article, or says why it is not
        (GOOD.replace("      source: tac115801\n", "", 1), "verify"),
        (GOOD.replace("      source: tac115801\n", "      source: nowhere\n", 1), "verify"),
        # FTD is configured in FMC or FDM; PIX 6.x has no IKEv2
        (
            GOOD.replace(
                "  ftd:\n    - command: Lifetime Duration\n      where: fmc\n      mode: ui",
                "  ftd:\n    - command: crypto map M 1 set pfs\n      where: local\n      mode: config",
            ),
            "fix",
        ),
        (
            GOOD.replace(
                "  pix:\n    - command: crypto map",
                "  pix:\n    - command: crypto ikev2 policy 1\n      unverified: x\n    - command: crypto map",
            ),
            "fix",
        ),
        (
            GOOD.replace(
                "title: Rekey race at SA lifetime expiry (transient, usually harmless)\n", ""
            ),
            "title",
        ),
    ],
)
def test_malformed_article_names_file_and_field(text: str, field: str) -> None:
    with pytest.raises(ArticleError) as raised:
        parse_article(Path("kb/articles/rekey-race.md"), text)
    assert raised.value.field == field
    assert "rekey-race.md" in str(raised.value) and f"'{field}'" in str(raised.value)


def test_kb_sync_refuses_a_bad_directory_and_writes_nothing(tmp_path: Path) -> None:
    articles = tmp_path / "articles"
    shutil.copytree(ARTICLES_DIR, articles)
    bad = articles / "nat-traversal.md"
    bad.write_text(bad.read_text().replace("nat_t: 3.0", "nat_t: [3]"))
    db = tmp_path / "kb.db"
    result = spibot("kb", "sync", str(articles), "--db", str(db))
    assert result.returncode == 2
    assert "nat-traversal.md" in result.stderr and "'evidence'" in result.stderr
    assert not db.exists()


def test_kb_sync_is_idempotent_and_picks_up_edits(tmp_path: Path) -> None:
    articles = tmp_path / "articles"
    shutil.copytree(ARTICLES_DIR, articles)
    db = str(tmp_path / "kb.db")

    def run() -> str:
        return spibot("kb", "sync", str(articles), "--db", db).stdout.strip()

    n = len(ARTICLES)
    assert run() == f"0 added, 0 updated, {n} unchanged"  # first use already seeded them
    assert run() == f"0 added, 0 updated, {n} unchanged"
    edited = articles / "packet-loss.md"
    edited.write_text(edited.read_text().replace("prior: 0.3", "prior: 0.4"))
    assert run() == f"0 added, 1 updated, {n - 1} unchanged"
    assert Store(db).article("packet-loss").prior == 0.4
