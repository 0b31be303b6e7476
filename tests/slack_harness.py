"""The real Bolt app behind a real HTTP server, talking to the fake Slack."""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import urllib.error
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from bot.server import wsgi_app
from bot.settings import Settings
from bot.slack_app import ACK_THREADS, BACKGROUND_THREADS, build_app
from tests.conftest import CLEAN_ENV, SPIBOT
from tests.fakeslack import (
    POLL_SECONDS,
    FakeSlack,
    command_body,
    event_body,
    interaction_body,
    sign,
)

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args) -> None:
        pass


def make_http_server(app, db: str, host: str, port: int) -> WSGIServer:
    """The same WSGI app gunicorn serves, on a threaded stdlib server inside the test."""
    return make_server(
        host,
        port,
        wsgi_app(app, db, SECRET),
        server_class=_ThreadingServer,
        handler_class=_QuietHandler,
    )


class TrackingExecutor(ThreadPoolExecutor):
    """A listener pool with a way to wait until every queued listener has run, in it and in
    the pools it hands work to (`then`: the paste pool behind Bolt's)."""

    def __init__(self, max_workers: int, then: TrackingExecutor | None = None) -> None:
        super().__init__(max_workers=max_workers)
        self.max_workers = max_workers
        self._futures: list[Future] = []
        self._lock = threading.Lock()
        self.then = then

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future = super().submit(fn, *args, **kwargs)
        with self._lock:
            self._futures.append(future)
        return future

    def drain(self, timeout: float = 10.0) -> None:
        while True:
            with self._lock:
                pending = [f for f in self._futures if not f.done()]
            if not pending:
                break
            for future in pending:
                future.result(timeout=timeout)
        if self.then is not None:
            self.then.drain(timeout)


class SlackHarness:
    def __init__(self, tmp_path: Path, reaction: str = "pushpin", oauth: bool = False) -> None:
        self.fake = FakeSlack().start()
        self.db = str(tmp_path / "kb.db")
        self.settings = Settings(
            bot_token="" if oauth else "xoxb-test-token",
            app_token=None,
            signing_secret=SECRET,
            api_url=self.fake.url,
            port=0,
            note_reaction=reaction,
            client_id="1111.2222" if oauth else None,
            client_secret="oauth-client-secret" if oauth else None,
        )
        # The production pool sizes, so that tests of starvation say something about them.
        self.background = TrackingExecutor(BACKGROUND_THREADS)
        self.executor = TrackingExecutor(ACK_THREADS, then=self.background)
        self.app = build_app(
            self.settings, self.db, executor=self.executor, background_executor=self.background
        )
        self.server = make_http_server(self.app, self.db, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, args=(POLL_SECONDS,), daemon=True
        )
        self.thread.start()
        self._ids = 0

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.executor.shutdown(wait=True)
        self.background.shutdown(wait=True)
        self.fake.stop()

    def post(
        self,
        body: str,
        content_type: str,
        headers: dict | None = None,
        secret: str = SECRET,
        timestamp: int | None = None,
    ) -> tuple[int, str]:
        request = urllib.request.Request(
            f"{self.url}/slack/events",
            data=body.encode(),
            headers={
                "Content-Type": content_type,
                **sign(secret, body, timestamp),
                **(headers or {}),
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def event(self, event: dict, event_id: str | None = None, headers: dict | None = None, **kw):
        if event_id is None:
            self._ids += 1
            event_id = f"Ev{self._ids:06d}"
        return self.post(event_body(event, event_id), "application/json", headers, **kw)

    def command(self, text: str, **kw) -> tuple[int, str]:
        return self.post(command_body(text, **kw), "application/x-www-form-urlencoded")

    def interact(self, payload: dict) -> tuple[int, str]:
        return self.post(interaction_body(payload), "application/x-www-form-urlencoded")

    def get(self, path: str, headers: dict | None = None) -> tuple[int, str]:
        status, body, _ = self.get_full(path, headers)
        return status, body

    def get_full(self, path: str, headers: dict | None = None) -> tuple[int, str, dict]:
        request = urllib.request.Request(f"{self.url}{path}", headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return (
                    response.status,
                    response.read().decode(),
                    {k.lower(): v for k, v in response.headers.items()},
                )
        except urllib.error.HTTPError as error:
            return (
                error.code,
                error.read().decode(),
                {k.lower(): v for k, v in error.headers.items()},
            )


class ServeProcess:
    """`spibot serve --http` as its own process, on a free loopback port, using the fake.

    `log` collects everything the process writes to standard error. `host=None` leaves the
    bind address to spibot's default."""

    def __init__(
        self,
        fake: FakeSlack,
        db: Path | str,
        *args: str,
        secret: str = SECRET,
        host: str | None = "127.0.0.1",
        env: dict[str, str] | None = None,
    ) -> None:
        env = {
            **CLEAN_ENV,
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_SIGNING_SECRET": secret,
            "SLACK_API_URL": fake.url,
            **(env or {}),
        }
        command = [*SPIBOT, "serve", "--http", "--port", "0", *(["--host", host] if host else [])]
        self.secret = secret
        self.process = subprocess.Popen(
            [*command, "--db", str(db), *args], env=env, stderr=subprocess.PIPE, text=True
        )
        self.log: list[str] = []
        for _ in range(50):
            line = self.process.stderr.readline()
            self.log.append(line)
            found = re.search(r"http://127\.0\.0\.1:(\d+)", line)
            if found:
                self.port = int(found.group(1))
                threading.Thread(target=self._keep_log, daemon=True).start()
                return
        self.process.kill()
        raise AssertionError(f"spibot serve did not start: {self.first_line}")

    @property
    def first_line(self) -> str:
        return next((line for line in self.log if line), "")

    def log_size(self) -> int:
        return sum(len(line) for line in list(self.log))

    def _keep_log(self) -> None:
        for line in self.process.stderr:
            self.log.append(line)

    def post(self, body: str, content_type: str) -> tuple[int, str]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/slack/events",
            data=body.encode(),
            headers={"Content-Type": content_type, **sign(self.secret, body)},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return response.status, response.read().decode()
        except OSError as exc:  # e.g. a request caught by a worker that was killed
            return 0, str(exc)

    def get(self, path: str) -> tuple[int, str]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as response:
            return response.status, response.read().decode()

    def stop(self) -> None:
        # Ctrl-C: gunicorn's quick shutdown. SIGTERM's graceful one waits for each worker's
        # event loop to notice, a poll of up to a second, and no test is about it.
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=30)
