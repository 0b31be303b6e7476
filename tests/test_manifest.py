"""The manifests an admin pastes match what the bot handles and calls."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.listeners.shortcut import SHORTCUT
from bot.settings import BOT_SCOPES

ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = ["slack-manifest.yaml", "slack-manifest-http.yaml"]


@pytest.mark.parametrize("name", MANIFESTS)
def test_manifest_matches_the_handlers(name: str) -> None:
    manifest = yaml.safe_load((ROOT / name).read_text())
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {"message.channels", "message.groups", "message.im", "message.mpim"} <= events
    assert {"app_mention", "reaction_added", "app_home_opened"} <= events
    scopes = manifest["oauth_config"]["scopes"]["bot"]
    # Exactly the code's list, which OAuth installs ask for and `doctor` checks: a scope added
    # to one and not the other is a broken install or a false "missing scopes".
    assert sorted(scopes) == sorted(BOT_SCOPES)
    assert len(set(scopes)) == len(scopes)
    # each event needs its scope; replies, updates and conversations.replies need these
    needed = {"channels:history", "groups:history", "im:history", "mpim:history"}
    needed |= {"app_mentions:read", "reactions:read", "chat:write", "commands"}
    assert needed <= set(BOT_SCOPES)
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == "/spi"
    [shortcut] = manifest["features"]["shortcuts"]
    assert shortcut["callback_id"] == SHORTCUT and shortcut["type"] == "message"
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    http = manifest["settings"]["socket_mode_enabled"] is False
    assert name.endswith("http.yaml") == http
    if http:
        urls = {
            command["url"],
            manifest["settings"]["event_subscriptions"]["request_url"],
            manifest["settings"]["interactivity"]["request_url"],
        }
        assert len(urls) == 1 and urls.pop().endswith("/slack/events")
