"""Many workspaces: installed through OAuth against the fake Slack, each kept to itself."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from kb.store import Store
from tests.conftest import PASTES, spibot
from tests.slack_harness import SlackHarness

PASTE = (PASTES / "out-of-sync.txt").read_text()


@pytest.fixture
def slack(tmp_path: Path):
    harness = SlackHarness(tmp_path, oauth=True)
    yield harness
    harness.close()


def install(slack: SlackHarness, team: str) -> None:
    status, page, headers = slack.get_full("/slack/install")
    assert status == 200
    link = re.search(r'href="([^"]+oauth/v2/authorize[^"]+)"', page).group(1).replace("&amp;", "&")
    query = parse_qs(urlparse(link).query)
    assert query["client_id"] == ["1111.2222"] and "chat:write" in query["scope"][0]
    state = query["state"][0]
    cookie = headers["set-cookie"].split(";")[0]
    status, page = slack.get(
        f"/slack/oauth_redirect?code=code-{team}&state={state}", {"Cookie": cookie}
    )
    assert status == 200, page


def message(team: str, ts: str, text: str = PASTE) -> dict:
    return {
        "type": "message",
        "channel": f"C{team}",
        "user": "U1",
        "text": text,
        "ts": ts,
        "team": team,
    }


def test_two_workspaces_keep_their_data_apart(slack: SlackHarness) -> None:
    install(slack, "T1")
    install(slack, "T2")
    assert [c["code"] for c in slack.fake.calls_to("oauth.v2.access")] == ["code-T1", "code-T2"]

    slack.post(
        _event(message("T1", "1700000001.000100"), "EvT1a", "T1"),
        "application/json",
    )
    [reply] = slack.fake.wait_for("chat.postMessage")
    assert reply["_auth"] == "Bearer xoxb-T1-token" and reply["channel"] == "CT1"

    status, body = slack.command("note 198.51.100.7 only workspace one knows this", team="T1")
    assert status == 200 and "added to incident" in json.loads(body)["text"]
    seen_by_one = json.loads(slack.command("198.51.100.7", team="T1")[1])["text"]
    seen_by_two = json.loads(slack.command("198.51.100.7", team="T2")[1])["text"]
    assert "only workspace one knows this" in seen_by_one
    assert "only workspace one knows this" not in seen_by_two and "Nothing found" in seen_by_two
    assert (
        "only workspace one"
        not in json.loads(slack.command("only workspace", team="T2")[1])["text"]
    )

    with Store(slack.db, team="T2") as two:
        assert two.counts()["incidents"] == 0 and two.incidents() == []
    with Store(slack.db, team="T1") as one:
        incident = one.incidents()[0]
        assert incident.peer == "198.51.100.7"

    # T2 presses "This fixed it" carrying T1's incident id: refused, T1's incident untouched.
    payload = {
        "type": "block_actions",
        "user": {"id": "U9", "team_id": "T2"},
        "team": {"id": "T2"},
        "api_app_id": "A0FAKE",
        "trigger_id": "t",
        "container": {"type": "message", "message_ts": "1700000099.000100", "channel_id": "CT2"},
        "channel": {"id": "CT2"},
        "message": {"ts": "1700000099.000100", "blocks": []},
        "actions": [
            {
                "action_id": "spi_fixed",
                "block_id": "b",
                "type": "button",
                "action_ts": "1",
                "value": json.dumps({"incident": incident.id, "article": "rekey-race"}),
            }
        ],
    }
    assert slack.interact(payload)[0] == 200
    slack.executor.drain()
    with Store(slack.db, team="T1") as one:
        assert (
            one.incident(incident.id).status == "open"
            and one.incident(incident.id).fixed_by is None
        )
    assert slack.fake.calls_to("chat.update") == []
    [refusal] = slack.fake.calls_to("chat.postEphemeral")
    assert (
        refusal["text"] == f"Not recorded: no incident #{incident.id}."
        and refusal["_auth"] == "Bearer xoxb-T2-token"
    )


def test_a_workspace_that_never_installed_is_refused(slack: SlackHarness) -> None:
    install(slack, "T1")
    status, body = slack.post(
        _event(message("T3", "1700000002.000100"), "EvT3", "T3"), "application/json"
    )
    slack.executor.drain()
    assert status == 200 and "reinstall this app" in body  # Bolt's refusal, acked so Slack stops
    assert slack.fake.calls_to("chat.postMessage") == []
    with Store(slack.db, team="T3") as three:
        assert three.counts()["incidents"] == 0


def _event(event: dict, event_id: str, team: str) -> str:
    from tests.fakeslack import event_body

    return event_body(event, event_id, team=team)


def test_the_terminal_works_on_the_workspace_spibot_team_names(tmp_path: Path) -> None:
    db = str(tmp_path / "kb.db")
    with Store(db, team="T1") as one:
        one.add_note(peer="198.51.100.7", text="seen in workspace one")

    def lookup(team: str | None) -> str:
        env = {"SPIBOT_TEAM": team} if team else {}
        return spibot("lookup", "198.51.100.7", "--db", db, env=env).stdout

    assert "seen in workspace one" in lookup("T1")
    assert "seen in workspace one" not in lookup("T2")
    assert "seen in workspace one" not in lookup(None)
