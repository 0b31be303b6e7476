"""kb/state/reader.py: where pasted device state starts and ends, and what it is.

The parsers have their own tests (tests/test_state_*.py); these are about the reader: prompts
and what is not a prompt, host names, abbreviations, unread commands, block boundaries
(prompts, anchors, interleaved log lines), streaming in chunks, the prefilter, the limits, and
time on hostile lines. Outputs come from tests/fixtures/state/ (their `# ` header stripped).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kb.diagnose import diagnose
from kb.state import reader
from kb.state.model import StateBlock
from kb.state.reader import StateReader, match_command, may_hold_state, read_state

STATE = Path(__file__).parent / "fixtures" / "state"

IOS_INV_SPI = (
    "Mar  3 09:14:02.113: %CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid "
    "spi for destaddr=192.0.2.1, prot=50, spi=0x0BADF00D(195948557), srcaddr=198.51.100.7"
)
ASA_INV_SPI = (
    "Jan 12 2024 10:01:02: %ASA-4-402114: IPSEC: Received an ESP packet (SPI= 0xDEADBEEF, "
    "sequence number= 0x1A) from 198.51.100.7 to 192.0.2.1 with an invalid SPI."
)
ORDINARY = (
    "Mar  3 09:14:03.001: %LINEPROTO-5-UPDOWN: Line protocol on Interface "
    "GigabitEthernet0/1, changed state to up"
)


def fixture(name: str) -> str:
    """A state fixture without its `# ` header: the output as pasted, prompt first."""
    kept = [ln for ln in (STATE / name).read_text().splitlines() if not ln.startswith("# ")]
    return "\n".join(kept) + "\n"


def body(name: str) -> str:
    """A fixture's output without its prompt line."""
    return fixture(name).split("\n", 1)[1]


def shape(blocks: list[StateBlock]) -> list[tuple]:
    return [(b.command, b.host, b.first_line, b.last_line) for b in blocks]


def spis(block: StateBlock) -> list[tuple]:
    return [
        (t.peer, t.local, t.current_outbound_spi, t.spis("inbound"), t.spis("outbound"))
        for t in block.tunnels
    ]


def chunked(text: str, size: int) -> list[StateBlock]:
    data = text.encode()
    state = StateReader()
    for start in range(0, len(data), size):
        state.feed(data[start : start + size])
    return state.blocks()


# --- Prompts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "output", "host", "command"),
    [
        (
            "hub#sh cry ips sa peer 198.51.100.7",
            "ios-show-crypto-ipsec-sa.txt",
            "hub",
            "show crypto ipsec sa",
        ),
        (
            "hub(config)#do show run | section crypto",
            "ios-running-config-crypto-map.txt",
            "hub",
            "show running-config",
        ),
        (
            "asa/pri/act# show crypto ikev2 sa",
            "ios-show-crypto-ikev2-sa.txt",
            "asa",
            "show crypto ikev2 sa",
        ),
        (
            "FGT-HQ (root) # diag vpn tun list",
            "fortigate-diagnose-vpn-tunnel-list.txt",
            "FGT-HQ",
            "diagnose vpn tunnel list",
        ),
        (
            "# diagnose vpn tunnel list",
            "fortigate-diagnose-vpn-tunnel-list.txt",
            None,
            "diagnose vpn tunnel list",
        ),
        (
            "admin@PA-VM> show vpn ipsec-sa",
            "panos-show-vpn-ipsec-sa.txt",
            "PA-VM",
            "show vpn ipsec-sa",
        ),
        ("> show crypto ipsec sa", "asa-show-crypto-ipsec-sa.txt", None, "show crypto ipsec sa"),
        (
            "RP/0/RSP0/CPU0:pe1#show crypto ipsec sa",
            "ios-show-crypto-ipsec-sa-vrf.txt",
            "pe1",
            "show crypto ipsec sa",
        ),
    ],
)
def test_a_prompt_starts_an_output_and_names_its_host(
    prompt: str, output: str, host: str | None, command: str
) -> None:
    blocks = read_state(f"{prompt}\n{body(output)}")
    first = blocks[0]
    assert (first.command, first.host, first.typed, first.first_line) == (
        command,
        host,
        prompt.split("#" if "#" in prompt else ">", 1)[1].strip(),
        1,
    )
    assert first.parsed and not first.problems
    assert len(blocks) == 1


