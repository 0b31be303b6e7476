"""PAN-OS state parsers (kb/state/panos.py), field-exact against the fixtures.

Every expected value below was written by reading the fixture, not taken from the parser.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import tests.state_expect as expect
from kb.state import panos
from kb.state.commands import COMMANDS
from kb.state.lines import to_lines
from kb.state.model import Line, StateBlock

FIXTURES = Path(__file__).parent / "fixtures" / "state"
PARSERS = {
    "show vpn ipsec-sa": panos.parse_ipsec_sa,
    "show vpn ike-sa": panos.parse_ike_sa,
    "show vpn flow": panos.parse_flow,
}


def body(name: str) -> str:
    lines = (FIXTURES / f"{name}.txt").read_text().split("\n")
    while lines and lines[0].startswith("# "):
        lines.pop(0)
    return "\n".join(lines)


def run(text: str, command: str) -> StateBlock:
    lines = to_lines(text)
    block = StateBlock(command=command, platform=None, first_line=1, last_line=len(lines))
    PARSERS[command](lines, block)
    return block


def sa(direction, spi, line, transform=None, remaining=None, lifetime=None, status=None):
    return {
        "direction": direction,
        "protocol": "esp",
        "spi": f"0x{spi:08X}",
        "spi_decimal": spi,
        "transform": transform,
        "mode": None,
        "udp_encaps": None,
        "remaining_seconds": remaining,
        "lifetime_seconds": lifetime,
        "status": status,
        "line": line,
    }


tunnel = expect.tunnel


def ike(peer, version, state, up, role, lifetime, line):
    return expect.ike(
        peer=peer,
        version=version,
        state=state,
        up=up,
        role=role,
        lifetime_seconds=lifetime,
        line=line,
    )


IPSEC_SA_TUNNELS = [
    tunnel(
        peer="198.51.100.7",
        name="tun1",
        current_outbound_spi="0xE5F6A7B8",
        sas=[
            sa("inbound", 0xA1B2C3D4, 5, "ESP/G256/", 3210),
            sa("outbound", 0xE5F6A7B8, 5, "ESP/G256/", 3210),
        ],
        line=5,
    ),
    tunnel(
        peer="203.0.113.9",
        name="to-branch:proxy-a",
        current_outbound_spi="0x01A3B9D2",
        sas=[
            sa("inbound", 0x0C94D2F0, 6, "ESP/A128/SHA256", 27),
            sa("outbound", 0x01A3B9D2, 6, "ESP/A128/SHA256", 27),
        ],
        line=6,
    ),
]


def test_ipsec_sa():
    out = run(body("panos-show-vpn-ipsec-sa"), "show vpn ipsec-sa").to_dict()
    assert out["platform"] == "panos"
    assert out["problems"] == []
    assert out["boxes"] == []
    assert out["tunnels"] == IPSEC_SA_TUNNELS


def test_ipsec_sa_with_remain_time_and_ipv6_peer():
    out = run(body("panos-show-vpn-ipsec-sa-remain"), "show vpn ipsec-sa").to_dict()
    assert out["problems"] == []
    assert out["tunnels"] == [
        tunnel(
            peer="2001:db8::7",
            name="tun-v6",
            current_outbound_spi="0xC204F4FA",
            sas=[
                sa("inbound", 0x8827A3D9, 5, "ESP/A256/SHA256", 2733, 3600),
                sa("outbound", 0xC204F4FA, 5, "ESP/A256/SHA256", 2733, 3600),
            ],
            line=5,
        )
    ]


def test_ipsec_sa_truncated_says_so():
    text = body("panos-show-vpn-ipsec-sa").replace(
        "3               5      203.0.113.9            to-branch:proxy-a(gw-branch)", "3    5"
    )
    out = run(text, "show vpn ipsec-sa").to_dict()
    assert out["problems"] == ["line 8: the output lists 2 IPsec SAs, 1 were read"]
    assert out["tunnels"] == IPSEC_SA_TUNNELS[:1]


def test_ipsec_sa_without_prompt_fenced_with_pager_and_bad_spi():
    text = body("panos-show-vpn-ipsec-sa").split("\n", 1)[1]
    text = text.replace("0c94d2f0", "0c94d2fz").replace("tun1(gw1)", "tun1(gw1) --More--")
    out = run("```" + text + "```", "show vpn ipsec-sa").to_dict()
    assert out["problems"] == ["line 5: SPI '0c94d2fz' is not hexadecimal"]
    first, second = out["tunnels"]
    assert first["sas"][0]["line"] == 4 and first["current_outbound_spi"] == "0xE5F6A7B8"
    assert [s["direction"] for s in second["sas"]] == ["outbound"]


def test_ike_sa():
    block = run(body("panos-show-vpn-ike-sa"), "show vpn ike-sa")
    out = block.to_dict()
    assert out["platform"] == "panos"
    assert out["problems"] == []
    assert out["ike"] == [
        # IKEv1 ST printed as a number: its meaning is not documented, so no state.
        ike("198.51.100.7", 1, None, None, "responder", 8 * 3600, 6),
        # Across the new year: Dec.31 20:00 -> Jan.01 04:00.
        ike("203.0.113.20", 1, "Mature", True, "initiator", 8 * 3600, 7),
        ike("203.0.113.9", 2, "Established", True, "initiator", 8 * 3600, 23),
    ]
    assert out["tunnels"] == [
        tunnel(
            peer="198.51.100.7",  # gateway gw1's phase-1 row
            name="tun1",
            current_outbound_spi="0xE5F6A7B8",
            sas=[sa("inbound", 0xA1B2C3D4, 15), sa("outbound", 0xE5F6A7B8, 15)],
            line=15,
        ),
        tunnel(
            peer="203.0.113.9",
            name="to-branch:proxy-a",
            current_outbound_spi="0x01A3B9D2",
            sas=[
                sa("inbound", 0x0C94D2F0, 28, status="Mature"),
                sa("outbound", 0x01A3B9D2, 28, status="Mature"),
            ],
            line=28,
        ),
    ]
    assert block.ike[2].where["state"].number == 23


def test_ike_sa_none_found():
    text = "\n".join(
        [
            "There is no IKEv1 phase-1 SA found.",
            "There is no IKEv1 phase-2 SA found.",
            "There is no IKEv2 SA found.",
        ]
    )
    out = run(text, "show vpn ike-sa").to_dict()
    assert (out["ike"], out["tunnels"], out["problems"]) == ([], [], [])


FLOW_COUNTERS = {
    "auth_errors": 0,
    "decrypt_errors": 2,
    "inner_packet_warnings": 0,
    "replay": 5,
    "lifetime_expired": 0,
    "lifesize_expired": 0,
    "encaps": 1203,
    "decaps": 1180,
    "encap_bytes": 160400,
    "decap_bytes": 151040,
    "key_acquire_requests": 3,
}


def test_flow_tunnel_id():
    block = run(body("panos-show-vpn-flow-tunnel-id"), "show vpn flow")
    out = block.to_dict()
    assert out["platform"] == "panos"
    assert out["problems"] == []
    assert out["boxes"] == ["192.0.2.1"]
    assert out["tunnels"] == [
        tunnel(
            peer="198.51.100.7",
            local="192.0.2.1",
            name="tun1",
            current_outbound_spi="0xE5F6A7B8",
            status="active",
            local_ident="10.1.0.0/16",
            remote_ident="10.2.0.0/16",
            # local spi = this firewall's inbound SA, remote spi = its outbound SA
            sas=[
                sa("inbound", 0xA1B2C3D4, 23, remaining=3014, lifetime=3600),
                sa("outbound", 0xE5F6A7B8, 24, remaining=3014, lifetime=3600),
            ],
            counters=FLOW_COUNTERS,
            line=8,
        )
    ]
    t = block.tunnels[0]
    assert t.where["current_outbound_spi"].number == 24
    assert t.where["status"].text.split() == ["state:", "active"]
    assert t.sas[0].where["remaining_seconds"].number == 16


def test_flow_truncated_before_remote_spi():
    text = "\n".join(body("panos-show-vpn-flow-tunnel-id").split("\n")[:23])
    out = run(text, "show vpn flow").to_dict()
    assert out["problems"] == ["line 23: the output of tunnel tun1 ends before its remote spi"]
    (t,) = out["tunnels"]
    assert t["sas"] == [sa("inbound", 0xA1B2C3D4, 23, remaining=3014, lifetime=3600)]
    assert t["current_outbound_spi"] is None


def test_flow_table():
    text = "\n".join(
        [
            "admin@PA-VM> show vpn flow",
            "total tunnels configured: 2",
            "filter - type IPSec, state any",
            "",
            "total IPSec tunnel configured: 2",
            "total IPSec tunnel shown: 2",
            "",
            "id    name                   state   monitor local-ip        peer-ip         tunnel-i/f",
            "--    ----                   -----   ------- --------        -------         ----------",
            "2     tun1                   active  off     192.0.2.1       198.51.100.7    tunnel.1",
            "5     to-branch:proxy-a      init    up      192.0.2.1       203.0.113.9     tunnel.2",
        ]
    )
    out = run(text, "show vpn flow").to_dict()
    assert out["problems"] == []
    assert out["tunnels"] == [
        tunnel(peer="198.51.100.7", local="192.0.2.1", name="tun1", status="active", line=10),
        tunnel(
            peer="203.0.113.9",
            local="192.0.2.1",
            name="to-branch:proxy-a",
            status="init",
            line=11,
        ),
    ]


ADVERSARIAL = [
    "1 2 " + "198.51.100.7 " * 1_000,
    "1 2 198.51.100.7 " + "ESP/" * 2_500,
    "1 2 198.51.100.7 t " + "A1B2C3D4 " * 1_000,
    "1 198.51.100.7 " + "Init " * 2_000,
    "gw " + "1 " * 5_000,
    "tunnel " + "x" * 10_000,
    "local spi: " + "f" * 10_000,
    "lifetime remain: " + "9" * 10_000,
    "Show IPSec SA: " + "1 ipsec sa " * 900,
    ":" * 10_000,
    " " * 10_000,
    "(" * 10_000,
    "Jun.04 21:09:13 " * 600,
]


@pytest.mark.parametrize("command", sorted(PARSERS))
def test_adversarial_lines_are_fast_and_safe(command):
    prefix = {
        "show vpn ipsec-sa": "GwID/client IP  TnID  Peer-Address  Tunnel(Gateway)  SPI(in)\n",
        "show vpn ike-sa": "IKEv2 SAs\n",
        "show vpn flow": "tunnel  tun1\n",
    }[command]
    for junk in ADVERSARIAL:
        lines = [Line(i + 1, t) for i, t in enumerate((prefix + junk).split("\n"))]
        block = StateBlock(command=command, platform=None, first_line=1, last_line=len(lines))
        start = time.perf_counter()
        PARSERS[command](lines, block)
        assert time.perf_counter() - start < 0.5, junk[:20]
        assert all(len(p) < 300 for p in block.problems)


def test_registered():
    by_name = {c.name: c for c in COMMANDS}
    assert by_name["show vpn ipsec-sa"].anchors == ("gwid/client ip tnid", "gwid tnid peer-address")
    assert "ikev2 sas" in by_name["show vpn ike-sa"].anchors
    assert by_name["show vpn flow"].platforms == ("panos",)
