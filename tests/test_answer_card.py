"""The Slack answer card (issue 12): what a phone shows of the reply to a paste, on every paste
of the corpus (kb/examples, tests/cases), and the details one tap away.

Sizes are what a user sees (tests/blockkit_layout.py: visible characters, an estimate of
Slack's mobile layout at 400 px); contents are checked against kb.answer, the source of the
sentence and of the one command.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import pytest

from bot import blocks, verdict_blocks
from kb import answer
from kb.commands import sections
from kb.diagnose import diagnose
from kb.store import Store
from tests.blockkit_layout import (
    bottom_of,
    buttons,
    layout,
    visible_chars,
    visible_runs,
    visible_text,
)
from tests.test_answer import diagnosed, every_case, paste
from tests.test_article_commands import line_problems

SCREEN_PX = 700  # "the first 700 px at 400 px width"
CASES = every_case()
LIVE = re.compile(r"<[@!#]")  # a mention, a channel ping or a channel link, unescaped


@pytest.fixture(scope="module")
def empty_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kb") / "kb.db"
    with Store(path):
        pass
    return path


@pytest.fixture
def store(empty_db: Path, tmp_path: Path):
    """A new knowledge base (a copy of one made once: making one takes a third of a second)."""
    shutil.copy(empty_db, tmp_path / "kb.db")
    with Store(tmp_path / "kb.db") as opened:
        yield opened


def rendered(d) -> list[dict]:
    return [b.to_dict() for b in blocks.diagnosis(d)]


def cards(reply: list[dict]) -> list[list[dict]]:
    """The cards of a reply: the whole reply for one peer, else what lies between dividers."""
    if not any(b["type"] == "divider" for b in reply):
        return [reply]
    out: list[list[dict]] = []
    for b in reply:
        if b["type"] == "divider":
            out.append([])
        elif out:
            out[-1].append(b)
    if out and not buttons(out[-1]):  # "… and N more peer(s)" after the last card
        out[-1] = out[-1][:-1]
    return out


def code_blocks(reply: list[dict]) -> list[str]:
    return [t for b in reply for kind, t in visible_runs(b) if kind == "code"]


def do_first(card: list[dict]) -> dict:
    [block] = [b for b in card if "*Do this first*" in (b.get("text") or {}).get("text", "")]
    return block


def sentence(p) -> str:
    """The card's first line: the headline, a confirmed one under a tick."""
    said = answer.headline(p)
    return f"✅ {said}" if said.startswith("Confirmed:") else said


def mrkdwn_texts(reply: list[dict]) -> list[str]:
    def walk(obj):
        if isinstance(obj, dict):
            if obj.get("type") in ("mrkdwn", "plain_text"):
                yield obj["text"]
            for k, v in obj.items():
                if k != "text" or not isinstance(v, str):
                    yield from walk(v)
        elif isinstance(obj, list):
            for v in obj:
                yield from walk(v)

    return list(walk(reply))


# -- the card, on every paste -------------------------------------------------------------------
@pytest.mark.parametrize("name", CASES)
def test_every_card_fits_a_phone_and_leads_with_the_one_command(name: str, store) -> None:
    d = diagnose(paste(name), store)
    reply = rendered(d)
    shown = d.peers[: blocks.PEERS_SHOWN]
    per_card = cards(reply)
    assert len(per_card) == len(shown) and len(reply) <= blocks.MAX_BLOCKS
    for p, card in zip(shown, per_card, strict=True):
        said = visible_text(card)
        assert len(card) <= 8, (p.peer, len(card))
        assert visible_chars(card) <= 1200, (p.peer, visible_chars(card), said)
        assert len(buttons(card)) <= 4
        assert [e["action_id"] for e in buttons(card)][-1] == "spi_details"
        assert said.splitlines()[0] == sentence(p)
        action = answer.first_action(p)
        if action is None:
            continue
        block = do_first(card)
        # The one command, alone in its own code block, exactly as kb gives it.
        assert code_blocks([block]) == [action.command]
        assert action.where_text in visible_text([block])
        if action.caveat:
            assert action.caveat in visible_text([block])
        for placeholder in action.placeholders:
            assert f"Put your own value for {placeholder}" in visible_text([block])
        assert "score" not in said and "base rate" not in said
    if len(d.peers) == 1:
        # The first 700 px show the cause, where to act and the command.
        boxes = layout(reply)
        assert boxes[0].text.splitlines()[0] == sentence(d.peers[0])
        if action is not None:
            assert bottom_of(boxes, "code", action.command) <= SCREEN_PX
            assert bottom_of(boxes, "text", action.where_text) <= SCREEN_PX


