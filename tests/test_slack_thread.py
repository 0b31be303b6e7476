"""The thread is the conversation (issue 11, item 5): more log lines or device state pasted in
the thread of spibot's answer are read with everything pasted there before, and the answer is
updated in place. Real Bolt app, signed requests, the fake Slack Web API."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from slack_sdk.errors import SlackApiError

from bot import settings, slack_state
from bot.slack_state import SlackState
from kb.state.findings import Finding
from kb.store import Store
from tests.fakeslack import TEAM
from tests.slack_harness import SlackHarness
from tests.test_oauth import _event, install

ROOT_TS = "1700000101.000100"
ANSWER_TS = "1700000001.000100"  # the fake Slack's ts for the first message spibot posts
HUB, BRANCH, SPI = "192.0.2.1", "198.51.100.7", "0x5A3D1F2C"


def inv_spi(minute: int, spi: str = SPI, decimal: int = 1513955116) -> str:
    """An IOS-XE receiver's invalid-SPI syslog line, as `show logging` prints it."""
    return (
        f"Mar  3 09:{minute:02d}:02.113: %CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC "
        f"packet has invalid spi for destaddr={HUB}, prot=50, spi={spi}({decimal}), "
        f"srcaddr={BRANCH}, input interface=GigabitEthernet0/0/0"
    )


LOG = "\n".join(inv_spi(m) for m in (14, 15, 16))
MORE_LOG = "\n".join(inv_spi(m) for m in (17, 18))

# `show crypto ipsec sa peer X` on IOS-XE, in the format of Cisco's command reference and
# TAC's "Troubleshoot IPsec invalid SPI" note: the receiver (the hub that logged the lines)
# holds no inbound SA with the logged SPI ...
RECEIVER_STATE = """```hub#show crypto ipsec sa peer 198.51.100.7

interface: GigabitEthernet0/0/0
    Crypto map tag: VPN-MAP, local addr 192.0.2.1

   protected vrf: (none)
   local  ident (addr/mask/prot/port): (10.1.0.0/255.255.0.0/0/0)
   remote ident (addr/mask/prot/port): (10.7.0.0/255.255.0.0/0/0)
   current_peer 198.51.100.7 port 500
     PERMIT, flags={origin_is_acl,}
    #pkts encaps: 1520, #pkts encrypt: 1520, #pkts digest: 1520
    #pkts decaps: 1187, #pkts decrypt: 1187, #pkts verify: 1187
    #pkts compressed: 0, #pkts decompressed: 0
    #pkts not compressed: 0, #pkts compr. failed: 0
    #pkts not decompressed: 0, #pkts decompress failed: 0
    #send errors 0, #recv errors 42

     local crypto endpt.: 192.0.2.1, remote crypto endpt.: 198.51.100.7
     plaintext mtu 1438, path mtu 1500, ip mtu 1500, ip mtu idb GigabitEthernet0/0/0
     current outbound spi: 0x9C4E2B71(2622368625)
     PFS (Y/N): N, DH group: none

     inbound esp sas:
      spi: 0x1F3B5D7A(523984250)
        transform: esp-256-aes esp-sha256-hmac ,
        in use settings ={Tunnel, }
        conn id: 2011, flow_id: CSR:11, sibling_flags FFFFFFFF80004048, crypto map: VPN-MAP
        sa timing: remaining key lifetime (k/sec): (4607999/2874)
        IV size: 16 bytes
        replay detection support: Y
        Status: ACTIVE(ACTIVE)

     inbound ah sas:

     inbound pcp sas:

     outbound esp sas:
      spi: 0x9C4E2B71(2622368625)
        transform: esp-256-aes esp-sha256-hmac ,
        in use settings ={Tunnel, }
        conn id: 2012, flow_id: CSR:12, sibling_flags FFFFFFFF80004048, crypto map: VPN-MAP
        sa timing: remaining key lifetime (k/sec): (4607999/2874)
        IV size: 16 bytes
        replay detection support: Y
        Status: ACTIVE(ACTIVE)

     outbound ah sas:

     outbound pcp sas:
```"""

