"""The Slack door under trouble: retries, Slack's own failures and rate limits, a locked
database, hostile text. Real Bolt app, real HTTP server, signed requests, fake Slack."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from slack_sdk.errors import SlackApiError

import kb.diagnose
from bot import delivery
from bot.slack_app import ACK_THREADS, BACKGROUND_THREADS
from bot.slack_state import SlackState
from kb.store import Store
from tests.slack_harness import SlackHarness
from tests.test_slack import LINE, OUT_OF_SYNC, message, posted_text

# Slack's: an acknowledgement later than this is a failure the user sees, so the tests that
# check it keep this wall-clock bound. Acks take milliseconds here, even on a loaded two-core
# machine: 3 s is Slack's number and generous for ours.
ACK_WINDOW = 3.0


@pytest.fixture
def slack(tmp_path: Path):
    harness = SlackHarness(tmp_path)
    yield harness
    harness.close()


def _seen_keys(slack: SlackHarness) -> list[str]:
    with Store(slack.db) as store:
        return [r["key"] for r in SlackState(store).db["slack_seen"].rows]


def test_retries_and_mentions_of_one_paste_are_parsed_once(slack, monkeypatch) -> None:
    calls = []
    real = kb.diagnose.scan_batches

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(
        kb.diagnose, "scan_batches", counting
    )  # every parse of a paste goes through it
    paste = message(OUT_OF_SYNC, ts="1700000031.000100")
    for retry in range(3):
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        slack.event(paste, event_id="EvRETRY", headers=headers if retry else None)
    slack.event({**paste, "type": "app_mention"}, event_id="EvMENTION")
    slack.event(message("lunch at noon?", ts="1700000032.000100"))
    slack.executor.drain()
    assert len(slack.fake.calls_to("chat.postMessage")) == 1
    assert len(calls) == 1
    # An ordinary chat message is not even claimed: no write per message in a busy channel.
    assert _seen_keys(slack) == ["paste:C1:1700000031.000100"]


@pytest.fixture
def backoffs(monkeypatch) -> list[float]:
    """The waits post_reply makes between attempts, recorded instead of slept (its `sleep`)."""
    waits: list[float] = []
    monkeypatch.setattr(delivery.post_reply, "__defaults__", (waits.append,))
    return waits


def test_a_reply_slack_fails_to_take_is_retried_and_posted_once(slack, backoffs) -> None:
    script = slack.fake.script["chat.postMessage"]
    script.append((200, {}, {"ok": False, "error": "internal_error"}))
    script.append((503, {}, {"ok": False, "error": "service_unavailable"}))
    slack.event(message(LINE, ts="1700000033.000100"))
    slack.executor.drain()
    calls = slack.fake.calls_to("chat.postMessage")
    assert len(calls) == 3
    assert backoffs == [delivery.BACKOFF_SECONDS[0]]  # the 503 is slack-sdk's to retry
    assert calls[0]["thread_ts"] == calls[-1]["thread_ts"] == "1700000033.000100"
    with Store(slack.db) as store:
        assert SlackState(store).reply_for("C1", "1700000033.000100")["reply_ts"]


def test_a_reply_that_cannot_be_posted_gives_the_paste_back(slack, backoffs) -> None:
    for _ in range(3):
        slack.fake.script["chat.postMessage"].append(
            (200, {}, {"ok": False, "error": "internal_error"})
        )
    paste = message(LINE, ts="1700000034.000100")
    slack.event(paste, event_id="EvLOST")
    with pytest.raises(SlackApiError):
        slack.executor.drain()
    assert backoffs == list(delivery.BACKOFF_SECONDS)
    assert "paste:C1:1700000034.000100" not in _seen_keys(slack)
    # Slack's own retry of that event (or an edit) is now answered, once.
    slack.event(paste, event_id="EvLOST", headers={"X-Slack-Retry-Num": "1"})
    slack.executor.drain()
    assert len(slack.fake.calls_to("chat.postMessage")) == 4
    with Store(slack.db) as store:
        assert SlackState(store).reply_for("C1", "1700000034.000100") is not None


def test_blocks_slack_refuses_fall_back_to_text(slack) -> None:
    slack.fake.script["chat.postMessage"].append(
        (200, {}, {"ok": False, "error": "invalid_blocks"})
    )
    slack.event(message(LINE, ts="1700000035.000100"))
    slack.executor.drain()
    first, second = slack.fake.calls_to("chat.postMessage")
    assert "blocks" in first and "blocks" not in second
    assert "198.51.100.7" in second["text"]


def test_an_hour_long_retry_after_is_not_slept_through(slack) -> None:
    slack.fake.script["chat.postMessage"].append(
        (429, {"Retry-After": "3600"}, {"ok": False, "error": "ratelimited"})
    )
    slack.event(message(LINE, ts="1700000036.000100"))
    # Slept through, the reply would still be pending when the drain gives up (TimeoutError).
    with pytest.raises(SlackApiError) as refused:
        slack.executor.drain(timeout=30)
    assert refused.value.response.status_code == 429
    assert len(slack.fake.calls_to("chat.postMessage")) == 1
    assert "paste:C1:1700000036.000100" not in _seen_keys(slack)


def test_spi_is_acknowledged_while_pastes_wait_out_rate_limits(slack) -> None:
    # Every background thread asleep on a Retry-After, more pastes queued than there are
    # listener threads: /spi, on its own threads, is still acknowledged in time.
    asleep, pastes = BACKGROUND_THREADS, ACK_THREADS + 2
    for _ in range(asleep):
        slack.fake.script["chat.postMessage"].append(
            (429, {"Retry-After": "3"}, {"ok": False, "error": "ratelimited"})
        )
    for n in range(pastes):
        slack.event(message(LINE, ts=f"17000001{n:02d}.000100"))
    slack.fake.wait_for("chat.postMessage", asleep)
    for form in ("help", "198.51.100.7", "note 198.51.100.7 hub rebooted"):
        started = time.monotonic()
        status, body = slack.command(form)
        assert status == 200 and json.loads(body)["text"]
        assert time.monotonic() - started < ACK_WINDOW, form
    # Answered while every paste still slept: none had woken up to post again, so no answer
    # waited for one. This ordering, not the clock, is the proof; Retry-After is 3 s so that
    # three commands fit before the first paste wakes even on a loaded machine.
    assert len(slack.fake.calls_to("chat.postMessage")) == asleep
    slack.executor.drain(timeout=60)
    assert len(slack.fake.calls_to("chat.postMessage")) == pastes + asleep


def test_a_locked_database_is_answered_inside_slacks_window(slack) -> None:
    holder = sqlite3.connect(slack.db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    try:
        started = time.monotonic()
        status, body = slack.command("note 198.51.100.7 swapped the hub's uplink")
        assert time.monotonic() - started < ACK_WINDOW
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert status == 200 and "locked" in json.loads(body)["text"]
    with Store(slack.db) as store:
        assert store.counts()["notes"] == 0
    status, body = slack.command("note 198.51.100.7 swapped the hub's uplink")
    assert "Note 1 added" in json.loads(body)["text"]


HOSTILE = "<!channel> <@U999> *bold* _it_ `tick` ```fence``` https://evil.example/x &amp; <#C1>"


def _all_text_objects(blocks: list[dict]) -> list[dict]:
    found = []

    def walk(node) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text") and "text" in node:
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(blocks)
    return found


def _assert_nothing_live(answer: dict) -> None:
    everything = json.dumps(answer)
    for live in ("<!channel>", "<@U999>", "<#C1>", "<https://"):
        assert live not in answer.get("text", "") and live not in everything


def test_notes_are_shown_as_typed_and_never_live(slack) -> None:
    status, _ = slack.command(f"note 198.51.100.7 {HOSTILE}")
    assert status == 200
    for form in ("198.51.100.7", "incidents 198.51.100.7", "evil"):
        status, body = slack.command(form)
        answer = json.loads(body)
        _assert_nothing_live(answer)
        objects = _all_text_objects(answer["blocks"])
        notes = [o for o in objects if "evil.example" in o["text"]]
        assert notes, form
        # Plain text: Slack applies no bold, code, link or mention to what a person wrote.
        assert all(o["type"] == "plain_text" for o in notes), form
        assert all(o.get("verbatim") for o in objects if o["type"] == "mrkdwn"), form
        assert "&lt;!channel&gt;" in notes[0]["text"]


def test_database_fields_are_escaped_wherever_shown(slack) -> None:
    slack.event(message(OUT_OF_SYNC, ts="1700000037.000100"))
    slack.executor.drain()
    with sqlite3.connect(slack.db) as db:  # as an import from elsewhere could leave them
        db.execute("update incidents set status = '<!here>', fixed_by = '<!channel>`x'")
        db.execute("update incident_spis set spi = '<@U999>'")
    for form in ("198.51.100.7", "incidents", "0x5A3D1F2C", "incidents 198.51.100.7"):
        status, body = slack.command(form)
        assert status == 200
        answer = json.loads(body)
        _assert_nothing_live(answer)
        assert "<!here>" not in json.dumps(answer)
    slack.event(message(OUT_OF_SYNC, ts="1700000038.000100"))
    [_, reply] = slack.fake.wait_for("chat.postMessage", 2)
    assert "<!here>" not in posted_text(reply) and "<!channel>" not in posted_text(reply)


def test_a_modal_for_a_stale_or_foreign_incident_is_answered_not_a_500(slack) -> None:
    from tests.test_slack import _submission

    for incident in (9999, "not-a-number"):
        payload = _submission(
            {"incident": incident, "channel": "C1", "thread_ts": "1.1"}, "198.51.100.7", "x"
        )
        status, body = slack.interact(payload)
        assert status == 200, body
        assert "Not saved" in json.loads(body)["errors"]["note"]
    with Store(slack.db) as store:
        assert store.counts()["notes"] == 0


def _feedback(slack: SlackHarness) -> list[tuple]:
    with sqlite3.connect(slack.db) as db:
        return db.execute("select article_id, verdict from feedback order by id").fetchall()


def test_double_clicks_count_once(slack) -> None:
    from tests.test_slack import _reply_and_payload

    # "Not it" is on the answer card's top cause only.
    _, not_it = _reply_and_payload(slack, "spi_not_it", "sa-out-of-sync")
    slack.interact(not_it)
    slack.interact(not_it)
    # The two clicks are answered on two listener threads: either may be first.
    [again] = slack.fake.wait_for("chat.postEphemeral")
    slack.executor.drain()
    assert again["text"] == "You already said sa-out-of-sync is not it."
    assert len(slack.fake.calls_to("chat.update")) == 1
    assert _feedback(slack) == [("sa-out-of-sync", "not_it")]
    # "Fixed it…" clicked twice opens the form twice; the verdict is the form's, submitted
    # twice in tests/test_verdicts.py.


def test_a_form_submitted_twice_is_one_note_and_one_confirmation(slack) -> None:
    from tests.test_slack import _reply_and_payload, _submission

    _, payload = _reply_and_payload(slack, "spi_add_note")
    slack.interact(payload)
    [opened] = slack.fake.wait_for("views.open")
    metadata = json.loads(opened["view"]["private_metadata"])
    submission = _submission(metadata, "198.51.100.7", "hub rebooted at 09:10")
    for _ in range(2):
        status, body = slack.interact(submission)
        assert (status, body) == (200, "")
    slack.executor.drain()
    with Store(slack.db) as store:
        assert [n.text for n in store.incident(metadata["incident"]).notes] == [
            "hub rebooted at 09:10"
        ]
    confirmations = [c for c in slack.fake.calls_to("chat.postMessage") if "📝" in c["text"]]
    assert len(confirmations) == 1


def test_the_same_spi_note_request_twice_is_one_note(slack) -> None:
    for _ in range(2):
        status, body = slack.command("note 198.51.100.7 replaced the ISP router", trigger_id="T-9")
        assert status == 200 and "Note 1 added" in json.loads(body)["text"]
    status, body = slack.command("note 198.51.100.7 replaced the ISP router")
    assert "Note 2 added" in json.loads(body)["text"]  # typed again: a new request, a new note
    with Store(slack.db) as store:
        assert store.counts()["notes"] == 2


def test_a_slack_that_keeps_failing_is_asked_three_times_not_nine(slack) -> None:
    for _ in range(10):
        slack.fake.script["chat.postMessage"].append(
            (503, {}, {"ok": False, "error": "service_unavailable"})
        )
    slack.event(message(LINE, ts="1700000039.000100"))
    with pytest.raises(SlackApiError):
        slack.executor.drain(timeout=30)
    assert len(slack.fake.calls_to("chat.postMessage")) == 3  # slack-sdk's own two retries


def test_background_work_beyond_its_bound_is_refused_not_queued() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from bot.background import Background

    gate = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        background = Background(pool, limit=3)
        accepted = [background.submit("paste", gate.wait, 10) for _ in range(5)]
        gate.set()
    assert accepted == [True, True, True, False, False]