def test_the_three_example_cards(store) -> None:
    """The cards a new user sees first, read the way they are."""
    sync = rendered(diagnose(paste("out-of-sync.txt"), store))
    said = visible_text(sync)
    assert said.splitlines()[0] == (
        "Very likely SAs out of sync on 198.51.100.7: clear its SAs toward 192.0.2.1 "
        "(6 lines in 5 min)"
    )
    fields = next(b for b in sync if b.get("fields"))
    assert [f["text"] for f in fields["fields"]] == [
        "*Peer (sender)*\n`198.51.100.7`",
        "*This box*\n`192.0.2.1` (ios)",
        "*SPI*\n`0x5A3D1F2C`",
        "*Seen*\n6 lines in 5 min",
    ]
    assert "Do this first, on the peer 198.51.100.7, not on this box (IOS syntax" in said
    assert code_blocks(sync) == ["clear crypto sa peer 192.0.2.1"]
    assert "Clearing on the receiver (the box that logged the error) alone does not help" in said
    assert [e["text"]["text"] for e in buttons(sync)] == [
        "Fixed it…",
        "Not it",
        "Add note",
        "Details",
    ]
    # Nothing of the other causes, and no candidate that nothing speaks for.
    for other in ("firewall-blocking", "ha-failover", "lifetime-mismatch", "nat-traversal"):
        assert other not in said
    # A rekey race is short: harmless unless it repeats, the check that tells, the buttons.
    race = rendered(diagnose(paste("rekey-race.txt"), store))
    assert len(race) <= 4 < len(sync)
    assert visible_chars(race) < visible_chars(sync) * 0.7
    assert "harmless unless it repeats" in visible_text(race) and "Why:" not in visible_text(race)


def test_the_buttons_carry_what_their_handlers_read(store) -> None:
    d = diagnose(paste("out-of-sync.txt"), store)
    [p] = d.peers
    by_id = {e["action_id"]: json.loads(e["value"]) for e in buttons(rendered(d))}
    verdict = {"incident": p.incident, "article": "sa-out-of-sync", "peer": p.peer}
    assert by_id == {
        "spi_fixed": verdict,
        "spi_not_it": verdict,
        "spi_add_note": {"incident": p.incident, "peer": p.peer},
        "spi_details": {"incident": p.incident, "peer": p.peer},
    }
    after = verdict_blocks.with_verdict(
        rendered(d), incident=p.incident, cause="sa-out-of-sync", title="t", user="U1", at="x"
    )
    assert [e["action_id"] for e in buttons(after)] == ["spi_details"]  # details stay
    # Without an incident (a paste not recorded) only the details can be asked for.
    unrecorded = rendered(diagnose(paste("out-of-sync.txt")))
    assert [e["action_id"] for e in buttons(unrecorded)] == ["spi_details"]


