"""Junk HTTP is refused cheaply: through `spibot serve --http` itself, with raw sockets where a
well-behaved client library would not send what an attacker sends."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import sqlite3
import threading
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import psutil
import pytest

from bot.metrics import ERROR_KINDS
from bot.server import MAX_BODY_BYTES
from bot.worker import READ_DEADLINE_SECONDS
from tests.conftest import PASTES, wait_until
from tests.fakeslack import FakeSlack, command_body, event_body, sign
from tests.slack_harness import SECRET, ServeProcess, SlackHarness

PASTE = (PASTES / "out-of-sync.txt").read_text()
SMALL_LOG = 4096  # bytes a refused request may add to the log: a line or two, never a body


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    fake = FakeSlack().start()
    server = ServeProcess(fake, tmp_path_factory.mktemp("served") / "kb.db")
    yield server
    server.stop()
    fake.stop()


def exchange(port: int, head: bytes, body: Iterable[bytes] = (), timeout: float = 20) -> bytes:
    """Send a raw request, its body streamed from a thread as a client would, and read the
    answer until the server closes the connection: whatever arrived, even if it then reset."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)

    def send() -> None:
        with contextlib.suppress(OSError):
            sock.sendall(head)
            for chunk in body:
                sock.sendall(chunk)

    threading.Thread(target=send, daemon=True).start()
    answer = b""
    with contextlib.suppress(OSError):
        while chunk := sock.recv(65536):
            answer += chunk
    sock.close()
    return answer


def status_of(answer: bytes) -> int:
    found = re.match(rb"HTTP/1\.1 (\d{3}) ", answer)
    assert found, f"no HTTP answer: {answer[:200]!r}"
    return int(found.group(1))


