"""The answer first: the one sentence a notification carries and the one command to run first,
on real pastes of the corpus (kb/examples, tests/cases), for every cause and platform."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pytest

from kb import answer
from kb.article import ArticleError, load_articles, parse_article
from kb.article_table import article_from_row, article_row
from kb.commands import PLATFORMS
from kb.diagnose import diagnose
from kb.ranking import rank
from kb.store import Store
from tests.conftest import PASTES, ROOT

CASES = ROOT / "tests" / "cases"
ARTICLES = load_articles()
PEER, LOCAL = "198.51.100.7", "192.0.2.1"


def paste(name: str) -> str:
    path = PASTES / name if (PASTES / name).exists() else CASES / name
    if path.is_dir():
        return "\n".join(f.read_text() for f in sorted(path.iterdir()))
    return path.read_text()


@cache
def diagnosed(name: str):
    """A case's diagnosis, once per test process (nothing here changes it)."""
    return diagnose(paste(name))


def every_case() -> list[str]:
    return sorted(
        p.name for p in CASES.iterdir() if p.name not in ("README.md", "labels.json")
    ) + sorted(p.name for p in PASTES.glob("*.txt"))


# One real paste per cause and confidence, with the sentence its notification must carry.
HEADLINES = {
    "out-of-sync.txt": "Very likely SAs out of sync on 198.51.100.7: "
    "clear its SAs toward 192.0.2.1 (6 lines in 5 min)",
    "asa-spi-mismatch-branch.txt": "Likely SAs out of sync on 198.51.100.3: "
    "clear its SAs toward 192.0.2.99 (3 lines in 10 s)",
    "ios-hub-asa-spoke-stale-sa-both-ends": "Confirmed: SAs out of sync on 198.51.100.101 — "
    "clear its SAs toward 192.0.2.101 (4 lines in 3 min)",
    "rekey-race.txt": "Possibly a rekey race with 198.51.100.44: harmless unless it repeats "
    "(1 line)",
    "ios-panos-peer-rekey-race-in-sync": "Confirmed: a rekey race with 198.51.100.104 — "
    "harmless unless it repeats (2 lines)",
    "ha-failover.txt": "Possibly an HA failover or path change for 203.0.113.77: clear its SAs "
    "toward 192.0.2.50 so it renegotiates with the active box (1 line)",
    "fortigate-408336-ha-split-brain.txt": "Very likely an HA failover or path change for "
    "198.51.100.32: clear its SAs toward 192.0.2.80 so it renegotiates with the active box "
    "(5 lines in 3 min)",
    "panos-flapping-spi-keeps-changing.txt": "Likely a lifetime mismatch with 198.51.100.230: "
    "set the same SA lifetimes on both ends (5 lines in 69 min)",
    "fortigate-natt-remote-port-changed.txt": "Likely a NAT binding change in front of "
    "203.0.113.36: check the NAT in front of it and keep its bindings alive (4 lines in 30 s)",
    "fortigate-294094-local-in-policy-blocks-ike.txt": "Very likely IKE or ESP blocked between "
    "10.56.240.208 and this box: find the ACL or policy dropping IKE or ESP and permit them "
    "(5 lines in 60 s)",
    "ios-fortigate-peer-esp-out-of-order.txt": "Likely packet loss or reordering between "
    "198.51.100.201 and this box: check the path for loss and reordering (2 lines in 2 min)",
    "asa-402116-proxy-mismatch.txt": "Very likely a policy mismatch with 198.51.100.40: "
    "compare crypto ACLs, PFS and transforms on both ends (2 lines in 30 s)",
    "fortigate-199842-vpntunnel-na-single-line.txt": "Very likely unsolicited ESP from "
    "10.66.31.140: filter ESP and IKE from sources that are not your peers (1 line)",
    "asa-pfkey-invalid-spi-cscwc54984.txt": "Very likely a software defect (errors from "
    "198.51.100.77): check this box's release against the bug notes (1 line)",
    "asa-policy-based-several-spis-one-peer.txt": "Can't tell yet what is wrong with "
    '198.51.100.50 (2 lines): paste the output of "show crypto ipsec sa peer 198.51.100.50" '
    "on this box (192.0.2.1)",
}