def test_last_time_says_when_who_what_fixed_it_the_note_and_links_the_thread(store) -> None:
    text = paste("out-of-sync.txt")
    first = diagnose(text, store)
    link = "https://example.slack.com/archives/C1/p1700000011000100?thread_ts=1&cid=C1"
    store.add_note(
        peer="198.51.100.7",
        text="cleared on the branch <!channel>, *DPD* was off",
        fixed_by="sa-out-of-sync",
        author="alice",
        permalink=link,
        incident_id=first.peers[0].incident,
    )
    again = diagnose(text, store)
    reply = rendered(again)
    [line] = [b for b in reply if "Last time" in json.dumps(b)]
    said = line["elements"][0]["text"]
    day = store.incident(first.peers[0].incident).resolved_at[:10]
    assert said == (
        f"🕘 *Last time* ({day}): fixed by `sa-out-of-sync` — alice: “cleared on the branch "
        f"&lt;!channel&gt;, *DPD* was off” · <{link.replace('&', '&amp;')}|the thread>"
    )
    assert len(reply) <= 8 and visible_chars(reply) <= 1200
    # A permalink that could break out of its link is shown as words, not linked.
    assert blocks.link("https://x.example/a|<!here>", "the thread") == "the thread"
    assert blocks.link("javascript:alert(1)", "the thread") == "the thread"


# -- several peers --------------------------------------------------------------------------------
def test_several_peers_a_card_each_with_its_own_buttons_and_the_rest_in_one_line(store) -> None:
    three = diagnose(paste("ios-hub-three-peers-three-causes.txt"), store)
    reply = rendered(three)
    assert visible_text(reply).splitlines()[0] == answer.paste_headline(three)
    for p, card in zip(three.peers, cards(reply), strict=True):
        values = {json.loads(e["value"])["incident"] for e in buttons(card)}
        assert values == {p.incident}
        assert visible_text(card).startswith(answer.headline(p))
    lines = [
        f"Mar  3 09:{14 + m}:0{n % 10}.000: %CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC "
        f"packet has invalid spi for destaddr=192.0.2.1, prot=50, spi=0x{0x1000 + n:08X}"
        f"({0x1000 + n}), srcaddr=198.51.100.{n}, input interface=GigabitEthernet0/0/0"
        for n in range(1, 12)
        for m in range(n % 3 + 1)
    ]
    many = diagnose("\n".join(lines), store)
    reply = rendered(many)
    assert len(cards(reply)) == 5 and len(reply) <= blocks.MAX_BLOCKS
    assert all(len(c) <= 8 and len(buttons(c)) <= 4 for c in cards(reply))
    [rest] = [b for b in reply if "more peer(s)" in json.dumps(b, ensure_ascii=False)]
    assert rest["type"] == "context" and len(rest["elements"]) == 1
    assert visible_text([rest]).startswith("… and 6 more peer(s): ")


# -- the notification -----------------------------------------------------------------------------
REPLY_KINDS = {
    "one peer": "out-of-sync.txt",
    "rekey race": "rekey-race.txt",
    "several peers": "ios-hub-three-peers-three-causes.txt",
    "confirmed": "ios-hub-asa-spoke-stale-sa-both-ends",
    "no invalid-SPI line": "",
}
COMPANION = (
    "Mar  3 09:14:02.115: %CRYPTO-4-IKMP_NO_SA: IKE message from 198.51.100.7 has no SA "
    "and is not an initialization offer\n"
)


@pytest.mark.parametrize("kind", REPLY_KINDS)
def test_the_notification_is_the_sentence_for_every_reply_kind(kind: str) -> None:
    d = diagnosed(REPLY_KINDS[kind]) if REPLY_KINDS[kind] else diagnose(COMPANION)
    said = blocks.notification(d)
    assert html.unescape(said) == answer.paste_headline(d)
    assert "invalid-SPI line(s)" not in said  # the old summary: no cause, no action
    if kind == "no invalid-SPI line":
        assert not d.found and said.startswith("No invalid-SPI line in this paste")
    elif kind == "confirmed":
        assert said.startswith("Confirmed: SAs out of sync")
    elif kind == "several peers":
        assert said.startswith("3 peers: very likely SAs out of sync on 198.51.100.70")
    assert blocks.details_text(d).startswith("Details: ")
    assert html.unescape(blocks.details_text(d)) == f"Details: {answer.paste_headline(d)}"


