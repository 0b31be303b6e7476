"""A fake Slack Web API on a free loopback port that records every call the bot makes.

Also a local Socket Mode WebSocket endpoint, and helpers to sign requests to the app the way
Slack does. Never reaches slack.com.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode

from slack_sdk.signature import SignatureVerifier

from bot.settings import BOT_SCOPES

BOT_USER, BOT_ID, TEAM = "UBOT", "BBOT", "T0FAKE"
# How often a test server's serve_forever looks for shutdown(): the default 0.5 s made every
# test that stops a server wait half a second for nothing.
POLL_SECONDS = 0.01


class FakeSlack:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.times: list[float] = []  # time.monotonic() of each call, in the order of `calls`
        self.script: dict[str, list[tuple[int, dict, dict]]] = defaultdict(list)
        self.messages: dict[tuple[str, str], dict] = {}
        self.ws_url: str | None = None
        self.scopes: list[str] = list(BOT_SCOPES)
        self._cond = threading.Condition()
        self._ts = itertools.count(1)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                method = self.path.rsplit("/", 1)[-1]
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if "json" in (self.headers.get("Content-Type") or ""):
                    params = json.loads(raw or "{}")
                else:
                    params = dict(parse_qsl(raw))
                auth = self.headers.get("Authorization", "")
                status, headers, body = fake._answer(method, params, auth)
                payload = json.dumps(body).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, args=(POLL_SECONDS,), daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/"

    def start(self) -> FakeSlack:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def next_ts(self) -> str:
        return f"{1700000000 + next(self._ts)}.000100"

    def _answer(self, method: str, params: dict, auth: str) -> tuple[int, dict, dict]:
        with self._cond:
            self.calls.append((method, {**params, "_auth": auth}))
            self.times.append(time.monotonic())
            self._cond.notify_all()
            if self.script[method]:
                return self.script[method].pop(0)
        channel = params.get("channel")
        # Tokens minted by oauth.v2.access name their workspace: xoxb-<team>-token.
        token_team = re.fullmatch(r"Bearer xoxb-(T\w+)-token", auth)
        team = token_team.group(1) if token_team else TEAM
        if method == "auth.test":
            body = {
                "ok": True,
                "url": "https://fake.example/",
                "team": f"Workspace {team}",
                "user": "spibot",
                "team_id": team,
                "user_id": BOT_USER if team == TEAM else f"UBOT{team}",
                "bot_id": BOT_ID if team == TEAM else f"BBOT{team}",
                "is_enterprise_install": False,
            }
            return 200, {"x-oauth-scopes": ",".join(self.scopes)}, body
        if method == "oauth.v2.access":
            code_team = str(params.get("code", "")).removeprefix("code-")
            body = {
                "ok": True,
                "app_id": "A0FAKE",
                "authed_user": {"id": f"U{code_team}"},
                "scope": ",".join(self.scopes),
                "token_type": "bot",
                "access_token": f"xoxb-{code_team}-token",
                "bot_user_id": f"UBOT{code_team}",
                "team": {"id": code_team, "name": f"Workspace {code_team}"},
                "enterprise": None,
                "is_enterprise_install": False,
            }
            return 200, {}, body
        if method == "chat.postMessage":
            return 200, {}, {"ok": True, "channel": channel, "ts": self.next_ts()}
        if method == "chat.update":
            return 200, {}, {"ok": True, "channel": channel, "ts": params.get("ts")}
        if method == "chat.postEphemeral":
            return 200, {}, {"ok": True, "message_ts": self.next_ts()}
        if method == "chat.getPermalink":
            ts = str(params.get("message_ts", "")).replace(".", "")
            return (
                200,
                {},
                {"ok": True, "permalink": f"https://fake.example/archives/{channel}/p{ts}"},
            )
        if method == "conversations.replies":
            message = self.messages.get((channel, params.get("ts")))
            return 200, {}, {"ok": True, "messages": [message] if message else []}
        if method == "apps.connections.open":
            return 200, {}, {"ok": True, "url": self.ws_url}
        return 200, {}, {"ok": True}

    def calls_to(self, method: str) -> list[dict]:
        with self._cond:
            return [params for name, params in self.calls if name == method]

    def times_of(self, method: str) -> list[float]:
        """When each call to `method` arrived (time.monotonic()), in order."""
        with self._cond:
            return [
                at for (name, _), at in zip(self.calls, self.times, strict=True) if name == method
            ]

    def wait_for(self, method: str, count: int = 1, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [p for name, p in self.calls if name == method]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{method} called {len(found)} times, wanted {count}")
                self._cond.wait(left)


def sign(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}


def event_body(event: dict, event_id: str, team: str = TEAM) -> str:
    return json.dumps(
        {
            "token": "legacy",
            "team_id": team,
            "api_app_id": "A0FAKE",
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [{"team_id": team, "user_id": BOT_USER, "is_bot": True}],
        }
    )


_TRIGGERS = itertools.count(1)


def command_body(
    text: str,
    channel: str = "C1",
    user: str = "U1",
    team: str = TEAM,
    trigger_id: str | None = None,
) -> str:
    """A /spi request; each has its own trigger_id, as each invocation in Slack does."""
    return urlencode(
        {
            "command": "/spi",
            "text": text,
            "team_id": team,
            "channel_id": channel,
            "user_id": user,
            "response_url": "https://fake.example/respond",
            "trigger_id": trigger_id or f"trigger-{next(_TRIGGERS)}",
        }
    )


def interaction_body(payload: dict) -> str:
    return urlencode({"payload": json.dumps(payload)})
