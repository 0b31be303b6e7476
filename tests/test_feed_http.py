"""POST /ingest with the bodies Vector, Fluent Bit and Logstash send, over real HTTP: the Slack
server's WSGI app on a stdlib server, `listen --http`'s own server, and gunicorn as `serve
--http` runs it; a recording Sink stands in for the ingest queue."""

from __future__ import annotations

import gzip
import http.client
import json
import logging
import re
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import psutil
import pytest
from prometheus_client import REGISTRY
from slack_bolt import App

from bot.feed.http_ingest import MAX_ITEMS, serve_ingest
from bot.server import wsgi_app
from kb.scan import parse_text
from tests.conftest import CLEAN_ENV
from tests.test_http_hardening import exchange as raw_exchange

TOKEN = "s3cret-ingest-token"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
IOS = (
    "%CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid spi for "
    "destaddr=192.0.2.1, prot=50, spi=0x5A3D1F2C(1513955116), srcaddr=198.51.100.7, "
    "input interface=GigabitEthernet0/0/0"
)
IOS_TAG, IOS_REST = IOS.split(": ", 1)
ASA = (
    "%ASA-4-402114: IPSEC: Received an ESP packet (SPI= 0xDEADBEEF, sequence number= 0x1A) "
    "from 203.0.113.9 to 192.0.2.1 with an invalid SPI."
)


class RecordingSink:
    """The Sink protocol, recording every offer; `room` is what room() answers."""

    def __init__(self, room: int = 1_000_000) -> None:
        self.offers: list[tuple[list[bytes], str, bool]] = []
        self.room_left = room
        self._lock = threading.Lock()

    def offer(self, items: Sequence[bytes], source: str, *, framed: bool) -> int:
        with self._lock:
            self.offers.append((list(items), source, framed))
        return len(items)

    def room(self) -> int:
        return self.room_left

    def lines(self) -> list[tuple[str, str]]:
        return [(source, item.decode()) for items, source, _ in self.offers for item in items]


def recognised(sink: RecordingSink) -> list[tuple[str, str | None, str | None, str | None]]:
    """(source, device, time, peer) of every invalid-SPI event in what the sink received, as
    the lead's Ingest reads it: the line through kb's recogniser, the source when it names no
    device."""
    found = []
    for source, line in sink.lines():
        for event in parse_text(line):
            if event.kind == "invalid_spi":
                found.append((source, event.device or source, event.time, event.peer))
    return found


# ---- servers and clients -------------------------------------------------------------------


