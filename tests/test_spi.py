"""/spi that never dead-ends (issue 12, item 5): a paste's answer that can be shared with the
channel, buttons that work on the ephemeral answer, `/spi fixed`, `/spi show`, "did you mean"
and empty results that say what to try.

The listeners called directly with a fake client first (as tests/test_listeners.py does); then
the same end to end: real Bolt behind real HTTP, signed requests, the fake Web API, and the
fake's own address as the response_url, so that what is sent through it is seen."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from bot import spi_command
from bot.background import Background
from bot.listeners import Deps, Stores, paste, share, spi
from bot.slack_state import SlackState
from kb.store import Store
from tests.conftest import PASTES
from tests.fakeslack import BOT_ID, TEAM
from tests.slack_harness import SlackHarness
from tests.test_listeners import CONTEXT, Ack, FakeClient, Inline

OUT_OF_SYNC = (PASTES / "out-of-sync.txt").read_text()
PEER = "198.51.100.7"


class Respond:
    """Bolt's respond(), recorded: what would be sent to the click's response_url."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def __call__(self, **kwargs) -> None:
        self.calls.append(kwargs)


class NotInChannel(FakeClient):
    """Slack's answer to chat.postMessage where the bot is not a member."""

    def chat_postMessage(self, **kwargs):
        self.calls.append(("chat_postMessage", kwargs))
        response = SlackResponse(
            client=None,
            http_verb="POST",
            api_url="chat.postMessage",
            req_args={},
            data={"ok": False, "error": "not_in_channel"},
            headers={},
            status_code=200,
        )
        raise SlackApiError("not_in_channel", response)


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


def slash(deps: Deps, text: str, trigger: str = "trigger-1") -> dict:
    ack = Ack()
    command = {"text": text, "channel_id": "C1", "user_id": "U1", "trigger_id": trigger}
    spi.on_spi(ack, command, CONTEXT, deps)
    [answer] = ack.calls
    return answer


def buttons(blocks: list[dict]) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for block in blocks:
        for element in block.get("elements", []) if block["type"] == "actions" else []:
            found.setdefault(element["action_id"], []).append(element)
    return found


def share_click(answer: dict, user: str = "U1") -> tuple[dict, dict]:
    """The body and action of a click on "Share in channel" under an ephemeral answer: Slack
    sends no copy of an ephemeral message with it."""
    [button] = buttons(answer["blocks"])["spi_share"]
    body = {
        "type": "block_actions",
        "user": {"id": user},
        "channel": {"id": "C1"},
        "container": {"type": "message", "channel_id": "C1", "is_ephemeral": True},
        "response_url": "https://fake.example/respond",
    }
    return body, {"action_id": "spi_share", "value": button["value"]}


# --- /spi <paste>: ephemeral, with "Share in channel" ------------------------------------------


def test_a_paste_answer_is_ephemeral_with_a_share_button_that_holds_no_paste(deps) -> None:
    answer = slash(deps, OUT_OF_SYNC)
    assert answer["response_type"] == "ephemeral"
    found = buttons(answer["blocks"])
    [button] = found["spi_share"]
    assert button["text"]["text"] == "Share in channel"
    # The paste stays on the server: the value is a short id, nothing of the log.
    assert len(button["value"]) < 40 and "RECVD" not in button["value"]
    assert found["spi_fixed"] and found["spi_add_note"]  # the answer's own buttons stay
    assert len(answer["blocks"]) <= 50


def test_a_lookup_answer_has_no_share_button(deps) -> None:
    slash(deps, OUT_OF_SYNC)
    answer = slash(deps, PEER, trigger="trigger-2")
    assert "spi_share" not in buttons(answer["blocks"])


def test_share_posts_the_full_answer_in_the_channel_once(deps, db) -> None:
    answer = slash(deps, OUT_OF_SYNC)
    with Store(db) as store:
        [before] = store.incidents()
    client, respond = FakeClient(), Respond()
    body, action = share_click(answer)
    share.on_share(Ack(), body, action, client, respond, CONTEXT, deps)
    [posted] = client.to("chat_postMessage")
    # In the channel, not in a thread: a slash command does not say where it was typed.
    assert posted["channel"] == "C1" and "thread_ts" not in posted
    shown = json.dumps(posted["blocks"])
    assert "sa-out-of-sync" in shown and "clear crypto sa peer 192.0.2.1" in shown
    assert PEER in posted["text"]
    assert "Shared by <@U1>" in shown
    found = buttons(posted["blocks"])
    assert "spi_share" not in found
    # Its buttons are the incident the ephemeral answer recorded, not a second one.
    assert {json.loads(b["value"])["incident"] for b in found["spi_fixed"]} == {before.id}
    assert respond.calls[-1]["replace_original"] is True
    assert "Shared in the channel" in respond.calls[-1]["text"]
    # A second click (a double tap, or a second person) posts nothing.
    share.on_share(Ack(), body, action, client, respond, CONTEXT, deps)
    assert len(client.to("chat_postMessage")) == 1
    assert "already in the channel" in respond.calls[-1]["text"]
    assert respond.calls[-1]["replace_original"] is False
    with Store(db) as store:
        [after] = store.incidents()
    assert after.event_count == before.event_count  # sharing counts no line twice


