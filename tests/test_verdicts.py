"""Recording the outcome (issue 12, item 4): "Fixed it…" is one form (cause preselected, an
optional note) that resolves the incident and files the note; the verdict goes to the top of
the answer with an Undo; "Not it" is once per person and struck out for everyone, and only
those who said it can take it back. Unit tests call the listeners with a fake client; the
end-to-end ones go through Bolt with signed requests and the fake Web API."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from bot import blocks, verdict_blocks
from bot.background import Background
from bot.listeners import Deps, Stores, actions, views
from kb.diagnose import diagnose
from kb.store import Store
from tests.fakeslack import TEAM
from tests.slack_harness import SlackHarness
from tests.test_listeners import CONTEXT, OUT_OF_SYNC, Ack, FakeClient, Inline, message
from tests.test_peers import THREE_PEERS

HOSTILE = "<!channel> *cleared* <@U0BOSS> & <https://evil.example|click> ```"
ANSWER_TS = "1700000900.000001"


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "kb.db")


@pytest.fixture
def deps(db: str) -> Deps:
    stores = Stores(db, per_workspace=False, busy_ms=None)
    return Deps(stores, Stores(db, per_workspace=False, busy_ms=None), Background(Inline()))


@pytest.fixture
def client() -> FakeClient:
    return FakeClient()


def answered(client: FakeClient, deps: Deps) -> dict:
    """A paste answered in C1: the answer as Slack would send it back in a click."""
    from bot.listeners import paste

    paste.on_message(message(OUT_OF_SYNC), client, CONTEXT, deps)
    [reply] = client.to("chat_postMessage")
    return {"ts": ANSWER_TS, "thread_ts": reply["thread_ts"], **reply}


def clicked(answer: dict, user: str = "U2") -> dict:
    return {
        "user": {"id": user},
        "trigger_id": "trigger-1",
        "channel": {"id": "C1"},
        "container": {"channel_id": "C1", "message_ts": answer["ts"]},
        "message": answer,
    }


def updated(client: FakeClient, answer: dict) -> dict:
    """The answer after the latest chat.update, as the next click would carry it."""
    last = client.to("chat_update")[-1]
    assert (last["channel"], last["ts"]) == ("C1", answer["ts"])
    return {**answer, "blocks": last["blocks"], "text": last["text"]}


def elements(answer: dict) -> list[dict]:
    """Every button, in the order shown (a section's accessory included)."""
    found = []
    for b in answer["blocks"]:
        found += b.get("elements", []) if b["type"] == "actions" else [b.get("accessory")]
    return [e for e in found if e and e.get("type") == "button"]


def buttons(answer: dict) -> list[tuple[str, dict]]:
    return [(e["action_id"], json.loads(e["value"])) for e in elements(answer)]


def button(answer: dict, action_id: str, article: str | None = None) -> dict:
    """The action a click on that button sends (the first one, or the one for `article`)."""
    for e in elements(answer):
        if e["action_id"] == action_id and article in (None, json.loads(e["value"]).get("article")):
            return {"action_id": action_id, "value": e["value"]}
    raise AssertionError(f"no {action_id} button for {article}")


def open_form(client: FakeClient, deps: Deps, answer: dict, cause: str, user="U2") -> dict:
    actions.on_fixed(
        Ack(), clicked(answer, user), button(answer, "spi_fixed", cause), client, CONTEXT, deps
    )
    return {**client.to("views_open")[-1]["view"], "id": f"V{len(client.to('views_open'))}"}


def submit(client, deps, form: dict, cause: str, note: str = "", user: str = "U2") -> Ack:
    ack = Ack()
    values = {
        "cause": {"value": {"selected_option": {"value": cause}}},
        "note": {"value": {"value": note or None}},
    }
    views.on_fixed_submitted(
        ack, {"user": {"id": user}}, {**form, "state": {"values": values}}, client, CONTEXT, deps
    )
    return ack


def fixed_count(db: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("select count(*) from feedback where verdict = 'fixed'").fetchone()[0]


def title(db: str, cause: str) -> str:
    with Store(db) as store:
        return store.article(cause).title


# Fixed it… -----------------------------------------------------------------------------------


def test_fixed_it_opens_one_form_with_the_clicked_cause_preselected(client, deps, db) -> None:
    answer = answered(client, deps)
    form = open_form(client, deps, answer, "sa-out-of-sync")  # the answer card's cause
    assert form["callback_id"] == "spi_fixed_modal"
    [select] = [b["element"] for b in form["blocks"] if b.get("block_id") == "cause"]
    assert select["initial_option"]["value"] == "sa-out-of-sync"
    shown, others = select["option_groups"]
    on_answer = [v["article"] for a, v in buttons(answer) if a == "spi_fixed"]
    # the clicked cause first, then the answer's others in order, then every other cause
    assert [o["value"] for o in shown["options"]][: len(on_answer)] == [
        "sa-out-of-sync",
        *[c for c in on_answer if c != "sa-out-of-sync"],
    ]
    with Store(db) as store:
        every = {a.id for a in store.articles()}
        assert {o["value"] for g in (shown, others) for o in g["options"]} == every
        assert store.incident(1).status == "open"  # nothing is recorded until the form is sent
    [note] = [b for b in form["blocks"] if b.get("block_id") == "note"]
    assert note["optional"] is True and note["element"]["multiline"] is True
    assert json.loads(form["private_metadata"]) == {
        "incident": 1,
        "peer": "198.51.100.7",
        "channel": "C1",
        "ts": ANSWER_TS,
        "thread_ts": answer["thread_ts"],
    }


def test_the_form_resolves_files_the_note_once_and_puts_the_verdict_on_top(
    client, deps, db
) -> None:
    answer = answered(client, deps)
    form = open_form(client, deps, answer, "sa-out-of-sync")
    client.history = [answer]  # what conversations.replies reads back
    # The cause changed on the form, a hostile note; submitted twice.
    assert submit(client, deps, form, "firewall-blocking", HOSTILE).calls == [{}]
    assert submit(client, deps, form, "firewall-blocking", HOSTILE).calls == [{}]
    with Store(db) as store:
        incident = store.incident(1)
        assert (incident.status, incident.fixed_by) == ("resolved", "firewall-blocking")
        assert [(n.text, n.author) for n in incident.notes] == [(HOSTILE, "U2")]
    assert fixed_count(db) == 1
    [update] = client.to("chat_update")
    top, note = update["blocks"][:2]
    said = top["text"]["text"]
    assert said.startswith(f"✅ *Fixed by {title(db, 'firewall-blocking')}* — <@U2>, <!date^")
    assert top["accessory"]["action_id"] == "spi_reopen"
    byline, text = note["elements"]
    assert byline["text"].startswith("📝 <@U2>, <!date^") and text["type"] == "plain_text"
    shown = json.dumps(update["blocks"])
    assert "&lt;!channel&gt;" in text["text"] and "<!channel>" not in shown
    assert "<@U0BOSS>" not in shown and "<https://evil" not in shown
    # the verdict's Undo, and the answer card's Details, which stays
    assert [a for a, _ in buttons({"blocks": update["blocks"]})] == ["spi_reopen", "spi_details"]
    assert update["text"].startswith(f"✅ Fixed by {title(db, 'firewall-blocking')}.")


def test_without_a_note_the_form_only_resolves(client, deps, db) -> None:
    answer = answered(client, deps)
    client.history = [answer]
    assert submit(
        client, deps, open_form(client, deps, answer, "sa-out-of-sync"), "sa-out-of-sync"
    ).calls == [{}]
    with Store(db) as store:
        assert store.incident(1).fixed_by == "sa-out-of-sync" and store.incident(1).notes == []
    [update] = client.to("chat_update")
    assert update["blocks"][0]["block_id"] == "verdict_1"
    assert update["blocks"][1]["block_id"] != "verdict_1_note"


def test_a_second_form_with_another_cause_is_refused_on_the_form(client, deps, db) -> None:
    answer = answered(client, deps)
    client.history = [answer]
    first = open_form(client, deps, answer, "sa-out-of-sync")
    second = open_form(client, deps, answer, "sa-out-of-sync", user="U3")
    submit(client, deps, first, "sa-out-of-sync")
    refused = submit(client, deps, second, "firewall-blocking", "it was the ACL", user="U3")
    [errors] = refused.calls
    assert "Already marked as fixed by" in errors["errors"]["cause"]
    with Store(db) as store:
        assert store.incident(1).fixed_by == "sa-out-of-sync" and store.incident(1).notes == []
    assert fixed_count(db) == 1
    # and Fixed it… on a resolved incident says so instead of opening a form
    actions.on_fixed(
        Ack(),
        clicked(answer, "U4"),
        button(answer, "spi_fixed", "sa-out-of-sync"),
        client,
        CONTEXT,
        deps,
    )
    assert len(client.to("views_open")) == 2
    assert client.to("chat_postEphemeral")[-1]["text"].startswith("Already marked as fixed by")


def test_undo_brings_the_buttons_back_and_fixing_again_counts_once(client, deps, db) -> None:
    answer = answered(client, deps)
    before = buttons(answer)
    client.history = [answer]
    submit(client, deps, open_form(client, deps, answer, "sa-out-of-sync"), "sa-out-of-sync")
    fixed = updated(client, answer)
    actions.on_reopen(
        Ack(), clicked(fixed, "U3"), button(fixed, "spi_reopen"), client, CONTEXT, deps
    )
    back = updated(client, answer)
    assert buttons(back) == before  # every button, in its place and order
    assert back["blocks"][0]["elements"][0]["text"].startswith("↩️ Reopened by <@U3>, <!date^")
    assert "verdict_1" not in [b.get("block_id") for b in back["blocks"]]
    with Store(db) as store:
        assert (store.incident(1).status, store.incident(1).fixed_by) == ("open", None)
    assert fixed_count(db) == 0
    # A second Undo on the stale message changes nothing.
    actions.on_reopen(
        Ack(), clicked(fixed, "U4"), button(fixed, "spi_reopen"), client, CONTEXT, deps
    )
    assert "open already" in client.to("chat_postEphemeral")[-1]["text"]
    client.history = [back]
    submit(client, deps, open_form(client, deps, back, "sa-out-of-sync"), "sa-out-of-sync")
    again = updated(client, answer)
    assert again["blocks"][0]["block_id"] == "verdict_1"
    assert "reopened_1" not in [b.get("block_id") for b in again["blocks"]]
    assert fixed_count(db) == 1


# Not it --------------------------------------------------------------------------------------


def test_not_it_by_two_people_is_struck_out_for_everyone_once_each(client, deps, db) -> None:
    answer = answered(client, deps)
    cause = "sa-out-of-sync"  # the answer card's cause
    struck = f"~{title(db, cause)}~ not it — "
    actions.on_not_it(
        Ack(), clicked(answer, "U2"), button(answer, "spi_not_it", cause), client, CONTEXT, deps
    )
    once = updated(client, answer)
    actions.on_not_it(
        Ack(), clicked(once, "U3"), button(once, "spi_not_it", cause), client, CONTEXT, deps
    )
    twice = updated(client, answer)
    actions.on_not_it(
        Ack(), clicked(twice, "U2"), button(twice, "spi_not_it", cause), client, CONTEXT, deps
    )
    assert len(client.to("chat_update")) == 2
    [already] = client.to("chat_postEphemeral")
    assert already["user"] == "U2" and already["text"] == f"You already said {cause} is not it."
    ids = [b.get("block_id") for b in twice["blocks"]]
    [line] = [b for b in twice["blocks"] if b.get("block_id") == f"notit_1_{cause}"]
    assert line["text"]["text"] == struck + "<@U2>, <@U3>"
    assert line["accessory"]["action_id"] == "spi_undo_not_it"
    # right above that cause's own buttons, which stay for whoever has not said it yet
    below = twice["blocks"][ids.index(line["block_id"]) + 1]
    verdicts = [json.loads(e["value"]).get("article") for e in below["elements"]]
    assert [a for a in verdicts if a] == [cause, cause]  # Fixed it… and Not it
    assert sum(1 for b in twice["blocks"] if b.get("block_id", "").startswith("notit_")) == 1
    with Store(db) as store:
        assert store.incident(1).not_it_by == {cause: ["U2", "U3"]}


def test_only_who_said_not_it_can_take_it_back(client, deps, db) -> None:
    answer = answered(client, deps)
    cause = "sa-out-of-sync"  # the answer card's cause
    for user in ("U2", "U3"):
        actions.on_not_it(
            Ack(), clicked(answer, user), button(answer, "spi_not_it", cause), client, CONTEXT, deps
        )
        answer = updated(client, answer)
    undo = button(answer, "spi_undo_not_it")
    actions.on_undo_not_it(Ack(), clicked(answer, "U4"), undo, client, CONTEXT, deps)
    [refused] = client.to("chat_postEphemeral")
    assert refused["user"] == "U4" and refused["text"].startswith("Only <@U2>, <@U3> can take")
    assert len(client.to("chat_update")) == 2
    actions.on_undo_not_it(Ack(), clicked(answer, "U2"), undo, client, CONTEXT, deps)
    answer = updated(client, answer)
    [line] = [b for b in answer["blocks"] if b.get("block_id") == f"notit_1_{cause}"]
    assert line["text"]["text"].endswith("not it — <@U3>")
    actions.on_undo_not_it(Ack(), clicked(answer, "U3"), undo, client, CONTEXT, deps)
    answer = updated(client, answer)
    assert not any(b.get("block_id", "").startswith("notit_") for b in answer["blocks"])
    with Store(db) as store:
        assert store.incident(1).not_it_by == {}


def test_a_forged_or_foreign_incident_is_refused(client, deps) -> None:
    answer = answered(client, deps)
    forged = {"action_id": "spi_fixed", "value": json.dumps({"incident": 99, "article": "x"})}
    actions.on_fixed(Ack(), clicked(answer), forged, client, CONTEXT, deps)
    assert client.to("views_open") == []
    assert client.to("chat_postEphemeral")[0]["text"] == "Not recorded: no incident #99."


# The message transformations, on any layout --------------------------------------------------


def card(incident: int, peer: str, n: int) -> list[dict]:
    """The shape of the new answer card: one row of Fixed it…, Not it, Add note and Details."""
    picked = blocks.value(incident=incident, article="sa-out-of-sync", peer=peer)
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*Likely:* SAs out of sync {n}"}},
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Fixed it…"},
                    "action_id": "spi_fixed",
                    "style": "primary",
                    "value": picked,
                },
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Not it"},
                    "action_id": "spi_not_it",
                    "value": picked,
                },
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Add note"},
                    "action_id": "spi_add_note",
                    "value": blocks.value(incident=incident, peer=peer),
                },
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Details"},
                    "action_id": "spi_details",
                    "value": blocks.value(incident=incident, peer=peer),
                },
            ],
        },
    ]