def test_the_notification_is_escaped() -> None:
    d = diagnose(paste("out-of-sync.txt"))
    d.peers[0].peer = "<!channel>"
    assert "<!channel>" in answer.paste_headline(d)
    assert "&lt;!channel&gt;" in blocks.notification(d)
    assert not LIVE.search(blocks.notification(d) + blocks.details_text(d))


# -- the details ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", CASES)
def test_details_hold_every_command_of_the_top_cause_as_runnable_lines(name: str) -> None:
    d = diagnosed(name)
    for p in d.peers[: blocks.PEERS_SHOWN]:
        detail = [b.to_dict() for b in blocks.details(d, p.peer)]
        assert len(detail) <= blocks.MAX_BLOCKS
        said = visible_text(detail)
        assert "base rate" not in said and "score" not in said
        assert not re.search(r"(?m)^• [+-]\d", said)  # no points in front of a reason
        top = p.causes[0] if p.causes else None
        if top is None:
            continue
        proof = {*top.proof, *(x for f in p.findings for x in f.proof)}
        lines = [line for block in code_blocks(detail) for line in block.splitlines()]
        for line in lines:
            if line not in proof and not line.startswith("… and "):  # proof is no command
                assert line_problems(line) == [], line
        for s in sections(top.commands):
            if s.mode == "ui":
                assert all(f"• {x}" in said for x in s.lines)
            else:
                assert "\n".join(s.lines) in code_blocks(detail), s
        # Other causes are candidates only with evidence for them.
        headed = re.findall(r"(?m)^\d\. .*?  (\S+) · ", said)
        evidenced = {c.id for c in p.causes[1:] if c.has_evidence}
        assert set(headed) <= evidenced, (headed, evidenced)


def test_details_of_the_out_of_sync_example(store) -> None:
    d = diagnose(paste("out-of-sync.txt"), store)
    detail = [b.to_dict() for b in blocks.details(d)]
    said = visible_text(detail)
    assert said.splitlines()[0] == "Details: " + answer.paste_headline(d)
    # Run now, then configuration under its mode path, each block in its own code block.
    assert "Fix, on the peer 198.51.100.7 (the sender of the packets):" in said
    assert "clear crypto sa peer 192.0.2.1\nclear crypto session remote 192.0.2.1" in (
        code_blocks(detail)
    )
    assert (
        "Configuration, on both ends, in configure terminal → crypto ikev2 profile "
        "<ikev2-profile-name>:" in said
    )
    assert "Put your own value for <ikev2-profile-name> before you run it." in said
    assert said.index("Check, on this box") < said.index("Fix, on the peer")
    assert said.index("Fix, on the peer") < said.index("Configuration, on both ends")
    # Every caveat, what to paste to confirm, other causes with evidence, sources.
    assert "invalid-spi-recovery is IKEv1 only" in said
    assert (
        "To confirm: on this box (192.0.2.1): show crypto ipsec sa peer 198.51.100.7 — "
        "paste the output in this thread" in said
    )
    assert "2. A firewall or ACL blocks IKE or ESP in one direction  firewall-blocking" in said
    assert "lifetime-mismatch" not in said  # nothing speaks for it
    assert "Sources: cisco.com: 115801-technote-iosvpn-00" in said


def test_details_show_past_incidents_with_each_notes_author_and_date(store) -> None:
    text = paste("out-of-sync.txt")
    first = diagnose(text, store)
    store.add_note(
        peer="198.51.100.7",
        text="hub reloaded <@U999>",
        author="bob",
        incident_id=first.peers[0].incident,
    )
    detail = [b.to_dict() for b in blocks.details(diagnose(text, store))]
    [note] = [t for t in mrkdwn_texts(detail) if "hub reloaded" in t]
    day = store.incident(first.peers[0].incident).notes[-1].created_at[:10]
    assert note == f"bob, {day}: hub reloaded &lt;@U999&gt;"


