"""kb/state/session.py: IOS `show crypto session [detail]`, field-exact.

Every expected value below was written by reading the fixture, not copied from the parser.
"""

from __future__ import annotations

import random
import time

import pytest

import tests.state_expect as expect
from kb.state import session
from kb.state.commands import COMMANDS
from kb.state.lines import to_lines
from kb.state.model import Line, StateBlock
from tests.test_state_ipsec_sa import fixture_text, where


def parse(text: str, platform: str | None = None) -> StateBlock:
    lines = to_lines(text)
    block = StateBlock(
        command="show crypto session", platform=platform, first_line=1, last_line=len(lines)
    )
    session.parse(lines, block)
    return block


def tunnel(peer, local, name, status, line, **over):
    out = expect.tunnel(
        peer=peer,
        local=local,
        name=name,
        peer_port=500,
        status=status,
        line=line,
    )
    out.update(over)
    return out


def ike(peer, local, version, state, line, **over):
    out = expect.ike(
        peer=peer,
        local=local,
        version=version,
        state=state,
        up=state == "Active",
        line=line,
    )
    out.update(over)
    return out


DETAIL_TUNNELS = [
    tunnel(
        "198.51.100.7",
        "192.0.2.1",
        "Tunnel0",
        "UP-ACTIVE",
        14,
        local_ident="host 192.0.2.1",
        remote_ident="host 198.51.100.7",
        dpd=True,  # Capabilities:D on its active IKE SA
        counters={
            "uptime_seconds": 3 * 86400 + 18 * 3600,
            "active_sas": 4,
            "decaps": 449282 + 10,
            "encaps": 772730 + 12,
            "inbound_drops": 17,
            "outbound_drops": 1,
            "remaining_seconds": 950,  # the second flow's, the shorter
        },
    ),
    tunnel(
        "203.0.113.14",
        "192.0.2.1",
        "Tunnel1201",
        "DOWN-NEGOTIATING",
        31,
        local_ident="host 192.0.2.1",
        remote_ident="host 203.0.113.14",
        # no remaining_seconds: `life 0/0` of a flow without active SAs says nothing
        counters={
            "active_sas": 0,
            "decaps": 0,
            "encaps": 0,
            "inbound_drops": 0,
            "outbound_drops": 0,
        },
    ),
    tunnel(
        "198.51.100.30",
        None,  # UP-NO-IKE: no IKE SA line names the box's address
        "Tunnel30",
        "UP-NO-IKE",
        48,
        vrf="BLUE",
        peer_port=4500,
        local_ident="0.0.0.0/0.0.0.0",
        remote_ident="0.0.0.0/0.0.0.0",
        counters={
            "uptime_seconds": 27 * 60 + 42,
            "active_sas": 2,
            "decaps": 5,
            "encaps": 9,
            "inbound_drops": 0,
            "outbound_drops": 0,
            "remaining_seconds": 1937,
        },
    ),
]

DETAIL_IKE = [
    ike("198.51.100.7", "192.0.2.1", 2, "Active", 18, vrf="INET", remaining_seconds=46056),
    ike("203.0.113.14", "192.0.2.1", 1, "Inactive", 35, remaining_seconds=0),
    ike("203.0.113.14", "192.0.2.1", 1, "Inactive", 38, remaining_seconds=0),
]


def test_detail() -> None:
    block = parse(fixture_text("ios-show-crypto-session-detail.txt"))
    got = block.to_dict()
    assert got["platform"] == "ios"
    assert got["problems"] == []
    assert got["tunnels"] == DETAIL_TUNNELS
    assert got["ike"] == DETAIL_IKE
    assert got["boxes"] == ["192.0.2.1"]
    up, down, no_ike = block.tunnels
    where(
        up,
        name=10,
        uptime_seconds=12,
        status=13,
        peer=14,
        peer_port=14,
        local=18,
        local_ident=20,
        active_sas=21,
        decaps=22,
        inbound_drops=22,
        encaps=23,
        remaining_seconds=26,
    )
    where(down, name=29, status=30, local=35)
    where(no_ike, vrf=48, remaining_seconds=53)
    where(up, dpd=19)
    where(block.ike[0], remaining_seconds=19)