def test_on_a_two_peer_card_a_verdict_touches_only_its_peer_and_undo_restores_it() -> None:
    answer = [*card(1, "198.51.100.7", 1), *card(2, "198.51.100.8", 2)]
    at = "2024-03-03T09:10:00+00:00"
    fixed = verdict_blocks.with_verdict(
        answer,
        incident=2,
        cause="sa-out-of-sync",
        title="SAs out of sync",
        user="U2",
        at=at,
        peer="198.51.100.8",
    )
    assert fixed[0]["text"]["text"] == (
        "✅ *Fixed by SAs out of sync* for `198.51.100.8` — <@U2>, "
        "<!date^1709457000^{date_short_pretty} {time}|2024-03-03 09:10 UTC>"
    )
    left = [(a, v["incident"]) for a, v in buttons({"blocks": fixed})]
    assert left == [
        ("spi_reopen", 2),
        *[(a, 1) for a in ("spi_fixed", "spi_not_it", "spi_add_note", "spi_details")],
        ("spi_details", 2),  # the details stay one tap away
    ]
    undo = json.loads(fixed[0]["accessory"]["value"])
    back = verdict_blocks.reopened(
        fixed,
        incident=2,
        user="U3",
        at=at,
        restore=undo["restore"],
        cause=undo["article"],
        peer=undo["peer"],
    )
    assert buttons({"blocks": back}) == buttons({"blocks": answer})
    assert [b["type"] for b in back] == ["context", *[b["type"] for b in answer]]
    struck = verdict_blocks.with_not_it(
        back, incident=1, cause="sa-out-of-sync", title="SAs ~out~ of sync", people=["U9", "bob"]
    )
    assert struck[2]["text"]["text"] == "~SAs -out- of sync~ not it — <@U9>, bob"
    assert struck[3]["elements"][0]["action_id"] == "spi_fixed"  # the line above its buttons


