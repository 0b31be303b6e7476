"""Syslog listeners: UDP (RFC 5426), TCP (RFC 6587) and TLS (RFC 5425), handing frames to a Sink.

- UDP: one thread per socket, blocking receives; each datagram is one frame (one trailing LF
  dropped). A datagram holding several lines that each start with a PRI ("<13>...\\n<13>...",
  as some relays batch them) is that many frames; any other LF stays inside its frame (to_line
  makes it a space). The datagrams waiting in the socket are drained before the sink is
  called, one call per run of datagrams from one sender.
- TCP and TLS: one asyncio loop in one thread for every connection; each read (up to 256 KiB)
  is framed (kb/feed/framing.py) and its frames go to the sink in one call. A connection
  whose frame stays unfinished for `idle_timeout` seconds is closed (its partial frame counted
  `unfinished`); a connection that sends nothing at all stays open, as routers' do. Past
  `max_connections`, new connections are closed at once. When the sink refuses frames (its
  queue is full) the connection is paused for a moment, so TCP pushes back on that sender
  rather than spinning.

Drops counted in spibot_ingest_dropped_total{reason}: too_long (a frame over 64 KiB),
unfinished (an octet-counted frame cut by a close or an idle timeout), not_text (a frame with
a NUL byte: binary, never a log line). The sink counts what it refuses itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from bot import metrics
from bot.feed.sink import Sink
from kb.feed.framing import MAX_FRAME, Framer

log = logging.getLogger(__name__)

TRANSPORTS = ("udp", "tcp", "tls")
UDP_RCVBUF = 8 << 20  # asked for; Linux caps it at net.core.rmem_max unless raised
UDP_BATCH = 512  # datagrams drained per sink call at most
IDLE_TIMEOUT = 30.0
MAX_CONNECTIONS = 1000
TLS_HANDSHAKE_TIMEOUT = 10.0
PAUSE_WHEN_FULL = 0.05  # seconds a TCP sender is paused after the sink refused its frames


@dataclass(frozen=True, slots=True)
class Endpoint:
    transport: str  # udp, tcp or tls
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport}://{host}:{self.port}"


def parse_endpoint(url: str) -> Endpoint:
    """`udp://HOST:PORT`, `tcp://HOST:PORT` or `tls://HOST:PORT` (IPv6 in brackets)."""
    shape = "expected udp://HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT"
    text = url.strip()
    if "://" not in text:
        raise ValueError(f"syslog address {url!r}: {shape}")
    scheme = text.split("://", 1)[0].lower()
    if scheme not in TRANSPORTS:
        raise ValueError(f"syslog address {url!r}: unknown transport {scheme!r}; {shape}")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as e:
        raise ValueError(f"syslog address {url!r}: {e}; {shape}") from None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError(f"syslog address {url!r}: only a host and a port; {shape}")
    host = parts.hostname
    if not host:
        raise ValueError(f"syslog address {url!r}: no host (0.0.0.0 is every interface)")
    if port is None:
        raise ValueError(f"syslog address {url!r}: no port (5514, say; 0 picks a free one)")
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"syslog address {url!r}: {host!r} is not an IPv6 address") from None
    elif "[" in parts.netloc:
        raise ValueError(f"syslog address {url!r}: brackets are for IPv6 addresses only")
    return Endpoint(scheme, host, port)


def _source(address: object) -> str:
    """The sender's IP as text; an IPv4 peer on an IPv6 socket as plain IPv4."""
    host = address[0] if isinstance(address, tuple) else str(address)
    if host.startswith("::ffff:") and "." in host:
        return host[7:]
    return host.split("%", 1)[0]


def _drop(reason: str, count: int = 1) -> None:
    metrics.INGEST_DROPPED.labels(reason).inc(count)


def _texts(frames: list[bytes]) -> list[bytes]:
    """frames without those holding a NUL byte (counted not_text)."""
    kept = [f for f in frames if b"\x00" not in f]
    if len(kept) != len(frames):
        _drop("not_text", len(frames) - len(kept))
    return kept


