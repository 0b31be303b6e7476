"""ASA `show vpn-sessiondb [detail] l2l` and `show asp drop` (kb/state/asa_session.py,
kb/state/asp_drop.py), field-exact against the fixtures.

Every expected value below was written by reading the fixture, not taken from the parser.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import tests.state_expect as expect
from kb.state import asa_session, asp_drop
from kb.state.commands import COMMANDS
from kb.state.lines import to_lines
from kb.state.model import StateBlock

FIXTURES = Path(__file__).parent / "fixtures" / "state"


def body(name: str) -> str:
    lines = (FIXTURES / f"{name}.txt").read_text().split("\n")
    while lines and lines[0].startswith("# "):
        lines.pop(0)
    return "\n".join(lines)


def run(text: str, parse=asa_session.parse) -> StateBlock:
    lines = to_lines(text)
    block = StateBlock(
        command="show vpn-sessiondb l2l", platform=None, first_line=1, last_line=len(lines)
    )
    parse(lines, block)
    return block


def tunnel(
    peer,
    name,
    line,
    *,
    port=None,
    pfs=None,
    dh=None,
    local_ident=None,
    remote_ident=None,
    counters=None,
    lifetime=None,
    remaining=None,
):
    return {
        "peer": peer,
        "local": None,
        "name": name,
        "vrf": None,
        "peer_port": port,
        "current_outbound_spi": None,
        "pfs": pfs,
        "dh_group": dh,
        "status": "up",
        "local_ident": local_ident,
        "remote_ident": remote_ident,
        "sas": [],
        "counters": counters or {},
        "line": line,
        "dpd": None,
        "lifetime_seconds": lifetime,
        "remaining_seconds": remaining,
        "complete": True,
    }


def ike(peer, version, line, lifetime, remaining):
    return expect.ike(
        peer=peer,
        version=version,
        state="up",
        up=True,
        lifetime_seconds=lifetime,
        remaining_seconds=remaining,
        line=line,
    )


def test_summary_one_tunnel_per_connection():
    block = run(body("asa-show-vpn-sessiondb-l2l"))
    assert block.problems == ["line 15: IP Addr 'branch9-gw' is not an address (a name?)"]
    assert block.ike == []
    assert [t.to_dict() for t in block.tunnels] == [
        tunnel(
            "198.51.100.7", "198.51.100.7", 5, counters={"bytes_tx": 1390560, "bytes_rx": 1394220}
        ),
        tunnel(None, "BRANCH-9", 14, counters={"bytes_tx": 432599058, "bytes_rx": 168772729}),
    ]
    assert {k: v.number for k, v in block.tunnels[0].where.items()} == {
        "status": 5,
        "peer": 6,
        "bytes_tx": 10,
        "bytes_rx": 10,
    }


def test_detail_ike_sections_and_one_tunnel_per_ipsec_section():
    block = run(body("asa-show-vpn-sessiondb-detail-l2l"))
    assert block.problems == [
        "line 67: connection 203.0.113.9: 2 IPsec tunnels announced, 1 read (output cut?)"
    ]
    assert [i.to_dict() for i in block.ike] == [
        ike("198.51.100.7", 2, 17, 86400, 86222),
        ike("203.0.113.9", 1, 69, 28800, 20119),
    ]
    assert [t.to_dict() for t in block.tunnels] == [
        tunnel(
            "198.51.100.7",
            "198.51.100.7",
            27,
            port=500,
            pfs=True,
            dh="19",
            local_ident="10.1.0.0/255.255.255.0/0/0",
            remote_ident="10.2.0.0/255.255.255.0/0/0",
            counters={
                "bytes_tx": 48484156,
                "bytes_rx": 875049000,
                "pkts_tx": 1635314,
                "pkts_rx": 37526,
            },
            lifetime=28800,
            remaining=28622,
        ),
        tunnel(
            "198.51.100.7",
            "198.51.100.7",
            39,
            port=500,
            local_ident="10.1.1.0/255.255.255.0/0/0",
            remote_ident="10.2.1.0/255.255.255.0/0/0",
            counters={"bytes_tx": 0, "bytes_rx": 248, "pkts_tx": 0, "pkts_rx": 1},
            lifetime=3600,
            remaining=12,
        ),
        tunnel(
            "203.0.113.9",
            "203.0.113.9",
            77,
            port=4500,
            local_ident="10.1.0.0/255.255.252.0/0/0",
            remote_ident="10.9.0.0/255.255.255.0/0/0",
            lifetime=28800,
            remaining=6889,
        ),
    ]
    first = {k: v.number for k, v in block.tunnels[0].where.items()}
    assert first == {
        "status": 5,
        "peer": 6,
        "section": 27,
        "peer_port": 19,
        "local_ident": 29,
        "remote_ident": 30,
        "pfs": 32,
        "dh_group": 32,
        "lifetime_seconds": 33,
        "remaining_seconds": 33,
        "bytes_tx": 36,
        "bytes_rx": 36,
        "pkts_tx": 37,
        "pkts_rx": 37,
    }
    assert {k: v.number for k, v in block.ike[0].where.items()} == {
        "peer": 6,
        "state": 17,
        "lifetime_seconds": 23,
        "remaining_seconds": 23,
    }


def test_old_release_unindented_and_fenced():
    text = (
        "```Session Type: LAN-to-LAN Detailed\nConnection   : 192.0.2.77\n"
        "Index        : 1                      IP Addr      : 192.0.2.77\n"
        "Protocol     : IPSecLAN2LAN           Encryption   : AES256\n"
        " IKE Sessions: 1 IPSec Sessions: 1\nIKE:\nSession ID   : 1\n"
        "Rekey Int (T): 86400 Seconds          Rekey Left(T): 63814 Seconds\n"
        "IPSec:\nSession ID   : 2\nLocal Addr   : 10.0.0.0/255.255.255.0\n"
        "Rekey Int (T): 28800 Seconds          Rekey Left(T): 10903 Seconds```"
    )
    block = run(text)
    assert block.problems == []
    assert [i.to_dict() for i in block.ike] == [ike("192.0.2.77", 1, 6, 86400, 63814)]
    assert [t.to_dict() for t in block.tunnels] == [
        tunnel(
            "192.0.2.77",
            "192.0.2.77",
            9,
            local_ident="10.0.0.0/255.255.255.0",
            lifetime=28800,
            remaining=10903,
        ),
    ]


def test_asp_drop_counters():
    block = run(body("asa-show-asp-drop"), asp_drop.parse)
    assert block.problems == []
    assert [(c.name, c.value, c.line.number) for c in block.counters] == [
        ("Invalid SPI (invalid-spi)", 1234, 4),
        ("IPSEC tunnel is down (ipsec-tun-down)", 87, 5),
        ("Bad IPSEC NATT packet (bad-ipsec-natt)", 2, 6),
        ("No route to host (no-route)", 30, 8),
        (
            "Dropped pending packets due to a failed attempt to get an internal socket lock "
            "(np-socket-lock-failu",
            1,
            9,
        ),
        ("VPN handle not found (vpn-handle-not-found)", 8, 14),
        ("IPSec inner policy mismatch failure (ipsec-selector-failure)", 2, 15),
        ("Flow is denied by access rule (acl-drop)", 192350, 16),
    ]


def test_asp_drop_frame_invalid_spi():
    block = run(body("asa-show-asp-drop-frame-invalid-spi"), asp_drop.parse)
    assert block.to_dict()["counters"] == [
        {"name": "Invalid SPI (np-sp-invalid-spi)", "value": 71490, "line": 3}
    ]


SHAPES = [
    " ",
    "9" * 7,
    ":",
    "(",
    ")",
    "Rekey Int (T): ",
    "IPsec:",
    "Connection : ",
    "IP Addr : ",
    "(x) 1 ",
    "  Tunnels: 1",
]


@pytest.mark.parametrize("unit", SHAPES)
def test_adversarial_lines_are_fast(unit):
    line = (unit * (10_000 // len(unit) + 1))[:10_000]
    for parse in (asa_session.parse, asp_drop.parse):
        text = "\n".join(["Frame drop:", "Connection   : 192.0.2.1", line, "IPsec:", line])
        start = time.perf_counter()
        run(text, parse)
        assert time.perf_counter() - start < 0.5


def test_registered():
    names = {c.name: c for c in COMMANDS}
    assert names["show vpn-sessiondb l2l"].parse is asa_session.parse
    assert names["show vpn-sessiondb detail l2l"].parse is asa_session.parse
    assert names["show asp drop"].parse is asp_drop.parse
    assert "session type: lan-to-lan" in names["show vpn-sessiondb l2l"].anchors
    assert "frame drop:" in names["show asp drop"].anchors
