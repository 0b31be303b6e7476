"""Each Slack listener called directly: a fake client that records what it is asked, a real
Store on a temporary file, no HTTP. The end-to-end tests (tests/test_slack*.py) stay the
contract for Bolt's side: signatures, acknowledgements, retries."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import Executor, Future
from pathlib import Path

import pytest
from slack_bolt.context import BoltContext

from bot.background import Background
from bot.listeners import Deps, Stores, actions, home, paste, reactions, shortcut, spi, views
from kb.store import Store
from tests.conftest import PASTES

OUT_OF_SYNC = (PASTES / "out-of-sync.txt").read_text()
BOT_ID = "B_SPIBOT"
PERMALINK = "https://example.slack.com/archives/C1/p1700000013000100"


class FakeClient:
    """Records every Web API call as (method, arguments) and answers as Slack would."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.history: list[dict] = []  # what conversations_replies finds
        self._ts = 0

    def __getattr__(self, method: str):
        if method.startswith("_"):
            raise AttributeError(method)

        def call(**kwargs) -> dict:
            self.calls.append((method, kwargs))
            if method == "conversations_replies":
                return {"ok": True, "messages": self.history}
            if method == "chat_getPermalink":
                return {"ok": True, "permalink": PERMALINK}
            self._ts += 1
            return {"ok": True, "ts": f"1700000900.{self._ts:06d}"}

        return call

    def to(self, method: str) -> list[dict]:
        return [kwargs for name, kwargs in self.calls if name == method]