# ... and the sender (the logged peer) still sends with it: its current outbound SPI.
SENDER_STATE = """```branch#show crypto ipsec sa peer 192.0.2.1

interface: GigabitEthernet0/0/1
    Crypto map tag: VPN-MAP, local addr 198.51.100.7

   protected vrf: (none)
   local  ident (addr/mask/prot/port): (10.7.0.0/255.255.0.0/0/0)
   remote ident (addr/mask/prot/port): (10.1.0.0/255.255.0.0/0/0)
   current_peer 192.0.2.1 port 500
     PERMIT, flags={origin_is_acl,}
    #pkts encaps: 2240, #pkts encrypt: 2240, #pkts digest: 2240
    #pkts decaps: 0, #pkts decrypt: 0, #pkts verify: 0
    #pkts compressed: 0, #pkts decompressed: 0
    #pkts not compressed: 0, #pkts compr. failed: 0
    #pkts not decompressed: 0, #pkts decompress failed: 0
    #send errors 0, #recv errors 0

     local crypto endpt.: 198.51.100.7, remote crypto endpt.: 192.0.2.1
     plaintext mtu 1438, path mtu 1500, ip mtu 1500, ip mtu idb GigabitEthernet0/0/1
     current outbound spi: 0x5A3D1F2C(1513955116)
     PFS (Y/N): N, DH group: none

     inbound esp sas:
      spi: 0x2B7C9E14(729587220)
        transform: esp-256-aes esp-sha256-hmac ,
        in use settings ={Tunnel, }
        conn id: 2031, flow_id: CSR:31, sibling_flags FFFFFFFF80004048, crypto map: VPN-MAP
        sa timing: remaining key lifetime (k/sec): (4607998/1510)
        IV size: 16 bytes
        replay detection support: Y
        Status: ACTIVE(ACTIVE)

     inbound ah sas:

     inbound pcp sas:

     outbound esp sas:
      spi: 0x5A3D1F2C(1513955116)
        transform: esp-256-aes esp-sha256-hmac ,
        in use settings ={Tunnel, }
        conn id: 2032, flow_id: CSR:32, sibling_flags FFFFFFFF80004048, crypto map: VPN-MAP
        sa timing: remaining key lifetime (k/sec): (4607998/1510)
        IV size: 16 bytes
        replay detection support: Y
        Status: ACTIVE(ACTIVE)

     outbound ah sas:

     outbound pcp sas:
```"""


@pytest.fixture
def slack(tmp_path: Path):
    harness = SlackHarness(tmp_path)
    yield harness
    harness.close()


def message(text: str, ts: str, thread_ts: str | None = None, channel: str = "C1", **extra):
    threaded = {"thread_ts": thread_ts, "parent_user_id": "U1"} if thread_ts else {}
    return {
        "type": "message",
        "channel": channel,
        "channel_type": "channel",
        "user": "U1",
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "team": TEAM,
        **threaded,
        **extra,
    }


def edit(text: str, ts: str, thread_ts: str, at: str) -> dict:
    return {
        "type": "message",
        "subtype": "message_changed",
        "channel": "C1",
        "hidden": True,
        "message": message(text, ts, thread_ts, edited={"user": "U1", "ts": at}),
        "ts": at,
        "event_ts": at,
    }


def shown(call: dict) -> str:
    return json.dumps(call.get("blocks")) + call.get("text", "")


def answered(slack: SlackHarness) -> dict:
    slack.event(message(LOG, ROOT_TS))
    [answer] = slack.fake.wait_for("chat.postMessage")
    slack.executor.drain()
    return answer


def confirmations(slack: SlackHarness) -> list[dict]:
    return [c for c in slack.fake.calls_to("chat.postMessage") if "Confirmed:" in c["text"]]


def test_more_log_in_the_thread_updates_the_same_answer(slack: SlackHarness) -> None:
    answer = answered(slack)
    assert "(3 lines" in shown(answer)
    slack.event(message(MORE_LOG, "1700000102.000100", ROOT_TS))
    [update] = slack.fake.wait_for("chat.update")
    slack.executor.drain()
    assert update["channel"] == "C1" and update["ts"] == ANSWER_TS
    assert "(5 lines" in shown(update)  # the root paste and the reply, read as one
    assert len(slack.fake.calls_to("chat.postMessage")) == 1
    # The incident the first answer recorded keeps its buttons, and is not a "past" incident.
    assert '"action_id": "spi_fixed"' in shown(update) and "Past incidents" not in shown(update)
    with Store(slack.db) as store:
        assert len(store.incidents()) == 1


