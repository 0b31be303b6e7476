"""Per-peer diagnosis, honest confidence, "what would decide it" and the timing rules (issue 10).

Pastes are real formats: lines copied from tests/cases/ and kb/examples/, or built from them.
"""

from __future__ import annotations

import json
from pathlib import Path

from kb.article import REQUIRED_IDS
from kb.confidence import (
    CANT_TELL,
    CLOSE_MARGIN,
    LEVELS,
    PLATFORMS,
    POSSIBLE,
    STRONG,
    UNLIKELY,
    load_deciders,
)
from kb.diagnose import diagnose
from kb.signals import of_kind, signals
from kb.store import Store
from kb.weighing import BOX_WIDE, EXPLAINED, ONE_SIDED_CLEAR, OWN_LINES
from tests.conftest import PASTES, spibot

CASES = Path(__file__).parent / "cases"
THREE_PEERS = (CASES / "ios-hub-three-peers-three-causes.txt").read_text()


def ios(peer: str, spi: int, when: str, local: str = "192.0.2.1") -> str:
    """An IOS decaps line as tests/cases/ios-hub-three-peers-three-causes.txt prints it."""
    return (
        f"{when}: %CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid spi for "
        f"destaddr={local}, prot=50, spi=0x{spi:08X}({spi}), srcaddr={peer}, "
        "input interface=GigabitEthernet0/0/0"
    )


def asa(peer: str, spi: int, when: str) -> str:
    """An ASA 402114 line as tests/cases/asa-402114-single-line.txt prints it."""
    return (
        f"{when}: %ASA-4-402114: IPSEC: Received an ESP packet (SPI= 0x{spi:08X}, sequence "
        f"number= 0x1) from {peer} to 192.0.2.1 with an invalid SPI."
    )


def by_peer(result) -> dict:
    return {p.peer: p for p in result.peers}


# Per-peer diagnosis ---------------------------------------------------------------------------


def test_three_peers_three_causes_each_right_with_its_own_incident_and_buttons(store) -> None:
    from bot import blocks

    result = diagnose(THREE_PEERS, store)
    peers = by_peer(result)
    assert [p.peer for p in result.peers] == ["198.51.100.70", "198.51.100.99", "203.0.113.44"]
    assert peers["198.51.100.70"].causes[0].id == "sa-out-of-sync"
    assert peers["198.51.100.99"].causes[0].id == "firewall-blocking"
    assert peers["203.0.113.44"].causes[0].id == "rekey-race"
    # the top-level answer is the busiest peer's
    assert result.causes is result.peers[0].causes and result.peer == "198.51.100.70"
    # each peer its own incident, recorded with its own top cause
    incidents = {p.peer: p.incident for p in result.peers}
    assert len(set(incidents.values())) == 3 and None not in incidents.values()
    assert result.recorded == list(incidents.values())
    for peer, incident_id in incidents.items():
        incident = store.incident(incident_id)
        assert incident.peer == peer
        assert incident.top_cause == peers[peer].causes[0].id
    # each peer its own buttons, carrying its own incident and peer
    rendered = [b.to_dict() for b in blocks.diagnosis(result)]
    values = [
        json.loads(e["value"])
        for b in rendered
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "spi_fixed"
    ]
    assert {(v["peer"], v["incident"], v["article"]) for v in values} == {
        (p.peer, p.incident, p.causes[0].id) for p in result.peers
    }
    notes = [
        json.loads(e["value"])
        for b in rendered
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "spi_add_note"
    ]
    assert {(v["peer"], v["incident"]) for v in notes} == set(incidents.items())


def test_one_peers_single_line_is_not_a_reason_in_another_peers_ranking(store) -> None:
    lines = [ios("198.51.100.7", 0x5A3D1F2C, f"Mar  3 09:{m}:02.113") for m in (14, 15, 16, 17)]
    lines.insert(2, ios("198.51.100.8", 0x1F00BA77, "Mar  3 09:15:30.000"))
    result = diagnose("\n".join(lines), store, record=False)
    busy, once = result.peers
    assert busy.peer == "198.51.100.7" and once.peer == "198.51.100.8"
    assert busy.causes[0].id == "sa-out-of-sync"
    everything = [r for c in busy.causes for r in c.reasons]
    assert not any("198.51.100.8" in r for r in everything), everything
    assert not any(s.peer == "198.51.100.8" for s in busy.signals)
    assert not any("198.51.100.7" in r for c in once.causes for r in c.reasons)
    assert once.causes[0].id == "rekey-race"


