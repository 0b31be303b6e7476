"""Socket Mode end to end: the real SocketModeHandler against a local WebSocket fake."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.builtin.connection import Connection
from websockets.sync.server import serve

from bot.settings import Settings
from bot.slack_app import build_app
from tests.conftest import PASTES
from tests.fakeslack import POLL_SECONDS, FakeSlack, event_body

PASTE = (PASTES / "ha-failover.txt").read_text()


class FakeSocket:
    """Slack's side of a Socket Mode connection: hello, then the envelopes; collects acks."""

    def __init__(self, envelopes: list[dict]) -> None:
        self.envelopes = envelopes
        self.acks: list[dict] = []
        self.paths: list[str] = []
        self.done = threading.Event()
        self.server = serve(self._session, "127.0.0.1", 0)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.server.socket.getsockname()[1]}/link?ticket=fake"

    def _session(self, ws) -> None:
        self.paths.append(ws.request.path)
        ws.send(
            json.dumps(
                {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0FAKE"}}
            )
        )
        for envelope in self.envelopes:
            ws.send(json.dumps(envelope))
        try:
            for raw in ws:
                self.acks.append(json.loads(raw))
                if len(self.acks) >= len(self.envelopes):
                    self.done.set()
        except Exception:
            pass

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def prompt_close(monkeypatch):
    """slack-sdk's client closes only between two polls: reads of its socket with a 3 s
    timeout, and of its message queue with a 1 s one; each close() waited up to 4 s. A short
    socket timeout once connected (the handshake keeps its own), and a wake-up for the queue,
    make it prompt. Nothing else about the client changes."""
    connect, close = Connection.connect, SocketModeClient.close

    def connect_then_poll_often(self) -> None:
        connect(self)
        if self.sock is not None:
            self.sock.settimeout(POLL_SECONDS)

    def close_promptly(self) -> None:
        self.closed = True
        self.message_queue.put(None)  # what the message processor waits for; it skips None
        close(self)

    monkeypatch.setattr(Connection, "connect", connect_then_poll_often)
    monkeypatch.setattr(SocketModeClient, "close", close_promptly)


def test_socket_mode_paste_and_command(tmp_path: Path, prompt_close) -> None:
    fake = FakeSlack().start()
    envelopes = [
        {
            "envelope_id": "env-event",
            "type": "events_api",
            "accepts_response_payload": False,
            "retry_attempt": 0,
            "payload": json.loads(
                event_body(
                    {
                        "type": "message",
                        "channel": "C1",
                        "channel_type": "channel",
                        "user": "U1",
                        "text": PASTE,
                        "ts": "1700000001.000100",
                    },
                    "EvSOCKET1",
                )
            ),
        },
        {
            "envelope_id": "env-command",
            "type": "slash_commands",
            "accepts_response_payload": True,
            "payload": {
                "command": "/spi",
                "text": "help",
                "team_id": "T0FAKE",
                "channel_id": "C1",
                "user_id": "U1",
                "trigger_id": "t",
                "response_url": "https://fake.example/r",
            },
        },
    ]
    socket = FakeSocket(envelopes)
    fake.ws_url = socket.url
    settings = Settings("xoxb-test-token", "xapp-test-token", None, fake.url, 0, "pushpin")
    app = build_app(settings, str(tmp_path / "kb.db"))
    handler = SocketModeHandler(app, settings.app_token)
    try:
        handler.connect()
        [reply] = fake.wait_for("chat.postMessage", timeout=15)
        assert reply["thread_ts"] == "1700000001.000100" and "ha-failover" in json.dumps(
            reply["blocks"]
        )
        assert socket.done.wait(10)
        acks = {a["envelope_id"]: a for a in socket.acks}
        assert set(acks) == {"env-event", "env-command"}
        assert "/spi watch on|off" in json.dumps(acks["env-command"].get("payload"))
        [opened] = fake.calls_to("apps.connections.open")
        assert opened["_auth"] == "Bearer xapp-test-token"
    finally:
        handler.close()
        socket.close()
        fake.stop()