def test_an_edited_reply_replaces_its_text_in_the_thread(slack: SlackHarness) -> None:
    answered(slack)
    reply_ts = "1700000103.000100"
    slack.event(message(MORE_LOG, reply_ts, ROOT_TS))
    slack.fake.wait_for("chat.update")
    slack.executor.drain()
    slack.event(edit(inv_spi(19), reply_ts, ROOT_TS, "1700000104.000000"))
    first, second = slack.fake.wait_for("chat.update", 2)
    slack.executor.drain()
    assert "(5 lines" in shown(first) and "(4 lines" in shown(second)
    assert len(slack.fake.calls_to("chat.postMessage")) == 1


def test_the_thread_survives_a_restart(tmp_path: Path) -> None:
    before = SlackHarness(tmp_path)
    try:
        answered(before)
    finally:
        before.close()
    after = SlackHarness(tmp_path)  # a new app on the same database
    try:
        after.event(message(MORE_LOG, "1700000105.000100", ROOT_TS))
        [update] = after.fake.wait_for("chat.update")
        after.executor.drain()
        assert update["ts"] == ANSWER_TS
        assert "(5 lines" in shown(update)
        assert after.fake.calls_to("chat.postMessage") == []
    finally:
        after.close()


def test_a_retried_reply_event_updates_once(slack: SlackHarness) -> None:
    answered(slack)
    reply = message(MORE_LOG, "1700000106.000100", ROOT_TS)
    for retry in (None, "1", "2"):
        headers = {"X-Slack-Retry-Num": retry, "X-Slack-Retry-Reason": "timeout"} if retry else {}
        assert slack.event(reply, event_id="EvREPLY", headers=headers)[0] == 200
    slack.fake.wait_for("chat.update")
    slack.executor.drain()
    assert len(slack.fake.calls_to("chat.update")) == 1
    assert len(slack.fake.calls_to("chat.postMessage")) == 1


def test_a_thread_spibot_did_not_answer_gets_an_answer_then_a_conversation(
    slack: SlackHarness,
) -> None:
    parent = "1700000100.000100"  # someone's question, no log in it
    slack.event(message("anyone seen this on the hub?", parent))
    slack.event(message(LOG, "1700000107.000100", parent))
    [answer] = slack.fake.wait_for("chat.postMessage")
    slack.executor.drain()
    assert answer["thread_ts"] == parent and slack.fake.calls_to("chat.update") == []
    slack.event(message(MORE_LOG, "1700000108.000100", parent))
    [update] = slack.fake.wait_for("chat.update")
    slack.executor.drain()
    assert update["ts"] == ANSWER_TS and "(5 lines" in shown(update)


def test_chat_in_the_thread_changes_nothing(slack: SlackHarness) -> None:
    answered(slack)
    slack.event(message("thanks, looking at the branch now", "1700000109.000100", ROOT_TS))
    slack.executor.drain()
    assert slack.fake.calls_to("chat.update") == []
    assert len(slack.fake.calls_to("chat.postMessage")) == 1


def test_another_workspace_never_reads_this_thread(tmp_path: Path) -> None:
    slack = SlackHarness(tmp_path, oauth=True)
    try:
        install(slack, "T1")
        install(slack, "T2")
        root = {**message(LOG, ROOT_TS), "team": "T1"}
        slack.post(_event(root, "EvT1root", "T1"), "application/json")
        slack.fake.wait_for("chat.postMessage")
        slack.executor.drain()
        # The same channel id and thread ts, in another workspace: answered on its own.
        reply = {**message(MORE_LOG, "1700000110.000100", ROOT_TS), "team": "T2"}
        slack.post(_event(reply, "EvT2reply", "T2"), "application/json")
        _, other = slack.fake.wait_for("chat.postMessage", 2)
        slack.executor.drain()
        assert other["_auth"] == "Bearer xoxb-T2-token" and other["thread_ts"] == ROOT_TS
        assert "(2 lines" in shown(other)
        assert slack.fake.calls_to("chat.update") == []
    finally:
        slack.close()