@pytest.mark.parametrize(
    "line",
    [
        "Mar  3 09:14:05: %SEC-6-IPACCESSLOGP: list 101 denied udp 198.51.100.7(500) -> "
        "192.0.2.1(500), 1 packet",
        "Mar  3 09:14:05 fw1 kernel: ESP 198.51.100.7 > 192.0.2.1 spi 0x0BADF00D",
        "%HSRP-5-STATECHANGE: GigabitEthernet0/0 Grp 10 state Standby -> Active",
        "# Notes",
        "## What I tried",
        "# cleared the SAs on the hub",
        "a > b",
        "x > y > z",
        "> quoted reply from a colleague",
        "hub#",  # a prompt, but typing nothing: ends the output (tested below), opens none
    ],
)
def test_lines_that_are_not_a_typed_command_open_no_output(line: str) -> None:
    assert read_state(f"{line}\n{IOS_INV_SPI}\ncurrent outbound spi\n") == []


@pytest.mark.parametrize(
    "line",
    [
        ORDINARY,
        "Mar  3 09:14:05 fw1 kernel: ESP 198.51.100.7 > 192.0.2.1 spi 0x0BADF00D",
        "%HSRP-5-STATECHANGE: GigabitEthernet0/0 Grp 10 state Standby -> Active",
        "# Notes",
        "a > b",
    ],
)
def test_a_line_that_is_no_prompt_does_not_end_an_output(line: str) -> None:
    text = fixture("ios-show-crypto-ipsec-sa.txt").split("\n")
    text.insert(30, line)  # inside the first peer's inbound SA
    blocks = read_state("\n".join(text))
    assert shape(blocks) == [("show crypto ipsec sa", "hub", 1, 95)]
    assert spis(blocks[0]) == spis(read_state(fixture("ios-show-crypto-ipsec-sa.txt"))[0])


@pytest.mark.parametrize(
    ("typed", "command"),
    [
        ("sh cry ips sa", "show crypto ipsec sa"),
        ("sh cry ips sa peer 198.51.100.7 detail", "show crypto ipsec sa"),
        ("do sh cry isa sa", "show crypto isakmp sa"),
        ("sh cry ikev2 sa det", "show crypto ikev2 sa"),
        ("sh cry sess det", "show crypto session"),
        ("sh run | s crypto", "show running-config"),
        # Both "show vpn-sessiondb l2l"-like and the longer command fit: the longest wins.
        ("sh vpn-sessiondb det l2l", "show vpn-sessiondb detail l2l"),
        ("sh vpn-sessiondb l2l", "show vpn-sessiondb l2l"),
        # "ipsec" is also a prefix of "ipsec-sa" (PAN-OS): the four-word command wins.
        ("show vpn ipsec phase2-interface", "show vpn ipsec phase2-interface"),
        ("show vpn ipsec phase1-interface", "show vpn ipsec phase1-interface"),
        ("show vpn ipsec-sa tunnel tun1", "show vpn ipsec-sa"),
        ("diag vpn tun list name VPN1", "diagnose vpn tunnel list"),
        ("get vpn ipsec tunnel summary", "get vpn ipsec tunnel summary"),
        ("show asp drop frame invalid-spi", "show asp drop"),
    ],
)
def test_abbreviations_pick_the_longest_command(typed: str, command: str) -> None:
    found = match_command(typed)
    assert found is not None and found.name == command


@pytest.mark.parametrize(
    "typed", ["show crypto map", "show version", "show vpn", "sh", "ping 198.51.100.7"]
)
def test_commands_spibot_does_not_read_match_none(typed: str) -> None:
    assert match_command(typed) is None


