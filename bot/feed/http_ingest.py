"""POST /ingest: a collector's batch (Vector, Fluent Bit, Logstash) as log lines for the Sink.

A body is newline-delimited or concatenated JSON, a JSON array, one JSON object, or plain text
lines. From each JSON record comes its text (`message`, `log`, ...), the device that reported it
(`hostname`, `host`, `host.name`, `source_ip`, ...) and its time (`timestamp`, `@timestamp`,
`date`): a message without its own framing is given "ISO-TIME HOST " in front, the collector
framing kb/stamps.py reads, so the recogniser sees the right device and time.

Nothing here trusts the sender: a record that is not an object, holds no text, holds a NUL, or
nests past the parser's recursion limit is skipped and counted, never failing the batch; the
body as a whole is refused (400) only when it is not UTF-8 or not JSON at all under a JSON
content type. Every step is linear in the body's size.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import socket
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from bot import metrics
from bot.feed.sink import Sink
from bot.http_body import DIGITS, REASONS, Refused, close_after_response, read_limited
from bot.worker import allow_reading

log = logging.getLogger("spibot.ingest")

INGEST_PATH = "/ingest"
# Records and lines one body may hold. Python spends a few microseconds on each: this bounds a
# request's time (about a second here) and memory whatever its bytes. Real batches stay below
# it (Vector's default 10 MB batch of syslog events is some 30,000 records).
MAX_ITEMS = 100_000
# A collector retries a 503 (Vector, Fluent Bit and Logstash all do); this says when.
RETRY_AFTER_SECONDS = 5

# Where each collector puts a record's text, most specific first: Vector and Logstash
# `message`, Fluent Bit's tail input `log`, journald `MESSAGE`, GELF `short_message`.
TEXT_KEYS = ("message", "log", "msg", "MESSAGE", "short_message", "line", "text")
# Names a device gives itself in its syslog header come before the sender's address: a relay
# between the device and the collector would otherwise become the device.
_NAME_KEYS = ("hostname", "logsource", "host.hostname", "_HOSTNAME")
_HOST_KEYS = ("host", "host.name")
_ADDRESS_KEYS = ("source_ip", "host.ip")
_HOST_OBJECT_KEYS = ("hostname", "name", "ip")
TIME_KEYS = ("timestamp", "@timestamp", "date", "time")
# A syslog parser splits "%CRYPTO-4-RECVD_PKT_INV_SPI: decaps: ..." into a tag (Vector's
# `appname`, Logstash's `program`) and the rest; the recogniser needs the tag back in front.
TAG_KEYS = ("appname", "ident", "program", "process.name", "SYSLOG_IDENTIFIER")
_TAG = re.compile(r"[%\w][\w./%-]{0,63}")

_DRAIN_BYTES = 65536  # a refused body this small is read rather than left on the connection
_WS = re.compile(r"[ \t\r\n]*+")
_LINE = re.compile(r"[^\n]++")  # non-empty lines, found in C: a body of newlines costs nothing
# kb/stamps.py's _HOST: a host that fits it can stand in the "ISO-TIME HOST" framing.
_KB_HOST = re.compile(r"[A-Za-z0-9][\w.-]*+")
# A host name or address as a source: printable, no spaces, a DNS name's length at most.
_SOURCE = re.compile(r"[^\s\x00-\x1f\x7f]{1,253}")
_ISO = re.compile(
    r"(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d(?:\.\d{1,9})?)\s?(Z|[+-]\d\d:?\d\d)?", re.ASCII
)
# A message that starts with its own ISO time (RFC 5424, or a collector's framing written to a
# file) keeps it: a second ISO time in front would hide its device from the recogniser.
_OWN_ISO = re.compile(
    r"\s*+(?:<\d{1,3}>\s*+(?:\d{1,2} ++)?)?\d{4}-\d\d-\d\d[T ]\d\d:\d\d", re.ASCII
)
_LATEST_EPOCH = 253402300799  # 9999-12-31T23:59:59Z
_EPOCH_MS_FROM = 100_000_000_000  # a number this large is Fluent Bit's epoch_ms, not seconds
_HUGE = float("inf")


@dataclass
class Batch:
    """A body's lines grouped by the source the Sink is told, and the records skipped."""

    lines: dict[str, list[bytes]] = field(default_factory=dict)
    skipped: int = 0
    count: int = 0  # lines
    seen: int = 0  # records (or text lines) looked at, kept or not

    def add(self, source: str, line: bytes) -> None:
        self.lines.setdefault(source, []).append(line)
        self.count += 1
        if self.count > MAX_ITEMS:
            self._too_many()

    def look(self) -> None:
        self.seen += 1
        if self.seen > MAX_ITEMS:
            self._too_many()

    @staticmethod
    def _too_many() -> None:
        raise Refused(413, f"over {MAX_ITEMS} records or lines in one body: send smaller batches")


