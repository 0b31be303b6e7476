"""Running the Slack app: Socket Mode (no inbound port) or HTTP with a health check."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterable

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk.signature import SignatureVerifier

from bot import metrics
from bot.feed.http_ingest import INGEST_PATH, ingest_app
from bot.feed.sink import Sink
from bot.http_body import REASONS, Refused, close_after_response, read_limited
from bot.settings import busy_timeout_ms, database_path, ingest_max_bytes, ingest_token
from kb.store import Store

log = logging.getLogger("spibot.server")
EVENTS_PATH = "/slack/events"
# Slack's payloads are a few KB (a 40,000-character message with its blocks stays far below
# this); anything bigger is refused before it is read.
MAX_BODY_BYTES = 1024 * 1024
# Unix seconds. Longer digit strings are junk, and int() refuses past 4,300 digits anyway.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def health(db_path: str | None) -> tuple[int, dict]:
    """200 when the knowledge base answers and can take writes, 503 with the reason otherwise
    (missing, removed or replaced under the running bot, read-only, disk full, broken).

    Opens the file read-only: a health check never creates or writes anything.
    """
    try:
        path, busy_ms = database_path(db_path), busy_timeout_ms()
        with Store(path, busy_ms=busy_ms, seed=False, create=False, read_only=True) as store:
            store.db.execute("select count(*) from articles").fetchone()
            problem = store.write_problem()
    except Exception as exc:  # a StoreError or anything else: either way, not healthy
        return 503, {"ok": False, "database": str(exc)}
    if problem:
        return 503, {"ok": False, "database": problem}
    return 200, {"ok": True, "database": "ok"}


def read_body(environ: dict) -> bytes:
    """A Slack request's body, refused past MAX_BODY_BYTES (see bot/http_body.py)."""
    return read_limited(environ, MAX_BODY_BYTES)


def check_signature(verifier: SignatureVerifier, environ: dict, body: bytes) -> None:
    """Slack's signature, checked before Bolt parses anything: a forged request costs one HMAC
    and one log line, and its body is never logged (Bolt's own check logs it in full)."""
    timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise Refused(401, "missing or malformed X-Slack-Request-Timestamp")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "body is not UTF-8") from None
    if not verifier.is_valid(text, timestamp, environ.get("HTTP_X_SLACK_SIGNATURE", "")):
        raise Refused(401, "bad or stale signature")


def refuse(refusal: Refused, environ: dict, start_response: Callable) -> Iterable[bytes]:
    log.warning(
        "refused %s %.100r from %s: %s",  # %r: a path may hold a decoded newline
        environ.get("REQUEST_METHOD"),
        environ.get("PATH_INFO"),
        environ.get("REMOTE_ADDR"),
        refusal,
    )
    if refusal.unread:
        close_after_response(start_response)
    payload = json.dumps({"error": str(refusal)}).encode()
    start_response(
        f"{refusal.status} {REASONS[refusal.status]}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
    )
    return [payload]


def wsgi_app(app: App, db_path: str | None, signing_secret: str, ingest: Sink | None = None):
    """POST /slack/events (and the OAuth pages) to Bolt once the body is within its limit and,
    for events, signed; GET /healthz and /metrics here; POST /ingest to `ingest` when it is
    given and SPIBOT_INGEST_TOKEN is set (bot/feed/http_ingest.py); 404 otherwise."""
    slack = SlackRequestHandler(app, path=EVENTS_PATH)
    verifier = SignatureVerifier(signing_secret)
    token = ingest_token()
    # Settings are read once, here: a bad SPIBOT_INGEST_MAX_BYTES stops the start, not a request.
    feed = ingest_app(ingest, token, ingest_max_bytes()) if token and ingest is not None else None

    def application(environ, start_response):
        method, path = environ.get("REQUEST_METHOD"), environ.get("PATH_INFO", "")
        if feed is not None and path == INGEST_PATH:
            return feed(environ, start_response)
        if method == "GET" and path in ("/healthz", "/metrics"):
            if path == "/healthz":
                status, body = health(db_path)
                payload, content_type = json.dumps(body).encode(), "application/json"
            else:
                status, (payload, content_type) = 200, metrics.exposition()
            start_response(
                f"{status} {'OK' if status == 200 else 'Service Unavailable'}",
                [("Content-Type", content_type), ("Content-Length", str(len(payload)))],
            )
            return [payload]
        try:
            body = read_body(environ)
            if method == "POST" and path == EVENTS_PATH:
                check_signature(verifier, environ, body)
        except Refused as refusal:
            return refuse(refusal, environ, start_response)
        # Bolt reads CONTENT_LENGTH bytes: hand it the body already read, chunked or not.
        environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
        return slack(environ, start_response)

    return application


def serve_socket_mode(app: App, app_token: str) -> None:
    log.info("spibot: connecting to Slack in Socket Mode")
    SocketModeHandler(app, app_token).start()


def serve_gunicorn(
    make_app: Callable[[], tuple[App, Sink | None]],
    db_path: str | None,
    signing_secret: str,
    host: str,
    port: int,
    workers: int,
    on_worker_exit: Callable[[], None] = lambda: None,
) -> None:
    """HTTP on gunicorn: `workers` processes with threads each; every worker builds its own
    Bolt app and database connections after the fork."""
    # PROMETHEUS_MULTIPROC_DIR must be set before prometheus-client is first imported, so
    # `spibot serve` sets it before importing this module.
    from gunicorn.app.base import BaseApplication
    from prometheus_client import multiprocess

    from bot.worker import DeadlineThreadWorker

    def when_ready(server) -> None:
        address, bound = server.LISTENERS[0].sock.getsockname()[:2]
        log.info(
            "spibot: listening on http://%s:%s (POST %s, GET /healthz, GET /metrics) "
            "with %s worker(s)",
            f"[{address}]" if ":" in address else address,
            bound,
            EVENTS_PATH,
            workers,
        )

    def child_exit(server, worker) -> None:
        multiprocess.mark_process_dead(worker.pid)

    def worker_exit(server, worker) -> None:  # in the worker, on its way out
        on_worker_exit()

    class Server(BaseApplication):
        def load_config(self) -> None:
            options = {
                "bind": f"{host}:{port}",
                "workers": workers,
                "worker_class": DeadlineThreadWorker,
                "threads": 8,
                "timeout": 30,  # the worker's heartbeat; a request's reading has its own deadline
                "graceful_timeout": 10,
                "keepalive": 5,
                # Slack's request lines and headers are short: these bound what one request's
                # head may hold (about 400 KB) well above anything Slack or a browser sends.
                "limit_request_line": 2048,
                "limit_request_fields": 50,
                "limit_request_field_size": 8190,
                "accesslog": None,
                "loglevel": "warning",
                "when_ready": when_ready,
                "child_exit": child_exit,
                "worker_exit": worker_exit,
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            app, ingest = make_app()
            return wsgi_app(app, db_path, signing_secret, ingest=ingest)

    Server().run()