@pytest.mark.parametrize(("case", "expected"), HEADLINES.items(), ids=list(HEADLINES))
def test_the_headline_says_cause_confidence_action_and_how_many(case, expected) -> None:
    result = diagnosed(case)
    assert answer.headline(result.peers[0]) == expected
    assert answer.paste_headline(result) == expected
    assert result.to_dict()["headline"] == expected
    assert result.to_dict()["peers"][0]["headline"] == expected


def test_the_corpus_covers_every_cause_and_confidence_with_a_headline() -> None:
    tops = [diagnosed(case).peers[0] for case in HEADLINES]
    assert {p.causes[0].id for p in tops} == {a.id for a in ARTICLES}
    assert {p.confidence for p in tops} == {
        "confirmed",
        "strong",
        "likely",
        "possible",
        *["can't tell yet"],
    }


@pytest.mark.slow
@pytest.mark.parametrize("case", every_case())
def test_no_headline_carries_a_score_or_a_base_rate(case) -> None:
    result = diagnosed(case)
    sentences = [answer.paste_headline(result), *(answer.headline(p) for p in result.peers)]
    for sentence in sentences:
        assert "base rate" not in sentence and "score" not in sentence
        assert not re.search(r"[+-]\d+\.\d", sentence), sentence
        assert "\n" not in sentence and sentence.strip() == sentence
        assert not any(mark in sentence for mark in ("`", "*", "&lt;")), sentence  # plain text


def test_several_peers_are_one_sentence_busiest_first_same_causes_together() -> None:
    three = diagnosed("ios-hub-three-peers-three-causes.txt")
    assert answer.paste_headline(three) == (
        "3 peers: very likely SAs out of sync on 198.51.100.70; very likely IKE or ESP blocked "
        "between 198.51.100.99 and this box; likely a rekey race with 203.0.113.44"
    )
    reload = diagnosed("ios-hub-reload-many-peers.txt")
    assert reload.box_first
    assert answer.paste_headline(reload) == (
        "4 peers at once, look at this box first: very likely SAs out of sync on "
        "198.51.100.11, 198.51.100.12, 198.51.100.13 and 198.51.100.14"
    )
    nanog = diagnosed("ios-nanog-multi-peer.txt")
    assert answer.paste_headline(nanog) == (
        "3 peers: can't tell yet for 198.51.100.20; likely a rekey race with 198.51.100.33 "
        "and 198.51.100.41"
    )


@pytest.mark.slow
def test_a_paste_of_many_peers_and_causes_stays_short_and_says_how_many_more() -> None:
    peers = [p for case in every_case() for p in diagnosed(case).peers]
    sentence = answer.peers_headline(peers)
    assert sentence.startswith(f"{len(peers)} peers: ")
    assert len(sentence) <= answer.MAX_PEERS_CHARS + len("; and 999 more")
    shown = re.search(r"; and (\d+) more$", sentence)
    assert shown and 0 < int(shown.group(1)) < len(peers)
    assert sentence.count(";") >= 2  # several causes named before the cut


def test_a_paste_without_an_invalid_spi_line_says_what_to_paste() -> None:
    companion = diagnose(
        "Mar  3 09:14:02.115: %CRYPTO-4-IKMP_NO_SA: IKE message from 198.51.100.7 has no SA "
        "and is not an initialization offer\n"
    )
    assert answer.paste_headline(companion) == (
        "No invalid-SPI line in this paste (1 related line recognised): paste the log lines "
        "that say invalid SPI, with a few minutes around them"
    )
    nothing = diagnose("hello, is the VPN down?\n").to_dict()
    assert nothing["headline"].startswith("No invalid-SPI line in this paste: paste")
    assert nothing["first_action"] is None


