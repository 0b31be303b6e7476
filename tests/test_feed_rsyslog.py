"""A real rsyslogd, configured with the README's snippet, relays routers' syslog to spibot's TCP
listener: logger and raw router datagrams in, frames the recogniser reads out.

rsyslog is a Debian package (scripts/test installs it in CI). Without it the test fails in CI
(CI=true) and is skipped elsewhere, saying why.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from bot.feed.receivers import Receivers, parse_endpoint
from kb.feed.syslog import read_frame
from kb.scan import parse_text
from tests.conftest import ROOT, wait_until
from tests.test_feed_receivers import MESSAGE, FakeSink

RSYSLOGD = shutil.which("rsyslogd") or next(
    (p for p in ("/usr/sbin/rsyslogd", "/sbin/rsyslogd") if os.access(p, os.X_OK)), None
)
IN_CI = os.environ.get("CI", "").lower() not in ("", "false", "0")
ASA = (
    "<164>Nov 29 2026 10:00:01: %ASA-4-402114: IPSEC: Received an ESP packet (SPI= 0xDEADBEEF, "
    "sequence number= 0x1A) from 198.51.100.7 to 192.0.2.1 with an invalid SPI."
)


def readme_snippet() -> str:
    """The rsyslog configuration the README shows (the fenced block with the omfwd action)."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"^```\n(.*?)^```", readme, re.M | re.S)
    (snippet,) = [b for b in blocks if 'type="omfwd"' in b]
    return snippet


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_rsyslog_relays_routers_syslog_with_the_readme_config(tmp_path: Path) -> None:
    if RSYSLOGD is None:
        why = "rsyslogd is not installed (apt-get install rsyslog; scripts/test does in CI)"
        if IN_CI:
            pytest.fail(why)
        pytest.skip(why)
    snippet = readme_snippet()
    sink = FakeSink()
    with Receivers([parse_endpoint("tcp://127.0.0.1:0")], sink) as receivers:
        ((_, _, tcp_port),) = receivers.addresses
        udp_port = free_udp_port()
        # Only the addresses change: the README's listen port and spibot's host and port.
        for old in ('input(type="imudp" port="514"', 'target="spibot.example.net" port="5514"'):
            assert old in snippet, f"the README's rsyslog snippet no longer has {old}"
        config = snippet.replace(
            'input(type="imudp" port="514"',
            f'input(type="imudp" address="127.0.0.1" port="{udp_port}"',
        ).replace(
            'target="spibot.example.net" port="5514"', f'target="127.0.0.1" port="{tcp_port}"'
        )
        work = tmp_path / "work"
        work.mkdir()
        conf = tmp_path / "rsyslog.conf"
        conf.write_text(f'global(workDirectory="{work}")\n{config}')
        check = subprocess.run(
            [RSYSLOGD, "-N1", "-f", str(conf)], capture_output=True, text=True, timeout=30
        )
        assert check.returncode == 0, check.stdout + check.stderr
        daemon = subprocess.Popen(
            [RSYSLOGD, "-n", "-f", str(conf), "-i", str(tmp_path / "rsyslogd.pid")],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            logger = ["logger", "-n", "127.0.0.1", "-P", str(udp_port), "--udp"]

            def through() -> bool:  # rsyslog listens a moment after it starts
                subprocess.run([*logger, "-t", "probe", "ready"], check=True, timeout=10)
                return bool(sink.frames)

            wait_until(through, timeout=20, what="rsyslogd to relay a first line")
            before = len(sink.frames)

            def relayed() -> list[bytes]:  # a probe sent while waiting may arrive after `before`
                return [f for f in sink.frames[before:] if b"probe" not in f]

            subprocess.run([*logger, "--rfc3164", "-t", "ios", "--", MESSAGE], timeout=10)
            subprocess.run([*logger, "--rfc5424", "-t", "ios", "--", MESSAGE], timeout=10)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as router:
                router.sendto(
                    f"<189>45: hub1: *Nov 29 10:00:01.123: {MESSAGE}".encode(),
                    (
                        "127.0.0.1",
                        udp_port,
                    ),
                )
                router.sendto(ASA.encode(), ("127.0.0.1", udp_port))
            wait_until(lambda: len(relayed()) >= 4, timeout=20, what="four frames")
        finally:
            daemon.terminate()
            output = daemon.communicate(timeout=20)[0]
    assert sink.sources() == {"127.0.0.1"}, output
    events = []
    for frame in relayed():
        read = read_frame(frame, "127.0.0.1")
        (event,) = parse_text(read.line)
        events.append((event.device, event.peer, event.spi))
    host = socket.gethostname().split(".")[0]
    asa = [e for e in events if e[2] == "0xDEADBEEF"]
    assert sorted(e for e in events if e not in asa) == sorted(
        [
            (host, "198.51.100.20", "0x9E6D41B7"),
            (host, "198.51.100.20", "0x9E6D41B7"),
            ("hub1", "198.51.100.20", "0x9E6D41B7"),
        ]
    )
    # The ASA named no host: rsyslog puts the sender's, by name or address.
    ((device, peer, _),) = asa
    assert device in ("localhost", "127.0.0.1", host) and peer == "198.51.100.7"