def test_undo_without_a_record_still_brings_the_verdict_buttons_back() -> None:
    answer = card(1, "198.51.100.7", 1)
    fixed = verdict_blocks.with_verdict(
        answer, incident=1, cause="sa-out-of-sync", title="t", user="U2", at="2024-03-03T09:10:00"
    )
    back = verdict_blocks.reopened(fixed, incident=1, user="U2", at="x", cause="sa-out-of-sync")
    assert {a for a, _ in buttons({"blocks": back})} == {
        "spi_fixed",
        "spi_not_it",
        "spi_add_note",
        "spi_details",
    }


def test_the_current_multi_peer_reply_fixed_for_one_peer_keeps_the_others(tmp_path) -> None:
    with Store(str(tmp_path / "kb.db")) as store:
        result = diagnose(THREE_PEERS, store)
    rendered = [b.to_dict() for b in blocks.diagnosis(result)]
    one = result.peers[1]
    fixed = verdict_blocks.with_verdict(
        rendered,
        incident=one.incident,
        cause=one.causes[0].id,
        title="x",
        user="U1",
        at="2024-03-03T09:10:00+00:00",
        peer=one.peer,
    )
    left = {
        v["incident"] for a, v in buttons({"blocks": fixed}) if a in verdict_blocks.VERDICT_BUTTONS
    }
    assert left == {result.peers[0].incident, result.peers[2].incident}
    assert f"for `{one.peer}`" in fixed[0]["text"]["text"]
    assert len({b["block_id"] for b in fixed}) == len(fixed)  # Slack wants them unique