def test_brief() -> None:
    block = parse(fixture_text("ios-show-crypto-session.txt"))
    assert block.platform == "ios"
    assert block.problems == []
    assert [t.to_dict() for t in block.tunnels] == [
        tunnel(
            "198.51.100.7",
            "192.0.2.66",
            "GigabitEthernet0/0/0",
            "UP-ACTIVE",
            6,
            local_ident="10.20.0.0/255.255.255.0",
            remote_ident="10.0.0.0/255.0.0.0",
            counters={"active_sas": 2},
        ),
        tunnel(
            "2001:db8:acad:1::2",
            "2001:db8:acad:1::1",
            "Tunnel1",
            "UP-ACTIVE",
            15,
            local_ident="::/0",
            remote_ident="::/0",
            counters={"active_sas": 2},
        ),
        tunnel(
            "203.0.113.2",
            "192.0.2.66",
            "Tunnel2",
            "UP-IDLE",
            24,
            local_ident="host 192.0.2.66",
            remote_ident="host 203.0.113.2",
            counters={"active_sas": 0},
        ),
        tunnel(
            "203.0.113.3",
            None,
            "Tunnel3",
            "DOWN",
            32,
            local_ident="host 192.0.2.66",
            remote_ident="host 203.0.113.3",
            counters={"active_sas": 0},
        ),
    ]
    assert [i.to_dict() for i in block.ike] == [
        ike("198.51.100.7", "192.0.2.66", 1, "Active", 8),
        # wrapped over two lines; the IkeSa is the line naming it first
        ike("2001:db8:acad:1::2", "2001:db8:acad:1::1", 2, "Active", 17),
        ike("203.0.113.2", "192.0.2.66", 1, "Active", 26),
    ]


def test_desc_text_is_not_read_as_fields() -> None:
    """The first session's Desc says "Peer: 203.0.113.1 port 4500": free text, not a peer."""
    block = parse(fixture_text("ios-show-crypto-session-detail.txt"))
    assert [t.peer for t in block.tunnels] == ["198.51.100.7", "203.0.113.14", "198.51.100.30"]


def test_without_header_or_prompt_and_in_a_code_block() -> None:
    rows = fixture_text("ios-show-crypto-session-detail.txt").split("\n")[9:]  # from Interface:
    block = parse("```\n" + "\n".join(rows) + "\n```")
    shift = 9 - 1  # nine rows gone, one fence line added
    assert [(t.peer, t.status, t.line.number + shift) for t in block.tunnels] == [
        ("198.51.100.7", "UP-ACTIVE", 14),
        ("203.0.113.14", "DOWN-NEGOTIATING", 31),
        ("198.51.100.30", "UP-NO-IKE", 48),
    ]
    assert block.problems == []


def test_old_ios_ike_sa_without_version() -> None:
    """IOS 12.4 prints `IKE SA:` with no version, and the client fields of Easy VPN."""
    text = """Crypto session current status
Interface: Virtual-Access2
Username: cisco
Profile: prof
Group: easy
Assigned address: 10.3.3.4
Session status: UP-ACTIVE
Peer: 198.51.100.2 port 500
  IKE SA: local 192.0.2.1/500 remote 198.51.100.2/500 Active
  IKE SA: local 192.0.2.9/500 remote 198.51.100.2/500 Inactive
  IPSEC FLOW: permit ip 0.0.0.0/0.0.0.0 host 10.3.3.4
        Active SAs: 2, origin: crypto map"""
    block = parse(text)
    assert [i.to_dict() for i in block.ike] == [
        ike("198.51.100.2", "192.0.2.1", None, "Active", 9),
        ike("198.51.100.2", "192.0.2.9", None, "Inactive", 10),
    ]
    only = block.tunnels[0]
    assert (only.name, only.local, only.local_ident, only.remote_ident) == (
        "Virtual-Access2",
        "192.0.2.1",
        "0.0.0.0/0.0.0.0",
        "host 10.3.3.4",
    )


def test_local_prefers_the_active_ike_sa() -> None:
    text = """Interface: Tunnel9
Session status: UP-ACTIVE
Peer: 198.51.100.9 port 500
  IKEv1 SA: local 192.0.2.8/500 remote 198.51.100.9/500 Inactive
  IKEv1 SA: local 192.0.2.9/500 remote 198.51.100.9/500 Active
  IKEv1 SA: local 192.0.2.10/500 remote 198.51.100.9/500 Active"""
    block = parse(text)
    assert block.tunnels[0].local == "192.0.2.9"
    where(block.tunnels[0], local=5)


def test_two_peers_under_one_interface() -> None:
    text = """Interface: GigabitEthernet0/0
Session status: UP-ACTIVE
Peer: 198.51.100.1 port 500
  IKEv1 SA: local 192.0.2.1/500 remote 198.51.100.1/500 Active
Session status: DOWN
Peer: 198.51.100.2 port 500
  IPSEC FLOW: permit ip 10.0.0.0/255.0.0.0 10.2.0.0/255.255.0.0
        Active SAs: 0, origin: crypto map"""
    block = parse(text)
    assert [(t.name, t.peer, t.status, t.local) for t in block.tunnels] == [
        ("GigabitEthernet0/0", "198.51.100.1", "UP-ACTIVE", "192.0.2.1"),
        ("GigabitEthernet0/0", "198.51.100.2", "DOWN", None),
    ]