class Inline(Executor):
    """Background work done before the listener returns, so a test reads its outcome."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future


class Ack:
    def __init__(self) -> None:
        self.calls: list[dict] = []

    def __call__(self, **kwargs) -> None:
        self.calls.append(kwargs)


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "kb.db")


@pytest.fixture
def deps(db: str) -> Deps:
    return Deps(
        Stores(db, per_workspace=False, busy_ms=None),
        Stores(db, per_workspace=False, busy_ms=None),
        Background(Inline()),
    )


@pytest.fixture
def client() -> FakeClient:
    return FakeClient()


CONTEXT = BoltContext({"team_id": "T1", "bot_id": BOT_ID})


def message(text: str, ts: str = "1700000001.000100", **extra) -> dict:
    return {"type": "message", "channel": "C1", "user": "U1", "text": text, "ts": ts, **extra}


def answered(client: FakeClient, deps: Deps, ts: str = "1700000001.000100") -> dict:
    """A paste answered in C1, and the "Not it"/"This fixed it"/"Add note" values under it."""
    paste.on_message(message(OUT_OF_SYNC, ts=ts), client, CONTEXT, deps)
    [reply] = client.to("chat_postMessage")
    return reply


def button(reply: dict, action_id: str, article: str | None = None) -> dict:
    for block in reply["blocks"]:
        for element in block.get("elements", []) if block["type"] == "actions" else []:
            value = json.loads(element["value"])
            if element["action_id"] == action_id and article in (None, value.get("article")):
                return {"action_id": action_id, "value": element["value"]}
    raise AssertionError(f"no {action_id} button for {article}")


def clicked(reply: dict, user: str = "U2") -> dict:
    return {
        "user": {"id": user},
        "trigger_id": "trigger-1",
        "channel": {"id": "C1"},
        "container": {"channel_id": "C1", "message_ts": "1700000900.000001"},
        "message": {"ts": "1700000900.000001", "thread_ts": reply["thread_ts"], **reply},
    }


def test_a_paste_is_answered_once_in_its_thread_and_chat_is_not(client, deps, db) -> None:
    paste.on_message(message("morning all, anyone on call?"), client, CONTEXT, deps)
    assert client.calls == []
    reply = answered(client, deps)
    assert reply["channel"] == "C1" and reply["thread_ts"] == "1700000001.000100"
    assert "sa-out-of-sync" in json.dumps(reply["blocks"]) and "198.51.100.7" in reply["text"]
    # The same post delivered again as an app_mention is the same paste: no second answer.
    paste.on_mention(message(OUT_OF_SYNC), client, CONTEXT, deps)
    assert [method for method, _ in client.calls] == ["chat_postMessage"]
    with Store(db) as store:
        assert [i.peer for i in store.incidents()] == ["198.51.100.7"]


def test_bot_pastes_are_answered_only_where_watch_is_on(client, deps) -> None:
    feed = message(OUT_OF_SYNC, subtype="bot_message", bot_id="B_SYSLOG")
    paste.on_message(feed, client, CONTEXT, deps)
    assert client.calls == []
    ack = Ack()
    spi.on_spi(ack, {"text": "watch on", "channel_id": "C1", "user_id": "U1"}, CONTEXT, deps)
    paste.on_message(feed, client, CONTEXT, deps)
    assert len(client.to("chat_postMessage")) == 1
    own = message(OUT_OF_SYNC, ts="1700000002.000100", subtype="bot_message", bot_id=BOT_ID)
    paste.on_message(own, client, CONTEXT, deps)
    assert len(client.to("chat_postMessage")) == 1  # never its own replies


def test_spi_acks_once_with_slack_help_without_touching_the_cli(deps) -> None:
    ack = Ack()
    spi.on_spi(ack, {"text": "help", "channel_id": "C1", "user_id": "U1"}, CONTEXT, deps)
    [answer] = ack.calls
    assert answer["response_type"] == "ephemeral"
    shown = json.dumps(answer["blocks"])
    for form in ("/spi note", "/spi incidents", "/spi watch on|off", "/spi help"):
        assert form in answer["text"], form
    # Slack would eat an unescaped <peer IP> as a link or a mention.
    assert "&lt;peer IP&gt;" in shown and "<peer IP>" not in shown
    assert "paste the log lines in a channel I am in" in shown


def test_spi_note_is_stored_once_per_request_and_said_in_the_ack(deps, db) -> None:
    command = {
        "text": "note 198.51.100.7 cleared SAs on the hub",
        "channel_id": "C1",
        "user_id": "U1",
        "trigger_id": "trigger-9",
    }
    first, retry = Ack(), Ack()
    spi.on_spi(first, command, CONTEXT, deps)
    spi.on_spi(retry, command, CONTEXT, deps)  # Slack's retry of the same request
    assert "Note 1 added to incident #1 for 198.51.100.7" in first.calls[0]["text"]
    assert retry.calls[0]["text"] == first.calls[0]["text"]
    with Store(db) as store:
        assert [n.text for n in store.incidents()[0].notes] == ["cleared SAs on the hub"]


# "Fixed it…", "Not it" and their Undos: tests/test_verdicts.py.


def test_add_note_opens_the_form_and_its_submission_files_one_note(client, deps, db) -> None:
    reply = answered(client, deps)
    actions.on_add_note(Ack(), clicked(reply), button(reply, "spi_add_note"), client)
    [opened] = client.to("views_open")
    view = {**opened["view"], "id": "V1"}
    assert opened["trigger_id"] == "trigger-1"

    def submit(peer: str, note: str) -> Ack:
        ack = Ack()
        values = {"peer": {"value": {"value": peer}}, "note": {"value": {"value": note}}}
        submitted = {**view, "state": {"values": values}}
        views.on_note_submitted(ack, {"user": {"id": "U2"}}, submitted, client, CONTEXT, deps)
        return ack

    assert submit("not an address", "x").calls[0]["errors"]["peer"]
    assert submit("198.51.100.7", "  ").calls[0]["errors"]["note"]
    assert submit("198.51.100.7", "hub rebooted at 09:10").calls == [{}]
    assert submit("198.51.100.7", "hub rebooted at 09:10").calls == [{}]  # submitted twice
    [said] = client.to("chat_postMessage")[1:]
    assert said["thread_ts"] == reply["thread_ts"] and "Note added to incident #1" in said["text"]
    with Store(db) as store:
        notes = store.incidents()[0].notes
        assert [(n.text, n.author) for n in notes] == [("hub rebooted at 09:10", "U2")]


def test_the_shortcut_prefills_the_form_with_the_thread_peer_and_link(client, deps) -> None:
    reply = answered(client, deps)
    said = {
        "trigger_id": "trigger-4",
        "channel": {"id": "C1"},
        "message": {"ts": "1700000013.000100", "thread_ts": reply["thread_ts"], "text": "rebooted"},
    }
    shortcut.on_shortcut(Ack(), said, client, CONTEXT, deps)
    [opened] = client.to("views_open")
    shown = json.dumps(opened["view"])
    assert "198.51.100.7" in shown and PERMALINK in shown and "rebooted" in shown
    assert json.loads(opened["view"]["private_metadata"])["incident"] == 1


def test_the_note_reaction_files_a_thread_message_once(client, deps, db) -> None:
    reply = answered(client, deps)
    pinned = {"ts": "1700000013.000100", "thread_ts": reply["thread_ts"], "user": "U3"}
    client.history = [{**pinned, "text": "swapped the uplink, errors stopped"}]
    event = {
        "reaction": "pushpin",
        "user": "U2",
        "item": {"type": "message", "channel": "C1", "ts": pinned["ts"]},
    }
    reactions.on_reaction(
        {**event, "reaction": "thumbsup"}, {"event_id": "Ev0"}, client, CONTEXT, deps
    )
    reactions.on_reaction(event, {"event_id": "Ev1"}, client, CONTEXT, deps)
    reactions.on_reaction(event, {"event_id": "Ev2"}, client, CONTEXT, deps)  # a second pin
    [said] = client.to("chat_postMessage")[1:]
    assert said["thread_ts"] == reply["thread_ts"] and "incident #1" in said["text"]
    with Store(db) as store:
        [note] = store.incidents()[0].notes
        assert (note.text, note.author) == ("swapped the uplink, errors stopped", "U3")


def test_home_publishes_the_open_incidents_once_per_event(client, deps) -> None:
    answered(client, deps)
    opened = {"type": "app_home_opened", "user": "U2", "tab": "home"}
    home.on_home(opened, {"event_id": "Ev1"}, client, CONTEXT, deps)
    home.on_home(opened, {"event_id": "Ev1"}, client, CONTEXT, deps)  # Slack's retry
    [published] = client.to("views_publish")
    assert published["user_id"] == "U2" and published["view"]["type"] == "home"
    assert "198.51.100.7" in json.dumps(published["view"])


def test_spi_and_the_listeners_load_without_the_command_line() -> None:
    # /spi help is written for Slack: nothing on the Slack side reaches into bot/cli.py.
    code = (
        "import sys, bot.spi_command, bot.listeners; bot.spi_command.spi_help(); "
        "print('bot.cli' in sys.modules)"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "False"
