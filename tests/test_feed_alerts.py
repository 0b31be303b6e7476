"""Feed mode's doors without the network: the ingest queue, the alert loop, its Slack and
JSON-lines outputs, restart safety, the flood digest and /spi alerts."""

from __future__ import annotations

import io
import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from bot import metrics, spi_command
from bot.delivery import web_client
from bot.feed.alerter import Alerter, JsonLines
from bot.feed.ingest import Ingest
from bot.feed.slack_alerts import SlackAlerts
from bot.slack_state import SlackState
from kb.store import Store
from tests.fakeslack import FakeSlack

QUIET = timedelta(minutes=15)
HUB, SPOKE = "192.0.2.1", "198.51.100.7"


def ios(device: str, local: str, peer: str, spi: str = "0x5A3D1F2C", second: int = 0) -> bytes:
    return (
        f"2026-11-29T10:00:{second:02d}Z {device} %CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd "
        f"IPSEC packet has invalid spi for destaddr={local}, prot=50, spi={spi}({int(spi, 16)}), "
        f"srcaddr={peer}, input interface=GigabitEthernet0/0/0"
    ).encode()


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "kb.db"
    Store(path).close()
    return path


@pytest.fixture
def slack():
    fake = FakeSlack().start()
    yield fake
    fake.stop()


def opener(db):
    return lambda: Store(db, busy_ms=2000)


def burst(device: str, local: str, peer: str, spi: str = "0x5A3D1F2C") -> list[bytes]:
    """Three lines a minute apart: a stale SA, not a one-off rekey race."""
    return [ios(device, local, peer, spi, second) for second in (0, 20, 40)]


def ingest_all(db, *batches: list[bytes], source: str = "10.0.0.9") -> None:
    """Lines through the real queue and writer, each batch its own commit."""
    ingest = Ingest(opener(db), quiet=QUIET, batch_seconds=0.01)
    ingest.start()
    try:
        for lines in batches:
            assert ingest.offer(lines, source, framed=False) == len(lines)
            assert ingest.drained(10)
    finally:
        ingest.stop()


def alerter(db, output, channels, clock, **kw) -> Alerter:
    return Alerter(
        opener(db),
        output,
        lambda store: channels,
        quiet=QUIET,
        flood=kw.pop("flood", 10),
        clock=clock,
    )


def run(alert: Alerter, db):
    with Store(db) as store:
        return alert.run_once(store)


def blocks_of(call: dict) -> list[dict]:
    found = call["blocks"]
    return json.loads(found) if isinstance(found, str) else found


def shown_text(call: dict) -> str:
    return json.dumps(blocks_of(call))


def test_one_alert_then_one_update_then_the_resolution_in_the_same_message(db, slack) -> None:
    clock = Clock()
    client = web_client("xoxb-test", slack.url)
    alert = alerter(db, SlackAlerts(lambda: client), {"C1": False}, clock)
    ingest_all(db, [ios("hub1", HUB, SPOKE, second=s) for s in range(3)])
    run(alert, db)
    posted = slack.calls_to("chat.postMessage")
    assert len(posted) == 1 and posted[0]["channel"] == "C1"
    assert "SAs out of sync on 198.51.100.7" in posted[0]["text"]
    assert "3 invalid-SPI lines from hub1" in shown_text(posted[0])
    assert "Fixed it" in shown_text(posted[0])  # the paste reply's buttons
    # the other end reports: one update, not before 30 s
    ingest_all(db, [ios("spoke7", SPOKE, HUB, "0x11223344", s) for s in range(2)])
    clock.advance(seconds=5)
    run(alert, db)
    assert slack.calls_to("chat.update") == []
    clock.advance(seconds=30)
    run(alert, db)
    updates = slack.calls_to("chat.update")
    assert len(updates) == 1 and updates[0]["ts"] == "1700000001.000100"
    assert "5 invalid-SPI lines from hub1, spoke7" in shown_text(updates[0])
    clock.advance(seconds=40)
    run(alert, db)
    assert len(slack.calls_to("chat.update")) == 1  # nothing changed: nothing sent
    clock.advance(minutes=16)
    run(alert, db)
    updates = slack.calls_to("chat.update")
    assert len(updates) == 2 and "Resolved" in updates[1]["text"]
    assert "no invalid-SPI line for 15 min" in shown_text(updates[1])
    clock.advance(minutes=5)
    run(alert, db)
    assert len(slack.calls_to("chat.postMessage")) == 1 and len(updates) == 2


