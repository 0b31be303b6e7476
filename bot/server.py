"""Running the Slack app: Socket Mode (no inbound port) or HTTP with a health check."""

from __future__ import annotations

import json
import logging
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler

from kb.store import Store, StoreError

log = logging.getLogger("spibot.server")
EVENTS_PATH = "/slack/events"


def health(db_path: str | None) -> tuple[int, dict]:
    """200 when the knowledge base opens and answers, 503 with the reason otherwise."""
    try:
        with Store(db_path, seed=False) as store:
            store.db.execute("select count(*) from articles").fetchone()
    except (StoreError, Exception) as exc:  # any failure here means "not healthy"
        return 503, {"ok": False, "database": str(exc)}
    return 200, {"ok": True, "database": "ok"}


def wsgi_app(app: App, db_path: str | None):
    """POST /slack/events to Bolt (signatures verified there), GET /healthz, 404 otherwise."""
    slack = SlackRequestHandler(app, path=EVENTS_PATH)

    def application(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/healthz" and environ.get("REQUEST_METHOD") == "GET":
            status, body = health(db_path)
            payload = json.dumps(body).encode()
            start_response(
                f"{status} {'OK' if status == 200 else 'Service Unavailable'}",
                [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
            )
            return [payload]
        return slack(environ, start_response)

    return application


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args) -> None:
        log.debug("%s " + format, self.address_string(), *args)


def make_http_server(app: App, db_path: str | None, host: str, port: int) -> WSGIServer:
    return make_server(
        host,
        port,
        wsgi_app(app, db_path),
        server_class=_ThreadingServer,
        handler_class=_QuietHandler,
    )


def serve_http(app: App, db_path: str | None, host: str, port: int) -> None:
    server = make_http_server(app, db_path, host, port)
    bound = server.server_address[1]
    print(
        f"spibot: listening on http://{host}:{bound} (POST {EVENTS_PATH}, GET /healthz)",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever()
    finally:
        server.server_close()


def serve_socket_mode(app: App, app_token: str) -> None:
    print("spibot: connecting to Slack in Socket Mode", file=sys.stderr, flush=True)
    SocketModeHandler(app, app_token).start()