def test_the_shared_answer_s_thread_is_a_conversation(deps) -> None:
    answer = slash(deps, OUT_OF_SYNC)
    client = FakeClient()
    body, action = share_click(answer)
    share.on_share(Ack(), body, action, client, Respond(), CONTEXT, deps)
    [posted] = client.to("chat_postMessage")
    ts = "1700000900.000001"  # the fake client's answer to that first call
    # A paste in the shared answer's thread is read with the /spi paste, and the answer is
    # updated in place (as under a pasted log).
    more = {
        "type": "message",
        "channel": "C1",
        "user": "U3",
        "text": OUT_OF_SYNC,
        "ts": "1700000950.000100",
        "thread_ts": ts,
    }
    paste.on_message(more, client, CONTEXT, deps)
    [update] = client.to("chat_update")
    assert update["ts"] == ts and update["channel"] == posted["channel"]
    assert len(client.to("chat_postMessage")) == 1


def test_share_where_spibot_is_not_a_member_says_how_and_can_be_pressed_again(deps) -> None:
    answer = slash(deps, OUT_OF_SYNC)
    body, action = share_click(answer)
    respond = Respond()
    share.on_share(Ack(), body, action, NotInChannel(), respond, CONTEXT, deps)
    [said] = respond.calls
    assert "/invite @spibot" in said["text"] and "not_in_channel" in said["text"]
    assert said["replace_original"] is False  # the answer stays, with its button
    client = FakeClient()  # invited now
    share.on_share(Ack(), body, action, client, respond, CONTEXT, deps)
    assert len(client.to("chat_postMessage")) == 1


def test_share_of_an_answer_no_longer_kept_says_what_to_do(deps) -> None:
    body = {"user": {"id": "U1"}, "channel": {"id": "C1"}}
    respond, client = Respond(), FakeClient()
    action = {"action_id": "spi_share", "value": json.dumps({"id": "gone"})}
    share.on_share(Ack(), body, action, client, respond, CONTEXT, deps)
    assert client.calls == []
    assert "run `/spi` with the lines again" in respond.calls[0]["text"]


def test_kept_answers_are_forgotten_with_old_threads(db) -> None:
    with Store(db) as store:
        state = SlackState(store)
        kept = state.keep_share("C1", "U1", OUT_OF_SYNC, {PEER: 1})
        assert state.share(kept)["incidents"] == {PEER: 1}
        store.db.execute("update slack_shares set created_at = '2000-01-01T00:00:00+00:00'")
        state.forget_old(thread_days=1)
        assert state.share(kept) is None


# --- /spi fixed --------------------------------------------------------------------------------


def test_fixed_resolves_the_peer_s_open_incident_with_the_note(deps, db) -> None:
    slash(deps, OUT_OF_SYNC)
    answer = slash(deps, f"fixed {PEER} sa-out-of-sync cleared SAs on the hub", "trigger-2")
    assert "Incident #1 for `198.51.100.7` resolved: fixed by `sa-out-of-sync`" in answer["text"]
    assert "Note 1 filed" in answer["text"]
    with Store(db) as store:
        [incident] = store.incidents()
        assert (incident.status, incident.fixed_by) == ("resolved", "sa-out-of-sync")
        assert [(n.text, n.author) for n in incident.notes] == [("cleared SAs on the hub", "U1")]
    # Asked again: the incident is closed already, and the answer says how.
    again = slash(deps, f"fixed {PEER} sa-out-of-sync", "trigger-3")
    assert "has no open incident: #1 is resolved, fixed by `sa-out-of-sync`" in again["text"]


