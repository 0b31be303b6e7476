"""bot/feed/receivers.py: real senders (util-linux logger, Python sockets, an ssl client) against
the UDP, TCP and TLS listeners, and what bad senders cannot do to the others."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from bot.feed.receivers import Endpoint, Receivers, parse_endpoint
from kb.feed.syslog import read_frame
from kb.scan import parse_text
from tests.conftest import wait_until

MESSAGE = (
    "%CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid spi for "
    "destaddr=192.0.2.10, prot=50, spi=0x9E6D41B7(2657960375), srcaddr=198.51.100.20"
)
IOS = f"<189>45: *Nov 29 10:00:01.123: {MESSAGE}".encode()


class FakeSink:
    """Records every offer; refuses nothing unless told how many to take."""

    def __init__(self, take: int | None = None) -> None:
        self.calls: list[tuple[list[bytes], str, bool]] = []
        self.take = take
        self.lock = threading.Lock()

    def offer(self, items, source: str, *, framed: bool) -> int:
        with self.lock:
            self.calls.append((list(items), source, framed))
        return len(items) if self.take is None else min(self.take, len(items))

    def room(self) -> int:
        return 1 << 20

    @property
    def frames(self) -> list[bytes]:
        with self.lock:
            return [f for items, _, _ in self.calls for f in items]

    def sources(self) -> set[str]:
        with self.lock:
            return {source for _, source, _ in self.calls}


def dropped(reason: str) -> float:
    return REGISTRY.get_sample_value("spibot_ingest_dropped_total", {"reason": reason}) or 0.0


@pytest.fixture
def sink() -> FakeSink:
    return FakeSink()


@pytest.fixture
def receivers(sink: FakeSink):
    with Receivers(
        [parse_endpoint("udp://127.0.0.1:0"), parse_endpoint("tcp://127.0.0.1:0")],
        sink,
        idle_timeout=0.3,
    ) as started:
        yield started


def port(receivers: Receivers, transport: str) -> int:
    return next(p for t, _, p in receivers.addresses if t == transport)


def tcp(receivers: Receivers, transport: str = "tcp") -> socket.socket:
    return socket.create_connection(("127.0.0.1", port(receivers, transport)), timeout=5)


def udp_send(receivers: Receivers, data: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(data, ("127.0.0.1", port(receivers, "udp")))


def closed_by_server(conn: socket.socket, timeout: float = 5) -> bool:
    conn.settimeout(timeout)
    try:
        return conn.recv(1) == b""
    except ConnectionResetError:
        return True


# --- addresses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        ("udp://0.0.0.0:5514", Endpoint("udp", "0.0.0.0", 5514)),
        ("tcp://127.0.0.1:0", Endpoint("tcp", "127.0.0.1", 0)),
        ("TLS://[::]:6514", Endpoint("tls", "::", 6514)),
        ("udp://[2001:db8::1]:514", Endpoint("udp", "2001:db8::1", 514)),
        (" tcp://localhost:5514/ ", Endpoint("tcp", "localhost", 5514)),
    ],
)
def test_addresses_read(url: str, endpoint: Endpoint) -> None:
    assert parse_endpoint(url) == endpoint
    assert parse_endpoint(str(endpoint)) == endpoint


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("0.0.0.0:5514", "expected udp://HOST:PORT"),
        ("http://0.0.0.0:5514", "unknown transport 'http'"),
        ("udp://0.0.0.0", "no port"),
        ("udp://:5514", "no host"),
        ("tcp://0.0.0.0:65536", "out of range"),
        ("tcp://0.0.0.0:port", "expected udp://HOST:PORT"),
        ("tcp://::1:5514", "expected udp://HOST:PORT"),
        ("tcp://[example.com]:5514", "IPv6 address"),
        ("tcp://user@0.0.0.0:5514", "only a host and a port"),
        ("tcp://0.0.0.0:5514/path", "only a host and a port"),
    ],
)
def test_bad_addresses_say_what_is_wrong(url: str, says: str) -> None:
    with pytest.raises(ValueError, match="syslog address") as error:
        parse_endpoint(url)
    assert says in str(error.value) and repr(url) in str(error.value)


def test_a_taken_port_is_an_error_naming_the_address_and_binds_nothing(sink) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        receivers = Receivers(
            [parse_endpoint("udp://127.0.0.1:0"), parse_endpoint(f"tcp://127.0.0.1:{busy}")], sink
        )
        with pytest.raises(OSError, match=f"cannot listen on tcp://127.0.0.1:{busy}: "):
            receivers.start()
    udp_port = receivers.addresses[0][2]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as again:
        again.bind(("127.0.0.1", udp_port))  # the UDP socket bound first was closed


def test_tls_without_a_certificate_is_refused_up_front(sink) -> None:
    with pytest.raises(ValueError, match="SPIBOT_SYSLOG_TLS_CERT"):
        Receivers([parse_endpoint("tls://127.0.0.1:0")], sink)


def test_a_missing_certificate_names_the_files(sink, tmp_path: Path) -> None:
    cert, key = tmp_path / "no-cert.pem", tmp_path / "no-key.pem"
    receivers = Receivers([parse_endpoint("tls://127.0.0.1:0")], sink, tls=(str(cert), str(key)))
    with pytest.raises(OSError, match=r"no-cert\.pem"):
        receivers.start()


# --- real clients: logger --------------------------------------------------------------------


@pytest.mark.parametrize(
    "how",
    [
        ["--udp", "--rfc3164"],
        ["--udp", "--rfc5424"],
        ["--tcp", "--rfc3164"],
        ["--tcp", "--rfc5424"],
        ["--tcp", "--rfc5424", "--octet-count"],
        ["--tcp", "--rfc3164", "--octet-count"],
    ],
    ids=" ".join,
)
def test_logger_reaches_the_recogniser(receivers, sink, how: list[str]) -> None:
    transport = "udp" if "--udp" in how else "tcp"
    args = ["-n", "127.0.0.1", "-P", str(port(receivers, transport)), *how, "-t", "ios"]
    subprocess.run(["logger", *args, "--", MESSAGE], check=True, timeout=10)
    subprocess.run(["logger", *args, "--", "an ordinary line"], check=True, timeout=10)
    frames = wait_until(lambda: len(sink.frames) >= 2 and sink.frames, what="two frames")
    assert sink.sources() == {"127.0.0.1"}
    assert all(framed for _, _, framed in sink.calls)
    read = read_frame(frames[0], "127.0.0.1")
    (event,) = parse_text(read.line)
    assert (event.kind, event.peer, event.spi) == ("invalid_spi", "198.51.100.20", "0x9E6D41B7")
    assert event.device == socket.gethostname().split(".")[0] == read.device
    assert event.time and event.time == read.time
    assert read_frame(frames[1], "127.0.0.1").line.endswith(" an ordinary line")


# --- UDP ------------------------------------------------------------------------------------


def test_a_datagram_is_one_frame_without_its_trailing_newline(receivers, sink) -> None:
    udp_send(receivers, IOS + b"\r\n")
    udp_send(receivers, b"<13>two\nlines without PRI\n")
    udp_send(receivers, IOS + b"\n" + IOS + b"\n<13>third\n")  # a relay's batch
    wait_until(lambda: len(sink.frames) >= 5, what="five frames")
    assert sink.frames == [IOS, b"<13>two\nlines without PRI", IOS, IOS, b"<13>third"]


def test_binary_datagrams_are_counted_and_the_next_one_arrives(receivers, sink) -> None:
    before = dropped("not_text")
    udp_send(receivers, b"\x00\x01\x02\xff" * 100)
    udp_send(receivers, bytes(1000))
    udp_send(receivers, IOS)
    wait_until(lambda: sink.frames, what="the real line")
    assert sink.frames == [IOS]
    assert dropped("not_text") - before == 2


def test_the_largest_datagram_arrives_whole(receivers, sink) -> None:
    big = b"<13>" + b"x" * (65507 - 4)  # the largest UDP payload over IPv4
    udp_send(receivers, big)
    assert wait_until(lambda: sink.frames) == [big]


def test_udp_over_ipv6_keeps_the_senders_address(sink) -> None:
    with Receivers([parse_endpoint("udp://[::1]:0")], sink) as receivers:
        ((_, host, bound),) = receivers.addresses
        assert host == "::1" and bound > 0
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.sendto(IOS, ("::1", bound))
        wait_until(lambda: sink.frames)
    assert sink.sources() == {"::1"}


# --- TCP ------------------------------------------------------------------------------------


def test_a_read_of_many_frames_is_one_sink_call(receivers, sink) -> None:
    lines = [b"<13>line %d" % i for i in range(5000)]
    with tcp(receivers) as conn:
        conn.sendall(b"".join(line + b"\n" for line in lines))
    wait_until(lambda: len(sink.frames) == 5000, what="5,000 frames")
    assert sink.frames == lines
    assert len(sink.calls) < 100  # reads of up to 256 KiB, not a call per frame


def test_line_and_counted_frames_mix_on_one_connection(receivers, sink) -> None:
    with tcp(receivers) as conn:
        conn.sendall(IOS + b"\r\n" + b"%d %s" % (len(IOS), IOS) + b"<13>last, no LF")
    wait_until(lambda: len(sink.frames) == 3, what="three frames")
    assert sink.frames == [IOS, IOS, b"<13>last, no LF"]


def test_oversize_frames_are_counted_and_the_stream_goes_on(receivers, sink) -> None:
    before = dropped("too_long")
    huge = b"<13>" + b"x" * 100_000
    with tcp(receivers) as conn:
        conn.sendall(huge + b"\n" + IOS + b"\n" + b"%d %s" % (len(huge), huge) + IOS + b"\n")
    wait_until(lambda: len(sink.frames) == 2, what="two frames")
    assert sink.frames == [IOS, IOS]
    assert dropped("too_long") - before == 2


def test_a_counted_frame_cut_by_the_close_is_counted_unfinished(receivers, sink) -> None:
    before = dropped("unfinished")
    with tcp(receivers) as conn:
        conn.sendall(IOS + b"\n" + b"%d %s" % (len(IOS), IOS[:50]))
    wait_until(lambda: dropped("unfinished") > before, what="the count")
    assert sink.frames == [IOS]
    assert dropped("unfinished") - before == 1


def test_a_client_that_never_finishes_a_frame_is_closed(receivers, sink) -> None:
    before = dropped("unfinished")
    quiet = tcp(receivers)  # connected, sends nothing: a router between messages
    stuck = tcp(receivers)
    stuck.sendall(b"%d %s" % (len(IOS), IOS[:20]))
    assert closed_by_server(stuck)  # idle_timeout=0.3 in the fixture
    assert dropped("unfinished") - before == 1
    quiet.sendall(IOS + b"\n")  # still open after the timeout
    assert wait_until(lambda: sink.frames) == [IOS]
    quiet.close()
    stuck.close()


def test_a_half_line_left_idle_is_delivered_when_the_connection_is_closed(receivers, sink) -> None:
    with tcp(receivers) as conn:
        conn.sendall(IOS)  # no LF, then silence
        assert closed_by_server(conn)
    assert sink.frames == [IOS]


def test_a_flood_from_one_connection_does_not_stop_other_senders(receivers, sink) -> None:
    stop = threading.Event()
    flood = tcp(receivers)
    junk = (b"<13>flood " + b"y" * 200 + b"\n") * 2000 + b"\x00" * 1000 + b"z" * 70_000 + b"\n"

    def pour() -> None:
        try:
            while not stop.is_set():
                flood.sendall(junk)
        except OSError:
            pass

    pourer = threading.Thread(target=pour)
    pourer.start()
    try:
        wait_until(lambda: len(sink.frames) > 10_000, what="the flood")
        started = time.monotonic()
        with tcp(receivers) as other:
            other.sendall(b"<13>from the other sender\n")
            wait_until(lambda: b"<13>from the other sender" in sink.frames, what="the TCP sender")
        udp_send(receivers, b"<13>from a UDP sender")
        wait_until(lambda: b"<13>from a UDP sender" in sink.frames, what="the UDP sender")
        assert time.monotonic() - started < 5
    finally:
        stop.set()
        flood.close()
        pourer.join()


def test_connections_past_the_cap_are_closed_and_the_others_still_work(sink) -> None:
    with Receivers([parse_endpoint("tcp://127.0.0.1:0")], sink, max_connections=2) as receivers:
        first, second = tcp(receivers), tcp(receivers)
        first.sendall(b"<13>one\n")
        wait_until(lambda: sink.frames)
        third = tcp(receivers)
        assert closed_by_server(third)
        second.sendall(b"<13>two\n")
        wait_until(lambda: len(sink.frames) == 2)
        first.close()
        time.sleep(0.1)
        fourth = tcp(receivers)  # a place was freed
        fourth.sendall(b"<13>four\n")
        wait_until(lambda: len(sink.frames) == 3)
        for conn in (second, third, fourth):
            conn.close()
    assert sink.frames == [b"<13>one", b"<13>two", b"<13>four"]


def test_a_full_sink_pauses_the_sender_and_reading_resumes(receivers) -> None:
    sink = FakeSink(take=0)
    receivers.sink = sink
    with tcp(receivers) as conn:
        conn.sendall(b"<13>refused\n")
        wait_until(lambda: sink.frames)
        sink.take = None
        conn.sendall(b"<13>taken\n")
        wait_until(lambda: len(sink.frames) == 2, what="the frame after the pause")


def test_stop_closes_connections_and_returns_promptly(sink) -> None:
    receivers = Receivers(
        [parse_endpoint("udp://127.0.0.1:0"), parse_endpoint("tcp://127.0.0.1:0")], sink
    )
    receivers.start()
    conn = tcp(receivers)
    conn.sendall(b"<13>hello\n")
    wait_until(lambda: sink.frames)
    started = time.monotonic()
    receivers.stop()
    assert time.monotonic() - started < 1
    assert closed_by_server(conn, timeout=2)
    conn.close()
    names = {t.name for t in threading.enumerate()}
    assert not any(name.startswith("syslog-") for name in names)


# --- TLS ------------------------------------------------------------------------------------


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[str, str]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"),
            *("-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext"),
            *("subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return str(cert), str(key)


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_tls_carries_counted_frames_and_plain_tcp_junk_does_not_hurt(sink, certificate) -> None:
    endpoints = [parse_endpoint("tls://127.0.0.1:0")]
    with Receivers(endpoints, sink, tls=certificate, idle_timeout=0.5) as receivers:
        with tcp(receivers, "tls") as plain:  # not TLS at all: the handshake fails, alone
            plain.sendall(b"<13>not tls\n" * 10)
            assert closed_by_server(plain)
        client = ssl.create_default_context(cafile=certificate[0])
        with client.wrap_socket(tcp(receivers, "tls"), server_hostname="localhost") as conn:
            assert conn.version() in ("TLSv1.2", "TLSv1.3")
            conn.sendall(b"%d %s" % (len(IOS), IOS) + b"<13>line framed\n")
            wait_until(lambda: len(sink.frames) == 2, what="two frames over TLS")
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
        old.maximum_version = ssl.TLSVersion.TLSv1_1
        with pytest.raises((ssl.SSLError, OSError)):
            old.wrap_socket(tcp(receivers, "tls")).close()
    assert sink.frames == [IOS, b"<13>line framed"]
    assert sink.sources() == {"127.0.0.1"}