def test_a_re_rendered_answer_strikes_out_the_recorded_not_its_again(client, deps, db) -> None:
    answer = answered(client, deps)
    for user in ("U2", "U3"):
        not_it = button(answer, "spi_not_it", "sa-out-of-sync")
        actions.on_not_it(Ack(), clicked(answer, user), not_it, client, CONTEXT, deps)
    struck = updated(client, answer)
    with Store(db) as store:
        titles = {a.id: a.title for a in store.articles()}
        again = verdict_blocks.as_recorded(answer["blocks"], [store.incident(1)], titles)
    assert buttons({"blocks": again}) == buttons(struck)
    assert [b.get("text") for b in again] == [b.get("text") for b in struck["blocks"]]


def test_notes_show_who_and_when() -> None:
    note = {"author": "alice", "created_at": "2024-03-03T09:10:00+00:00", "text": "<@U1> hi"}
    byline, text = verdict_blocks.note_context(note).to_dict()["elements"]
    assert byline["text"].startswith("📝 alice, <!date^1709457000^")
    assert text == {"type": "plain_text", "text": "&lt;@U1&gt; hi", "emoji": False}
    assert verdict_blocks.who("<!here>") == "&lt;!here&gt;"
    many = verdict_blocks.notes_context([{**note, "text": f"n{i}"} for i in range(7)]).to_dict()
    assert [e["text"] for e in many["elements"][1::2]] == ["n2", "n3", "n4", "n5", "n6"]