def post_head(headers: dict[str, str | int]) -> bytes:
    lines = ["POST /slack/events HTTP/1.1", "Host: spibot", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def post(port: int, body: bytes, headers: dict[str, str | int]) -> bytes:
    return exchange(port, post_head({"Content-Length": len(body), **headers}) + body)


def signed(body: str, timestamp: int | None = None) -> dict[str, str]:
    return {"Content-Type": "application/json", **sign(SECRET, body, timestamp)}


def workers(server: ServeProcess, count: int = 1) -> list[int]:
    """The pids of the workers, once all `count` have started and one has answered."""
    server.get("/healthz")
    children = wait_until(
        lambda: len(found := psutil.Process(server.process.pid).children()) >= count and found,
        timeout=30,
        what=f"{count} worker(s) to start",
    )
    return sorted(child.pid for child in children)


def rss(server: ServeProcess) -> int:
    [pid] = workers(server)
    return psutil.Process(pid).memory_info().rss


def healthz(server: ServeProcess, timeout: float) -> int:
    url = f"http://127.0.0.1:{server.port}/healthz"
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status


def log_after(server: ServeProcess, size_before: int, refusals: int) -> str:
    """What the server logged since `size_before`, once it has logged `refusals` refusals: the
    worker's log lines cross a pipe and a reader thread."""
    return wait_until(
        lambda: (log := "".join(server.log)[size_before:]).count("refused ") >= refusals and log,
        what=f"{refusals} refusal(s) in the log",
    )


def test_an_oversized_body_is_refused_before_it_is_read(served: ServeProcess) -> None:
    before, logged = rss(served), served.log_size()
    promised = exchange(served.port, post_head({"Content-Length": 10**9}))  # and never sent
    assert status_of(promised) == 413 and b"Connection: close" in promised
    fifty_mb = (b"x" * 65536 for _ in range(800))
    streamed = exchange(served.port, post_head({"Content-Length": 800 * 65536}), fifty_mb)
    assert status_of(streamed) == 413
    chunked_head = post_head({"Transfer-Encoding": "chunked"})
    chunks = (b"10000\r\n" + b"y" * 65536 + b"\r\n" for _ in range(80))  # 5 MB, no length
    assert status_of(exchange(served.port, chunked_head, chunks)) == 413
    assert rss(served) - before < 20 * 2**20
    assert len(log_after(served, logged, refusals=3)) < SMALL_LOG
    assert served.get("/healthz")[0] == 200


def test_a_body_within_the_limit_is_served_chunked_or_not(served: ServeProcess) -> None:
    event = {"type": "message", "channel": "CCHUNK", "user": "U1", "text": PASTE, "ts": "1.000100"}
    body = event_body(event, "EvCHUNKED")
    half = len(body) // 2
    chunks = [body[:half].encode(), body[half:].encode()]
    framed = (b"%x\r\n%s\r\n" % (len(c), c) for c in [*chunks, b""])
    head = post_head({"Transfer-Encoding": "chunked", **signed(body)})
    assert status_of(exchange(served.port, head, framed)) == 200
    padded = json.dumps({**json.loads(body), "pad": "p" * (MAX_BODY_BYTES - len(body) - 20)})
    assert MAX_BODY_BYTES - 100 < len(padded) <= MAX_BODY_BYTES
    assert status_of(post(served.port, padded.encode(), signed(padded))) == 200


def test_an_unsigned_post_is_refused_in_one_line_without_its_body(served: ServeProcess) -> None:
    logged = served.log_size()
    body = json.dumps({"type": "event_callback", "junk": "Qx7" * 170_000}).encode()  # 500 KB
    unsigned = post(served.port, body, {"Content-Type": "application/json"})
    forged = post(served.port, body, {"Content-Type": "application/json", **sign("guess", "")})
    assert status_of(unsigned) == status_of(forged) == 401
    log = log_after(served, logged, refusals=2)
    assert len(log) < SMALL_LOG and "Qx7Qx7" not in log
    assert log.count("refused POST '/slack/events'") == 2 and "signature" in log


@pytest.mark.parametrize("timestamp", ["abc", "", "1e9", "-1", "12 34", "9" * 5000])
def test_a_malformed_timestamp_is_a_401_not_a_crash(served: ServeProcess, timestamp) -> None:
    logged = served.log_size()
    body = event_body({"type": "message", "text": "hi"}, "EvTS")
    headers = {**signed(body), "X-Slack-Request-Timestamp": timestamp}
    assert status_of(post(served.port, body.encode(), headers)) == 401
    log = log_after(served, logged, refusals=1)
    assert "Traceback" not in log and "Timestamp" in log


def test_made_up_payload_types_cannot_grow_the_metrics(served: ServeProcess) -> None:
    for i in range(150):
        # signed, so it reaches Bolt, whose middleware then fails on the malformed event
        body = json.dumps({"type": f"junk-{i}", "event": "not an object"})
        assert status_of(post(served.port, body.encode(), signed(body))) == 500
        unsigned = json.dumps({"type": f"unsigned-{i}"}).encode()
        bad_time = {"X-Slack-Request-Timestamp": f"t{i}"}
        assert status_of(post(served.port, unsigned, bad_time)) == 401
    exposition = served.get("/metrics")[1]
    series = re.findall(r'^spibot_errors_total\{where="([^"]*)"\} (\S+)', exposition, re.M)
    assert dict(series).get("other") == "150.0"
    assert {where for where, _ in series} <= ERROR_KINDS | {"other", "unknown"}


def test_serve_binds_to_loopback_unless_told_otherwise(tmp_path: Path) -> None:
    fake = FakeSlack().start()
    server = ServeProcess(fake, tmp_path / "kb.db", host=None)  # no --host
    try:
        # the line reports the address gunicorn actually bound
        assert f"listening on http://127.0.0.1:{server.port} " in server.first_line
    finally:
        server.stop()
        fake.stop()


def test_slow_clients_lose_their_thread_and_healthz_still_answers(tmp_path: Path) -> None:
    fake = FakeSlack().start()
    server = ServeProcess(fake, tmp_path / "kb.db")  # one worker, eight threads
    slow: list[socket.socket] = []
    stop = threading.Event()
    try:
        # gthread parks a connection in its event loop until it is readable: silent ones cost
        # no thread. One that has sent a byte gets a thread, which then blocks reading.
        pids = workers(server)
        threads_before = psutil.Process(pids[0]).num_threads()  # one request thread so far
        idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(20)]
        for i in range(12):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            if i % 2:  # headers a byte at a time
                sock.sendall(b"POST /slack/events HTTP/1.1\r\nX-Pad: ")
            else:  # a body slower than its Content-Length promised
                sock.sendall(post_head({"Content-Length": 100_000}) + b"{")
            slow.append(sock)

        def dribble() -> None:
            while not stop.wait(0.3):
                for sock in slow:
                    with contextlib.suppress(OSError):
                        sock.send(b"a")

        threading.Thread(target=dribble, daemon=True).start()
        # gthread starts a request thread per readable connection, up to its eight: once all
        # eight exist, every one of them is stuck reading a slow client.
        wait_until(
            lambda: psutil.Process(pids[0]).num_threads() >= threads_before + 7,
            what="every request thread to be stuck in a read",
        )
        assert healthz(server, timeout=3 * READ_DEADLINE_SECONDS) == 200
        for sock in slow:  # each was cut at its deadline: the server closed it
            with contextlib.suppress(ConnectionResetError):
                while sock.recv(65536):
                    pass
        assert workers(server) == pids  # no worker was killed or restarted meanwhile
        for sock in idle:
            sock.close()
    finally:
        stop.set()
        for sock in slow:
            sock.close()
        server.stop()
        fake.stop()