class Receivers:
    """Every syslog listener of one process. start() binds them all or raises naming the
    address; stop() closes them and every connection, and returns when their threads have."""

    def __init__(
        self,
        endpoints: Sequence[Endpoint],
        sink: Sink,
        tls: tuple[str, str] | None = None,
        *,
        idle_timeout: float = IDLE_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
        max_frame: int = MAX_FRAME,
    ) -> None:
        self.endpoints = list(endpoints)
        self.sink = sink
        self.tls = tls
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.max_frame = max_frame
        self.addresses: list[tuple[str, str, int]] = []
        self._udp: list[socket.socket] = []
        self._stream: list[tuple[str, socket.socket]] = []
        self._threads: list[threading.Thread] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._servers: list[asyncio.AbstractServer] = []
        self._sweeper: asyncio.Task | None = None
        self._connections: set[_Connection] = set()
        self._stopping = threading.Event()
        if any(e.transport == "tls" for e in self.endpoints) and tls is None:
            raise ValueError(
                "a tls:// syslog address needs a certificate and its key "
                "(SPIBOT_SYSLOG_TLS_CERT and SPIBOT_SYSLOG_TLS_KEY)"
            )

    # --- starting and stopping -------------------------------------------------------------

    def start(self) -> None:
        context = self._tls_context() if self.tls else None
        try:
            for endpoint in self.endpoints:
                sock = self._bind(endpoint)
                host, port = sock.getsockname()[:2]
                self.addresses.append((endpoint.transport, host, port))
                if endpoint.transport == "udp":
                    self._udp.append(sock)
                else:
                    self._stream.append((endpoint.transport, sock))
        except BaseException:
            self._close_sockets()
            raise
        for sock in self._udp:
            self._spawn(f"syslog-udp-{sock.getsockname()[1]}", self._receive_udp, sock)
        if self._stream:
            self._start_loop(context)

    def stop(self) -> None:
        self._stopping.set()
        for sock in self._udp:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in recvfrom
        loop = self._loop
        if loop is not None and loop.is_running():
            asyncio.run_coroutine_threadsafe(self._close_all(), loop).result(timeout=5)
            loop.call_soon_threadsafe(loop.stop)
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        if loop is not None:
            loop.close()
            self._loop = None
        self._close_sockets()

    def __enter__(self) -> Receivers:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _bind(self, endpoint: Endpoint) -> socket.socket:
        kind = socket.SOCK_DGRAM if endpoint.transport == "udp" else socket.SOCK_STREAM
        try:
            infos = socket.getaddrinfo(endpoint.host, endpoint.port, type=kind)
            family, _, _, _, address = infos[0]
            sock = socket.socket(family, kind)
        except OSError as e:
            raise OSError(f"cannot listen on {endpoint}: {e.strerror or e}") from e
        try:
            if kind == socket.SOCK_STREAM:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            else:
                _large_receive_buffer(sock)
            sock.bind(address)
            if kind == socket.SOCK_STREAM:
                sock.listen(1024)
                sock.setblocking(False)
        except OSError as e:
            sock.close()
            why = e.strerror or str(e)
            if e.errno == errno.EACCES and endpoint.port < 1024:
                why += " (ports below 1024 need root; use 5514 and point senders at it)"
            raise OSError(f"cannot listen on {endpoint}: {why}") from e
        return sock

    def _tls_context(self) -> ssl.SSLContext:
        cert, key = self.tls
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as e:
            why = f"cannot load the syslog TLS certificate {cert} and key {key}: {e}"
            raise OSError(why) from e
        return context

    def _spawn(self, name: str, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _close_sockets(self) -> None:
        for sock in self._udp:
            sock.close()
        for _, sock in self._stream:
            sock.close()
        self._udp.clear()
        self._stream.clear()

    # --- UDP ------------------------------------------------------------------------------

    def _receive_udp(self, sock: socket.socket) -> None:
        offer = self.sink.offer
        recv = sock.recvfrom
        dontwait = socket.MSG_DONTWAIT
        while not self._stopping.is_set():
            try:
                data, address = recv(65536)
            except OSError:
                if self._stopping.is_set():
                    return
                continue
            if not data and self._stopping.is_set():
                return
            batches: dict[str, list[bytes]] = {}
            for _ in range(UDP_BATCH):
                if data:
                    _datagram(data, batches.setdefault(_source(address), []))
                try:
                    data, address = recv(65536, dontwait)
                except OSError:  # nothing more waiting (or the socket is shut down)
                    data = b""
                    break
            if data:
                _datagram(data, batches.setdefault(_source(address), []))
            for source, frames in batches.items():
                frames = _texts(frames) if any(b"\x00" in f for f in frames) else frames
                if frames:
                    try:
                        offer(frames, source, framed=True)
                    except Exception:
                        log.exception("the syslog sink failed on %d frames", len(frames))

    # --- TCP and TLS ----------------------------------------------------------------------

    def _start_loop(self, context: ssl.SSLContext | None) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._spawn("syslog-stream", run)
        ready.wait(5)
        try:
            future = asyncio.run_coroutine_threadsafe(self._serve(context), loop)
            future.result(timeout=10)
        except BaseException:
            self.stop()
            raise

    async def _serve(self, context: ssl.SSLContext | None) -> None:
        loop = asyncio.get_running_loop()
        for transport, sock in self._stream:
            tls = context if transport == "tls" else None
            server = await loop.create_server(
                lambda tls=tls: _Connection(self, tls is not None),
                sock=sock,
                ssl=tls,
                ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT if tls else None,
            )
            self._servers.append(server)
        self._sweeper = loop.create_task(self._sweep())

    async def _sweep(self) -> None:
        """Close connections whose frame has waited for its end longer than idle_timeout."""
        pause = max(0.01, min(1.0, self.idle_timeout / 4))
        while True:
            await asyncio.sleep(pause)
            now = time.monotonic()
            for connection in list(self._connections):
                if connection.framer.pending and now - connection.last > self.idle_timeout:
                    connection.expire()

    async def _close_all(self) -> None:
        for server in self._servers:
            server.close()
        for connection in list(self._connections):
            connection.transport.abort()
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()
        self._servers.clear()


def _large_receive_buffer(sock: socket.socket) -> None:
    # SO_RCVBUFFORCE passes net.core.rmem_max when running as root; otherwise the kernel
    # silently caps SO_RCVBUF at it (the README says how to raise it).
    try:
        sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), UDP_RCVBUF)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RCVBUF)