# The first command per platform, from a real paste of each.
FIRST = {
    "ios": ("out-of-sync.txt", "fix", "clear crypto sa peer 192.0.2.1", "peer"),
    "asa": ("asa-spi-mismatch-branch.txt", "fix", "clear crypto ipsec sa peer 192.0.2.99", "peer"),
    "ftd": (
        "ftd-402114-after-local-reboot.txt",
        "fix",
        "clear crypto ipsec sa peer 192.0.2.30",
        "peer",
    ),
    "pix": (
        "pix-402101-spaced-template-with-show-sa.txt",
        "fix",
        "clear crypto ipsec sa peer 192.0.2.33",
        "peer",
    ),
    "fortigate": (
        "fortigate-408336-ha-split-brain.txt",
        "fix",
        "diagnose vpn ike gateway clear name <phase1-name>",
        "peer",
    ),
    "panos": ("panos-flapping-spi-keeps-changing.txt", "verify", "show vpn ipsec-sa", "local"),
    "screenos": (
        "screenos-bad-spi-repeating-after-local-reload.txt",
        "verify",
        "get sa active",
        "local",
    ),
}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_first_action_is_one_command_to_run_now_where_it_runs(platform) -> None:
    case, kind, command, where = FIRST[platform]
    peer = diagnosed(case).peers[0]
    assert peer.platform == platform
    action = answer.first_action(peer)
    assert action is not None and action.platform == platform
    assert (action.kind, action.command, action.where) == (kind, command, where)
    item = next(c for c in peer.causes[0].commands if c["command"] == command)
    assert item["mode"] == "exec" and item["platform"] == platform
    assert action.placeholders == tuple(re.findall(r"<[a-z0-9-]+>", command))
    if where == "peer":
        syntax = answer.PLATFORM_NAMES[platform]
        assert action.where_text == (
            f"on the peer {peer.peer}, not on this box ({syntax} syntax; on another vendor, "
            "its own)"
        )
    else:
        assert action.where_text.startswith(f"on this box ({peer.local})")
    assert 1 <= len(action.why) <= 2 and all(len(w) <= answer.MAX_WHY_CHARS for w in action.why)
    assert action.caveat == peer.causes[0].key_caveat == peer.causes[0].caveats[0]
    assert answer.first_action(peer, "screenos" if platform != "screenos" else "ios") is None


def test_clearing_on_the_receiver_is_always_said_with_the_stale_sa_fix() -> None:
    for case in ("out-of-sync.txt", "asa-spi-mismatch-branch.txt"):
        action = answer.first_action(diagnosed(case).peers[0])
        assert action.cause == "sa-out-of-sync"
        assert "receiver" in action.caveat and "does not help" in action.caveat


def test_can_t_tell_yet_asks_for_the_paste_that_would_tell() -> None:
    peer = diagnosed("asa-policy-based-several-spis-one-peer.txt").peers[0]
    action = answer.first_action(peer)
    assert action.kind == "ask" and action.caveat is None
    assert action.command == "show crypto ipsec sa peer 198.51.100.50"
    assert action.where == "local" and action.where_text.startswith("on this box (192.0.2.1)")


def test_a_confirmed_cause_says_the_state_proves_it() -> None:
    peer = diagnosed("ios-hub-asa-spoke-stale-sa-both-ends").peers[0]
    action = answer.first_action(peer)
    assert peer.confidence == "confirmed" and action.kind == "fix"
    assert action.why[-1] == "the pasted device state proves it"


def test_the_json_gives_headline_and_first_action_per_peer_and_for_the_paste() -> None:
    doc = json.loads(json.dumps(diagnosed("out-of-sync.txt").to_dict()))
    first = doc["first_action"]
    assert first == doc["peers"][0]["first_action"]
    assert set(first) == {
        "cause",
        "kind",
        "platform",
        "where",
        "where_text",
        "command",
        "placeholders",
        "why",
        "caveat",
    }
    assert first["command"] == "clear crypto sa peer 192.0.2.1" and first["where"] == "peer"