def test_history_of_one_peer_does_not_move_another_peer_of_the_same_paste(store) -> None:
    first = diagnose(THREE_PEERS, store)
    store.resolve(by_peer(first)["203.0.113.44"].incident, "ha-failover")
    again = by_peer(diagnose(THREE_PEERS, store, record=False))
    assert again["203.0.113.44"].causes[0].id == "ha-failover"
    for peer in ("198.51.100.70", "198.51.100.99"):
        reasons = [r for c in again[peer].causes for r in c.reasons]
        assert not any("history:" in r for r in reasons), (peer, reasons)


def test_a_failover_on_this_box_counts_for_every_peer_and_says_look_here_first() -> None:
    result = diagnose((CASES / "asa-failover-stateless-multi-peer.txt").read_text())
    assert len(result.peers) == 3
    assert all(p.causes[0].id == "ha-failover" for p in result.peers)
    assert result.box_first and result.box_first.startswith("3 peers at once")
    assert "failover" in result.box_first


def test_many_peers_at_once_look_at_this_box_first_but_not_for_a_scan_or_spread_lines() -> None:
    reload = diagnose((CASES / "ios-hub-reload-many-peers.txt").read_text())
    assert reload.box_first and reload.box_first.startswith(
        "4 peers at once, after this box reloaded"
    )
    spread = diagnose(  # three peers whose lines start minutes apart
        "\n".join(ios(f"198.51.100.{n}", n, f"Mar  3 09:{10 + 5 * n}:02.113") for n in (1, 2, 3))
    )
    assert len(spread.peers) == 3 and spread.box_first is None
    scan = diagnose((CASES / "asa-unsolicited-esp-non-peers.txt").read_text())
    assert scan.causes[0].id == "unsolicited-esp" and scan.box_first is None


def test_lines_with_no_peer_are_their_own_entry_and_record_nothing(store) -> None:
    # A line cut short after its tag names no peer (the PAN-OS case this used now has one).
    paste = (CASES / "ios-community-cut-short.txt").read_text()
    result = diagnose(paste, store)
    [unknown] = result.peers
    assert unknown.peer is None and unknown.incident is None and result.recorded == []
    assert result.to_dict()["peers"][0]["peer"] is None


# Honest confidence ----------------------------------------------------------------------------


def test_confidence_is_shown_in_the_cli_in_slack_and_in_json(tmp_path: Path) -> None:
    from bot import blocks

    db = str(tmp_path / "kb.db")
    paste = (PASTES / "out-of-sync.txt").read_text()
    as_json = json.loads(spibot("diagnose", "--json", "--db", db, stdin=paste).stdout)
    assert as_json["confidence"] == STRONG
    assert as_json["causes"][0]["confidence"] == STRONG
    assert as_json["peers"][0]["confidence"] == STRONG
    assert as_json["peers"][0]["causes"] == as_json["causes"]
    assert set(as_json["peers"][0]) >= {
        "peer",
        "local",
        "platform",
        "confidence",
        "causes",
        "decide",
        "incident",
    }
    assert as_json["peers"][0]["incident"] == as_json["recorded_incidents"][0]
    text = spibot("diagnose", "--no-record", "--db", db, stdin=paste).stdout
    assert "[sa-out-of-sync, strong, score" in text
    with Store(tmp_path / "kb.db") as store:
        reply = json.dumps([b.to_dict() for b in blocks.diagnosis(diagnose(paste, store))])
    assert "*Very likely SAs out of sync on 198.51.100.7*" in reply  # strong, in words


def test_every_cause_carries_a_confidence_word(store) -> None:
    for result in (
        diagnose(THREE_PEERS, store, record=False),
        diagnose(PASTES.joinpath("rekey-race.txt").read_text()),
    ):
        for p in result.peers:
            assert p.confidence in LEVELS
            assert all(c.confidence in (*LEVELS, UNLIKELY) for c in p.causes)