def test_fixed_without_a_note_resolves_and_files_nothing(db) -> None:
    with Store(db) as store:
        spi_command.run(store, OUT_OF_SYNC, source="console")
        reply = spi_command.run(store, f"fixed {PEER} rekey-race", source="console")
        assert "fixed by `rekey-race`" in reply.text
        [incident] = store.incidents()
        assert incident.fixed_by == "rekey-race" and incident.notes == []


def test_fixed_for_a_peer_without_an_open_incident_names_the_open_ones(db) -> None:
    with Store(db) as store:
        spi_command.run(store, OUT_OF_SYNC, source="console")
        reply = spi_command.run(store, "fixed 198.51.100.8 sa-out-of-sync", source="console")
        assert "No open incident for `198.51.100.8`" in reply.text
        assert f"Did you mean `/spi fixed {PEER} sa-out-of-sync`?" in reply.text
        assert f"Open incidents: `{PEER}`" in reply.text
        assert store.incidents()[0].status == "open"


def test_fixed_with_a_mistyped_cause_offers_the_near_one_and_lists_them_all(db) -> None:
    with Store(db) as store:
        spi_command.run(store, OUT_OF_SYNC, source="console")
        reply = spi_command.run(store, f"fixed {PEER} sa-out-of-snyc", source="console")
        assert f"Did you mean `/spi fixed {PEER} sa-out-of-sync`?" in reply.text
        assert "`ha-failover`" in reply.text  # every cause id, to copy
        assert store.incidents()[0].status == "open"
        usage = spi_command.run(store, "fixed", source="console")
        assert usage.text == "`/spi fixed <peer IP> <cause> [note]`"


# --- /spi show ---------------------------------------------------------------------------------


def test_show_gives_the_article_with_every_platform_s_commands(db) -> None:
    with Store(db) as store:
        reply = spi_command.run(store, "show sa-out-of-sync")
    shown = json.dumps([b.to_dict() for b in reply.blocks])
    assert "SAs out of sync after a reboot or one-sided clear" in shown
    assert "Clearing on the receiver" in shown  # the key caveat
    for platform in ("*IOS*", "*ASA*", "*FortiGate*", "*PAN-OS*"):
        assert platform in shown, platform
    # Where each command runs, and placeholders escaped so Slack shows them.
    assert "on the peer (the sender of the packets)" in shown
    assert "clear crypto sa peer &lt;this-box-address&gt;" in shown
    assert "<this-box-address>" not in shown
    assert len(reply.blocks) <= 50
    assert all(
        len(b.to_dict()["text"]["text"]) <= 3000 for b in reply.blocks if b.type == "section"
    )


def test_show_with_a_platform_gives_that_platform_only(db) -> None:
    with Store(db) as store:
        reply = spi_command.run(store, "show sa-out-of-sync asa")
        words = spi_command.run(store, "show rekey race")  # words for the id's dashes
    shown = json.dumps([b.to_dict() for b in reply.blocks])
    assert "*ASA*" in shown and "*IOS*" not in shown and "*FortiGate*" not in shown
    assert "ASA\n  Check" in reply.text and "IOS" not in reply.text.split("ASA", 1)[1]
    assert words.text.startswith("Rekey race at SA lifetime expiry")


def test_show_with_a_typo_offers_the_cause_or_the_platform(db) -> None:
    with Store(db) as store:
        cause = spi_command.run(store, "show sa-out-of-snyc")
        platform = spi_command.run(store, "show sa-out-of-sync fortigte")
        bare = spi_command.run(store, "show")
    assert "Did you mean `/spi show sa-out-of-sync`?" in cause.text
    assert "Did you mean `/spi show sa-out-of-sync fortigate`?" in platform.text
    assert "`/spi show <cause> [platform]`" in bare.text and "`rekey-race`" in bare.text
    assert "&lt;cause&gt;" in json.dumps([b.to_dict() for b in bare.blocks])


# --- typos, empty results, help ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("incidnets", "/spi incidents"),
        ("hepl", "/spi help"),
        ("shwo", "/spi show"),
        ("ntoe 198.51.100.7 rebooted", "/spi note 198.51.100.7 rebooted"),
    ],
)
def test_a_mistyped_subcommand_gets_did_you_mean(db, typed: str, meant: str) -> None:
    with Store(db) as store:
        reply = spi_command.run(store, typed)
    assert f"Did you mean `{meant}`?" in reply.text