def test_a_placeholder_stays_plain_text_for_the_renderer_to_escape() -> None:
    action = answer.first_action(diagnosed("fortigate-408336-ha-split-brain.txt").peers[0])
    assert action.command.endswith("<phase1-name>") and action.placeholders == ("<phase1-name>",)
    assert action.to_dict()["placeholders"] == ["<phase1-name>"]


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("article", ARTICLES, ids=[a.id for a in ARTICLES])
def test_every_cause_has_words_an_action_and_a_key_caveat_on_every_platform(
    article, platform
) -> None:
    [cause] = [
        c
        for c in rank(ARTICLES, [], platform=platform, peer=PEER, local=LOCAL)
        if c.id == article.id
    ]
    assert cause.short.count("{peer}") == 1 and cause.action
    assert cause.key_caveat and cause.caveats[0] == cause.key_caveat
    assert len(cause.caveats) == len(set(cause.caveats))
    for caveat in cause.caveats:  # a caveat scoped to other platforms is not shown
        assert platform in article.caveat_platforms.get(caveat, (platform,))


def test_platform_scoped_caveats_are_shown_only_on_their_platforms() -> None:
    fw = {a.id: a for a in ARTICLES}["firewall-blocking"]
    assert "control-plane" in fw.key_caveat_for("asa") and "FMC" in fw.key_caveat_for("ftd")
    assert not any("ASA" in c for c in fw.caveats_for("ios"))
    ha = {a.id: a for a in ARTICLES}["ha-failover"]
    assert any("12.4T" in c for c in ha.caveats_for("ios"))
    assert not any("12.4T" in c or "invalid-spi-recovery" in c for c in ha.caveats_for("fortigate"))
    assert any("12.4T" in c for c in ha.caveats_for(None))  # platform unknown: all of them


def test_the_words_survive_the_database_and_an_older_row_falls_back() -> None:
    sync = {a.id: a for a in ARTICLES}["sa-out-of-sync"]
    row = article_row(sync, "2025-01-01T00:00:00Z")
    assert article_from_row(row) == sync
    old = article_from_row({**row, "answer": None})
    assert old.short == "" and old.action == "" and old.key_caveat == {}
    [cause] = [c for c in rank([old], [], platform="ios", peer=PEER, local=LOCAL)]
    assert cause.key_caveat == old.caveats[0]


def test_a_store_backed_diagnosis_has_the_same_headline(tmp_path: Path) -> None:
    with Store(tmp_path / "kb.db") as store:
        assert {a.id: a.action for a in store.articles()} == {a.id: a.action for a in ARTICLES}
        result = diagnose(paste("out-of-sync.txt"), store, record=False)
    assert answer.paste_headline(result) == HEADLINES["out-of-sync.txt"]


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("short", "SAs out of sync", "must name the peer once"),
        ("action", "clear {peer} now.", "no full stop"),
        ("action", "clear {sender}", "only {peer} and {local}"),
        ("key_caveat", "{nxos: text}", "unknown platform"),
        ("caveats", "[{text: x, platforms: [junos]}]", "unknown platform"),
    ],
)
def test_the_answer_fields_are_validated_on_load(field, value, problem) -> None:
    path = ROOT / "kb" / "articles" / "rekey-race.md"
    text = path.read_text()
    lines = text.split("\n")
    if field == "caveats":
        start = lines.index("caveats:")
        end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith(" "))
        lines[start:end] = [f"caveats: {value}"]
    else:
        lines = [line for line in lines if not line.startswith(f"{field}:")]
        lines.insert(2, f"{field}: {value}")
    with pytest.raises(ArticleError, match=re.escape(problem)):
        parse_article(path, "\n".join(lines))