# End to end: Bolt, signed requests, the fake Web API ------------------------------------------


@pytest.fixture
def slack(tmp_path: Path):
    harness = SlackHarness(tmp_path)
    yield harness
    harness.close()


def _answered(slack: SlackHarness) -> dict:
    from tests.test_slack import message as event

    slack.event(event(OUT_OF_SYNC, ts="1700000011.000100"))
    [reply] = slack.fake.wait_for("chat.postMessage")
    slack.executor.drain()
    answer = {"type": "message", "ts": "1700000099.000100", "bot_id": "BBOT", **reply}
    answer["thread_ts"] = "1700000011.000100"
    slack.fake.messages[("C1", answer["ts"])] = answer
    return answer


def _click(answer: dict, action_id: str, user: str = "U2", article: str | None = None) -> dict:
    element = button(answer, action_id, article)
    return {
        "type": "block_actions",
        "user": {"id": user, "team_id": TEAM},
        "api_app_id": "A0FAKE",
        "team": {"id": TEAM},
        "trigger_id": f"trigger-{user}",
        "container": {"type": "message", "message_ts": answer["ts"], "channel_id": "C1"},
        "channel": {"id": "C1"},
        "message": answer,
        "actions": [{**element, "block_id": "b", "type": "button", "action_ts": "1"}],
        "response_url": "https://fake.example/respond",
    }


