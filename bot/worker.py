"""gunicorn's threaded worker, with a deadline for reading each request.

gthread waits in its event loop until a new connection is readable, then hands it to one of
its threads, which reads the rest of the request with blocking reads and no timeout. A client
that sends its headers a byte at a time, or a body slower than its Content-Length promised,
keeps that thread for as long as it likes; eight such clients hold every thread of a worker
and /healthz waits behind them. gunicorn has no setting for this: its `timeout` is the
worker's heartbeat, which the event loop keeps beating while the threads are stuck.

Here a watchdog shuts the reading side of every connection a thread has held for longer than
READ_DEADLINE_SECONDS. A read blocked on it returns at once with end-of-file, gunicorn drops
the request and the thread is free. Writing is left alone, so a request that was read in time
still gets its answer however long the answer takes.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

from gunicorn.workers.gthread import TConn, ThreadWorker

# Slack sends a few KB at once and wants its answer within 3 s; a proxy in front sends whole
# requests over loopback. Neither comes close.
READ_DEADLINE_SECONDS = 5.0
_TICK_SECONDS = 0.25


# An authenticated POST /ingest may carry a collector's 10 MB batch over a slow link: its
# reading gets this rate at least (10 MB: 45 s), up to MAX_INGEST_SECONDS.
INGEST_BYTES_PER_SECOND = 256 * 1024
MAX_INGEST_SECONDS = 60.0
_worker: DeadlineThreadWorker | None = None  # this process's worker, once it runs


def allow_reading(environ: dict, body_bytes: int | None) -> None:
    """More time to read this request's body (None: chunked, of unknown length). Called only
    once the client has proved who it is: anyone else keeps READ_DEADLINE_SECONDS."""
    worker, sock = _worker, environ.get("gunicorn.socket")
    if worker is None or sock is None:
        return  # not under gunicorn (spibot listen --http, tests): no deadline to move
    seconds = MAX_INGEST_SECONDS
    if body_bytes is not None:
        seconds = min(seconds, READ_DEADLINE_SECONDS + body_bytes / INGEST_BYTES_PER_SECOND)
    until = time.monotonic() + seconds
    with worker._held_lock:
        for key, (held, deadline) in worker._held.items():
            if held is sock:
                worker._held[key] = (held, max(deadline, until))


class DeadlineThreadWorker(ThreadWorker):
    def init_process(self) -> None:
        global _worker
        _worker = self
        self._held: dict[int, tuple[socket.socket, float]] = {}
        self._held_lock = threading.Lock()
        threading.Thread(target=self._enforce_deadlines, name="read-deadlines", daemon=True).start()
        super().init_process()  # runs the worker until it exits

    def handle(self, conn: TConn):
        with self._held_lock:
            self._held[id(conn)] = (conn.sock, time.monotonic() + READ_DEADLINE_SECONDS)
        try:
            return super().handle(conn)
        finally:
            with self._held_lock:
                self._held.pop(id(conn), None)

    def _enforce_deadlines(self) -> None:
        while True:
            time.sleep(_TICK_SECONDS)
            now = time.monotonic()
            with self._held_lock:
                late = [key for key, (_, deadline) in self._held.items() if deadline <= now]
                socks = [self._held.pop(key)[0] for key in late]
            for sock in socks:
                with contextlib.suppress(OSError):  # the client or gunicorn closed it meanwhile
                    sock.shutdown(socket.SHUT_RD)