def test_expired_oauth_states_are_purged(tmp_path: Path) -> None:
    slack = SlackHarness(tmp_path, oauth=True)
    try:

        def install_state() -> str:
            status, page = slack.get("/slack/install")
            assert status == 200
            link = re.search(r'href="([^"]+oauth/v2/authorize[^"]+)"', page).group(1)
            return parse_qs(urlparse(link.replace("&amp;", "&")).query)["state"][0]

        first = install_state()
        with contextlib.closing(sqlite3.connect(slack.db)) as db, db:
            db.execute(
                "insert into oauth_states (state, expire_at) values ('abandoned', ?)",
                [time.time() - 1],
            )
        second = install_state()
        with contextlib.closing(sqlite3.connect(slack.db)) as db:
            states = {row[0] for row in db.execute("select state from oauth_states")}
        assert states == {first, second}
    finally:
        slack.close()


FREEZING = (
    "2020-01-01T00:00:00"
    + " " * 800
    + "!"
    + "%CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid spi for "
    "destaddr=192.0.2.1, prot=50, spi=0x5A3D1F2C(1513955116), srcaddr=198.51.100.7"
)


def runs_variant(size: int = 40_000) -> str:
    """Slack's longest message: runs of ' =', ' Grp ' and 'Peer ', each behind the tag whose
    pattern once retried on it from every position."""
    third = size // 3
    lines = [
        "%CRYPTO-4-RECVD_PKT_INV_SPI: destaddr" + " =" * third,
        "%HSRP-5-STATECHANGE:" + " Grp " * third,
        "%CRYPTO-5-SESSION_STATUS: Crypto tunnel is UP " + "Peer " * third,
    ]
    return "\n".join(lines)[:size]


def test_freezing_messages_leave_pastes_commands_and_health_answered(tmp_path: Path) -> None:
    fake = FakeSlack().start()
    server = ServeProcess(fake, tmp_path / "kb.db", "--workers", "2")
    unhealthy: list[str] = []
    checks: list[int] = []  # health checks answered or failed so far
    done = threading.Event()

    def watch_health() -> None:
        while not done.wait(0.25):
            try:
                status = healthz(server, timeout=5)  # a monitor gives up about then
            except OSError as exc:  # URLError and timeouts included
                status = repr(exc)
            if status != 200:
                unhealthy.append(str(status))
            checks.append(1)

    def acked_in_time(body: str, content_type: str) -> tuple[int, str]:
        # Slack's 3-second window for an ack is what a user sees (a timeout error in Slack),
        # so this wall-clock bound stays. It is 3 s because Slack's is; an ack takes a few
        # milliseconds here even on a loaded two-core machine.
        started = time.monotonic()
        status, answer = server.post(body, content_type)
        assert time.monotonic() - started < 3, "Slack would have given up on this ack"
        return status, answer

    try:
        pids = workers(server, 2)
        watcher = threading.Thread(target=watch_health)
        watcher.start()
        for i, text in enumerate([FREEZING, runs_variant()]):
            event = {"type": "message", "channel": "CX", "user": "U6", "text": text}
            assert len(text) <= 40_000
            body = event_body({**event, "ts": f"9.{i}"}, f"EvFREEZE{i}")
            assert acked_in_time(body, "application/json")[0] == 200
        good = {"type": "message", "channel": "CGOOD", "user": "U1", "text": PASTE, "ts": "8.1"}
        assert acked_in_time(event_body(good, "EvGOOD"), "application/json")[0] == 200
        status, answer = acked_in_time(
            command_body("198.51.100.7"), "application/x-www-form-urlencoded"
        )
        assert status == 200 and "198.51.100.7" in json.loads(answer)["text"]
        wait_until(
            lambda: any(c["channel"] == "CGOOD" for c in fake.calls_to("chat.postMessage")),
            what="the reply to the good paste",
        )
        # and health keeps answering for a few more checks after it
        checked = len(checks)
        wait_until(lambda: len(checks) >= checked + 4, what="four more health checks")
        done.set()
        watcher.join()
        assert unhealthy == []
        assert workers(server, 2) == pids
        assert "WORKER TIMEOUT" not in "".join(server.log)
    finally:
        done.set()
        server.stop()
        fake.stop()