class _Threading(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def get_environ(self) -> dict:
        environ = super().get_environ()
        if self.headers.get("Content-Type") is None:
            environ["CONTENT_TYPE"] = ""  # as gunicorn leaves it; wsgiref says text/plain
        return environ

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def serve_app(monkeypatch, tmp_path):
    """Start bot.server.wsgi_app (the Slack server's app) with an ingest Sink on a port."""
    servers: list[WSGIServer] = []

    def start(sink: RecordingSink | None, token: str | None = TOKEN, max_bytes: int = 65536):
        if token:
            monkeypatch.setenv("SPIBOT_INGEST_TOKEN", token)
        else:
            monkeypatch.delenv("SPIBOT_INGEST_TOKEN", raising=False)
        monkeypatch.setenv("SPIBOT_INGEST_MAX_BYTES", str(max_bytes))
        bolt = App(token="xoxb-test", signing_secret=SECRET, token_verification_enabled=False)
        application = wsgi_app(bolt, str(tmp_path / "kb.db"), SECRET, ingest=sink)
        server = make_server("127.0.0.1", 0, application, _Threading, _Quiet)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return server.server_address[:2]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def standalone():
    """`spibot listen --http`'s server."""
    started = []

    def start(sink: RecordingSink, max_bytes: int = 65536):
        server = serve_ingest("127.0.0.1", 0, sink, TOKEN, max_bytes)
        started.append(server)
        return server.address

    yield start
    for server in started:
        server.stop()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


def post(
    address,
    body: bytes | Iterable[bytes],
    content_type: str | None = "application/json",
    token: str | None = TOKEN,
    headers: dict[str, str] | None = None,
    path: str = "/ingest",
    method: str = "POST",
    chunked: bool = False,
) -> Answer:
    all_headers = {"Content-Type": content_type} if content_type else {}
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    all_headers.update(headers or {})
    connection = http.client.HTTPConnection(*address, timeout=60)
    try:
        connection.request(method, path, body=body, headers=all_headers, encode_chunked=chunked)
        response = connection.getresponse()
        return Answer(
            response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        )
    finally:
        connection.close()


def exchange(address, head: bytes, body: Iterable[bytes] = (), timeout: float = 30) -> bytes:
    """A raw request whose body a thread streams, and whatever answer arrives before the server
    closes (even if it then resets): what a collector sees when refused mid-body."""
    assert address[0] == "127.0.0.1"
    return raw_exchange(address[1], head, body, timeout)


def head(headers: dict[str, str | int], path: str = "/ingest") -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: spibot", f"Authorization: Bearer {TOKEN}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def status_of(answer: bytes) -> int:
    found = re.match(rb"HTTP/1\.[01] (\d{3}) ", answer)
    assert found, f"no HTTP answer: {answer[:200]!r}"
    return int(found.group(1))


def dropped_not_text() -> float:
    return REGISTRY.get_sample_value("spibot_ingest_dropped_total", {"reason": "not_text"}) or 0.0


def compact(record: dict) -> str:
    return json.dumps(record, separators=(",", ":"))


# ---- the collectors' bodies ----------------------------------------------------------------

# Vector's `syslog` source, per its reference (website/cue/reference/components/sources/
# syslog.cue, https://vector.dev/docs/reference/configuration/sources/syslog/): `hostname` is the
# name in the syslog header, `host` Vector's own host, `source_ip` the sender, `appname` the tag
# ("%CRYPTO-4-RECVD_PKT_INV_SPI"), `message` the rest, `timestamp` RFC 3339.
VECTOR_EVENTS = [
    {
        "appname": IOS_TAG,
        "facility": "local7",
        "host": "vector-1",
        "hostname": "rtr-a",
        "message": IOS_REST,
        "severity": "warning",
        "source_ip": "10.0.0.5",
        "source_type": "syslog",
        "timestamp": "2024-03-03T09:14:02.113Z",
    },
    {
        "facility": "local4",
        "host": "vector-1",
        "hostname": "asa-1",
        "message": ASA,
        "severity": "warning",
        "source_ip": "10.0.0.6",
        "source_type": "syslog",
        "timestamp": "2024-03-03T09:14:03Z",
    },
]
VECTOR_EXPECTED = [
    ("rtr-a", "rtr-a", "2024-03-03T09:14:02.113Z", "198.51.100.7"),
    ("asa-1", "asa-1", "2024-03-03T09:14:03Z", "203.0.113.9"),
]


def test_vector_http_sink_ndjson_and_json_array_gzipped(serve_app) -> None:
    # Vector's `http` sink (https://vector.dev/docs/reference/configuration/sinks/http/):
    # encoding.codec = "json" with framing.method = "newline_delimited" sends one compact object
    # a line; without the framing, one JSON array; compression = "gzip" adds Content-Encoding.
    sink = RecordingSink()
    address = serve_app(sink)
    # the README's config: NDJSON, gzip
    ndjson = "".join(compact(e) + "\n" for e in VECTOR_EVENTS).encode()
    gzipped = {"Content-Encoding": "gzip"}
    answer = post(address, gzip.compress(ndjson), "application/x-ndjson", headers=gzipped)
    assert (answer.status, answer.json()) == (200, {"accepted": 2, "skipped": 0})
    assert recognised(sink) == VECTOR_EXPECTED
    assert all(framed is False for _, _, framed in sink.offers)

    sink.offers.clear()
    array = ("[" + ",".join(compact(e) for e in VECTOR_EVENTS) + "]").encode()
    answer = post(address, array)
    assert (answer.status, answer.json()) == (200, {"accepted": 2, "skipped": 0})
    assert recognised(sink) == VECTOR_EXPECTED


def test_fluent_bit_http_output_json_json_lines_and_json_stream(serve_app) -> None:
    # Fluent Bit's `http` output (https://docs.fluentbit.io/manual/pipeline/outputs/http) with
    # `Format json` (one array), `json_lines` (one object a line) and `json_stream` (objects
    # back to back), shapes from https://docs.fluentbit.io/manual/pipeline/outputs/output_formats;
    # `date` is json_date_key's default, a float (json_date_format double) or ISO 8601.
    # The `syslog` input (https://docs.fluentbit.io/manual/pipeline/inputs/syslog) gives pri,
    # host, ident, pid, message (its example host keeps a colon: "edsiper:"); the stock
    # syslog-rfc3164 parser puts an IOS sequence number in `ident`, the rest in `message`. The
    # `udp` input with `Format none` keeps the whole line under `log`.
    syslog_input = {
        "date": 1709457242.113,
        "pri": "189",
        "time": "Mar  3 09:14:02",
        "host": "rtr-b:",
        "ident": "123",
        "pid": "",
        "message": f"*Mar  3 09:14:02.113: {IOS}",
    }
    udp_none = {"date": "2024-03-03T09:14:05.000000Z", "log": f"<188>Mar  3 09:14:05 rtr-c {IOS}"}
    expected = [
        ("rtr-b", "rtr-b", "Mar  3 09:14:02.113", "198.51.100.7"),
        ("127.0.0.1", "rtr-c", "Mar  3 09:14:05", "198.51.100.7"),
    ]
    sink = RecordingSink()
    address = serve_app(sink)
    bodies = {
        "json": "[" + ",".join(map(compact, [syslog_input, udp_none])) + "]",
        "json_lines": "\n".join(map(compact, [syslog_input, udp_none])) + "\n",
        "json_stream": "".join(map(compact, [syslog_input, udp_none])),
    }
    for format_, body in bodies.items():
        sink.offers.clear()
        answer = post(address, body.encode(), "application/json")
        assert (answer.status, answer.json()) == (200, {"accepted": 2, "skipped": 0}), format_
        assert recognised(sink) == expected, format_
    # the README's config: the udp input's records as json_lines, iso8601 dates, gzip
    sink.offers.clear()
    body = gzip.compress((compact(udp_none) + "\n").encode())
    answer = post(address, body, "application/x-ndjson", headers={"Content-Encoding": "gzip"})
    assert answer.json() == {"accepted": 1, "skipped": 0}
    assert recognised(sink) == expected[1:]


def test_logstash_http_output_json_and_json_batch(serve_app) -> None:
    # Logstash's `http` output (https://www.elastic.co/guide/en/logstash/current/
    # plugins-outputs-http.html): `format => "json"` posts each event alone, `json_batch` an
    # array; an event is its hash: `message`, `@timestamp`, and `host`, an object in ECS mode
    # ({"name": ..., "hostname": ..., "ip": [...]}) or the sender's address in legacy mode, where
    # the syslog input puts the header's host name in `logsource` and the tag in `program`.
    ecs = {
        "@timestamp": "2024-03-03T09:14:06.500Z",
        "@version": "1",
        "message": IOS_REST,
        "host": {"hostname": "rtr-d", "ip": "10.0.0.7"},
        "process": {"name": IOS_TAG},
        "log": {"syslog": {"priority": 188}},
        "event": {"original": f"<188>Mar  3 09:14:06 rtr-d {IOS}"},
    }
    legacy = {
        "@timestamp": "2024-03-03T09:14:07.000Z",
        "@version": "1",
        "host": "10.0.0.8",
        "logsource": "fw-e",
        "program": "%ASA-4-402114",
        "message": ASA.split(": ", 1)[1],
        "priority": 164,
    }
    sink = RecordingSink()
    address = serve_app(sink)
    answer = post(address, compact(ecs).encode())
    assert (answer.status, answer.json()) == (200, {"accepted": 1, "skipped": 0})
    # the README's config: json_batch, http_compression => true
    batch = gzip.compress(json.dumps([legacy, ecs]).encode())
    answer = post(address, batch, headers={"Content-Encoding": "gzip"})
    assert (answer.status, answer.json()) == (200, {"accepted": 2, "skipped": 0})
    rtr_d = ("rtr-d", "rtr-d", "2024-03-03T09:14:06.500Z", "198.51.100.7")
    fw_e = ("fw-e", "fw-e", "2024-03-03T09:14:07.000Z", "203.0.113.9")
    assert recognised(sink) == [rtr_d, fw_e, rtr_d]


def test_plain_lines_and_a_generic_content_type_are_sniffed(serve_app) -> None:
    sink = RecordingSink()
    address = serve_app(sink)
    text = f"Mar  3 09:14:02 rtr-f {IOS}\r\n\n[2024] not json either\n"
    for content_type in ("text/plain; charset=utf-8", None, "application/octet-stream"):
        sink.offers.clear()
        answer = post(address, text.encode(), content_type)
        assert (answer.status, answer.json()) == (200, {"accepted": 2, "skipped": 0})
        assert sink.lines() == [
            ("127.0.0.1", f"Mar  3 09:14:02 rtr-f {IOS}"),
            ("127.0.0.1", "[2024] not json either"),
        ]
    sink.offers.clear()
    answer = post(address, compact(VECTOR_EVENTS[0]).encode(), None)  # curl -d with no type
    assert answer.json() == {"accepted": 1, "skipped": 0}
    assert recognised(sink) == VECTOR_EXPECTED[:1]


# ---- the token -----------------------------------------------------------------------------


def test_the_token_is_required_and_a_refusal_never_logs_the_body(serve_app, caplog) -> None:
    sink = RecordingSink()
    address = serve_app(sink)
    body = compact({"message": "Qx7-secret-payload"}).encode()
    caplog.set_level(logging.WARNING, logger="spibot.ingest")
    for token, headers in [
        (None, {}),
        ("wrong", {}),
        (TOKEN + "x", {}),
        (TOKEN[:-1], {}),
        (None, {"Authorization": f"Basic {TOKEN}"}),
        (None, {"Authorization": TOKEN}),
        (None, {"Authorization": "Bearer \u00e9\u00e9"}),
    ]:
        answer = post(address, body, token=token, headers=headers)
        assert answer.status == 401, (token, headers)
        assert answer.headers["www-authenticate"].startswith("Bearer")
    assert sink.offers == []
    assert "Qx7-secret-payload" not in caplog.text and TOKEN not in caplog.text
    assert caplog.text.count("missing or wrong bearer token") == 7
    answer = post(address, body, headers={"Authorization": f"bearer   {TOKEN}"})
    assert answer.status == 200 and sink.lines() == [("127.0.0.1", "Qx7-secret-payload")]


@pytest.mark.parametrize(("token", "with_sink"), [(None, True), (TOKEN, False), (None, False)])
def test_without_a_token_or_a_sink_the_route_is_off(serve_app, token, with_sink) -> None:
    sink = RecordingSink() if with_sink else None
    address = serve_app(sink, token=token)
    assert post(address, b'{"message":"x"}', token=TOKEN).status == 404
    assert post(address, b"", method="GET", path="/healthz").status in (200, 503)


def test_only_post(serve_app) -> None:
    address = serve_app(RecordingSink())
    for method in ("GET", "PUT", "DELETE"):
        answer = post(address, b"", method=method)
        assert answer.status == 405 and answer.headers["allow"] == "POST"


# ---- limits --------------------------------------------------------------------------------


def test_a_declared_length_over_the_limit_is_refused_unread(serve_app) -> None:
    sink = RecordingSink()
    address = serve_app(sink, max_bytes=65536)
    promised = exchange(address, head({"Content-Length": 10**9, "Content-Type": "text/plain"}))
    assert status_of(promised) == 413 and b"Content-Length over 65536 bytes" in promised
    digits = exchange(address, head({"Content-Length": "9" * 5000}))
    assert status_of(digits) == 413
    just = b"x" * 65535 + b"\n"
    assert post(address, just, "text/plain").json() == {"accepted": 1, "skipped": 0}
    over = exchange(address, head({"Content-Length": len(just) + 1}), [just + b"y"])
    assert status_of(over) == 413
    assert sink.lines() == [("127.0.0.1", "x" * 65535)]


@pytest.mark.slow
def test_a_gzip_bomb_is_stopped_at_the_limit_without_growing_memory(serve_app) -> None:
    sink = RecordingSink()
    address = serve_app(sink, max_bytes=1 << 20)
    bomb = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    megabyte = b"\n" * (1 << 20)
    body = b"".join(bomb.compress(megabyte) for _ in range(128)) + bomb.flush()  # 128 MB
    assert len(body) < 1 << 20
    process = psutil.Process()
    before = process.memory_info().rss
    answer = post(address, body, "text/plain", headers={"Content-Encoding": "gzip"})
    assert answer.status == 413 and "once decompressed" in answer.json()["error"]
    assert process.memory_info().rss - before < 40 << 20
    just = gzip.compress(b"y" * ((1 << 20) - 1) + b"\n")
    answer = post(address, just, "text/plain", headers={"Content-Encoding": "gzip"})
    assert answer.json() == {"accepted": 1, "skipped": 0}
    assert post(address, b"\x1f\x8b junk", headers={"Content-Encoding": "gzip"}).status == 400
    cut = gzip.compress(b"z\n" * 1000)[:-20]
    assert post(address, cut, headers={"Content-Encoding": "gzip"}).status == 400
    assert post(address, b"x", headers={"Content-Encoding": "zstd"}).status == 415
    deflated = zlib.compress(compact(VECTOR_EVENTS[0]).encode())
    answer = post(address, deflated, headers={"Content-Encoding": "deflate"})
    assert answer.json() == {"accepted": 1, "skipped": 0}


def test_a_batch_that_does_not_fit_the_queue_is_a_503_to_retry(serve_app) -> None:
    sink = RecordingSink(room=1)
    address = serve_app(sink)
    body = "".join(compact(e) + "\n" for e in VECTOR_EVENTS).encode()
    answer = post(address, body)
    assert answer.status == 503 and answer.headers["retry-after"] == "5"
    assert sink.offers == []
    sink.room_left = 2
    assert post(address, body).json() == {"accepted": 2, "skipped": 0}


@pytest.mark.slow
def test_too_many_records_in_one_body_is_a_413(serve_app) -> None:
    address = serve_app(RecordingSink(), max_bytes=10 << 20)
    body = b"{}" * (MAX_ITEMS + 1)
    answer = post(address, body)
    assert answer.status == 413 and "smaller batches" in answer.json()["error"]


# ---- bad input -----------------------------------------------------------------------------


def test_junk_bodies_are_a_400_with_a_one_line_reason(serve_app) -> None:
    sink = RecordingSink()
    address = serve_app(sink)
    for body, content_type, says in [
        (b"\xff\xfe\x00 not utf-8", "text/plain", "not UTF-8"),
        (b"hello world", "application/json", "not JSON"),
        (b"{{{{", "application/x-ndjson", "not JSON"),
        (b"[" * 60_000, "application/json", "nested too deeply"),
    ]:
        answer = post(address, body, content_type)
        assert answer.status == 400, body[:20]
        reason = answer.json()["error"]
        assert says in reason and "\n" not in reason and len(reason) < 200
    assert post(address, b"x", "application/msgpack").status == 415  # Fluent Bit's old default
    assert sink.offers == []


def test_bad_records_are_skipped_and_counted_never_failing_the_batch(serve_app) -> None:
    sink = RecordingSink()
    address = serve_app(sink)
    good = compact({"message": IOS, "hostname": "rtr-g", "timestamp": "2024-03-03T09:14:08Z"})
    lines = [
        good,
        "[1, 2]",  # not objects: two records
        '"just a string"',
        '{"message": 42}',
        '{"host": "rtr-h"}',
        '{"message": "nul \\u0000 inside"}',
        '{"message": "lone \\ud800 surrogate"}',
        '{"message": "x", "deep": ' + "[" * 5000 + "]" * 5000 + "}",
        '{"message": "y", "junk": ' + "[" * 5000 + "}",
        '{"message": "z", "timestamp": ' + "9" * 5000 + "}",  # int() refuses 5,000 digits
        '{"message": "w", "timestamp": 1e999, "date": NaN}',
        "{not json at all",
        good,
    ]
    before = dropped_not_text()
    answer = post(address, "\n".join(lines).encode(), "application/x-ndjson")
    assert (answer.status, answer.json()) == (200, {"accepted": 4, "skipped": 10})
    assert dropped_not_text() - before == 10
    # nested 5,000 deep is past Python's recursion limit: that record is skipped, not the body.
    # One offer per source, in the order sources first appear.
    assert sink.lines() == [
        ("rtr-g", f"2024-03-03T09:14:08Z rtr-g {IOS}"),
        ("rtr-g", f"2024-03-03T09:14:08Z rtr-g {IOS}"),
        ("127.0.0.1", "z"),  # no usable time: the line as sent
        ("127.0.0.1", "w"),
    ]


def test_unicode_survives_and_what_a_sender_controls_is_logged_escaped(serve_app, caplog) -> None:
    sink = RecordingSink()
    address = serve_app(sink)
    caplog.set_level(logging.WARNING, logger="spibot.ingest")
    records = [
        {"message": "routér ⚠ \u202e %CRYPTO", "hostname": "routér-1", "timestamp": 1709457242},
        {"message": "ok", "hostname": "evil\nhost\x1b[31m"},  # not a host name: the client
        {"message": 'quote " back\\slash', "host": {"name": "a b"}},  # spaces: not a host
    ]
    answer = post(address, json.dumps(records, ensure_ascii=False).encode())
    assert answer.json() == {"accepted": 3, "skipped": 0}
    assert sink.lines() == [
        ("routér-1", "2024-03-03T09:14:02.000Z routér-1 routér ⚠ \u202e %CRYPTO"),
        ("127.0.0.1", "ok"),
        ("127.0.0.1", 'quote " back\\slash'),
    ]
    answer = post(address, b"x", token="no", path="/ingest")
    assert answer.status == 401
    [line] = [r.getMessage() for r in caplog.records]
    assert "'127.0.0.1'" in line and "\n" not in line


# ---- time and concurrency ------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "make",
    [
        lambda: b"[" * (10 << 20),
        lambda: b"[\n" * (5 << 20),
        lambda: b'{"a":\n' * (1 << 20),
        lambda: b"{" * (10 << 20),
        lambda: b'{"message":"' + b"\\" * (10 << 20),
        lambda: b'{"message":"x"}\n' * 600_000,
        lambda: b'"' * (10 << 20),
        lambda: b"x" * (10 << 20),
        lambda: b" \n" * (5 << 20),
    ],
    ids=[
        "brackets",
        "bracket-lines",
        "open-objects",
        "braces",
        "backslashes",
        "many-records",
        "quotes",
        "one-char",
        "blank-lines",
    ],
)
def test_adversarial_bodies_take_linear_time(serve_app, make) -> None:
    address, body = serve_app(RecordingSink(), max_bytes=11 << 20), make()
    for content_type in ("application/json", None):
        started = time.monotonic()
        answer = post(address, body, content_type)
        assert answer.status in (200, 400, 413)
        assert time.monotonic() - started < 15, content_type  # about 2 s idle, 2 cores loaded
    assert post(address, b"ok", "text/plain").status == 200