def test_a_restart_posts_no_second_alert_and_updates_the_first(db, slack) -> None:
    clock = Clock()
    client = web_client("xoxb-test", slack.url)
    ingest_all(db, burst("hub1", HUB, SPOKE))
    run(alerter(db, SlackAlerts(lambda: client), {"C1": False}, clock), db)
    ingest_all(db, [ios("hub1", HUB, SPOKE, second=9)])
    clock.advance(seconds=31)
    restarted = alerter(db, SlackAlerts(lambda: client), {"C1": False}, clock)
    run(restarted, db)
    assert len(slack.calls_to("chat.postMessage")) == 1
    (update,) = slack.calls_to("chat.update")
    assert update["ts"] == "1700000001.000100"  # the fake's first ts: the first message


def test_two_processes_racing_post_one_alert(db, slack) -> None:
    clock = Clock()
    client = web_client("xoxb-test", slack.url)
    ingest_all(db, burst("hub1", HUB, SPOKE))
    with Store(db) as one, Store(db) as two:
        first = alerter(db, SlackAlerts(lambda: client), {"C1": False}, clock)
        second = alerter(db, SlackAlerts(lambda: client), {"C1": False}, clock)
        first.run_once(one)
        second.run_once(two)
    assert len(slack.calls_to("chat.postMessage")) == 1


def test_a_refused_post_or_update_is_tried_again_minutes_later_not_every_round(db, slack) -> None:
    clock = Clock()
    client = web_client("xoxb-test", slack.url)
    for _ in range(2):
        slack.script["chat.postMessage"].append((200, {}, {"ok": False, "error": "not_in_channel"}))
    ingest_all(db, burst("hub1", HUB, SPOKE))
    alert = alerter(db, SlackAlerts(lambda: client), {"C1": False}, clock)
    errors = metrics.ERRORS.labels("feed")._value.get()
    for _ in range(119):  # a round a second for two minutes: one try
        run(alert, db)
        clock.advance(seconds=1)
    assert len(slack.calls_to("chat.postMessage")) == 1
    assert metrics.ERRORS.labels("feed")._value.get() == errors + 1
    clock.advance(seconds=1)
    run(alert, db)  # two minutes on: tried again, refused again
    clock.advance(minutes=2)
    run(alert, db)  # and again: this time it is in
    assert len(slack.calls_to("chat.postMessage")) == 3
    with Store(db) as store:
        assert [r.ref for r in store.alerts.rows(["C1"])] == ["1700000001.000100"]
    for _ in range(3):
        slack.script["chat.update"].append((200, {}, {"ok": False, "error": "ratelimited"}))
    ingest_all(db, [ios("hub1", HUB, SPOKE, second=50)])
    for _ in range(90):  # the update is due, refused, and tried every 30 s, not every second
        clock.advance(seconds=1)
        run(alert, db)
    assert len(slack.calls_to("chat.update")) == 3


def test_a_flood_of_new_incidents_becomes_one_digest(db, slack) -> None:
    clock = Clock()
    client = web_client("xoxb-test", slack.url)
    spokes = [f"198.51.100.{i}" for i in range(1, 16)]
    ingest_all(db, [line for spoke in spokes for line in burst("hub-1", HUB, spoke)])
    alert = alerter(db, SlackAlerts(lambda: client), {"C1": False}, clock, flood=10)
    run(alert, db)
    posted = slack.calls_to("chat.postMessage")
    assert len(posted) == 11
    digest = posted[-1]
    assert digest["text"] == "5 peers failing at once on hub-1: look at this box first"
    assert shown_text(digest).count("198.51.100.") == 5
    # everything goes quiet: the ten alerts and the digest are each marked resolved once
    clock.advance(minutes=16)
    run(alert, db)
    updates = slack.calls_to("chat.update")
    assert len(updates) == 11
    assert sum(u["text"].startswith("Resolved: 5 peers") for u in updates) == 1