def test_decide_line_when_the_top_two_are_close_and_not_when_the_margin_is_wide() -> None:
    from bot import blocks, text

    lone = diagnose(ios("198.51.100.7", 0x5A3D1F2C, "Mar  3 09:14:02.113"))
    top, second = lone.causes[:2]
    assert top.score - second.score < CLOSE_MARGIN
    assert {top.id, second.id} == {"rekey-race", "sa-out-of-sync"}
    assert lone.decide == (
        "if this repeats within two minutes it is a stale SA on the peer, not a rekey race: "
        "on 198.51.100.7 run `show crypto ipsec sa peer 192.0.2.1` and compare its current "
        "outbound SPI with 0x5A3D1F2C"
    )
    assert "What would decide it (rekey-race or sa-out-of-sync)" in text.diagnosis(lone)
    assert "What would decide it" in json.dumps([b.to_dict() for b in blocks.details(lone)])
    assert lone.to_dict()["decide"] == lone.decide
    wide = diagnose((PASTES / "out-of-sync.txt").read_text())
    assert wide.causes[0].score - wide.causes[1].score >= CLOSE_MARGIN
    assert wide.decide is None and wide.to_dict()["peers"][0]["decide"] is None
    assert "What would decide it" not in text.diagnosis(wide)


def test_decide_is_filled_in_for_the_platform_and_never_borrows_another_platforms() -> None:
    fill = {"peer": "198.51.100.7", "local": "192.0.2.1", "spi": "0x5A3D1F2C"}
    table, fallback = load_deciders()
    for decider in [*table.values(), fallback]:
        for platform in PLATFORMS:
            said = decider.sentence(platform, **fill)
            own = decider.run.get(platform)
            if own is None:
                assert "no command known for" in said and "`" not in said, said
            else:
                assert f"`{own.format(**fill)}`" in said, said
            for other in set(decider.run.values()) - {own}:
                assert f"`{other.format(**fill)}`" not in said, (platform, said)
            assert "{" not in said, said


def test_decide_table_names_real_causes_and_platforms() -> None:
    table, _ = load_deciders()
    assert table
    for pair in table:
        assert pair <= set(REQUIRED_IDS), pair


def test_the_classes_name_real_signals() -> None:
    known = set(signals())
    for names in (OWN_LINES, BOX_WIDE, ONE_SIDED_CLEAR, EXPLAINED):
        assert names <= known, names - known
    # every signal is declared with its kind on the rule that emits it
    assert of_kind("direct", "symptom", "context") == known
    assert {"repeating_spi", "single_event"} <= of_kind("symptom")
    assert {"nat_t", "tunnel_flap"} <= of_kind("context")
    assert {"ike_no_sa", "spi_byte_reversed"} <= of_kind("direct")


# Timing rules ---------------------------------------------------------------------------------


def test_a_single_line_in_a_ten_second_paste_is_not_called_a_rekey_race_with_confidence() -> None:
    paste = "\n".join(
        [
            ios("198.51.100.7", 0x5A3D1F2C, "Mar  3 09:14:02.113"),
            # the same box, ten seconds later: a policy mismatch line from tests/cases
            "Mar  3 09:14:12.000: %CRYPTO-4-RECVD_PKT_NOT_IPSEC: Rec'd packet not an IPSEC "
            "packet. (ip) vrf/dest_addr= /10.20.0.15, src_addr= 10.9.9.5, prot= 6",
        ]
    )
    result = diagnose(paste)
    rekey = next(c for c in result.causes if c.id == "rekey-race")
    assert rekey.confidence in (POSSIBLE, CANT_TELL, UNLIKELY)
    single = next(r for r in rekey.reasons if "a single invalid-SPI line" in r)
    assert "shows only 10s after it" in single and "too short to show whether it repeats" in single
    assert float(single.split()[0]) < 1.0


def test_a_single_line_followed_by_minutes_of_log_is_evidence_of_a_race() -> None:
    paste = "\n".join(
        [
            ios("198.51.100.7", 0x5A3D1F2C, "Mar  3 09:14:02.113"),
            ios("198.51.100.9", 0x11AA22BB, "Mar  3 09:17:02.113"),
        ]
    )
    top = diagnose(paste).causes[0]
    assert top.id == "rekey-race" and top.confidence not in (POSSIBLE, CANT_TELL)
    assert any("for the 3m 00s the paste shows" in r for r in top.reasons)