def test_an_unread_ipsec_command_is_reported_and_an_unrelated_one_is_not() -> None:
    text = (
        "hub#show crypto map\n"
        'Crypto Map IPv4 "VPN-MAP" 10 ipsec-isakmp\n'
        "        Peer = 198.51.100.7\n"
        "        Extended IP access list VPN-ACL\n"
        "hub#show version\n"
        "Cisco IOS XE Software, Version 17.09.04a\n"
        "hub uptime is 3 weeks, 2 days\n"
    )
    blocks = read_state(text)
    assert shape(blocks) == [("show crypto map", "hub", 1, 4)]
    assert blocks[0].problems == ["spibot does not read the output of `show crypto map`"]
    assert not blocks[0].parsed and blocks[0].typed == "show crypto map"


def test_a_prompted_output_ends_at_the_next_prompt() -> None:
    ipsec = fixture("ios-show-crypto-ipsec-sa.txt")  # 94 lines, the last one blank
    text = ipsec + "hub#show crypto isakmp sa\n" + body("ios-show-crypto-isakmp-sa.txt")
    blocks = read_state(text)
    assert [(b.command, b.host, b.first_line) for b in blocks] == [
        ("show crypto ipsec sa", "hub", 1),
        ("show crypto isakmp sa", "hub", 96),
    ]
    assert blocks[0].last_line < 96 and len(blocks[0].tunnels) == 2
    assert blocks[1].ike and all(i.line.number > 96 for i in blocks[1].ike)


def test_a_prompt_typing_nothing_ends_an_output() -> None:
    ipsec = fixture("ios-show-crypto-ipsec-sa.txt")
    assert ipsec.endswith("\n\n     outbound pcp sas:\nhub#\n")  # lines 93, 94, 95
    (block,) = read_state(ipsec + "   current_peer 203.0.113.99 port 500\n")
    assert (block.first_line, block.last_line) == (1, 94)
    assert [t.peer for t in block.tunnels] == ["198.51.100.7", "203.0.113.9"]


def test_two_outputs_pasted_without_prompts_are_split_by_their_anchors() -> None:
    isakmp = body("ios-show-crypto-isakmp-sa.txt")
    session = body("ios-show-crypto-session.txt")
    ipsec = body("ios-show-crypto-ipsec-sa.txt")
    text = isakmp + session + ipsec
    blocks = read_state(text)
    n_isakmp, n_session = isakmp.count("\n"), session.count("\n")
    # `show crypto ipsec sa` starts at its "Crypto map tag:" line, the second of its output.
    assert [(b.command, b.first_line, b.host) for b in blocks] == [
        ("show crypto isakmp sa", 1, None),
        ("show crypto session", n_isakmp + 1, None),
        ("show crypto ipsec sa", n_isakmp + n_session + 3, None),
    ]
    assert all(b.parsed for b in blocks)
    assert [t.peer for t in blocks[2].tunnels] == ["198.51.100.7", "203.0.113.9"]


def test_log_lines_interleaved_in_an_output_do_not_break_it() -> None:
    clean = fixture("ios-show-crypto-ipsec-sa.txt")
    lines = clean.split("\n")
    for at in (60, 40, 20, 8):  # from the end, so each index is still the clean text's
        lines[at:at] = [IOS_INV_SPI, ASA_INV_SPI, ORDINARY]
    blocks = read_state("\n".join(lines))
    (expected,) = read_state(clean)
    assert shape(blocks) == [("show crypto ipsec sa", "hub", 1, expected.last_line + 12)]
    assert spis(blocks[0]) == spis(expected)
    assert not blocks[0].problems


# --- Streaming -------------------------------------------------------------------------------


def _mixed_paste() -> str:
    logs = "".join(f"{IOS_INV_SPI}\n{ORDINARY} é\n" for _ in range(40))  # é: two UTF-8 bytes
    return (
        logs
        + fixture("ios-show-crypto-ipsec-sa.txt")
        + logs
        + fixture("fortigate-diagnose-vpn-tunnel-list.txt")
        + fixture("asa-show-asp-drop.txt")
        + logs
        + body("ios-show-crypto-isakmp-sa.txt")
        + "FGT-HQ # "  # a last line without its newline
    )