def _datagram(data: bytes, frames: list[bytes]) -> None:
    if data.endswith(b"\n"):
        data = data[:-1]
        if data.endswith(b"\r"):
            data = data[:-1]
    if b"\n<" in data:
        lines = data.split(b"\n")
        if all(line.startswith(b"<") for line in lines):
            frames.extend(line.removesuffix(b"\r") for line in lines)
            return
    if data:
        frames.append(data)


class _Connection(asyncio.Protocol):
    __slots__ = ("_paused", "framer", "last", "owner", "source", "tls", "transport")

    def __init__(self, owner: Receivers, tls: bool) -> None:
        self.owner = owner
        self.tls = tls
        self.framer = Framer(owner.max_frame)
        self.transport: asyncio.Transport | None = None
        self.source = ""
        self.last = time.monotonic()
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.source = _source(transport.get_extra_info("peername") or "")
        if len(self.owner._connections) >= self.owner.max_connections:
            log.warning(
                "syslog: %s refused, already %d connections",
                self.source,
                self.owner.max_connections,
            )
            transport.abort()
            return
        self.owner._connections.add(self)

    def data_received(self, data: bytes) -> None:
        self.last = time.monotonic()
        framer = self.framer
        too_long = framer.too_long
        frames = framer.feed(data)
        if framer.too_long != too_long:
            _drop("too_long", framer.too_long - too_long)
        if not frames:
            return
        if b"\x00" in data:
            frames = _texts(frames)
        try:
            taken = self.owner.sink.offer(frames, self.source, framed=True)
        except Exception:
            log.exception("the syslog sink failed on %d frames", len(frames))
            return
        if taken < len(frames) and not self._paused:
            self._paused = True
            self.transport.pause_reading()
            asyncio.get_running_loop().call_later(PAUSE_WHEN_FULL, self._resume)

    def _resume(self) -> None:
        self._paused = False
        if not self.transport.is_closing():
            self.transport.resume_reading()

    def eof_received(self) -> bool | None:
        self._finish()
        return None  # close the connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish()
        self.owner._connections.discard(self)

    def expire(self) -> None:
        log.info(
            "syslog: %s closed after %.0f s inside a frame", self.source, self.owner.idle_timeout
        )
        self._finish()
        self.transport.abort()

    def _finish(self) -> None:
        framer = self.framer
        unfinished = framer.unfinished
        frames = _texts(framer.close())
        if framer.unfinished != unfinished:
            _drop("unfinished", framer.unfinished - unfinished)
        if frames:
            try:
                self.owner.sink.offer(frames, self.source, framed=True)
            except Exception:
                log.exception("the syslog sink failed on %d frames", len(frames))
