""" "Details" under an answer card: the rest of the answer, posted in its thread, from the
paste the thread remembers (no second recording), or for a /spi answer from its kept paste."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.background import Background
from bot.listeners import details, spi
from bot.listeners.deps import Deps, Stores
from kb.store import Store
from tests.test_listeners import CONTEXT, OUT_OF_SYNC, Ack, FakeClient, Inline, button, clicked
from tests.test_listeners import answered as answered_in


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


def test_details_post_the_rest_of_the_answer_in_its_thread(client, deps, db) -> None:
    reply = answered_in(client, deps)
    card = json.dumps(reply["blocks"])
    ack = Ack()
    details.on_details(ack, clicked(reply), button(reply, "spi_details"), client, CONTEXT, deps)
    assert ack.calls == [{}]
    [posted] = [m for m in client.to("chat_postMessage") if m is not reply]
    assert posted["thread_ts"] == reply["thread_ts"] and posted["channel"] == "C1"
    rendered = json.dumps(posted["blocks"])
    # What the card leaves out: the check commands and the configuration that prevents it.
    assert "show crypto isakmp sa" in rendered and "show crypto isakmp sa" not in card
    assert "198.51.100.7" in posted["text"]
    with Store(db) as store:
        [incident] = store.incidents()
        assert incident.event_count == OUT_OF_SYNC.count("RECVD_PKT_INV_SPI")  # read, not recorded


def test_details_of_an_ephemeral_spi_answer_come_from_its_kept_paste(client, deps) -> None:
    ack = Ack()
    spi.on_spi(ack, {"text": OUT_OF_SYNC, "channel_id": "C9", "user_id": "U1"}, CONTEXT, deps)
    [answer] = ack.calls
    assert answer["text"].startswith("Very likely SAs out of sync on 198.51.100.7")
    # As Slack sends a click on an ephemeral message: no `message` with it.
    body = {
        "user": {"id": "U1"},
        "container": {"type": "message", "is_ephemeral": True, "channel_id": "C9"},
        "channel": {"id": "C9"},
    }
    details.on_details(Ack(), body, button(answer, "spi_details"), client, CONTEXT, deps)
    [shown] = client.to("chat_postEphemeral")
    assert shown["channel"] == "C9" and shown["user"] == "U1"
    assert "show crypto isakmp sa" in json.dumps(shown["blocks"])
    assert client.to("chat_postMessage") == []  # nothing in a channel the bot may not be in


def test_details_without_a_kept_paste_say_so(client, deps) -> None:
    body = {"user": {"id": "U1"}, "channel": {"id": "C1"}, "message": {"ts": "1.2"}}
    action = {"action_id": "spi_details", "value": json.dumps({"incident": 1, "peer": None})}
    details.on_details(Ack(), body, action, client, CONTEXT, deps)
    [said] = client.to("chat_postEphemeral")
    assert "no longer kept" in said["text"]


def test_a_verdict_stays_on_top_when_more_log_redraws_the_answer(client, deps, db) -> None:
    from bot.listeners import paste
    from tests.test_listeners import message

    reply = answered_in(client, deps)
    with Store(db) as store:
        [incident] = store.incidents()
        store.add_note(
            peer="198.51.100.7",
            text="cleared on the spoke",
            author="U2",
            incident_id=incident.id,
            fixed_by="sa-out-of-sync",
        )
    more = OUT_OF_SYNC.splitlines()[1]
    paste.on_message(
        message(more, ts="1700000002.000100", thread_ts=reply["thread_ts"]), client, CONTEXT, deps
    )
    [update] = client.to("chat_update")
    ids = [b.get("block_id") for b in update["blocks"]]
    assert f"verdict_{incident.id}" in ids and f"verdict_{incident.id}_note" in ids
    rendered = json.dumps(update["blocks"])
    assert "spi_reopen" in rendered and "cleared on the spoke" in rendered
    assert '"spi_fixed"' not in rendered  # a resolved incident offers Undo, not Fixed again