# ---- parsing -------------------------------------------------------------------------------


def _int(digits: str) -> int | float:
    # int() of 5,000 digits raises, and would fail the whole body: such a number is junk.
    return int(digits) if len(digits) <= 20 else _HUGE


def _constant(name: str) -> float:
    return _HUGE  # NaN, Infinity: never a usable time


_DECODER = json.JSONDecoder(parse_int=_int, parse_constant=_constant)


class _Broken(Exception):
    """JSON that does not parse from here on."""


def _skip(text: str, pos: int) -> int:
    return _WS.match(text, pos).end()


def _decode(text: str, pos: int) -> tuple[object, int]:
    try:
        return _DECODER.raw_decode(text, pos)
    except json.JSONDecodeError as exc:
        raise _Broken(f"{exc.msg} at character {exc.pos}") from None
    except RecursionError:  # the C scanner's guard against deep nesting: stack intact
        raise _Broken(f"nested too deeply at character {pos}") from None


def _elements(text: str, pos: int) -> Iterator[object]:
    """An array's elements one at a time, so a 10 MB array is never one list of records."""
    pos = _skip(text, pos)
    if text.startswith("]", pos):
        return pos + 1
    while True:
        value, pos = _decode(text, pos)
        yield value
        pos = _skip(text, pos)
        if text.startswith(",", pos):
            pos = _skip(text, pos + 1)
        elif text.startswith("]", pos):
            return pos + 1
        else:
            raise _Broken(f"expected ',' or ']' at character {pos}")


def _values(text: str) -> Iterator[object]:
    """Every JSON value of text, one after another with or without whitespace between them
    (NDJSON, Fluent Bit's json_stream, one object); an array's elements one by one."""
    pos = _skip(text, 0)
    while pos < len(text):
        if text[pos] == "[":
            pos = yield from _elements(text, pos + 1)
        else:
            value, pos = _decode(text, pos)
            yield value
        pos = _skip(text, pos)