def test_a_lone_rekey_race_closes_by_itself_without_an_alert(db, slack) -> None:
    clock = Clock()
    client = web_client("xoxb-test", slack.url)
    race = ios("hub1", "203.0.113.9", "198.51.100.44", "0x1F00BA77")
    ingest_all(db, [race])
    alert = alerter(db, SlackAlerts(lambda: client), {"C1": False, "C2": True}, clock)
    run(alert, db)
    assert [c["channel"] for c in slack.calls_to("chat.postMessage")] == ["C2"]
    clock.advance(minutes=16)
    run(alert, db)
    with Store(db) as store:
        (incident,) = store.incidents()
    assert incident.status == "resolved" and incident.fixed_by is None


def test_sender_supplied_names_are_escaped_in_the_alert(db, slack) -> None:
    clock = Clock()
    client = web_client("xoxb-test", slack.url)
    # no host in the lines: the sender names the device
    lines = [line.split(b" ", 2)[2] for line in burst("x", HUB, SPOKE)]
    ingest_all(db, lines, source="<!channel> & *bold*")
    run(alerter(db, SlackAlerts(lambda: client), {"C1": False}, clock), db)
    (posted,) = slack.calls_to("chat.postMessage")
    assert "<!channel>" not in shown_text(posted)
    assert "&lt;!channel&gt; &amp; *bold*" in shown_text(posted)


def test_listen_prints_one_json_line_per_alert_event(db) -> None:
    clock = Clock()
    out = io.StringIO()
    alert = alerter(db, JsonLines(out), {"stdout": False}, clock)
    ingest_all(db, [ios("hub1", HUB, SPOKE, second=s) for s in range(4)])
    run(alert, db)
    clock.advance(minutes=16)
    run(alert, db)
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["event"] for e in events] == ["alert", "resolved"]
    assert events[0]["cause"] == "sa-out-of-sync" and events[0]["devices"] == ["hub1"]
    assert events[0]["incident"]["peer"] == SPOKE and events[0]["ref"] == events[1]["ref"]
    assert events[1]["state"] == "resolved"


# -- the queue ---------------------------------------------------------------------------------------
def test_lines_no_recogniser_reads_are_counted_and_never_queued(db) -> None:
    ingest = Ingest(opener(db), quiet=QUIET)
    before = metrics.INGEST_LINES.labels("syslog")._value.get()
    chatter = [b"<13>Nov 29 10:00:00 sw1 %LINK-3-UPDOWN: Interface Gi0/1, changed state to up"]
    assert ingest.offer(chatter * 1000, "10.0.0.1", framed=True) == 1000
    assert ingest.room() == ingest._capacity
    assert metrics.INGEST_LINES.labels("syslog")._value.get() == before + 1000


def test_a_full_queue_drops_and_counts_and_never_blocks(db) -> None:
    ingest = Ingest(opener(db), quiet=QUIET, capacity=100)  # not started: nothing drains it
    full = metrics.INGEST_DROPPED.labels("queue_full")._value.get()
    flood = metrics.INGEST_DROPPED.labels("flood")._value.get()
    start = time.monotonic()
    # each new sender's share is the queue over the senders waiting, plus room for one more
    assert ingest.offer([ios("hub1", HUB, SPOKE)] * 80, "10.0.0.1", framed=False) == 50
    assert ingest.offer([ios("hub2", HUB, "203.0.113.9")] * 80, "10.0.0.2", framed=False) == 33
    assert ingest.offer([ios("hub3", HUB, "203.0.113.10")] * 5, "10.0.0.3", framed=False) == 5
    assert ingest.offer([ios("hub4", HUB, "203.0.113.11")] * 20, "10.0.0.4", framed=False) == 12
    assert time.monotonic() - start < 1
    assert metrics.INGEST_DROPPED.labels("flood")._value.get() == flood + 30 + 47
    assert metrics.INGEST_DROPPED.labels("queue_full")._value.get() == full + 8
    assert ingest.room() == 0