@pytest.mark.parametrize("size", [1, 7, 4096])
def test_chunk_boundaries_change_nothing(size: int) -> None:
    text = _mixed_paste()
    whole = [b.to_dict() for b in read_state(text)]
    assert len(whole) == 4 and all(b["parsed"] for b in whole)
    assert [b.to_dict() for b in chunked(text, size)] == whole


def _at_a_4k_boundary(prompt: str) -> str:
    """Log lines, then `prompt` ending exactly at byte 4096, then its output."""
    pad = 4096 - len(prompt) - 1
    logs = (ORDINARY + "\n") * (pad // (len(ORDINARY) + 1))
    logs += "x" * (pad - len(logs) - 1) + "\n"
    text = logs + prompt + "\n"
    assert len(text.encode()) == 4096
    return text


@pytest.mark.parametrize("size", [1, 7, 4096])
@pytest.mark.parametrize(
    ("prompt", "output"),
    [
        ("hub#sho cry ips sa", "ios-show-crypto-ipsec-sa.txt"),
        ("hub#show run | section crypto", "ios-running-config-crypto-map.txt"),
    ],
)
def test_a_prompt_without_a_marker_survives_a_chunk_boundary(
    prompt: str, output: str, size: int
) -> None:
    text = _at_a_4k_boundary(prompt) + body(output)
    whole = read_state(text)
    assert (whole[0].host, whole[0].typed) == ("hub", prompt[4:])  # read whole, it is found
    assert [b.to_dict() for b in chunked(text, size)] == [b.to_dict() for b in whole]


def test_line_numbers_count_every_line_before_the_state() -> None:
    logs = f"{ORDINARY}\n" * 9_999 + "\n"  # 10,000 lines, no state, one of them blank
    text = logs + fixture("ios-show-crypto-ipsec-sa.txt")
    for blocks in (read_state(text), chunked(text, 4096), chunked(text, 1021)):
        (block,) = blocks
        assert (block.first_line, block.last_line) == (10_001, 10_094)
        assert [t.line.number for t in block.tunnels] == [10_009, 10_054]
        assert block.tunnels[0].line.text.strip() == "current_peer 198.51.100.7 port 500"
        assert block.tunnels[0].sas[0].line.number == 10_024


def test_several_texts_are_read_as_one_each_on_a_new_line() -> None:
    ipsec = fixture("ios-show-crypto-ipsec-sa.txt")
    two = read_state([IOS_INV_SPI, ipsec.rstrip("\n"), fixture("ios-show-crypto-isakmp-sa.txt")])
    one = read_state(
        IOS_INV_SPI + "\n" + ipsec.rstrip("\n") + "\n" + fixture("ios-show-crypto-isakmp-sa.txt")
    )
    assert [b.to_dict() for b in two] == [b.to_dict() for b in one]
    assert [(b.host, b.first_line) for b in two] == [("hub", 2), ("hub-1", 97)]


# --- The prefilter ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        body("ios-show-crypto-ipsec-sa.txt"),
        "FGT-HQ # diag vpn tun list\n",
        "hub#sh cry ips sa\n",
        "crypto map OUTSIDE 10 set peer 198.51.100.7\n",  # a paste's first line follows a newline
        "GwID/client IP  TnID   Peer-Address  Tunnel(Gateway)  Algorithm  SPI(in)  SPI(out)\n",
        "proxyid_num=1 child_num=0 refcnt=13 ilast=0 olast=0 ad=/0\n",
    ],
)
def test_may_hold_state_when_a_marker_is_there(text: str) -> None:
    assert may_hold_state(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        IOS_INV_SPI,
        ASA_INV_SPI,
        ORDINARY * 100,
        'date=2024-05-02 time=10:01:02 devname="FGT-HQ" logid="0101037124" type="event" '
        'subtype="vpn" msg="IPsec ESP" action="error" remip=198.51.100.7 spi=0x0badf00d',
        "# Notes\nthe hub says invalid spi since the reload\n",
    ],
)
def test_may_hold_state_is_false_for_logs_alone(text: str) -> None:
    assert not may_hold_state(text)
    assert read_state(text) == []