def test_a_lookup_that_finds_something_is_not_taken_for_a_typo(db) -> None:
    with Store(db) as store:
        spi_command.run(store, OUT_OF_SYNC)
        found = spi_command.run(store, "rekey race")
        peer = spi_command.run(store, PEER)
    assert "rekey-race" in found.text and "Did you mean" not in found.text
    assert PEER in peer.text and "Did you mean" not in peer.text


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("198.51.100.99", "Nothing found: no incidents for `198.51.100.99` yet."),
        ("0x11112222", "Nothing found: no incident has seen SPI `0x11112222`."),
        ("zzqqxx", "Nothing found for `zzqqxx`: no cause, device or note matches."),
    ],
)
def test_an_empty_lookup_says_what_to_try_next(db, typed: str, said: str) -> None:
    with Store(db) as store:
        reply = spi_command.run(store, typed)
    assert said in reply.text
    for tip in ("a peer IP", "an SPI (`/spi 0x1A2B3C4D`)", "a device name", "paste the log lines"):
        assert tip in reply.text, tip
    assert said.replace("`", "") in json.dumps([b.to_dict() for b in reply.blocks]).replace("`", "")


def test_help_lists_the_new_forms_escaped_for_slack(deps) -> None:
    answer = slash(deps, "help")
    shown = json.dumps(answer["blocks"])
    for form in ("/spi show &lt;cause&gt; [platform]", "/spi fixed &lt;peer IP&gt; &lt;cause&gt;"):
        assert form in shown, form
    assert "<peer IP>" not in shown and "<cause>" not in shown
    assert "Share in channel" in shown


# --- end to end: signed requests, the fake Web API, the response_url ---------------------------


@pytest.fixture
def slack(tmp_path: Path):
    harness = SlackHarness(tmp_path)
    yield harness
    harness.close()


def command(slack: SlackHarness, text: str, trigger: str) -> dict:
    body = urlencode(
        {
            "command": "/spi",
            "text": text,
            "team_id": TEAM,
            "channel_id": "C1",
            "user_id": "U1",
            "response_url": slack.fake.url + "respond",
            "trigger_id": trigger,
        }
    )
    status, answer = slack.post(body, "application/x-www-form-urlencoded")
    assert status == 200, answer
    return json.loads(answer)


def ephemeral_click(slack: SlackHarness, element: dict, trigger: str) -> dict:
    """A click on a button of the ephemeral /spi answer, as Slack sends it."""
    return {
        "type": "block_actions",
        "user": {"id": "U2", "username": "alice", "team_id": TEAM},
        "api_app_id": "A0FAKE",
        "token": "legacy",
        "team": {"id": TEAM},
        "trigger_id": trigger,
        "container": {
            "type": "message",
            "message_ts": "1700000200.000100",
            "channel_id": "C1",
            "is_ephemeral": True,
        },
        "channel": {"id": "C1", "name": "netops"},
        "actions": [
            {
                "action_id": element["action_id"],
                "block_id": "b",
                "type": "button",
                "value": element["value"],
                "action_ts": "1700000201.1",
            }
        ],
        "response_url": slack.fake.url + "respond",
    }