def test_a_one_sided_clear_outweighs_a_single_line() -> None:
    paste = (
        ios("198.51.100.7", 0x5A3D1F2C, "Mar  3 09:14:02.113", local="192.0.2.50")
        + "\nMar  3 09:14:02.200: ISAKMP: ignoring request to send delete notify (no ISAKMP sa) "
        "src 192.0.2.50 dst 198.51.100.7 for SPI 0x5A3D1F2C"
    )
    result = diagnose(paste)
    assert result.causes[0].id != "rekey-race"
    rekey = next(c for c in result.causes if c.id == "rekey-race")
    assert any("one-sided clear" in r and r.startswith("+0.0") for r in rekey.reasons)


def test_several_spis_at_once_from_one_peer_do_not_make_lifetime_mismatch_top() -> None:
    spis = (0x9B01D7E4, 0x44C9A12F, 0x13F8B0D9)  # one SA per proxy-ID pair, all live
    at_once = "\n".join(asa("198.51.100.50", spi, "Feb 08 2024 16:20:41") for spi in spis)
    result = diagnose(at_once)
    assert result.causes[0].id != "lifetime-mismatch"
    lifetime = next(c for c in result.causes if c.id == "lifetime-mismatch")
    assert any("live at the same time" in r for r in lifetime.reasons)
    # the same SPIs one after another, minutes apart, are SAs that keep changing
    changing = "\n".join(
        asa("198.51.100.50", spi, f"Feb 08 2024 16:{20 + 5 * n}:41") for n, spi in enumerate(spis)
    )
    assert diagnose(changing).causes[0].id == "lifetime-mismatch"


def test_a_deny_between_the_same_two_addresses_outweighs_repetition() -> None:
    result = diagnose((CASES / "ios-transit-asa-denies-ike.txt").read_text())
    assert result.causes[0].id == "firewall-blocking"
    sync = next(c for c in result.causes if c.id == "sa-out-of-sync")
    assert any("explained by the deny" in r for r in sync.reasons)
    # a deny between other addresses explains nothing for this peer
    other = THREE_PEERS.replace(
        "198.51.100.99(500) -> 192.0.2.1(500)", "198.51.100.98(500) -> 192.0.2.1(500)"
    )
    peers = by_peer(diagnose(other))
    assert not any(
        "explained by the deny" in r for c in peers["198.51.100.99"].causes for r in c.reasons
    )


# Slack: fixing one peer leaves the others' buttons: tests/test_verdicts.py


def test_many_peers_stay_within_slack_limits_and_name_the_rest() -> None:
    from bot import blocks

    lines = [
        ios(f"198.51.100.{n}", 0x1000 + n, f"Mar  3 09:{14 + m}:0{n % 10}.000")
        for n in range(1, 12)
        for m in range(n % 3 + 1)
    ]
    result = diagnose("\n".join(lines))
    rendered = [b.to_dict() for b in blocks.diagnosis(result)]
    assert len(rendered) <= 50
    assert all(len((b.get("text") or {}).get("text", "")) <= 3000 for b in rendered)
    assert "… and 6 more peer(s)" in json.dumps(rendered, ensure_ascii=False)


def test_a_reload_hours_after_the_lines_does_not_say_look_at_this_box() -> None:
    paste = "\n".join(
        [
            ios("198.51.100.7", 0x5A3D1F2C, "Mar  3 10:01:02.113"),
            ios("198.51.100.8", 0x5A3D1F2D, "Mar  3 10:01:05.113"),
            "Mar  3 14:30:00.000: %SYS-5-RESTART: System restarted --",
        ]
    )
    assert diagnose(paste).box_first is None


def test_a_clear_typed_after_the_lines_does_not_cancel_a_single_line() -> None:
    line = ios("198.51.100.7", 0x5A3D1F2C, "Mar  3 09:14:02.113")
    later = "hub#clear crypto sa peer 198.51.100.7"
    single = [r for c in diagnose(f"{line}\n{later}").causes for r in c.reasons if "single" in r]
    assert single and not any(r.startswith("-0.0") or r.startswith("+0.0") for r in single)


def test_the_decide_table_reads_the_same_with_either_yaml_parser() -> None:
    import yaml

    fast = load_deciders()
    assert fast == load_deciders(loader=yaml.SafeLoader)
    assert len(fast[0]) > 5