# -- escaping ---------------------------------------------------------------------------------------
HOSTILE = "<!channel> <@U999> <#C1> <https://evil.example|click> ``` *x* &"


def test_a_hostile_paste_pings_no_one_on_the_card_or_in_the_details(store) -> None:
    from kb.state.findings import Ask, Finding

    text = paste("out-of-sync.txt")
    first = diagnose(text, store)
    store.add_note(
        peer="198.51.100.7",
        text=HOSTILE,
        fixed_by="sa-out-of-sync",
        author=HOSTILE,
        permalink=f"https://example.slack.com/x>{HOSTILE}",
        incident_id=first.peers[0].incident,
    )
    d = diagnose(text, store)
    p = d.peers[0]
    top = p.causes[0]
    top.confidence, top.proof = "confirmed", [f"{HOSTILE}#show crypto ipsec sa", HOSTILE]
    p.findings = [
        Finding("contradiction", HOSTILE, "ha-failover", p.peer, [HOSTILE]),
        Finding("prevention", HOSTILE, "sa-out-of-sync", p.peer),
        Finding("supports", HOSTILE, "sa-out-of-sync", p.peer),
    ]
    d.notes = [Finding("note", HOSTILE)]
    d.warnings = [HOSTILE]
    p.ask = [Ask(f"on {HOSTILE}", f"show {HOSTILE}", HOSTILE)]
    reply = rendered(d)
    detail = [b.to_dict() for b in blocks.details(d)]
    for text_ in mrkdwn_texts(reply + detail):
        assert not LIVE.search(text_), text_
        assert "evil.example|click>" not in text_
    assert "```" not in "".join(code_blocks(reply + detail))  # no code block ended early
    assert "`" not in visible_text([b for b in reply if "Last time" in json.dumps(b)])
    said = visible_text(reply)
    assert "Last time" in said and "the thread" not in said  # the permalink is not linked
    assert "State contradicts the log: <!channel> <@U999>" in said  # shown, as text
    assert len(reply) <= 8 and visible_chars(reply) <= 1200


# -- the layout estimate can fail --------------------------------------------------------------------
def test_the_layout_estimate_puts_a_command_under_a_long_answer_below_the_fold(store) -> None:
    long = [blocks.section("word " * 300).to_dict(), blocks.section("```show x```").to_dict()]
    assert bottom_of(layout(long), "code", "show x") > SCREEN_PX
    short = [blocks.section("word " * 20).to_dict(), blocks.section("```show x```").to_dict()]
    assert bottom_of(layout(short), "code", "show x") < 200
    # Fields lie in two columns; four buttons do not fit one row at 400 px.
    fields = blocks._fields(["*a*\nb", "*c*\nd", "*e*\nf", "*g*\nh"]).to_dict()
    [box] = layout([fields])
    assert box.bottom - box.top == 2 * 2 * 22 + 4
    actions = [
        b for b in rendered(diagnose(paste("out-of-sync.txt"), store)) if b["type"] == "actions"
    ]
    [row] = layout(actions)
    assert row.bottom - row.top == 2 * 32 + 8


def test_a_card_over_budget_drops_what_matters_least_and_keeps_the_command(store) -> None:
    from kb.state.findings import Ask, Finding

    d = diagnose(paste("out-of-sync.txt"), store)
    p = d.peers[0]
    p.ask = [Ask("on this box", "show crypto ipsec sa " + "detail " * 120, "why")]
    p.findings = [Finding("contradiction", "0x5A3D1F2C is active on both ends " * 20, None, p.peer)]
    d.warnings = ["the paste was cut " * 30, "a second warning"]
    reply = rendered(d)
    said = visible_text(reply)
    assert len(reply) <= 8 and visible_chars(reply) <= 1200
    assert code_blocks(reply) == ["clear crypto sa peer 192.0.2.1"]
    assert "State contradicts the log" in said  # kept longest of what may go
    assert "the paste was cut" not in said  # the warnings went first