def test_spi_paste_buttons_and_share_work_on_the_ephemeral_answer(slack: SlackHarness) -> None:
    answer = command(slack, OUT_OF_SYNC, "trigger-e1")
    assert answer["response_type"] == "ephemeral"
    found = buttons(answer["blocks"])
    # The card carries the top cause's buttons.
    not_it = next(b for b in found["spi_not_it"] if "sa-out-of-sync" in b["value"])
    fixed = next(b for b in found["spi_fixed"] if "sa-out-of-sync" in b["value"])

    # "Not it": said to the clicker through the response_url, not chat.postEphemeral (which
    # needs the bot in the channel; /spi does not).
    assert slack.interact(ephemeral_click(slack, not_it, "trigger-e2"))[0] == 200
    [said] = slack.fake.wait_for("respond")
    assert said["text"] == "Not it: sa-out-of-sync — <@U2>."
    assert said["replace_original"] is False and said["response_type"] == "ephemeral"
    assert slack.fake.calls_to("chat.postEphemeral") == []

    # "Fixed it…": the form opens from the ephemeral answer, and its submission records it;
    # nothing tries to chat.update a message that is not in the channel.
    slack.interact(ephemeral_click(slack, fixed, "trigger-e3"))
    [opened] = slack.fake.wait_for("views.open")
    form = opened["view"]
    assert form["callback_id"] == "spi_fixed_modal" and opened["trigger_id"] == "trigger-e3"
    assert json.loads(form["private_metadata"])["ts"] is None
    values = {
        "cause": {
            "value": {"type": "static_select", "selected_option": {"value": "sa-out-of-sync"}}
        },
        "note": {"value": {"type": "plain_text_input", "value": "cleared on the hub"}},
    }
    submission = {
        "type": "view_submission",
        "team": {"id": TEAM},
        "user": {"id": "U2"},
        "api_app_id": "A0FAKE",
        "view": {**form, "id": "VSPI", "state": {"values": values}},
    }
    assert json.loads(form["private_metadata"])["response_url"] == slack.fake.url + "respond"
    assert slack.interact(submission)[0] == 200
    slack.executor.drain()
    assert slack.fake.calls_to("chat.update") == []
    with Store(slack.db) as store:
        [incident] = store.incidents()
        assert (incident.status, incident.fixed_by) == ("resolved", "sa-out-of-sync")
        assert [n.text for n in incident.notes] == ["cleared on the hub"]
    # The confirmation goes back through the click's response_url: /spi works in channels
    # the bot is not in, where an ephemeral post would be refused.
    confirmed = slack.fake.wait_for("respond", 2)[-1]
    assert confirmed["text"].startswith("✅ Marked incident #")
    assert confirmed["replace_original"] is False

    # "Share in channel": the answer in the channel, with its buttons; the ephemeral copy is
    # replaced by a line that says so.
    [share_button] = found["spi_share"]
    slack.interact(ephemeral_click(slack, share_button, "trigger-e4"))
    [posted] = slack.fake.wait_for("chat.postMessage")
    replaced = slack.fake.wait_for("respond", 3)[2]
    slack.executor.drain()
    assert posted["channel"] == "C1" and "thread_ts" not in posted
    assert "sa-out-of-sync" in json.dumps(posted["blocks"]) and PEER in posted["text"]
    # Fixed on the ephemeral answer before it was shared: the shared copy says so on top.
    ids = [b.get("block_id") for b in posted["blocks"]]
    assert "verdict_1" in ids and "spi_fixed" not in buttons(posted["blocks"])
    # The "not it" said on the ephemeral answer is struck out on the shared one.
    [struck] = [b for b in posted["blocks"] if b.get("block_id") == "notit_1_sa-out-of-sync"]
    assert struck["text"]["text"].startswith("~")
    assert replaced["replace_original"] is True and "Shared in the channel" in replaced["text"]
    # Its buttons are an ordinary message's: another person's Undo on it updates it for
    # everyone.
    [other] = [
        b["accessory"]
        for b in posted["blocks"]
        if (b.get("accessory") or {}).get("action_id") == "spi_reopen"
    ]
    click = ephemeral_click(slack, other, "trigger-e5")
    click["user"] = {"id": "U3"}
    shared_ts = "1700000300.000100"
    click["container"] = {"type": "message", "message_ts": shared_ts, "channel_id": "C1"}
    click["message"] = {"ts": shared_ts, "bot_id": BOT_ID, "blocks": posted["blocks"]}
    slack.interact(click)
    [update] = slack.fake.wait_for("chat.update")
    slack.executor.drain()
    assert update["ts"] == shared_ts
    assert len(slack.fake.calls_to("respond")) == 3  # none more: the shared copy is a message


def test_spi_fixed_show_typo_and_help_over_http(slack: SlackHarness) -> None:
    command(slack, OUT_OF_SYNC, "trigger-f1")
    typo = command(slack, f"fixed {PEER} sa-out-of-snyc", "trigger-f2")
    assert f"Did you mean `/spi fixed {PEER} sa-out-of-sync`?" in typo["text"]
    fixed = command(slack, f"fixed {PEER} sa-out-of-sync peer rebooted at 09:10", "trigger-f3")
    assert "resolved: fixed by `sa-out-of-sync`" in fixed["text"]
    shown = command(slack, "show sa-out-of-sync ios", "trigger-f4")
    assert "clear crypto sa peer &lt;this-box-address&gt;" in json.dumps(shown["blocks"])
    mistyped = command(slack, "incidnets", "trigger-f5")
    assert "Did you mean `/spi incidents`?" in mistyped["text"]
    helped = command(slack, "help", "trigger-f6")
    assert "/spi fixed &lt;peer IP&gt; &lt;cause&gt; [note]" in json.dumps(helped["blocks"])
    assert all(a["response_type"] == "ephemeral" for a in (typo, fixed, shown, mistyped, helped))
    with Store(slack.db) as store:
        [incident] = store.incidents()
        assert incident.fixed_by == "sa-out-of-sync"
        assert [n.text for n in incident.notes] == ["peer rebooted at 09:10"]