def _text(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        return None
    try:
        value.encode("utf-8")  # a JSON "\ud800" decodes to a lone surrogate: not text
    except UnicodeEncodeError:
        return None
    return value


def _field(record: dict, key: str) -> object:
    """record["a.b"], else record["a"]["b"]: collectors write both."""
    if key in record:
        return record[key]
    head, _, tail = key.partition(".")
    inner = record.get(head) if tail else None
    return inner.get(tail) if isinstance(inner, dict) else None


def _host_value(value: object) -> str | None:
    if isinstance(value, list) and value:  # ECS host.ip is a list of addresses
        value = value[0]
    if not isinstance(value, str):
        return None
    value = value.strip().rstrip(":")  # Fluent Bit's rfc3164 parser can keep the colon
    return value if _SOURCE.fullmatch(value) else None


def record_host(record: dict) -> str | None:
    """The device a record names: its own syslog name first, then the sender's address."""
    for key in _NAME_KEYS:
        if found := _host_value(_field(record, key)):
            return found
    for key in _HOST_KEYS:
        value = _field(record, key)
        if isinstance(value, dict):  # ECS: "host": {"name": ..., "hostname": ..., "ip": [...]}
            for inner in _HOST_OBJECT_KEYS:
                if found := _host_value(value.get(inner)):
                    return found
        elif found := _host_value(value):
            return found
    for key in _ADDRESS_KEYS:
        if found := _host_value(_field(record, key)):
            return found
    return None


def _iso_of_number(value: float) -> str | None:
    if value >= _EPOCH_MS_FROM:
        value /= 1000
    if not 0 < value <= _LATEST_EPOCH:  # also NaN and the infinities
        return None
    moment = datetime.fromtimestamp(value, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def record_time(record: dict) -> str | None:
    """The record's time as the ISO text kb reads: an ISO string, or epoch seconds (Fluent Bit's
    `double` and `epoch`) or milliseconds (`epoch_ms`)."""
    for key in TIME_KEYS:
        value = record.get(key)
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            if found := _iso_of_number(value):
                return found
        elif isinstance(value, str) and (m := _ISO.fullmatch(value.strip())):
            return f"{m[1]}T{m[2]}{(m[3] or '').replace(':', '')}"
    return None


def record_lines(record: object) -> tuple[list[bytes], str | None] | None:
    """One record's lines, framed with its time and host when it has no framing of its own,
    and the host it names; None when the record holds no text."""
    if not isinstance(record, dict):
        return None
    text = None
    for key in TEXT_KEYS:
        if (text := _text(record.get(key))) is not None:
            break
    if text is None:
        return None
    for key in TAG_KEYS:
        tag = _field(record, key)
        if isinstance(tag, str) and _TAG.fullmatch(tag):
            if not text.lstrip().startswith(tag):
                text = f"{tag}: {text.lstrip()}"
            break
    host, stamp = record_host(record), record_time(record)
    prefix = ""
    if stamp:
        prefix = f"{stamp} {host} " if host and _KB_HOST.fullmatch(host) else f"{stamp} "
    lines = []
    for match in _LINE.finditer(text):
        line = match.group().rstrip("\r")
        if not line.strip():
            continue
        if prefix and not _OWN_ISO.match(line):
            line = prefix + line
        lines.append(line.encode("utf-8"))
        if len(lines) > MAX_ITEMS:
            break  # the batch refuses it
    return (lines, host) if lines else None


def _add_record(batch: Batch, record: object, client: str) -> None:
    batch.look()
    found = record_lines(record)
    if found is None:
        batch.skipped += 1
        return
    lines, host = found
    for line in lines:
        batch.add(host or client, line)


def _parse_json(text: str, client: str) -> Batch | str:
    """The batch, or why the text is no JSON at all. A body that breaks somewhere is read again
    line by line, so that one bad line of NDJSON costs that line only."""
    batch = Batch()
    try:
        for value in _values(text):
            _add_record(batch, value, client)
        return batch
    except _Broken as broken:
        first_error = str(broken)
    batch, objects = Batch(), 0
    for match in _LINE.finditer(text):
        line = match.group()
        if line.isspace():
            continue
        try:
            for value in _values(line):
                _add_record(batch, value, client)
                objects += isinstance(value, dict)
        except _Broken:
            batch.skipped += 1
            batch.look()
    # A text log whose lines start with "[2024" reads as a number then junk: JSON holds objects.
    return batch if objects else f"body is not JSON: {first_error}"


def _parse_lines(text: str, client: str) -> Batch:
    batch = Batch()
    for match in _LINE.finditer(text):
        batch.look()  # blank lines too: a body of ten million costs as much as a few
        line = match.group().rstrip("\r")
        if not line.strip():
            continue
        if "\x00" in line:
            batch.skipped += 1
        else:
            batch.add(client, line.encode("utf-8"))
    return batch


def media_type(content_type: str) -> str:
    """ "json", "text" or "sniff" for a Content-Type; "" when it is none of those."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind in ("", "*/*", "application/octet-stream", "application/x-www-form-urlencoded"):
        return "sniff"  # no type, or curl -d's default
    if "json" in kind:  # application/json, x-ndjson, json_lines, stream+json, ...
        return "json"
    if kind.startswith("text/"):
        return "text"
    return ""


def parse_body(body: bytes, content_type: str, client: str) -> Batch:
    """A request body as lines grouped by source; Refused(400) when it is not UTF-8, or not JSON
    at all under a JSON content type. A generic type is JSON when it parses as JSON."""
    try:
        text = body.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise Refused(400, f"body is not UTF-8 (byte {exc.start})") from None
    kind = media_type(content_type)
    first = _skip(text, 0)
    if kind == "json" or (kind == "sniff" and text[first : first + 1] in ("{", "[")):
        parsed = _parse_json(text, client)
        if isinstance(parsed, Batch):
            return parsed
        if kind == "json":
            raise Refused(400, parsed)
    return _parse_lines(text, client)


# ---- the request ---------------------------------------------------------------------------

_ENCODINGS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def check_token(environ: dict, token: str) -> None:
    scheme, _, given = environ.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
    # compare_digest on bytes: it refuses non-ASCII str, and a header may hold anything
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode("utf-8", "surrogateescape"), token.encode("utf-8")
    ):
        raise Refused(401, "missing or wrong bearer token", unread=True)


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """gzip or deflate, stopped one byte past `limit` of output: a zip bomb costs `limit`."""
    out = bytearray()
    rest = body
    while rest:
        inflater = zlib.decompressobj(_ENCODINGS[encoding])
        chunk, rest = rest, b""
        try:
            while not inflater.eof and len(out) <= limit:
                produced = inflater.decompress(chunk, limit + 1 - len(out))
                chunk = inflater.unconsumed_tail
                out += produced
                if not produced and not chunk:
                    break  # it wants more input than the body holds
        except zlib.error as exc:
            raise Refused(400, f"{encoding} body is corrupt: {exc}") from None
        if len(out) > limit:
            raise Refused(413, f"body over {limit} bytes once decompressed")
        if not inflater.eof:
            raise Refused(400, f"{encoding} body is cut short")
        rest = inflater.unused_data.lstrip(b"\x00")  # gzip allows members back to back
    return bytes(out)


def _drained(environ: dict) -> bool:
    """Whether a refused request's body was small enough to read and drop. Read, the connection
    stays usable and the client surely sees the answer; a server that closes on unread bytes
    resets the connection, and a client may see only the reset."""
    declared = environ.get("CONTENT_LENGTH") or "0"
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return False
    if not DIGITS.fullmatch(declared) or len(declared) > 6 or int(declared) > _DRAIN_BYTES:
        return False
    try:
        return len(environ["wsgi.input"].read(int(declared))) == int(declared)
    except (OSError, ValueError):
        return False


def respond(
    start_response: Callable, status: int, body: dict, headers: Iterable[tuple[str, str]] = ()
) -> list[bytes]:
    payload = json.dumps(body).encode()
    start_response(
        f"{status} {REASONS[status]}",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(payload))),
            *headers,
        ],
    )
    return [payload]


def ingest_app(sink: Sink, token: str, max_bytes: int) -> Callable:
    """The WSGI application behind POST /ingest (any path given to it is /ingest)."""

    def refuse(refusal: Refused, environ: dict, start_response: Callable) -> list[bytes]:
        log.warning(  # %r: a client address or path may hold anything; the body is never logged
            "refused %s %.100r from %r: %s",
            environ.get("REQUEST_METHOD"),
            environ.get("PATH_INFO"),
            environ.get("REMOTE_ADDR"),
            refusal,
        )
        if refusal.unread and not _drained(environ):
            close_after_response(start_response)
        headers = []
        if refusal.status == 401:
            headers.append(("WWW-Authenticate", 'Bearer realm="spibot ingest"'))
        elif refusal.status == 405:
            headers.append(("Allow", "POST"))
        elif refusal.status == 503:
            headers.append(("Retry-After", str(RETRY_AFTER_SECONDS)))
        return respond(start_response, refusal.status, {"error": str(refusal)}, headers)

    def application(environ: dict, start_response: Callable) -> list[bytes]:
        client = environ.get("REMOTE_ADDR") or "unknown"
        try:
            if environ.get("REQUEST_METHOD") != "POST":
                raise Refused(405, "only POST", unread=True)
            check_token(environ, token)
            content_type = environ.get("CONTENT_TYPE", "")
            if not media_type(content_type):
                raise Refused(415, f"Content-Type {content_type[:60]!r}: send JSON or text", True)
            encoding = environ.get("HTTP_CONTENT_ENCODING", "identity").strip().lower()
            if encoding not in (*_ENCODINGS, "identity", ""):
                raise Refused(415, f"Content-Encoding {encoding[:30]!r}: use gzip or none", True)
            declared = environ.get("CONTENT_LENGTH") or ""
            known = DIGITS.fullmatch(declared) is not None and len(declared) <= 12
            allow_reading(environ, int(declared) if known else None)
            body = read_limited(environ, max_bytes)
            if encoding in _ENCODINGS:
                body = decompress(body, encoding, max_bytes)
            batch = parse_body(body, content_type, client)
            if batch.count > sink.room():
                raise Refused(503, f"queue full: {batch.count} lines do not fit, retry later")
        except Refused as refusal:
            return refuse(refusal, environ, start_response)
        accepted = sum(
            sink.offer(lines, source, framed=False) for source, lines in batch.lines.items()
        )
        if batch.skipped:
            metrics.INGEST_DROPPED.labels("not_text").inc(batch.skipped)
        log.debug("ingest from %r: %s accepted, %s skipped", client, accepted, batch.skipped)
        return respond(start_response, 200, {"accepted": accepted, "skipped": batch.skipped})

    return application


# ---- `spibot listen --http`: the route on its own ------------------------------------------


class _Dechunked:
    """A chunked request body as its bytes: wsgiref hands the app the raw stream."""

    _SIZE = re.compile(rb"[0-9A-Fa-f]{1,8}")

    def __init__(self, raw) -> None:
        self.raw, self.left, self.done = raw, 0, False

    def _line(self) -> bytes:
        line = self.raw.readline(1024)
        if not line.endswith(b"\n"):
            raise ValueError("malformed chunked body")
        return line.rstrip(b"\r\n")

    def read(self, size: int = -1) -> bytes:
        out = bytearray()
        while not self.done and (size < 0 or len(out) < size):
            if self.left == 0:
                head = self._line().split(b";", 1)[0].strip()
                if not self._SIZE.fullmatch(head):
                    raise ValueError("malformed chunk size")
                self.left = int(head, 16)
                if self.left == 0:
                    self.done = True
                    for _ in range(64):  # trailer fields, then the blank line
                        if not self._line():
                            break
                    break
            data = self.raw.read(self.left if size < 0 else min(self.left, size - len(out)))
            if not data:
                raise ValueError("chunked body cut short")
            out += data
            self.left -= len(data)
            if self.left == 0 and self._line():
                raise ValueError("malformed chunk end")
        return bytes(out)


class _Handler(WSGIRequestHandler):
    # Each read waits at most this long: a client that stops sending loses its thread.
    timeout = 10

    def get_environ(self) -> dict:
        environ = super().get_environ()
        if self.headers.get("Content-Type") is None:
            environ["CONTENT_TYPE"] = ""  # wsgiref says text/plain; no type is sniffed
        return environ

    def log_message(self, format: str, *args) -> None:
        pass  # no access log; refusals are logged by the app


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class IngestServer:
    """A started `listen --http` server: `.address` is where it listens, `.stop()` ends it."""

    def __init__(self, server: WSGIServer) -> None:
        self._server = server
        self.address: tuple[str, int] = server.server_address[:2]
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.2,), name="http-ingest", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def standalone_app(sink: Sink, token: str, max_bytes: int) -> Callable:
    """POST /ingest, GET /healthz and GET /metrics; 404 otherwise."""
    ingest = ingest_app(sink, token, max_bytes)

    def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
        method, path = environ.get("REQUEST_METHOD"), environ.get("PATH_INFO", "")
        if path == INGEST_PATH:
            return ingest(environ, start_response)
        if method == "GET" and path == "/healthz":
            return respond(start_response, 200, {"ok": True})
        if method == "GET" and path == "/metrics":
            payload, content_type = metrics.exposition()
            start_response(
                "200 OK", [("Content-Type", content_type), ("Content-Length", str(len(payload)))]
            )
            return [payload]
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")])
        return [b"not found"]

    return application


def serve_ingest(host: str, port: int, sink: Sink, token: str, max_bytes: int) -> IngestServer:
    """`spibot listen --http HOST:PORT`: the ingest route on a threaded stdlib server."""
    server_class = _Server6 if ":" in host else _Server
    application = standalone_app(sink, token, max_bytes)

    def dechunking(environ: dict, start_response: Callable) -> Iterable[bytes]:
        # wsgiref hands over the raw stream whatever the framing (gunicorn decodes it itself)
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            environ["wsgi.input"] = _Dechunked(environ["wsgi.input"])
        return application(environ, start_response)

    server = make_server(
        host,
        port,
        dechunking,
        server_class=server_class,
        handler_class=_Handler,
    )
    return IngestServer(server)
