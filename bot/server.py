"""Running the Slack app: Socket Mode (no inbound port) or HTTP with a health check."""

from __future__ import annotations

import json
import logging

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot import metrics
from kb.store import Store

log = logging.getLogger("spibot.server")
EVENTS_PATH = "/slack/events"


def health(db_path: str | None) -> tuple[int, dict]:
    """200 when the knowledge base answers and can take writes, 503 with the reason otherwise
    (missing, removed or replaced under the running bot, read-only, disk full, broken).

    Opens the file read-only: a health check never creates or writes anything.
    """
    try:
        with Store(db_path, seed=False, create=False, read_only=True) as store:
            store.db.execute("select count(*) from articles").fetchone()
            problem = store.write_problem()
    except Exception as exc:  # a StoreError or anything else: either way, not healthy
        return 503, {"ok": False, "database": str(exc)}
    if problem:
        return 503, {"ok": False, "database": problem}
    return 200, {"ok": True, "database": "ok"}


def wsgi_app(app: App, db_path: str | None):
    """POST /slack/events (and the OAuth pages) to Bolt, which verifies signatures;
    GET /healthz and /metrics here; 404 otherwise."""
    slack = SlackRequestHandler(app, path=EVENTS_PATH)

    def application(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") == "GET" and path in ("/healthz", "/metrics"):
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
        return slack(environ, start_response)

    return application


def serve_socket_mode(app: App, app_token: str) -> None:
    log.info("spibot: connecting to Slack in Socket Mode")
    SocketModeHandler(app, app_token).start()


def serve_gunicorn(make_app, db_path: str | None, host: str, port: int, workers: int) -> None:
    """HTTP on gunicorn: `workers` processes with threads each; every worker builds its own
    Bolt app and database connections after the fork."""
    # PROMETHEUS_MULTIPROC_DIR must be set before prometheus-client is first imported, so
    # `spibot serve` sets it before importing this module.
    from gunicorn.app.base import BaseApplication
    from prometheus_client import multiprocess

    def when_ready(server) -> None:
        bound = server.LISTENERS[0].sock.getsockname()[1]
        log.info(
            "spibot: listening on http://%s:%s (POST %s, GET /healthz, GET /metrics) "
            "with %s worker(s)",
            host,
            bound,
            EVENTS_PATH,
            workers,
        )

    def child_exit(server, worker) -> None:
        multiprocess.mark_process_dead(worker.pid)

    class Server(BaseApplication):
        def load_config(self) -> None:
            options = {
                "bind": f"{host}:{port}",
                "workers": workers,
                "worker_class": "gthread",
                "threads": 8,
                "timeout": 30,
                "graceful_timeout": 10,
                "keepalive": 5,
                "accesslog": None,
                "loglevel": "warning",
                "when_ready": when_ready,
                "child_exit": child_exit,
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            return wsgi_app(make_app(), db_path)

    Server().run()