def test_truncated_output() -> None:
    rows = fixture_text("ios-show-crypto-session-detail.txt").split("\n")
    for cut in (45, 46, 47):  # ends at Interface:, Uptime: or Session status:, before Peer:
        block = parse("\n".join(rows[:cut]))
        assert [t.peer for t in block.tunnels] == ["198.51.100.7", "203.0.113.14"]
        assert block.problems == [
            f"line {cut}: output ends before the Peer line of the session that starts at line 45"
        ]
    # cut inside a wrapped IKEv2 SA line: the half that was printed is kept
    rows = fixture_text("ios-show-crypto-session.txt").split("\n")[:17]
    block = parse("\n".join(rows))
    assert [i.to_dict() for i in block.ike][-1] == ike(
        None, "2001:db8:acad:1::1", 2, None, 17, up=None
    )


def test_bad_peer_is_a_problem() -> None:
    block = parse("Session status: UP-ACTIVE\nPeer: vpn.example.net port 500\n")
    assert block.tunnels[0].peer is None
    assert block.tunnels[0].peer_port == 500
    assert block.problems == ["line 2: peer vpn.example.net is not an address"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("11:12:24", 40344), ("3d18h", 324000), ("7w0d", 4233600), ("1y2w", 32745600), ("x", None)],
)
def test_uptime(text: str, seconds: int | None) -> None:
    assert session.uptime_seconds(text) == seconds


def test_registered_with_anchors_apart_from_ipsec_sa() -> None:
    mine = [c for c in COMMANDS if c.words == ("show", "crypto", "session")]
    assert len(mine) == 1
    assert mine[0].platforms == ("ios",)
    assert mine[0].anchors == ("crypto session current status", "session status: ")
    ipsec = next(c for c in COMMANDS if c.words == ("show", "crypto", "ipsec", "sa"))
    for a in mine[0].anchors:
        assert not any(a.startswith(b) or b.startswith(a) for b in ipsec.anchors)
    # No line of one output starts with an anchor of the other.
    for name, anchors in (
        ("ios-show-crypto-session-detail.txt", ipsec.anchors),
        ("ios-show-crypto-ipsec-sa-vti.txt", mine[0].anchors),
        ("asa-show-crypto-ipsec-sa.txt", mine[0].anchors),
    ):
        starts = [" ".join(r.lower().split()) for r in fixture_text(name).split("\n")]
        assert not any(s.startswith(a) for s in starts for a in anchors)


@pytest.mark.parametrize(
    "unit",
    [
        "Peer: ",
        "IKEv2 SA: local ",
        "remote ",
        "1/",
        "Inbound: #pkts dec'ed 1 drop ",
        "lifetime:1:",
        "9",
        "Capabilities:D lifetime:",
        "host ",
        " ",
    ],
)
def test_adversarial_lines_are_fast(unit: str) -> None:
    line = (unit * (10_000 // len(unit) + 1))[:10_000]
    rows = [
        "Interface: Tunnel0",
        "Uptime: " + line,
        "Session status: UP-ACTIVE",
        "Peer: 198.51.100.7 port 500",
        line,
        "  IKEv2 SA: local 192.0.2.1/500",
        line,
        "  IPSEC FLOW: " + line,
        "Active SAs: 2",
        "Inbound: " + line,
        "Capabilities:" + line,
        "Peer: " + line,
    ]
    lines = [Line(i + 1, r) for i, r in enumerate(rows)]
    block = StateBlock(command="show crypto session", platform=None, first_line=1, last_line=12)
    start = time.perf_counter()
    session.parse(lines, block)
    assert time.perf_counter() - start < 0.5
    assert all(len(p) < 400 for p in block.problems)


def test_random_garbage_never_raises() -> None:
    words = [*fixture_text("ios-show-crypto-session-detail.txt").split(), "\x00", "", ":", "/"]
    rng = random.Random(11)
    for _ in range(200):
        rows = [" ".join(rng.choices(words, k=rng.randint(0, 12))) for _ in range(30)]
        block = parse("\n".join(rows))
        block.to_dict()
        assert not any("not read" in p for p in block.problems)


@pytest.mark.parametrize(
    ("codes", "state", "dpd"),
    [
        ("D", "Active", True),
        ("KN", "Active", True),
        ("N", "Active", False),
        ("(none)", "Active", False),
        ("(none)", "Inactive", None),
    ],
)
def test_dpd_from_the_active_ike_sa(codes: str, state: str, dpd: bool | None) -> None:
    text = f"""Interface: Tunnel9
Session status: UP-ACTIVE
Peer: 198.51.100.9 port 500
  IKEv1 SA: local 192.0.2.9/500 remote 198.51.100.9/500 {state}
          Capabilities:{codes} connid:7 lifetime:01:00:00"""
    assert parse(text).tunnels[0].dpd is dpd