def test_long_frames_are_cut_before_they_are_queued(db) -> None:
    ingest = Ingest(opener(db), quiet=QUIET)  # not started: what the queue holds
    big = ios("hub1", HUB, SPOKE) + b" " + b"A" * 65000
    assert ingest.offer([big] * 100, "10.0.0.1", framed=True) == 100
    assert {len(item) for item, *_ in ingest._take()} == {16 * 1024}


def test_an_unexpected_error_loses_one_batch_and_the_writer_goes_on(db, monkeypatch) -> None:
    from bot.feed import ingest as module

    real = module.sort_batch
    calls = []

    def fails_once(received):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a recogniser bug on one odd line")
        return real(received)

    monkeypatch.setattr(module, "sort_batch", fails_once)
    lost = metrics.INGEST_DROPPED.labels("not_written")._value.get()
    ingest_all(db, burst("hub1", HUB, SPOKE), burst("hub2", HUB, "203.0.113.9"))
    assert metrics.INGEST_DROPPED.labels("not_written")._value.get() == lost + 3
    with Store(db) as store:
        assert [i.device for i in store.incidents()] == ["hub2"]


def test_a_locked_database_loses_the_batch_loudly_and_the_next_one_is_written(db) -> None:
    ingest = Ingest(lambda: Store(db, busy_ms=50), quiet=QUIET, batch_seconds=0.01)
    ingest.start()
    lost = metrics.INGEST_DROPPED.labels("not_written")._value.get()
    try:
        with Store(db) as holder, holder.writing("hold the lock"):
            ingest.offer([ios("hub1", HUB, SPOKE)], "10.0.0.1", framed=False)
            assert ingest.drained(10)
        assert metrics.INGEST_DROPPED.labels("not_written")._value.get() == lost + 1
        ingest.offer([ios("hub1", HUB, SPOKE)], "10.0.0.1", framed=False)
        assert ingest.drained(10)
    finally:
        ingest.stop()
    with Store(db) as store:
        assert [i.event_count for i in store.incidents()] == [1]


def test_junk_and_odd_unicode_are_taken_without_harm(db) -> None:
    junk = [
        b"\x00\xff\xfe" * 100,
        b"%CRYPTO-4-RECVD_PKT_INV_SPI\x00\x01",
        "%CRYPTO-4-RECVD_PKT_INV_SPI \u202e\ufeff".encode(),
        b"%" * 5000,
    ]
    before = metrics.INGEST_DROPPED.labels("not_text")._value.get()
    ingest_all(db, junk)
    with Store(db) as store:
        assert store.incidents() == []
    # the tagged line holding a NUL
    assert metrics.INGEST_DROPPED.labels("not_text")._value.get() == before + 1


# -- /spi alerts ------------------------------------------------------------------------------------
def test_spi_alerts_turns_a_channel_on_and_off_over_the_alert_channel_setting(
    db, monkeypatch
) -> None:
    monkeypatch.setenv("SPIBOT_ALERT_CHANNEL", "CDEFAULT")
    with Store(db) as store:
        state = SlackState(store)
        assert state.alert_channels("CDEFAULT") == {"CDEFAULT": False}
        said = spi_command.run(store, "alerts", state=state, channel="C1", user="U1")
        assert said.text.startswith("This channel gets no feed alerts")
        spi_command.run(store, "alerts here", state=state, channel="C1", user="U1")
        spi_command.run(store, "alerts  HERE   all", state=state, channel="C2", user="U1")
        spi_command.run(store, "alerts off", state=state, channel="CDEFAULT", user="U1")
        assert state.alert_channels("CDEFAULT") == {"C1": False, "C2": True}
        said = spi_command.run(store, "alerts", state=state, channel="C2", user="U1")
        assert "lone rekey races too" in said.text
        wrong = spi_command.run(store, "alerts everywhere", state=state, channel="C1", user="U1")
        assert wrong.text == "Usage: /spi alerts here|here all|off"


