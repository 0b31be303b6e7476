"""Ranking: the right cause first for each kind of evidence, with reasons naming it."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from kb.diagnose import diagnose
from kb.store import Store, utcnow
from tests.conftest import PASTES, spibot


def ios(
    peer: str,
    spi: int,
    when: str = "Mar  3 09:14:02.113",
    local: str = "203.0.113.1",
    prot: int = 50,
) -> str:
    return (
        f"{when}: %CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid spi for "
        f"destaddr={local}, prot={prot}, spi=0x{spi:08X}({spi}), srcaddr={peer}, "
        "input interface=GigabitEthernet0/0"
    )


def asa(peer: str, spi: int, mnemonic: str = "402114", tail: str = "with an invalid SPI.") -> str:
    return (
        f"Jan 12 2024 10:01:02: %ASA-4-{mnemonic}: IPSEC: Received an ESP packet "
        f"(SPI= 0x{spi:08X}, sequence number= 0x1A) from {peer} to 192.0.2.1 {tail}"
    )


@pytest.mark.parametrize(
    ("paste", "expected"),
    [
        ("out-of-sync.txt", "sa-out-of-sync"),
        ("rekey-race.txt", "rekey-race"),
        ("ha-failover.txt", "ha-failover"),
    ],
)
def test_shared_pastes_rank_their_cause_first(store: Store, paste: str, expected: str) -> None:
    result = diagnose((PASTES / paste).read_text(), store)
    assert result.causes[0].id == expected
    assert result.causes[0].score > result.causes[1].score


SCENARIOS = {
    "sa-out-of-sync": (
        "\n".join(
            ios("198.51.100.7", 0x5A3D1F2C, f"Mar  3 09:{m}:02.113") for m in (14, 15, 16, 17)
        ),
        "logged 4 times over 3m 00s",
    ),
    "rekey-race": (ios("198.51.100.8", 0x1F00BA77), "a single invalid-SPI line"),
    "ha-failover": (
        "Apr 11 02:40:55.021: %HSRP-5-STATECHANGE: Gi0/0 Grp 10 state Standby -> Active\n"
        + ios("198.51.100.9", 0xBADF00D, "Apr 11 02:40:56.340"),
        "Standby -> Active on Gi0/0 1s before the first invalid SPI",
    ),
    "lifetime-mismatch": (
        "\n".join(
            ios("198.51.100.10", spi, f"Mar  3 09:{m}:02.113")
            for m, spi in ((10, 1), (20, 2), (30, 3), (40, 4))
        ),
        "4 different SPIs from 198.51.100.10",
    ),
    "nat-traversal": (
        ios("10.20.30.40", 0xAB, "Mar  3 09:14:02.113")
        + "\n"
        + ios("10.20.30.40", 0xAB, "Mar  3 09:14:20.113"),
        "peer 10.20.30.40 is a private address",
    ),
    "firewall-blocking": (
        "\n".join(ios("198.51.100.11", 0x77, f"Mar  3 09:{m}:02.113") for m in (14, 15, 16))
        + "\nMar  3 09:16:30.000: %SEC-6-IPACCESSLOGP: list OUTSIDE-IN denied udp 198.51.100.11(4500) -> 203.0.113.1(4500), 12 packets",
        "an ACL denied udp 4500/4500 from 198.51.100.11",
    ),
    "packet-loss": (
        ios("198.51.100.12", 0x99)
        + "\nMar  3 09:14:03.000: %CRYPTO-4-PKT_REPLAY_ERR: decrypt: replay check failed connection id=2"
        + "\nMar  3 09:14:04.000: %CRYPTO-4-RECVD_PKT_MAC_ERR: decrypt: mac verify failed for connection id=2 local=203.0.113.1 remote=198.51.100.12 spi=0000009A seqno=00071328",
        "anti-replay failure",
    ),
    "policy-mismatch": (
        asa("198.51.100.13", 0x1234)
        + "\n"
        + asa(
            "198.51.100.13",
            0x1234,
            "402116",
            ". The decapsulated inner packet doesn't match the negotiated policy in the SA.",
        )
        + "\nJan 12 2024 10:01:05: %ASA-4-402117: IPSEC: Received a non-IPSec packet (protocol= ICMP) from 198.51.100.13 to 192.0.2.1.",
        "policy mismatch",
    ),
    "unsolicited-esp": (
        "\n".join(asa(f"203.0.113.{n}", 0xDEADBEEF) for n in (20, 21, 22, 23)),
        "SPI 0xDEADBEEF arrived from 4 sources",
    ),
}


@pytest.mark.parametrize("expected", sorted(SCENARIOS))
def test_clear_evidence_ranks_its_cause_first(store: Store, expected: str) -> None:
    paste, evidence = SCENARIOS[expected]
    result = diagnose(paste, store, record=False)
    top = result.causes[0]
    assert top.id == expected, [(c.id, c.score, c.reasons) for c in result.causes[:3]]
    assert any(evidence in reason for reason in top.reasons), top.reasons


def test_software_defect_when_a_peer_keeps_coming_back(store: Store) -> None:
    peer = "198.51.100.14"
    start = utcnow() - timedelta(days=9)
    for day in (0, 3, 6):
        diagnose(ios(peer, 0x10 + day), store, now=start + timedelta(days=day))
    paste = ios(peer, 0x20) + (
        "\nMar  3 09:14:05.000: %ASA-4-402119: IPSEC: Received an ESP packet (SPI= 0x00000020, "
        f"sequence number= 0x0) from {peer} to 203.0.113.1 that failed anti-replay checking."
    )
    result = diagnose(paste, store, record=False)
    assert result.causes[0].id == "software-defect"
    assert any("3 incidents in the last 30 days" in r for r in result.causes[0].reasons)


def test_every_article_id_has_a_scenario() -> None:
    from kb.article import REQUIRED_IDS

    covered = set(SCENARIOS) | {"software-defect"}
    assert set(REQUIRED_IDS) <= covered


def test_ranking_is_deterministic_and_every_score_has_reasons(store: Store) -> None:
    paste = (PASTES / "ha-failover.txt").read_text()
    first = diagnose(paste, store, record=False).to_dict()["causes"]
    second = diagnose(paste, store, record=False).to_dict()["causes"]
    assert first == second
    for cause in first:
        # the points in the reasons add up to the score: nothing is scored without a reason
        total = sum(float(r.split()[0]) for r in cause["reasons"])
        assert round(total, 1) == round(cause["score"], 1)


def run(db: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return spibot(*args, "--db", str(db), stdin=stdin)


def test_history_wins_for_that_peer_only(tmp_path: Path) -> None:
    db = tmp_path / "kb.db"
    peer_paste = (PASTES / "rekey-race.txt").read_text()
    before = json.loads(run(db, "diagnose", "--json", stdin=peer_paste).stdout)
    assert before["causes"][0]["id"] == "rekey-race"
    added = run(
        db,
        "note",
        "add",
        "hub firewall dropped UDP 4500 from this branch",
        "--peer",
        "198.51.100.44",
        "--fixed-by",
        "firewall-blocking",
    )
    assert added.returncode == 0, added.stderr
    after = json.loads(run(db, "diagnose", "--json", stdin=peer_paste).stdout)
    top = after["causes"][0]
    assert top["id"] == "firewall-blocking"
    assert any("history: fixed incident" in r and "UDP 4500" in r for r in top["reasons"])
    notes = [n["text"] for i in after["incidents"] for n in i["notes"]]
    assert "hub firewall dropped UDP 4500 from this branch" in notes
    text = run(db, "diagnose", stdin=peer_paste).stdout
    assert "note (" in text and "hub firewall dropped UDP 4500" in text
    other = ios("198.51.100.45", 0x2222, local="192.0.2.99")
    elsewhere = json.loads(run(db, "diagnose", "--json", stdin=other).stdout)
    assert [c["id"] for c in elsewhere["causes"]][:1] == ["rekey-race"]
    assert not any("history:" in r for c in elsewhere["causes"] for r in c["reasons"])
    assert elsewhere["incidents"] == []


def test_same_local_address_history_counts_a_little(store: Store) -> None:
    diagnose(ios("198.51.100.60", 0x1), store)
    store.add_note(peer="198.51.100.60", text="acl on the hub", fixed_by="firewall-blocking")
    # The paste shows three quiet minutes after .61's line (a line from another peer), so the
    # single line is evidence of a race; a lone line alone would say nothing about repetition.
    later = ios("198.51.100.62", 0x4444, "Mar  3 09:17:02.113")
    result = diagnose(ios("198.51.100.61", 0x3333) + "\n" + later, store, record=False)
    assert result.peer == "198.51.100.61"
    fw = next(c for c in result.causes if c.id == "firewall-blocking")
    assert any("same local address 203.0.113.1" in r for r in fw.reasons), fw.reasons
    assert result.causes[0].id == "rekey-race"


def test_not_it_feedback_moves_a_cause_down(store: Store) -> None:
    paste = (PASTES / "rekey-race.txt").read_text()
    result = diagnose(paste, store)
    before = next(c for c in result.causes if c.id == "rekey-race").score
    store.not_it(result.recorded[0], "rekey-race")
    again = diagnose(paste, store, record=False)
    rekey = next(c for c in again.causes if c.id == "rekey-race")
    assert rekey.score == pytest.approx(before - 2.0)
    assert any("marked 'not it'" in r for r in rekey.reasons)


def test_commands_are_for_the_detected_platform(store: Store) -> None:
    result = diagnose(asa("198.51.100.50", 0x42), store, record=False)
    cause = next(c for c in result.causes if c.id == "sa-out-of-sync")
    assert "clear crypto ipsec sa peer 192.0.2.1" in " ".join(cause.fixes)
    assert "show crypto ipsec sa peer 198.51.100.50" in cause.verify
    assert not any("isakmp keepalive 10 3 periodic" in f for f in cause.fixes)  # that is IOS


def test_a_paste_opens_one_incident_per_peer_and_reuses_it(store: Store) -> None:
    paste = (PASTES / "out-of-sync.txt").read_text()
    first = diagnose(paste, store)
    second = diagnose(paste, store)
    assert first.recorded == second.recorded and len(first.recorded) == 1
    incident = store.incident(first.recorded[0])
    assert incident.event_count == 12 and incident.spis == ["0x5A3D1F2C"]
    later = diagnose(paste, store, now=utcnow() + timedelta(days=2))
    assert later.recorded != first.recorded


def test_junk_paste_diagnoses_nothing_and_records_nothing(store: Store) -> None:
    result = diagnose("hello\n\x00\u202e odd ✓ text\n" * 50, store)
    assert not result.found and result.recorded == [] and store.counts()["incidents"] == 0
    assert result.summary().startswith("No invalid-SPI lines")


def test_similar_device_names_and_device_lookup(store: Store) -> None:
    from kb.lookup import lookup

    def on(device: str, peer: str, spi: int, local: str) -> str:
        line = ios(peer, spi, local=local).split(": ", 1)[1]
        return f"<0>91: *Oct 07 03:10:04: {device} {line}"

    first = diagnose(on("rtr-hub-01.example.net", "198.51.100.70", 0x4444, "192.0.2.70"), store)
    store.resolve(first.recorded[0], "ha-failover")
    paste = on("rtr-hub-02.example.net", "198.51.100.71", 0x5555, "192.0.2.71")
    result = diagnose(paste, store, record=False)
    ha = next(c for c in result.causes if c.id == "ha-failover")
    assert any(
        "on rtr-hub-01.example.net, a device named like rtr-hub-02.example.net" in r
        for r in ha.reasons
    ), ha.reasons
    found = lookup(store, "rtr-hub-01.example.com")
    assert found["kind"] == "device" and found["devices"] == ["rtr-hub-01.example.net"]
    assert found["incidents"][0]["fixed_by"] == "ha-failover"


def test_commands_are_shown_only_where_evidence_points(store: Store) -> None:
    from bot import text

    def with_commands(shown: str) -> int:
        # causes whose section has a "Check" heading (one per place the commands run)
        return sum("\n   Check" in part for part in re.split(r"\n\d+\. ", shown)[1:])

    single = text.diagnosis(diagnose((PASTES / "rekey-race.txt").read_text(), store))
    assert with_commands(single) == 1
    assert "nothing in the paste or its history points here" in single
    repeating = text.diagnosis(diagnose((PASTES / "out-of-sync.txt").read_text(), store))
    assert with_commands(repeating) == 3