# --- Limits ----------------------------------------------------------------------------------


def _isakmp(n: int) -> str:
    return f"hub-{n}#show crypto isakmp sa\n" + body("ios-show-crypto-isakmp-sa.txt")


def test_at_most_max_blocks_outputs_are_kept_and_the_rest_counted() -> None:
    state = StateReader()
    state.feed_text("".join(_isakmp(n) for n in range(reader.MAX_BLOCKS + 5)))
    blocks = state.blocks()
    assert len(blocks) == reader.MAX_BLOCKS and state.dropped == 5
    assert [b.host for b in blocks[:2]] == ["hub-0", "hub-1"]
    assert blocks[-1].host == f"hub-{reader.MAX_BLOCKS - 1}"


def test_a_diagnosis_says_when_outputs_were_dropped() -> None:
    text = IOS_INV_SPI + "\n" + "".join(_isakmp(n) for n in range(reader.MAX_BLOCKS + 5))
    result = diagnose(text, None, record=False)
    assert len(result.state) == reader.MAX_BLOCKS
    assert any("5" in w and "output" in w for w in result.warnings)


def _long_isakmp(rows: int) -> str:
    lines = ["hub#show crypto isakmp sa", "IPv4 Crypto ISAKMP SA"]
    lines.append("dst             src             state          conn-id status")
    lines += [
        f"192.0.2.1       198.51.{n // 250}.{n % 250 + 1}    QM_IDLE  {1000 + n} ACTIVE"
        for n in range(rows)
    ]
    return "\n".join(lines) + "\n"


def test_an_output_ends_after_max_block_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "MAX_BLOCK_LINES", 50)
    blocks = read_state(_long_isakmp(200) + fixture("ios-show-crypto-isakmp-sa.txt"))
    # The prompt line is not the block's; 50 lines after it are. Then the rows are in no output
    # until the next prompt.
    assert shape(blocks) == [
        ("show crypto isakmp sa", "hub", 1, 51),
        ("show crypto isakmp sa", "hub-1", 204, 216),
    ]
    assert len(blocks[0].ike) == 48


@pytest.mark.slow  # 20,000 rows parsed
def test_the_real_limit_holds_a_thousand_peer_hub() -> None:
    (block,) = read_state(_long_isakmp(reader.MAX_BLOCK_LINES - 10))
    assert block.last_line == reader.MAX_BLOCK_LINES - 10 + 3
    assert len(block.ike) == reader.MAX_BLOCK_LINES - 10


def test_an_output_cut_at_max_block_lines_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "MAX_BLOCK_LINES", 50)
    (block,) = read_state(_long_isakmp(200))
    assert any("50" in p for p in block.problems)


# --- Sibling outputs: one parser, several commands -------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "asa-show-crypto-ikev1-sa.txt",
        "asa-show-crypto-isakmp-sa-detail.txt",
        "asa-show-vpn-sessiondb-detail-l2l.txt",
    ],
)
def test_a_prompted_output_is_one_block(name: str) -> None:
    blocks = read_state(fixture(name))
    assert len(blocks) == 1 and blocks[0].host is not None and blocks[0].parsed


def test_asa_ikev2_output_is_read_by_the_ike_parser() -> None:
    blocks = read_state(fixture("asa-show-crypto-ikev2-sa.txt"))
    assert [(b.command, b.host) for b in blocks] == [("show crypto ikev2 sa", "asa-1")]
    assert [(i.peer, i.state) for i in blocks[0].ike] == [
        ("198.51.100.7", "READY"),
        ("203.0.113.9", "READY"),
    ]


