"""Feed mode end to end: `logger` sends both ends of a tunnel, the fake Slack gets one alert,
one update and the resolution; `spibot listen` prints its alerts as JSON lines."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta

import pytest

from bot.delivery import web_client
from bot.feed.runner import Feed, FeedConfig
from bot.feed.slack_alerts import SlackAlerts
from kb.store import Store
from tests.conftest import wait_until
from tests.fakeslack import FakeSlack
from tests.slack_harness import ServeProcess

pytestmark = pytest.mark.slow
HUB, SPOKE = "192.0.2.1", "198.51.100.7"


def ios(device: str, local: str, peer: str, spi: str, second: int) -> str:
    """An IOS message as a router with `logging origin-id hostname` sends it."""
    return (
        f"{second + 40}: {device}: *Nov 29 10:00:{second:02d}.113: %CRYPTO-4-RECVD_PKT_INV_SPI: "
        f"decaps: rec'd IPSEC packet has invalid spi for destaddr={local}, prot=50, "
        f"spi={spi}({int(spi, 16)}), srcaddr={peer}, input interface=GigabitEthernet0/0/0"
    )


def logger(port: int, transport: str, *messages: str) -> None:
    how = ["-d"] if transport == "udp" else ["-T", "--octet-count"]
    command = ["logger", "-n", "127.0.0.1", "-P", str(port), *how, "--rfc5424", "-t", "ios"]
    for message in messages:
        subprocess.run([*command, "--", message], check=True, timeout=10)


def blocks_text(call: dict) -> str:
    found = call["blocks"]
    return found if isinstance(found, str) else json.dumps(found)


def test_a_burst_from_both_ends_is_one_alert_one_update_one_resolution(tmp_path) -> None:
    slack = FakeSlack().start()
    db = tmp_path / "kb.db"
    Store(db).close()
    client = web_client("xoxb-test", slack.url)
    config = FeedConfig(
        db,
        "",
        ["udp://127.0.0.1:0", "tcp://127.0.0.1:0"],
        None,
        quiet=timedelta(seconds=4),
        flood=10,
        update_every=timedelta(seconds=2),
        round_seconds=0.2,
        batch_seconds=0.05,
        channels=lambda store: {"CALERTS": False},
    )
    feed = Feed(config, SlackAlerts(lambda: client))
    feed.start()
    try:
        ports = {transport: port for transport, _, port in feed.receivers.addresses}
        logger(
            ports["udp"], "udp", *(ios("hub1", HUB, SPOKE, "0x5A3D1F2C", s) for s in (1, 21, 41))
        )
        (alert,) = slack.wait_for("chat.postMessage", 1)
        assert alert["channel"] == "CALERTS"
        assert "SAs out of sync on 198.51.100.7" in alert["text"]
        assert "3 invalid-SPI lines from hub1" in blocks_text(alert)
        # the other end, over TCP: the same incident, one update in place
        logger(ports["tcp"], "tcp", *(ios("spoke7", SPOKE, HUB, "0x11223344", s) for s in (2, 22)))
        (update,) = slack.wait_for("chat.update", 1)
        assert update["channel"] == "CALERTS"
        assert "5 invalid-SPI lines from hub1, spoke7" in blocks_text(update)
        resolution = slack.wait_for("chat.update", 2, timeout=20)[1]
        assert resolution["ts"] == update["ts"] and resolution["text"].startswith("Resolved")
        time.sleep(1.5)  # nothing more comes
        assert len(slack.calls_to("chat.postMessage")) == 1
        assert len(slack.calls_to("chat.update")) == 2
    finally:
        feed.stop()
        slack.stop()
    with Store(db) as store:
        (incident,) = store.incidents()
    assert incident.event_count == 5 and incident.status == "resolved"
    assert incident.spis == ["0x11223344", "0x5A3D1F2C"]


def test_listen_prints_alerts_as_json_lines_and_stops_cleanly_on_sigterm(tmp_path) -> None:
    env = {**os.environ, "SPIBOT_DB": str(tmp_path / "kb.db"), "HOME": str(tmp_path)}
    env.pop("SPIBOT_SYSLOG", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "listen", "--syslog", "udp://127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        said = proc.stderr.readline()
        port = int(re.search(r"udp://127\.0\.0\.1:(\d+)", said).group(1))
        logger(port, "udp", *(ios("hub1", HUB, SPOKE, "0x5A3D1F2C", s) for s in (1, 21, 41)))
        first = json.loads(proc.stdout.readline())
        assert first["event"] == "alert" and first["cause"] == "sa-out-of-sync"
        assert first["incident"]["peer"] == SPOKE and first["devices"] == ["hub1"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    with Store(tmp_path / "kb.db") as store:
        assert [i.event_count for i in store.incidents()] == [3]


def test_serve_http_takes_syslog_and_post_ingest_and_alerts_the_channel(tmp_path) -> None:
    slack = FakeSlack().start()
    token = "ingest-token-0123456789"
    server = ServeProcess(
        slack,
        tmp_path / "kb.db",
        "--syslog",
        "udp://127.0.0.1:0",
        env={"SPIBOT_INGEST_TOKEN": token, "SPIBOT_ALERT_CHANNEL": "CFEED"},
    )
    try:
        said = wait_until(
            lambda: next((x for x in server.log if "receiving syslog on udp://" in x), ""),
            what="the syslog listener",
        )
        port = int(re.search(r"udp://127\.0\.0\.1:(\d+)", said).group(1))
        body = "\n".join(
            json.dumps({"message": ios("hub1", HUB, SPOKE, "0x5A3D1F2C", s), "host": "hub1"})
            for s in (1, 21, 41)
        )
        request = urllib.request.Request(
            f"http://127.0.0.1:{server.port}/ingest",
            data=body.encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.loads(response.read())["accepted"] == 3
        (first,) = slack.wait_for("chat.postMessage", 1, timeout=15)
        assert first["channel"] == "CFEED" and "198.51.100.7" in first["text"]
        logger(
            port, "udp", *(ios("hub2", HUB, "203.0.113.5", "0x0000BEEF", s) for s in (3, 23, 43))
        )
        second = slack.wait_for("chat.postMessage", 2, timeout=15)[1]
        assert "203.0.113.5" in second["text"]

        def counted() -> str:
            exposition = server.get("/metrics")[1]
            return exposition if 'spibot_alerts_total{kind="post"} 2.0' in exposition else ""

        exposition = wait_until(counted, what="the alerts to be counted")
        assert 'spibot_ingest_lines_total{door="http"} 3.0' in exposition
        assert 'spibot_ingest_lines_total{door="syslog"} 3.0' in exposition
    finally:
        server.stop()
        slack.stop()


def test_listen_on_a_taken_http_port_says_so_in_one_line(tmp_path) -> None:
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    env = {
        **os.environ,
        "SPIBOT_DB": str(tmp_path / "kb.db"),
        "HOME": str(tmp_path),
        "SPIBOT_INGEST_TOKEN": "t0ken",
    }
    port = taken.getsockname()[1]
    done = subprocess.run(
        [sys.executable, "-m", "bot", "listen", "--http", f"127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=30,
    )
    taken.close()
    assert done.returncode == 2
    assert (
        done.stderr == f"error: cannot listen on http://127.0.0.1:{port}: Address already in use\n"
    )