def _submission(form: dict, cause: str, note: str | None) -> dict:
    values = {
        "cause": {"value": {"type": "static_select", "selected_option": {"value": cause}}},
        "note": {"value": {"type": "plain_text_input", "value": note}},
    }
    return {
        "type": "view_submission",
        "team": {"id": TEAM},
        "user": {"id": "U2"},
        "api_app_id": "A0FAKE",
        "view": {**form, "id": "VFIX", "state": {"values": values}},
    }


def _latest(slack: SlackHarness, answer: dict, count: int) -> dict:
    update = slack.fake.wait_for("chat.update", count)[-1]
    slack.executor.drain()
    answer = {**answer, "blocks": update["blocks"]}
    slack.fake.messages[("C1", answer["ts"])] = answer
    return answer


def test_end_to_end_fixed_with_a_note_submitted_twice_then_undone(slack: SlackHarness) -> None:
    answer = _answered(slack)
    assert slack.interact(_click(answer, "spi_fixed", article="sa-out-of-sync"))[0] == 200
    [opened] = slack.fake.wait_for("views.open")
    assert opened["trigger_id"] == "trigger-U2"
    form = opened["view"]
    for _ in range(2):  # Slack's retry of the same submission
        status, body = slack.interact(_submission(form, "sa-out-of-sync", HOSTILE))
        assert (status, body) == (200, "")
    fixed = _latest(slack, answer, 1)
    assert len(slack.fake.calls_to("chat.update")) == 1
    assert fixed["blocks"][0]["text"]["text"].startswith("✅ *Fixed by ")
    assert "<!channel>" not in json.dumps(fixed["blocks"])
    with Store(slack.db) as store:
        incident = store.incident(1)
        assert incident.fixed_by == "sa-out-of-sync" and [n.text for n in incident.notes] == [
            HOSTILE
        ]
    slack.interact(_click(fixed, "spi_reopen", user="U3"))
    back = _latest(slack, answer, 2)
    assert buttons(back) == buttons(answer)
    with Store(slack.db) as store:
        assert store.incident(1).status == "open"
        assert len(store.incident(1).notes) == 1  # the note stays; only the verdict is undone


def test_end_to_end_not_it_by_two_and_a_third_persons_undo_refused(slack: SlackHarness) -> None:
    answer = _answered(slack)
    cause = "sa-out-of-sync"  # the answer card's cause
    slack.interact(_click(answer, "spi_not_it", "U2", cause))
    answer = _latest(slack, answer, 1)
    slack.interact(_click(answer, "spi_not_it", "U3", cause))
    answer = _latest(slack, answer, 2)
    shown = json.dumps(answer["blocks"], ensure_ascii=False)
    assert "not it — <@U2>, <@U3>" in shown
    slack.interact(_click(answer, "spi_undo_not_it", "U4"))
    [refused] = slack.fake.wait_for("chat.postEphemeral")
    slack.executor.drain()
    assert refused["user"] == "U4" and "Only <@U2>, <@U3>" in refused["text"]
    assert len(slack.fake.calls_to("chat.update")) == 2
    with Store(slack.db) as store:
        assert store.incident(1).not_it_by == {cause: ["U2", "U3"]}
