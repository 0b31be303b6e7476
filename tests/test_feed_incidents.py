"""Feed mode's brain: received lines into tunnel incidents, their diagnosis, and the alert plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kb.db import stamp
from kb.feed.alerts import Sent, Subject, digest_sentence, plan
from kb.feed.batch import Received, sort_batch, tunnel_key
from kb.feed.record import KEEP_FIRST, KEEP_LATEST
from kb.feed.review import review
from kb.store import Store

QUIET = timedelta(minutes=15)
NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
HUB, SPOKE = "192.0.2.1", "198.51.100.7"


def ios(device: str, local: str, peer: str, spi: str, second: int = 0) -> str:
    """A real IOS invalid-SPI line (kb/examples/out-of-sync.txt) as a collector frames it."""
    return (
        f"2026-11-29T10:00:{second:02d}Z {device} %CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd "
        f"IPSEC packet has invalid spi for destaddr={local}, prot=50, spi={spi}({int(spi, 16)}), "
        f"srcaddr={peer}, input interface=GigabitEthernet0/0/0"
    )


def ikmp(device: str, peer: str) -> str:
    return (
        f"2026-11-29T09:59:58Z {device} %CRYPTO-4-IKMP_NO_SA: IKE message from {peer} has no "
        "SA and is not an initialization offer"
    )


def batch(*lines: str, source: str = "10.0.0.9"):
    return sort_batch([Received(line, source, 0.0) for line in lines])


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "kb.db") as s:
        yield s


def test_both_ends_of_a_tunnel_land_in_one_incident(store) -> None:
    first = store.feed.record(
        batch(*(ios("hub1", HUB, SPOKE, "0x5A3D1F2C", s) for s in range(3))), NOW, QUIET
    )
    second = store.feed.record(
        batch(*(ios("spoke7", SPOKE, HUB, "0x11223344", s) for s in range(2))), NOW, QUIET
    )
    other = store.feed.record(batch(ios("hub1", HUB, "203.0.113.9", "0x0BADF00D")), NOW, QUIET)
    assert first[0].opened and not second[0].opened
    assert first[0].incident_id == second[0].incident_id != other[0].incident_id
    incident = store.incident(first[0].incident_id)
    assert incident.event_count == 5
    assert incident.spis == ["0x11223344", "0x5A3D1F2C"]
    assert store.feed.sides(incident.id) == (["hub1", "spoke7"], [HUB, SPOKE])
    # the CLI and /spi see it like any incident
    assert [i.id for i in store.incidents(SPOKE)] == [incident.id]


def test_a_line_naming_no_local_address_is_grouped_by_device_and_peer() -> None:
    asa = (
        "Nov 29 10:00:01 asa1 : %ASA-4-402114: IPSEC: Received an ESP packet (SPI= 0x0000ABCD, "
        "sequence number= 0x2) from 198.51.100.7 (user= 198.51.100.7) to 192.0.2.1. The "
        "decapsulating SA is not found"
    )
    assert [t.key for t in batch(asa).tunnels] == [("pair", HUB, SPOKE)]
    assert tunnel_key(SPOKE, None, "asa1") == ("device", "asa1", SPOKE)
    assert tunnel_key(SPOKE, None, "asa1") != tunnel_key(SPOKE, None, "asa2")


def test_the_sender_address_is_the_device_when_the_line_names_none(store) -> None:
    bare = ios("x", HUB, SPOKE, "0x5A3D1F2C").split(" ", 2)[2]  # no time, no host
    sorted_ = batch(bare, source="10.1.2.3")
    assert sorted_.tunnels[0].device == "10.1.2.3"
    assert sorted_.recognised == 1


def test_a_quiet_incident_closes_and_a_later_line_opens_a_new_one(store) -> None:
    first = store.feed.record(batch(ios("hub1", HUB, SPOKE, "0x5A3D1F2C")), NOW, QUIET)
    assert store.feed.close_quiet(QUIET, NOW + timedelta(minutes=14)) == []
    closed = store.feed.close_quiet(QUIET, NOW + timedelta(minutes=16))
    assert closed == [first[0].incident_id]
    incident = store.incident(closed[0])
    assert incident.status == "resolved" and incident.fixed_by is None
    assert incident.closed_reason == "closed: no invalid-SPI line for 15 min"
    later = store.feed.record(
        batch(ios("hub1", HUB, SPOKE, "0x5A3D1F2C")), NOW + timedelta(minutes=17), QUIET
    )
    assert later[0].opened and later[0].incident_id != first[0].incident_id


def test_an_open_incident_keeps_its_first_and_latest_lines_and_counts_them_all(store) -> None:
    for n in range(8):
        lines = [ios("hub1", HUB, SPOKE, "0x5A3D1F2C", s % 60) + f" #{n}-{s}" for s in range(50)]
        recorded = store.feed.record(batch(*lines), NOW, QUIET)
    incident_id = recorded[0].incident_id
    kept = store.feed.lines(incident_id)
    assert store.incident(incident_id).event_count == 400
    assert len(kept) == KEEP_FIRST + KEEP_LATEST
    assert kept[0].endswith("#0-0") and kept[KEEP_FIRST - 1].endswith("#4-49")
    assert kept[-1].endswith("#7-49") and kept[KEEP_FIRST].endswith("#7-0")


def test_companion_lines_of_the_incident_devices_are_kept_with_it(store) -> None:
    store.feed.record(
        batch(ikmp("hub1", SPOKE), ikmp("hub1", "203.0.113.50"), ikmp("other9", SPOKE)),
        NOW - timedelta(minutes=2),
        QUIET,
    )
    recorded = store.feed.record(batch(ios("hub1", HUB, SPOKE, "0x5A3D1F2C")), NOW, QUIET)
    done = review(store, recorded[0].incident_id, NOW)
    kept = store.feed.lines(recorded[0].incident_id)
    assert kept == [ikmp("hub1", SPOKE), ios("hub1", HUB, SPOKE, "0x5A3D1F2C")]
    assert "ike_no_sa" in {e.kind for e in done.diagnosis.events}
    review(store, recorded[0].incident_id, NOW)  # a second look copies nothing twice
    assert len(store.feed.lines(recorded[0].incident_id)) == 2
    assert store.feed.forget_waiting(NOW + timedelta(hours=1)) == 3


def test_the_review_records_the_cause_and_the_sentence(store) -> None:
    lines = [ios("hub1", HUB, SPOKE, "0x5A3D1F2C", s * 10) for s in range(6)]
    recorded = store.feed.record(batch(*lines), NOW, QUIET)
    done = review(store, recorded[0].incident_id, NOW)
    incident = store.incident(recorded[0].incident_id)
    assert done.top.id == incident.top_cause == "sa-out-of-sync"
    assert "SAs out of sync on 198.51.100.7: clear its SAs toward 192.0.2.1 (6 lines" in (
        incident.summary
    )
    assert not done.lone_race
    assert all(p.incident == incident.id for p in done.diagnosis.peers)
    due = "9999"  # every incident reviewed before then and unchanged stays reviewed
    assert store.feed.to_review(due, due) == []


def test_a_steadily_failing_tunnel_is_diagnosed_again_as_it_grows_or_every_5_minutes(
    store,
) -> None:
    lines = [ios("hub1", HUB, SPOKE, "0x5A3D1F2C", s) for s in range(8)]
    (recorded,) = store.feed.record(batch(*lines), NOW, QUIET)
    review(store, recorded.incident_id, NOW)
    later = NOW + timedelta(seconds=31)
    due, stale = stamp(later - timedelta(seconds=30)), stamp(later - timedelta(minutes=5))
    store.feed.record(batch(ios("hub1", HUB, SPOKE, "0x5A3D1F2C", 9)), later, QUIET)
    assert store.feed.to_review(due, stale) == []  # 9 lines: not a quarter more than 8
    store.feed.record(batch(ios("hub1", HUB, SPOKE, "0x5A3D1F2C", 10)), later, QUIET)
    assert store.feed.to_review(due, stale) == [recorded.incident_id]  # 10: a quarter more
    much_later = NOW + timedelta(minutes=6)
    stale = stamp(much_later - timedelta(minutes=5))
    review(store, recorded.incident_id, NOW)
    store.feed.record(batch(ios("hub1", HUB, SPOKE, "0x5A3D1F2C", 11)), much_later, QUIET)
    assert store.feed.to_review(due, stale) == [recorded.incident_id]  # 5 minutes on


def test_one_rekey_race_line_is_a_lone_race_until_it_repeats(store) -> None:
    race = (
        "2026-11-29T10:00:01Z hub1 %CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has "
        "invalid spi for destaddr=203.0.113.9, prot=50, spi=0x1F00BA77(520141431), "
        "srcaddr=198.51.100.44, input interface=GigabitEthernet0/1"
    )
    recorded = store.feed.record(batch(race), NOW, QUIET)
    done = review(store, recorded[0].incident_id, NOW)
    assert done.top.id == "rekey-race" and done.lone_race
    store.feed.record(batch(race.replace("10:00:01", "10:03:01")), NOW, QUIET)
    assert not review(store, recorded[0].incident_id, NOW).lone_race


# -- the plan ------------------------------------------------------------------------------------
def subject(i: int, **kw) -> Subject:
    values = dict(
        status="open",
        event_count=3,
        top_cause="sa-out-of-sync",
        device="hub1",
        peer=f"198.51.100.{i}",
        reviewed=True,
        lone_race=False,
    )
    return Subject(i, **(values | kw))


def sent(i: int, incident: int | None, **kw) -> Sent:
    values = dict(
        channel="C1",
        ref="1.0",
        digest_id=None,
        claimed_at=NOW,
        posted_at=NOW,
        updated_at=NOW,
        shown_count=3,
        shown_cause="sa-out-of-sync",
        resolved_at=None,
    )
    return Sent(i, incident, **(values | kw))


def kinds(actions) -> list[tuple[str, int | None]]:
    return [(a.kind, a.incident_id) for a in actions]


def test_a_new_incident_is_posted_once_in_each_channel() -> None:
    actions = plan([subject(1)], [], {"C1": False, "C2": False}, NOW, flood=10)
    assert sorted((a.channel, a.kind) for a in actions) == [("C1", "post"), ("C2", "post")]
    assert plan([subject(1)], [sent(1, 1)], {"C1": False}, NOW, flood=10) == []


def test_an_undiagnosed_incident_waits_for_its_card() -> None:
    assert plan([subject(1, reviewed=False)], [], {"C1": False}, NOW, flood=10) == []


def test_a_change_is_shown_at_most_once_per_30_seconds() -> None:
    grown = [subject(1, event_count=9)]
    assert plan(grown, [sent(1, 1)], {"C1": False}, NOW + timedelta(seconds=29), flood=10) == []
    later = plan(grown, [sent(1, 1)], {"C1": False}, NOW + timedelta(seconds=30), flood=10)
    assert kinds(later) == [("update", 1)]
    recaused = [subject(1, top_cause="nat-traversal")]
    soon = NOW + timedelta(seconds=31)
    assert kinds(plan(recaused, [sent(1, 1)], {"C1": False}, soon, flood=10)) == [("update", 1)]
    unchanged = plan([subject(1)], [sent(1, 1)], {"C1": False}, NOW + timedelta(hours=1), flood=10)
    assert unchanged == []


def test_a_closed_incident_is_marked_resolved_once_30_seconds_after_the_last_update() -> None:
    closed = [subject(1, status="resolved")]
    assert plan(closed, [sent(1, 1)], {"C1": False}, NOW, flood=10) == []
    later = NOW + timedelta(seconds=30)
    assert kinds(plan(closed, [sent(1, 1)], {"C1": False}, later, flood=10)) == [("resolve", 1)]
    done = sent(1, 1, resolved_at=later, updated_at=later)
    assert plan(closed, [done], {"C1": False}, NOW + timedelta(hours=1), flood=10) == []


def test_a_lone_rekey_race_alerts_only_a_channel_that_wants_every_event() -> None:
    race = [subject(1, top_cause="rekey-race", lone_race=True)]
    actions = plan(race, [], {"C1": False, "C2": True}, NOW, flood=10)
    assert [(a.channel, a.kind) for a in actions] == [("C2", "post")]


def test_a_claim_left_by_a_dead_process_is_posted_again_after_two_minutes() -> None:
    claim = sent(1, 1, ref=None, posted_at=None, updated_at=None, claimed_at=NOW)
    assert plan([subject(1)], [claim], {"C1": False}, NOW + timedelta(seconds=60), flood=10) == []
    again = plan([subject(1)], [claim], {"C1": False}, NOW + timedelta(minutes=2), flood=10)
    assert kinds(again) == [("post", 1)] and again[0].sent is claim


def test_past_the_flood_threshold_new_incidents_go_into_one_digest() -> None:
    subjects = [subject(i) for i in range(1, 13)]
    actions = plan(subjects, [], {"C1": False}, NOW, flood=10)
    assert [a.kind for a in actions].count("post") == 10
    digest = [a for a in actions if a.kind == "digest_post"]
    assert len(digest) == 1 and digest[0].members == (11, 12)
    # the minute after, with ten posted in it, a new one joins the open digest
    rows = [sent(i, i) for i in range(1, 11)] + [sent(99, None, shown_count=2)]
    rows += [sent(100 + i, i, digest_id=99, ref=None) for i in (11, 12)]
    more = [*subjects, subject(13)]
    later = plan(more, rows, {"C1": False}, NOW + timedelta(seconds=20), flood=10)
    assert [(a.kind, a.members) for a in later] == [("fold", (13,))]
    # once all of a digest's incidents are resolved, it says so
    quiet = [subject(i, status="resolved") for i in range(1, 14)]
    rows = [sent(99, None, shown_count=3)]
    rows += [sent(100 + i, i, digest_id=99, ref=None) for i in (11, 12, 13)]
    end = plan(quiet, rows, {"C1": False}, NOW + timedelta(minutes=20), flood=10)
    assert [(a.kind, a.members) for a in end] == [("digest_resolve", (11, 12, 13))]


def test_the_digest_names_the_box_most_of_them_share() -> None:
    many = [subject(i) for i in range(30)] + [subject(99, device="hub2")]
    assert digest_sentence(many) == "31 peers failing at once on hub1: look at this box first"
    spread = [subject(1, device="a"), subject(2, device="b"), subject(3, device="c")]
    assert digest_sentence(spread) == "3 tunnels failing at once across 3 devices"


def test_invalid_spi_lines_naming_no_peer_open_an_incident_per_device_and_spi(store) -> None:
    def panos(spi: str) -> str:
        return (
            "2025-07-06 03:32:18.319 -0400 [PWRN]: { 7: }: can't find sa for proto ESP spi " + spi
        )

    lines = [panos("0xD6A1C300")] * 3 + [panos("0x0BADF00D")]
    recorded = store.feed.record(batch(*lines, source="pa-fw1"), NOW, QUIET)
    again = store.feed.record(batch(panos("0xD6A1C300"), source="pa-fw1"), NOW, QUIET)
    assert [r.lines for r in recorded] == [3, 1] and [r.opened for r in recorded] == [True, True]
    assert again[0].incident_id == recorded[0].incident_id and not again[0].opened
    incident = store.incident(recorded[0].incident_id)
    assert (incident.peer, incident.device, incident.spis) == (None, "pa-fw1", ["0xD6A1C300"])
    assert review(store, incident.id, NOW).diagnosis.events


def test_feed_lines_for_a_pasted_incident_make_it_the_feed_s(store) -> None:
    from kb.diagnose import diagnose

    paste = "\n".join(ios("hub1", HUB, SPOKE, "0x5A3D1F2C", s) for s in (1, 21, 41))
    diagnose(paste, store, source="slack:C1")
    (pasted,) = store.incidents()
    recorded = store.feed.record(batch(ios("hub1", HUB, SPOKE, "0x5A3D1F2C", 50)), NOW, QUIET)
    assert recorded[0].incident_id == pasted.id and not recorded[0].opened
    assert [s["id"] for s in store.feed.states()] == [pasted.id]  # alerted, reviewed, closed
    assert store.feed.close_quiet(QUIET, NOW + timedelta(minutes=16)) == [pasted.id]
