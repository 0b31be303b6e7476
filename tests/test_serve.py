"""`spibot serve` as an admin runs it: settings errors in one line, a real HTTP server."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PASTES, spibot, wait_until
from tests.fakeslack import FakeSlack, event_body
from tests.slack_harness import ServeProcess


def serve(args: list[str], env: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    return spibot("serve", *args, "--db", str(tmp_path / "kb.db"), env=env, cwd=tmp_path)


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        ([], {}, "SLACK_BOT_TOKEN is not set: find it in your Slack app's OAuth & Permissions"),
        (
            [],
            {"SLACK_BOT_TOKEN": "xoxb-1"},
            "SLACK_APP_TOKEN is not set: find it in your Slack app's Basic Information > App-Level Tokens",
        ),
        (
            ["--http"],
            {"SLACK_BOT_TOKEN": "xoxb-1"},
            "SLACK_SIGNING_SECRET is not set: find it in your Slack app's Basic Information > App Credentials",
        ),
        (
            [],
            {"SLACK_BOT_TOKEN": "xapp-1", "SLACK_APP_TOKEN": "xapp-2"},
            "SLACK_BOT_TOKEN does not start with xoxb-",
        ),
        (
            ["--http"],
            {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "PORT": "http"},
            "PORT must be a TCP port number",
        ),
        (
            ["--http"],
            {
                "SLACK_BOT_TOKEN": "xoxb-1",
                "SLACK_SIGNING_SECRET": "s",
                "SLACK_API_URL": "slack.com",
            },
            "SLACK_API_URL must be an http(s) URL",
        ),
    ],
)
def test_missing_or_wrong_settings_give_one_clear_line(tmp_path: Path, args, env, says) -> None:
    result = serve(args, env, tmp_path)
    assert result.returncode == 2
    assert says in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_token_slack_refuses_is_one_clear_line(tmp_path: Path) -> None:
    fake = FakeSlack().start()
    fake.script["auth.test"].append((200, {}, {"ok": False, "error": "invalid_auth"}))
    try:
        result = serve(
            ["--http"],
            {
                "SLACK_BOT_TOKEN": "xoxb-revoked",
                "SLACK_SIGNING_SECRET": "s",
                "SLACK_API_URL": fake.url,
            },
            tmp_path,
        )
    finally:
        fake.stop()
    assert result.returncode == 2
    assert "Slack refused SLACK_BOT_TOKEN (invalid_auth)" in result.stderr
    assert "Traceback" not in result.stderr


def test_env_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=xoxb-from-dotenv\n")
    result = serve([], {}, tmp_path)
    assert "SLACK_APP_TOKEN is not set" in result.stderr  # got past the bot token: .env was read


def test_serve_http_answers_health_metrics_and_signed_events(tmp_path: Path) -> None:
    fake = FakeSlack().start()
    server = ServeProcess(fake, tmp_path / "kb.db")
    try:
        status, body = server.get("/healthz")
        assert status == 200 and json.loads(body)["ok"] is True
        paste = (PASTES / "rekey-race.txt").read_text()
        event = {
            "type": "message",
            "channel": "C9",
            "user": "U1",
            "text": paste,
            "ts": "1700000001.000100",
        }
        assert server.post(event_body(event, "EvSERVE1"), "application/json")[0] == 200
        [reply] = fake.wait_for("chat.postMessage", timeout=15)
        assert reply["channel"] == "C9" and "rekey-race" in json.dumps(reply["blocks"])

        def counted() -> str:  # the counters are bumped just after the post; this one last
            exposition = server.get("/metrics")[1]
            return exposition if 'spibot_replies_total{kind="post"} 1.0' in exposition else ""

        exposition = wait_until(counted, what="the reply to be counted")
        assert "spibot_pastes_diagnosed_total 1.0" in exposition
        assert 'spibot_replies_total{kind="post"} 1.0' in exposition
        assert "spibot_diagnose_seconds_count 1.0" in exposition
    finally:
        server.stop()
        fake.stop()


def test_an_unreachable_api_url_is_one_clear_line(tmp_path: Path) -> None:
    result = serve(
        ["--http"],
        {
            "SLACK_BOT_TOKEN": "xoxb-1",
            "SLACK_SIGNING_SECRET": "s",
            "SLACK_API_URL": "http://127.0.0.1:9/api/",
        },
        tmp_path,
    )
    assert result.returncode == 2
    assert "cannot reach SLACK_API_URL http://127.0.0.1:9/api/" in result.stderr
    assert "Traceback" not in result.stderr