@pytest.mark.slow
def test_two_clients_at_once_each_get_their_own_answer(serve_app) -> None:
    sink = RecordingSink()
    address = serve_app(sink, max_bytes=8 << 20)
    answers: dict[str, Answer] = {}

    def send(host: str) -> None:
        events = [{**VECTOR_EVENTS[0], "hostname": host, "n": i} for i in range(20_000)]
        body = "".join(compact(e) + "\n" for e in events).encode()
        answers[host] = post(address, body, "application/x-ndjson")

    threads = [threading.Thread(target=send, args=(h,)) for h in ("rtr-x", "rtr-y")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {h: a.json() for h, a in answers.items()} == {
        "rtr-x": {"accepted": 20_000, "skipped": 0},
        "rtr-y": {"accepted": 20_000, "skipped": 0},
    }
    by_source = {}
    for items, source, _ in sink.offers:
        by_source[source] = by_source.get(source, 0) + len(items)
    assert by_source == {"rtr-x": 20_000, "rtr-y": 20_000}


# ---- `listen --http` -----------------------------------------------------------------------


def test_listen_http_serves_ingest_health_and_metrics(standalone) -> None:
    sink = RecordingSink()
    address = standalone(sink)
    assert post(address, b"", method="GET", path="/healthz").json() == {"ok": True}
    answer = post(address, b"", method="GET", path="/metrics")
    assert answer.status == 200 and b"spibot_ingest_dropped_total" in answer.body
    assert post(address, b"", method="GET", path="/nothing").status == 404
    body = "".join(compact(e) + "\n" for e in VECTOR_EVENTS).encode()
    answer = post(address, (body[i : i + 100] for i in range(0, len(body), 100)), chunked=True)
    assert answer.json() == {"accepted": 2, "skipped": 0}
    assert recognised(sink) == VECTOR_EXPECTED
    assert post(address, body, token="nope").status == 401


def test_listen_http_refuses_a_chunked_body_past_the_limit(standalone) -> None:
    sink = RecordingSink()
    address = standalone(sink, max_bytes=65536)
    chunks = (b"10000\r\n" + b"y" * 65536 + b"\r\n" for _ in range(80))  # 5 MB, no length
    answer = exchange(address, head({"Transfer-Encoding": "chunked"}), chunks)
    assert status_of(answer) == 413
    bad = exchange(address, head({"Transfer-Encoding": "chunked"}), [b"zz\r\nhello\r\n0\r\n\r\n"])
    assert status_of(bad) == 400
    assert sink.offers == []
    assert post(address, b"still here", "text/plain").json() == {"accepted": 1, "skipped": 0}


# ---- gunicorn, as `spibot serve --http` runs the app ---------------------------------------

GUNICORN_CHILD = r"""
import json, logging, sys, threading
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
from slack_bolt import App
import bot.server as server

class FileSink:
    def __init__(self, path, room):
        self.path, self._room, self.lock = path, room, threading.Lock()
    def offer(self, items, source, *, framed):
        with self.lock, open(self.path, "a") as out:
            out.write(json.dumps({"source": source, "n": len(items), "first": items[0].decode()}) + "\n")
        return len(items)
    def room(self):
        return self._room

def make_app():  # what `spibot serve --http` builds in each worker: the app and its sink
    app = App(token="xoxb-test", signing_secret="s", token_verification_enabled=False)
    return app, FileSink(sys.argv[1], 10**6)

server.serve_gunicorn(make_app, sys.argv[2], "s", "127.0.0.1", 0, 1)
"""


@pytest.fixture
def gunicorn(tmp_path):
    offers = tmp_path / "offers.jsonl"
    env = {
        **CLEAN_ENV,
        "SPIBOT_INGEST_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    process = subprocess.Popen(
        [sys.executable, "-c", GUNICORN_CHILD, str(offers), str(tmp_path / "kb.db")],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    port = None
    for _ in range(50):
        line = process.stderr.readline()
        if found := re.search(r"listening on http://127\.0\.0\.1:(\d+) ", line):
            port = int(found.group(1))
            break
    assert port, "gunicorn did not start"
    threading.Thread(target=process.stderr.read, daemon=True).start()

    def received() -> list[dict]:
        if not offers.exists():
            return []
        return [json.loads(line) for line in offers.read_text().splitlines()]

    yield ("127.0.0.1", port), received
    process.terminate()
    process.wait(timeout=30)


@pytest.mark.slow
def test_under_gunicorn_a_10_mb_batch_is_read_and_limits_hold(gunicorn) -> None:
    address, received = gunicorn
    event = compact(VECTOR_EVENTS[0])
    count = (10 * 1024 * 1024 - 1) // (len(event) + 1)
    body = ((event + "\n") * count).encode()
    assert len(body) < 10 * 1024 * 1024  # the default SPIBOT_INGEST_MAX_BYTES
    started = time.monotonic()
    answer = post(address, body, "application/x-ndjson")
    assert answer.json() == {"accepted": count, "skipped": 0}, time.monotonic() - started
    assert received() == [
        {"source": "rtr-a", "n": count, "first": f"2024-03-03T09:14:02.113Z rtr-a {IOS}"}
    ]
    chunked = post(address, (body[i : i + 65536] for i in range(0, len(body), 65536)), chunked=True)
    assert chunked.json() == {"accepted": count, "skipped": 0}
    over = (b"10000\r\n" + b"y" * 65536 + b"\r\n" for _ in range(200))  # 13 MB, no length
    assert status_of(exchange(address, head({"Transfer-Encoding": "chunked"}), over)) == 413
    promised = exchange(address, head({"Content-Length": 11 * 1024 * 1024}))
    assert status_of(promised) == 413 and b"Connection: close" in promised
    assert post(address, b'{"message":"x"}', token="wrong").status == 401
    assert len(received()) == 2
    assert post(address, b"", method="GET", path="/healthz").status in (200, 503)  # still up


def _slowly(body: bytes, seconds: float, pieces: int = 40) -> Iterator[bytes]:
    step = len(body) // pieces + 1
    for i in range(0, len(body), step):
        time.sleep(seconds / pieces)
        yield body[i : i + step]


@pytest.mark.slow
def test_under_gunicorn_a_collector_on_a_slow_link_gets_the_time_its_batch_needs(
    gunicorn,
) -> None:
    address, received = gunicorn
    event = compact(VECTOR_EVENTS[0])
    body = ((event + "\n") * (600_000 // (len(event) + 1))).encode()
    length = {"Content-Type": "application/x-ndjson", "Content-Length": len(body)}
    # 600 KB over 7 s: past the 5 s every request gets, within 5 s + 600 KB / 256 KB/s
    answer = exchange(address, head(length), _slowly(body, 7))
    assert status_of(answer) == 200 and b'"skipped": 0' in answer
    # without the token, the same pace gets its answer at once: its body is never read
    stranger = head(length).replace(f"Bearer {TOKEN}".encode(), b"Bearer wrong-token")
    started = time.monotonic()
    refused = exchange(address, stranger, _slowly(body, 7))
    assert status_of(refused) == 401 and time.monotonic() - started < 5
    assert len(received()) == 1