def test_a_thread_is_read_up_to_the_paste_budget(
    slack: SlackHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(slack_state, "MAX_PASTE_CHARS", len(LOG) + len(MORE_LOG) + 10)
    answered(slack)
    slack.event(message(MORE_LOG, "1700000111.000100", ROOT_TS))
    slack.fake.wait_for("chat.update")
    slack.executor.drain()
    slack.event(message(inv_spi(30), "1700000112.000100", ROOT_TS))
    _, update = slack.fake.wait_for("chat.update", 2)
    slack.executor.drain()
    assert "(5 lines" in shown(update)  # the oldest kept, the latest left out
    assert "1 later message(s) in this thread (" in shown(update)
    # Edited (still past the budget): read as before, and counted once, not twice.
    slack.event(edit(inv_spi(31), "1700000112.000100", ROOT_TS, "1700000113.000000"))
    update = slack.fake.wait_for("chat.update", 3)[-1]
    slack.executor.drain()
    assert "(5 lines" in shown(update)
    assert "1 later message(s) in this thread (" in shown(update)
    with Store(slack.db) as store:
        kept = store.db.execute("select message_ts, text from slack_thread_texts").fetchall()
    # Past the budget a message is counted on its thread: it gets no row, not even an empty one.
    assert kept == [(ROOT_TS, LOG), ("1700000111.000100", MORE_LOG)]


PROOF = [
    f"hub: line 23: inbound esp sas: no SPI {SPI} among 0x1F3B5D7A",
    f"branch: line 19: current outbound spi: {SPI}(1513955116) <!channel>",
]
# The sender's state with a `<!channel>` typed after a line, as Slack delivers it: the proof
# quotes that line, and no reply may ping the channel with it.
HOSTILE_SENDER_STATE = SENDER_STATE.replace(
    "current outbound spi: 0x5A3D1F2C(1513955116)",
    "current outbound spi: 0x5A3D1F2C(1513955116) &lt;!channel&gt;",
)
# Where the real confirm engine finds its proof once LOG, RECEIVER_STATE and SENDER_STATE are
# read as one text (the lines of the combined text; the prompt names each end).
REAL_PROOF = [
    "branch: line 73: current outbound spi: 0x5A3D1F2C(1513955116)",
    "hub: line 12: current_peer 198.51.100.7 port 500",
    "hub: line 27: spi: 0x1F3B5D7A(523984250)",
]


def test_a_confirmation_is_said_once_in_the_thread(slack: SlackHarness) -> None:
    answered(slack)
    slack.event(message(RECEIVER_STATE, "1700000113.000100", ROOT_TS))
    slack.fake.wait_for("chat.update")
    slack.executor.drain()
    assert confirmations(slack) == []  # one end's state is not proof
    sender = message(HOSTILE_SENDER_STATE, "1700000114.000100", ROOT_TS)
    slack.event(sender, event_id="EvSENDER")
    slack.event(sender, event_id="EvSENDER", headers={"X-Slack-Retry-Num": "1"})
    _, update = slack.fake.wait_for("chat.update", 2)
    [said] = slack.fake.wait_for("chat.postMessage", 2)[1:]
    slack.executor.drain()
    assert update["ts"] == ANSWER_TS and "Confirmed" in shown(update)
    [heading] = [str(b) for b in update["blocks"] if "Confirmed" in str(b)]
    assert "score" not in heading  # a confirmed cause has no score
    assert "current outbound spi: 0x5A3D1F2C" in shown(update)  # the proof, under the cause
    assert said["thread_ts"] == ROOT_TS
    assert said["text"].startswith(
        f"Confirmed: SAs out of sync after a reboot or one-sided clear for {BRANCH}: {BRANCH} "
        f"still sends with SPI {SPI} (its current outbound SPI) and {HUB} has no inbound SA"
    )
    assert f"```{REAL_PROOF[0]} &lt;!channel&gt;" in said["text"]
    assert "<!channel>" not in shown(update) + said["text"]
    with Store(slack.db) as store:
        [incident] = store.incidents()
    assert incident.confirmed_cause == "sa-out-of-sync"
    assert incident.proof == [f"{REAL_PROOF[0]} <!channel>", *REAL_PROOF[1:]]
    # An edit that keeps the proof updates the answer, and says nothing again.
    edited = HOSTILE_SENDER_STATE + "\n"
    slack.event(edit(edited, "1700000114.000100", ROOT_TS, "1700000115.000000"))
    slack.fake.wait_for("chat.update", 3)
    slack.executor.drain()
    assert len(confirmations(slack)) == 1


def test_a_confirmation_that_could_not_be_posted_is_said_by_a_later_delivery(
    slack: SlackHarness,
) -> None:
    answered(slack)
    slack.event(message(RECEIVER_STATE, "1700000113.000100", ROOT_TS))
    slack.fake.wait_for("chat.update")
    slack.executor.drain()
    refused = (200, {}, {"ok": False, "error": "not_in_channel"})
    slack.fake.script["chat.postMessage"].append(refused)
    sender = message(SENDER_STATE, "1700000114.000100", ROOT_TS)
    slack.event(sender, event_id="EvSENDER")
    slack.fake.wait_for("chat.postMessage", 2)
    with pytest.raises(SlackApiError):
        slack.executor.drain()
    assert len(confirmations(slack)) == 1  # tried, and refused
    # Slack's retry of the same event: the claim was given back, so it is said now, once.
    slack.event(sender, event_id="EvSENDER", headers={"X-Slack-Retry-Num": "1"})
    slack.fake.wait_for("chat.postMessage", 3)
    slack.executor.drain()
    tried, said = confirmations(slack)
    assert said["text"] == tried["text"] and said["thread_ts"] == ROOT_TS
    assert REAL_PROOF[0] in said["text"]
    with Store(slack.db) as store:
        [incident] = store.incidents()
    assert incident.confirmed_cause == "sa-out-of-sync" and incident.proof == REAL_PROOF


def test_state_from_both_ends_confirms_in_place(slack: SlackHarness) -> None:
    answer = answered(slack)
    assert "*Likely SAs out of sync" in shown(answer) and "Confirmed" not in shown(answer)
    assert "To confirm:" in shown(answer) and "paste the output in this thread" in shown(answer)
    slack.event(message(RECEIVER_STATE, "1700000116.000100", ROOT_TS))
    slack.fake.wait_for("chat.update")
    slack.executor.drain()
    slack.event(message(SENDER_STATE, "1700000117.000100", ROOT_TS))
    _, update = slack.fake.wait_for("chat.update", 2)
    slack.executor.drain()
    assert update["ts"] == ANSWER_TS
    assert "Confirmed" in shown(update) and "sa-out-of-sync" in shown(update)
    assert "current outbound spi: 0x5A3D1F2C" in shown(update)
    assert "To confirm:" not in shown(update)  # both ends' state is in the thread
    [said] = confirmations(slack)
    assert said["thread_ts"] == ROOT_TS and BRANCH in said["text"]
    assert "current outbound spi: 0x5A3D1F2C" in said["text"]  # its proof, in a code block
    assert len(slack.fake.calls_to("chat.postMessage")) == 2  # the answer and "Confirmed:"
    with Store(slack.db) as store:
        [incident] = store.incidents()
    assert incident.confirmed_cause == "sa-out-of-sync"


def _with_findings(state: bool) -> object:
    """A diagnosis of LOG with what the confirm engine adds, hostile text included."""
    from kb.diagnose import diagnose
    from kb.state.findings import Ask

    d = diagnose(LOG)
    top = d.peers[0].causes[0]
    top.confidence, top.proof = "confirmed", [*PROOF, *(f"hub: line {n}: x" for n in range(9))]
    d.peers[0].findings = [
        Finding("contradiction", f"{SPI} is active on both ends <@U999>", "ha-failover", BRANCH),
        Finding("prevention", f"configure DPD on {BRANCH} <!here>", "sa-out-of-sync", BRANCH),
    ]
    d.notes = [Finding("note", "lines 40-52: from a box that is neither end (203.0.113.9)")]
    d.peers[0].ask = [
        Ask(f"on {BRANCH} (the peer)", f"show crypto ipsec sa peer {HUB} <!channel>", "why"),
        Ask(f"this box ({HUB})", f"show crypto ipsec sa peer {BRANCH}", "why"),
    ]
    d.state = ["a block"] if state else []
    return d


def test_slack_shows_confirmed_proof_contradiction_prevention_notes_and_asks() -> None:
    from bot import blocks

    d = _with_findings(state=False)
    card = [b.to_dict() for b in blocks.diagnosis(d)]
    rendered = [b.to_dict() for b in blocks.details(d)]
    on_card = json.dumps(card, ensure_ascii=False)
    body = json.dumps(rendered, ensure_ascii=False)
    assert len(card) <= blocks.CARD_BLOCKS and len(rendered) <= blocks.MAX_BLOCKS
    # The card: confirmed, its first proof line, the contradiction; no score anywhere.
    assert "✅ *Confirmed:* SAs out of sync" in on_card and "score" not in on_card + body
    assert "Proof: `hub: line 23: inbound esp sas: no SPI 0x5A3D1F2C" in on_card
    assert "To confirm" not in on_card  # it is confirmed
    assert "State contradicts the log:* 0x5A3D1F2C is active on both ends &lt;@U999&gt;" in on_card
    # The details: every proof line, the contradiction's, prevention, notes and asks.
    [heading] = [json.dumps(b, ensure_ascii=False) for b in rendered[1:2]]
    assert "✅ Confirmed" in heading
    assert "current outbound spi: 0x5A3D1F2C" in body and "… and 3 more line(s)" in body
    assert "State contradicts the log:* 0x5A3D1F2C is active on both ends &lt;@U999&gt;" in body
    assert "*Prevent it:* configure DPD on 198.51.100.7 &lt;!here&gt;" in body
    assert "from a box that is neither end" in body
    assert (
        f"on {BRANCH} (the peer): `show crypto ipsec sa peer {HUB} &lt;!channel&gt;` "
        "— paste the output in this thread"
    ) in body
    assert f"on this box ({HUB}): `show crypto ipsec sa peer {BRANCH}`" in body
    for live in ("<@U999>", "<!here>", "<!channel>"):
        assert live not in body + on_card
    state = _with_findings(state=True)
    with_state = str([b.to_dict() for b in [*blocks.diagnosis(state), *blocks.details(state)]])
    assert "To confirm" not in with_state  # the state is pasted: nothing left to ask


def test_the_terminal_shows_the_same_without_control_characters() -> None:
    from bot import text

    d = _with_findings(state=False)
    d.peers[0].findings[0].text += "\x1b[2J\r"
    out = text.diagnosis(d)
    assert "[sa-out-of-sync, CONFIRMED]" in out and "   Proof:" in out
    assert "branch: line 19: current outbound spi: 0x5A3D1F2C" in out
    assert "! State contradicts the log: 0x5A3D1F2C is active on both ends" in out
    assert "   Prevent it: configure DPD on 198.51.100.7" in out
    assert "note: lines 40-52: from a box that is neither end" in out
    assert f"To confirm: on this box ({HUB}): show crypto ipsec sa peer {BRANCH} — paste" in out
    assert "\x1b" not in out and "\r" not in out


def _days_ago(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="seconds")


def _rows(store: Store, table: str) -> list[str]:
    return [r[0] for r in store.db.execute(f"select thread_ts from {table} order by 1")]


def test_threads_without_a_paste_for_thread_days_are_forgotten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store(tmp_path / "kb.db") as store:
        state = SlackState(store)
        for thread in ("1.1", "2.2", "3.3"):
            state.open_thread("C1", thread, "9.9", BRANCH, {BRANCH: 1}, thread, LOG, "cause-a")
        store.db.execute("update slack_threads set updated_at = ?", [_days_ago(20)])
        state.add_to_thread("C1", "3.3", "3.4", MORE_LOG)  # a paste renews its thread
        monkeypatch.setenv("SPIBOT_THREAD_DAYS", "30")
        assert state.forget_old() == 0
        monkeypatch.delenv("SPIBOT_THREAD_DAYS")  # the default: 14 days
        assert state.forget_old() == 2
        for table in ("slack_threads", "slack_thread_texts", "slack_thread_causes"):
            assert set(_rows(store, table)) == {"3.3"}, table
        assert state.thread("C1", "1.1") is None and state.thread("C1", "3.3").texts == [
            LOG,
            MORE_LOG,
        ]


def test_new_threads_forget_old_ones_now_and_then(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server runs for months: not only its start forgets."""
    with Store(tmp_path / "kb.db") as store:
        state = SlackState(store)
        state.open_thread("C1", "1.1", "9.9", BRANCH, {}, "1.1", LOG)
        store.db.execute("update slack_threads set updated_at = ?", [_days_ago(20)])
        state.forget_old(thread_days=30)
        state.open_thread("C1", "2.2", "9.9", BRANCH, {}, "2.2", LOG)
        assert _rows(store, "slack_threads") == ["1.1", "2.2"]  # forgot a moment ago
        monkeypatch.setattr(slack_state, "FORGET_EVERY_SECONDS", -1)
        state.open_thread("C1", "3.3", "9.9", BRANCH, {}, "3.3", LOG)
        assert _rows(store, "slack_threads") == ["2.2", "3.3"]


def test_a_bad_thread_days_is_refused_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1")
    for bad in ("two weeks", "0", "-3"):
        monkeypatch.setenv("SPIBOT_THREAD_DAYS", bad)
        with pytest.raises(settings.SettingsError, match="SPIBOT_THREAD_DAYS must be a whole"):
            settings.load(http=False)
    monkeypatch.setenv("SPIBOT_THREAD_DAYS", "90")
    settings.load(http=False)


def test_each_cause_is_claimed_once_per_thread_and_can_be_given_back(tmp_path: Path) -> None:
    with Store(tmp_path / "kb.db") as store:
        state = SlackState(store)
        state.open_thread("C1", "1.1", "9.9", BRANCH, {}, "1.1", LOG, confirmed="a")
        claims = [state.confirm_thread("C1", "1.1", c) for c in ("a", "b", "a", "c", "b")]
        assert claims == [False, True, False, True, False]  # a -> b -> a says "a" once
        state.unconfirm_thread("C1", "1.1", "c")  # its reply could not be posted
        assert state.thread("C1", "1.1").confirmed == {"a", "b"}
        assert state.confirm_thread("C1", "1.1", "c")


def test_a_second_answer_in_a_thread_keeps_the_first_ones_context(tmp_path: Path) -> None:
    """Two pastes in a thread answered at once, before either answer was remembered."""
    with Store(tmp_path / "kb.db") as store:
        state = SlackState(store)
        state.open_thread("C1", "1.0", "9.1", BRANCH, {BRANCH: 1}, "1.1", LOG)
        other = "203.0.113.9"
        state.open_thread("C1", "1.0", "9.2", other, {other: 2, BRANCH: 3}, "1.2", MORE_LOG, "x")
        thread = state.thread("C1", "1.0")
        assert thread.reply_ts == "9.1" and thread.texts == [LOG, MORE_LOG]
        assert (thread.peer, thread.incident_id) == (BRANCH, 1)
        assert thread.incidents == {BRANCH: 1, other: 2} and thread.confirmed == {"x"}


def test_a_thread_made_before_upkeep_is_migrated(tmp_path: Path) -> None:
    """0003's threads: the confirmed cause and the rows of texts past the budget carry over."""
    with Store(tmp_path / "kb.db") as store:
        slack_state.MIGRATIONS.apply(store.db, stop_before="0004_thread_upkeep")
        key = ("", "C1", "1.0")
        store.db["slack_threads"].insert(
            dict(zip(("team_id", "channel", "thread_ts"), key, strict=True))
            | {"reply_ts": "9.1", "incidents": "{}", "confirmed": "a", "version": 3}
            | {"created_at": "2026-01-01T00:00:00+00:00"}
        )
        for ts, text, chars in (("1.0", LOG, len(LOG)), ("1.1", "", 70), ("1.2", "", 30)):
            store.db["slack_thread_texts"].insert(
                dict(zip(("team_id", "channel", "thread_ts"), key, strict=True))
                | {"message_ts": ts, "text": text, "chars": chars}
            )
        state = SlackState(store)
        thread = state.thread("C1", "1.0")
        assert thread.confirmed == {"a"} and thread.texts == [LOG]
        assert (thread.unread, thread.unread_chars) == (2, 100)
        assert _rows(store, "slack_thread_texts") == ["1.0"]
        [updated] = store.db.execute("select updated_at from slack_threads").fetchone()
        assert updated == "2026-01-01T00:00:00+00:00"