# --- Hostile input ---------------------------------------------------------------------------

HOSTILE = ["#", ">", "a#", " ", "(", "@", "/", "a(", "a@", "a/", "# ", "> ", "#>", "a (b) "]


def _hostile_lines(token: str) -> list[str]:
    line = (token * (10_000 // len(token) + 1))[:10_000]
    return [line, "hub" + line, line + "show crypto ipsec sa", "crypto map tag:" + line]


@pytest.mark.parametrize("token", HOSTILE)
@pytest.mark.parametrize("opened", [False, True], ids=["no-output-open", "inside-an-output"])
def test_hostile_lines_are_read_in_linear_time(token: str, opened: bool) -> None:
    head = "hub#show crypto ipsec sa\n" if opened else "current outbound spi\n"
    text = head + "\n".join(_hostile_lines(token) * 3) + "\n"
    started = time.perf_counter()
    state = StateReader()
    state.feed_text(text)
    state.blocks()
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize("token", ["#", ">", "a#", "(", "@", "/"])
def test_hostile_anchor_lines_are_read_in_linear_time(token: str) -> None:
    # Every anchor's first word, then the token: each line is compared with every anchor that
    # starts with its first word.
    words = sorted({a.split(" ", 1)[0] for a in reader._anchors()})
    text = "current outbound spi\n" + "".join(f"{w} {token * 5_000}\n" for w in words)
    started = time.perf_counter()
    read_state(text)
    assert time.perf_counter() - started < 0.5


def test_a_fortigate_phase2_alone_is_one_block_that_says_why_it_names_no_peer() -> None:
    (block,) = read_state(fixture("fortigate-show-vpn-ipsec-phase2-interface.txt"))
    assert block.host == "FGT-BRANCH" and not block.parsed
    assert any("its phase 1" in p and "is not in this output" in p for p in block.problems)


def test_outputs_past_max_blocks_are_a_warning_of_the_diagnosis(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kb.diagnose import diagnose

    monkeypatch.setattr(reader, "MAX_BLOCKS", 2)
    paste = "".join(f"r{n}#show crypto map\nx\n" for n in range(5))
    result = diagnose(paste, None, record=False)
    assert len(result.state) == 2
    assert "3 device-state output(s) after the first 2 were not read" in result.warnings


def test_a_line_that_never_ends_is_held_to_its_head() -> None:
    state = reader.StateReader()
    state.feed(b"hub#show crypto ipsec sa\n" + b"x" * 100_000)
    for _ in range(50):
        state.feed(b"y" * 100_000)
    assert len(state._carry) <= 4 * reader.MAX_LINE_CHARS + 4
    state.feed(b"\nhub#show crypto map\nz\n")
    blocks = state.blocks()
    assert [b.command for b in blocks] == ["show crypto ipsec sa", "show crypto map"]
    assert blocks[1].first_line == 3


def test_state_is_looked_for_in_the_first_window_of_each_input(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reader, "STATE_WINDOW_BYTES", 4096)
    logs = (f"{ORDINARY}\n" * 200).encode()  # past the window
    state = fixture("ios-show-crypto-ipsec-sa.txt").encode()
    one = reader.StateReader()
    one.feed(logs)
    one.feed(state)
    assert one.blocks() == []  # a day of syslog does not pay for every marker search
    two = reader.StateReader()
    two.feed(logs)
    two.next_input()  # the state is a file of its own, as `spibot diagnose LOG STATE` reads it
    two.feed(state)
    (block,) = two.blocks()
    assert block.command == "show crypto ipsec sa" and block.first_line == 201


@pytest.mark.parametrize("unit", [" ", " -", " --", "-- more", "<--- "])
def test_pager_marks_are_removed_in_linear_time(unit: str) -> None:
    from kb.state.lines import clean

    line = unit * (100_000 // len(unit)) + " more"
    start = time.perf_counter()
    clean(line)
    assert time.perf_counter() - start < 0.5  # a run of spaces tried once per space took 4 s