def test_a_fix_from_the_alert_shows_in_it_and_an_undo_opens_it_again_in_place(db, slack) -> None:
    clock = Clock()
    client = web_client("xoxb-test", slack.url)
    ingest_all(db, burst("hub1", HUB, SPOKE))
    alert = alerter(db, SlackAlerts(lambda: client), {"C1": False}, clock)
    run(alert, db)
    with Store(db) as store:
        (incident,) = store.incidents()
        store.resolve(incident.id, "sa-out-of-sync", author="U123")
    clock.advance(seconds=30)
    run(alert, db)
    (resolved,) = slack.calls_to("chat.update")
    assert "fixed by" in resolved["text"] and "<@U123>" in shown_text(resolved)
    with Store(db) as store:
        store.reopen(incident.id)
    clock.advance(seconds=30)
    run(alert, db)
    updates = slack.calls_to("chat.update")
    assert len(updates) == 2 and not updates[1]["text"].startswith("Resolved")
    assert len(slack.calls_to("chat.postMessage")) == 1


def test_details_under_an_alert_come_from_the_incident_lines(db) -> None:
    from bot.background import Background
    from bot.listeners import details
    from bot.listeners.deps import Deps, Stores
    from tests.test_listeners import CONTEXT, Ack, FakeClient, Inline

    ingest_all(db, burst("hub1", HUB, SPOKE))
    with Store(db) as store:
        (incident,) = store.incidents()
    stores = Stores(str(db), per_workspace=False, busy_ms=None)
    deps = Deps(stores, Stores(str(db), per_workspace=False, busy_ms=None), Background(Inline()))
    client = FakeClient()
    body = {"user": {"id": "U1"}, "channel": {"id": "C1"}, "message": {"ts": "1.2"}}
    action = {"action_id": "spi_details", "value": json.dumps({"incident": incident.id})}
    details.on_details(Ack(), body, action, client, CONTEXT, deps)
    (posted,) = client.to("chat_postMessage")
    assert posted["thread_ts"] == "1.2" and "show crypto isakmp sa" in json.dumps(posted["blocks"])
    with Store(db, team="T2") as store:  # another workspace finds no lines by this id
        assert store.feed.lines(incident.id) == []


@pytest.mark.slow
def test_the_cli_loads_no_metrics_before_serve_sets_their_directory() -> None:
    """prometheus-client reads PROMETHEUS_MULTIPROC_DIR once, when first imported: `spibot
    serve --http` sets it after the CLI (and so `spibot listen`'s module) is loaded."""
    import subprocess
    import sys

    code = "import sys, bot.cli; print('prometheus_client' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_stopping_writes_what_was_received_and_sends_its_alert(db) -> None:
    from bot.feed.runner import Feed, FeedConfig

    out = io.StringIO()
    config = FeedConfig(
        db, "", [], None, QUIET, 10, round_seconds=30, channels=lambda store: {"stdout": False}
    )
    feed = Feed(config, JsonLines(out))
    feed.start()
    feed.ingest.offer(burst("hub1", HUB, SPOKE), "10.0.0.9", framed=False)
    feed.stop()  # at once: nothing was written or sent yet
    (alert,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert alert["event"] == "alert" and alert["incident"]["event_count"] == 3


@pytest.mark.slow
def test_a_backlog_is_written_in_bounded_batches(db, monkeypatch) -> None:
    from bot.feed import ingest as module

    ingest = Ingest(opener(db), quiet=QUIET)
    lines = [ios("hub1", HUB, SPOKE, second=i % 60) for i in range(25_000)]
    assert ingest.offer(lines, "10.0.0.1", framed=False) == 25_000
    sizes = []
    real = module.sort_batch
    monkeypatch.setattr(module, "sort_batch", lambda got: sizes.append(len(got)) or real(got))
    ingest.start()
    try:
        assert ingest.drained(60)
    finally:
        ingest.stop()
    assert sizes == [10_000, 10_000, 5_000]
    with Store(db) as store:
        (incident,) = store.incidents()
        assert incident.event_count == 25_000 and len(store.feed.lines(incident.id)) == 300
