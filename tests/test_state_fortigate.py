"""FortiGate state parsers (kb/state/fortigate_state.py), field-exact against the fixtures.

Every expected value below was written by reading the fixture, not taken from the parser.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import tests.state_expect as expect
from kb.state import fortigate_state
from kb.state.commands import COMMANDS
from kb.state.lines import to_lines
from kb.state.model import Line, StateBlock

FIXTURES = Path(__file__).parent / "fixtures" / "state"
LIST = "diagnose vpn tunnel list"
SUMMARY = "get vpn ipsec tunnel summary"


def body(name: str) -> str:
    """The fixture without its `# ` header lines (the prompt line becomes line 1)."""
    lines = (FIXTURES / f"{name}.txt").read_text().split("\n")
    while lines and lines[0].startswith("# "):
        lines.pop(0)
    return "\n".join(lines)


def run(text: str, command: str = LIST) -> StateBlock:
    lines = to_lines(text)
    block = StateBlock(command=command, platform=None, first_line=1, last_line=len(lines))
    parse = {LIST: fortigate_state.parse_tunnel_list, SUMMARY: fortigate_state.parse_tunnel_summary}
    parse[command](lines, block)
    return block


def sa(direction, spi, line, transform, remaining, lifetime, udp=False):
    return {
        "direction": direction,
        "protocol": "esp",
        "spi": f"0x{spi:08X}",
        "spi_decimal": spi,
        "transform": transform,
        "mode": None,
        "udp_encaps": udp,
        "remaining_seconds": remaining,
        "lifetime_seconds": lifetime,
        "status": None,
        "line": line,
    }


tunnel = expect.tunnel


VPN1_STAT = {"rx_packets": 1200, "tx_packets": 1180, "rx_bytes": 152000, "tx_bytes": 98000}

LIST_TUNNELS = [
    tunnel(
        peer="198.51.100.7",
        local="192.0.2.1",
        name="VPN1",
        current_outbound_spi="0xE4AF9D41",
        status="up",
        local_ident="0:10.1.0.0/255.255.0.0:0",
        remote_ident="0:10.2.0.0/255.255.0.0:0",
        sas=[
            sa("inbound", 0xCA646448, 18, "esp=aes ah=sha1", 1748, 1800),
            sa("outbound", 0xE4AF9D41, 20, "esp=aes ah=sha1", 1748, 1800),
        ],
        counters={
            **VPN1_STAT,
            "decaps": 1000,
            "decap_bytes": 120000,
            "encaps": 980,
            "encap_bytes": 80000,
        },
        line=4,
        dpd=True,
    ),
    tunnel(
        peer="198.51.100.7",
        local="192.0.2.1",
        name="VPN1",
        current_outbound_spi="0x4D5E6F70",
        status="up",
        local_ident="0:10.1.0.0/255.255.0.0:0",
        remote_ident="0:10.3.0.0/255.255.0.0:0",
        sas=[
            sa("inbound", 0x0A1B2C3D, 30, "esp=aes ah=sha256", 3356, 3600),
            sa("outbound", 0x4D5E6F70, 32, "esp=aes ah=sha256", 3356, 3600),
        ],
        counters={
            **VPN1_STAT,
            "decaps": 200,
            "decap_bytes": 32000,
            "encaps": 200,
            "encap_bytes": 18000,
        },
        line=4,
        dpd=True,
    ),
    tunnel(
        peer="203.0.113.9",
        local="192.0.2.1",
        name="VPN2",
        current_outbound_spi="0xDE81092C",
        status="up",
        local_ident="0:0.0.0.0-255.255.255.255:0",
        remote_ident="0:0.0.0.0-255.255.255.255:0",
        sas=[
            sa("inbound", 0x9822756D, 51, "esp=aes-gcm ah=null", 28497, 28800),
            sa("outbound", 0xDE81092C, 53, "esp=aes-gcm ah=null", 28497, 28800),
        ],
        counters={
            "rx_packets": 0,
            "tx_packets": 15,
            "rx_bytes": 0,
            "tx_bytes": 1260,
            "decaps": 0,
            "decap_bytes": 0,
            "encaps": 15,
            "encap_bytes": 1920,
        },
        line=38,
        dpd=False,
    ),
]


def test_tunnel_list_two_tunnels_one_with_two_proxyids():
    block = run(body("fortigate-diagnose-vpn-tunnel-list"))
    out = block.to_dict()
    assert out["platform"] == "fortigate"
    assert out["problems"] == []
    assert out["boxes"] == ["192.0.2.1"]
    assert out["tunnels"] == LIST_TUNNELS


def test_tunnel_list_proof_lines():
    block = run(body("fortigate-diagnose-vpn-tunnel-list"))
    first, _, vpn2 = block.tunnels
    assert first.where["current_outbound_spi"].text.strip().startswith("enc: spi=e4af9d41")
    assert first.where["dpd"].number == 9
    assert first.where["status"].number == 12
    assert first.where["local_ident"].number == 13
    assert first.where["remote_ident"].number == 14
    assert first.sas[0].where["remaining_seconds"].number == 17
    assert first.sas[0].where["lifetime_seconds"].number == 17
    assert first.sas[0].where["udp_encaps"].number == 10
    assert vpn2.where["dpd"].text == "dpd: mode=off on=0 idle=20000ms retry=3 count=0 seqno=0"


def test_tunnel_list_natt_and_rekey_overlap():
    block = run(body("fortigate-diagnose-vpn-tunnel-list-natt"))
    out = block.to_dict()
    assert out["platform"] == "fortigate"
    assert out["problems"] == []
    assert out["tunnels"] == [
        tunnel(
            peer="198.51.100.7",
            local="192.0.2.10",
            name="VPN-NAT",
            peer_port=4500,
            # Two enc SPIs (sa=2): the output does not say which one is sent with.
            current_outbound_spi=None,
            status="up",
            local_ident="0:192.168.10.0-192.168.10.255:0",
            remote_ident="0:10.20.0.0-10.20.255.255:0",
            sas=[
                sa("inbound", 0x2C65AD60, 17, "esp=aes ah=sha1", 42, 3600, udp=True),
                sa("outbound", 0x7F1E2D3C, 19, "esp=aes ah=sha1", 42, 3600, udp=True),
                sa("inbound", 0x2C65AD61, 26, "esp=aes ah=sha1", 3578, 3600, udp=True),
                sa("outbound", 0x8A9B0C1D, 28, "esp=aes ah=sha1", 3578, 3600, udp=True),
            ],
            counters={
                "rx_packets": 52,
                "tx_packets": 60,
                "rx_bytes": 6100,
                "tx_bytes": 7200,
                "decaps": 52,
                "decap_bytes": 6100,
                "encaps": 60,
                "encap_bytes": 7200,
            },
            line=4,
            dpd=True,
        )
    ]
    assert block.tunnels[0].sas[0].where["udp_encaps"].text.startswith("natt: mode=keepalive")


def test_summary():
    block = run(body("fortigate-get-vpn-ipsec-tunnel-summary"), SUMMARY)
    out = block.to_dict()
    assert out["platform"] == "fortigate"
    assert out["problems"] == []
    assert out["boxes"] == []

    def counters(total, up, rxp, rxe, txp, txe):
        return {
            "selectors_total": total,
            "selectors_up": up,
            "rx_packets": rxp,
            "rx_errors": rxe,
            "tx_packets": txp,
            "tx_errors": txe,
        }

    assert out["tunnels"] == [
        tunnel(
            peer="198.51.100.7",
            name="VPN1",
            status="up",
            counters=counters(2, 2, 1200, 0, 1180, 3),
            line=2,
        ),
        tunnel(
            peer="203.0.113.9",
            name="VPN2",
            status="down",
            counters=counters(1, 0, 0, 0, 15, 0),
            line=3,
        ),
        tunnel(
            peer="198.51.100.20",
            name="VPN-NAT",
            peer_port=4500,
            status="up",
            counters=counters(1, 1, 52, 0, 60, 0),
            line=4,
        ),
        tunnel(name="DIALUP", status="down", counters=counters(0, 0, 0, 0, 0, 0), line=5),
    ]


def test_without_prompt_in_a_slack_fence_with_pager_marks():
    text = body("fortigate-diagnose-vpn-tunnel-list").split("\n", 1)[1]
    lines = text.split("\n")
    lines[10] = "--More-- " + lines[10]
    fenced = "```" + "\n".join(lines) + "```"
    out = run(fenced).to_dict()
    assert out["problems"] == []
    # One line less (no prompt): every line number moves up by one.
    expected = [dict(t, line=t["line"] - 1) for t in LIST_TUNNELS]
    for t, e in zip(expected, LIST_TUNNELS, strict=True):
        t["sas"] = [dict(s, line=s["line"] - 1) for s in e["sas"]]
    assert out["tunnels"] == expected


def test_truncated_inside_an_sa():
    text = body("fortigate-diagnose-vpn-tunnel-list")
    cut = text.split("\n")[:19]  # ends after the dec: line's ah= continuation of VPN1-A
    out = run("\n".join(cut)).to_dict()
    assert out["problems"] == ["line 15: the SA of VPN1 (peer 198.51.100.7) has no outbound SPI"]
    (only,) = out["tunnels"]
    assert only["sas"] == [sa("inbound", 0xCA646448, 18, "esp=aes ah=sha1", 1748, 1800)]
    assert only["current_outbound_spi"] is None


def test_bad_spi_and_bad_address_are_problems():
    text = "\n".join(
        [
            "name=X ver=2 serial=1 192.0.2.1:0->198.51.100.999:0 tun_id=1",
            "proxyid=X proto=0 sa=1 ref=2 serial=1",
            "  SA:  ref=3 options=18227",
            "  life: type=01 bytes=0/0 timeout=100/3600",
            "  dec: spi=zz646448 esp=aes key=16 00",
            "  enc: spi=e4af9d41 esp=aes key=16 00",
        ]
    )
    out = run(text).to_dict()
    assert out["problems"] == [
        "line 1: '198.51.100.999' is not an address",
        "line 5: SPI 'zz646448' is not hexadecimal",
        "line 3: the SA of X (peer unknown) has no inbound SPI",
    ]
    (t,) = out["tunnels"]
    assert t["peer"] is None and t["local"] == "192.0.2.1"
    assert t["current_outbound_spi"] == "0xE4AF9D41"


def test_ipv6_peer_and_old_header_without_ver():
    text = "\n".join(
        [
            "name=V6 ver=2 serial=1 2001:db8:d0c:1::e:0->2001:DB8:D0C:2:0:0:0:E:0 tun_id=::",
            "dpd: mode=on-demand on=1 idle=20000ms retry=3 count=0 seqno=0",
            "name=OLD 192.0.2.1:0->198.51.100.8:0 lgwy=dyn tun=tunnel mode=auto bound_if=0",
            "proxyid=OLD proto=0 sa=0 ref=1 auto_negotiate=0 serial=5",
            "src: 10.1.1.0/255.255.255.0:0",
        ]
    )
    out = run(text).to_dict()
    assert out["problems"] == []
    assert [(t["name"], t["local"], t["peer"], t["status"], t["dpd"]) for t in out["tunnels"]] == [
        ("V6", "2001:db8:d0c:1::e", "2001:db8:d0c:2::e", None, True),
        ("OLD", "192.0.2.1", "198.51.100.8", "down", None),
    ]
    assert out["tunnels"][1]["local_ident"] == "10.1.1.0/255.255.255.0:0"


def test_junk_and_log_lines_are_ignored():
    text = body("fortigate-diagnose-vpn-tunnel-list").replace(
        "fec: egress=0 ingress=0",
        'date=2024-08-13 time=20:08:54 logid="0101037131" spi="2c65ad60"\n%%% junk ]]]',
    )
    out = run(text).to_dict()
    assert out["problems"] == []
    assert [len(t["sas"]) for t in out["tunnels"]] == [2, 2, 2]


ADVERSARIAL = [
    "name=" + "a" * 10_000,
    "name=x " + "1:2->" * 2_000,
    "proxyid=" + "=" * 10_000,
    "dec: spi=" + "f" * 10_000,
    "dec:pkts/bytes=" + "1/" * 5_000,
    "life: timeout=" + "9" * 10_000 + "/1",
    "'" + "'a" * 5_000 + " selectors(total,up): 1/1",
    " " * 10_000,
    "[" * 10_000,
    ":" * 10_000,
    "x=" * 5_000,
]


@pytest.mark.parametrize("command", [LIST, SUMMARY])
def test_adversarial_lines_are_fast_and_safe(command):
    for junk in ADVERSARIAL:
        text = "name=T ver=1 serial=1 192.0.2.1:0->198.51.100.7:0\nproxyid=T sa=1\nSA: ref=1\n"
        lines = [Line(i + 1, t) for i, t in enumerate((text + junk).split("\n"))]
        block = StateBlock(command=command, platform=None, first_line=1, last_line=len(lines))
        start = time.perf_counter()
        parse = fortigate_state.parse_tunnel_list if command == LIST else None
        (parse or fortigate_state.parse_tunnel_summary)(lines, block)
        assert time.perf_counter() - start < 0.5, junk[:20]


def test_registered():
    by_name = {c.name: c for c in COMMANDS}
    listed = by_name[LIST]
    assert listed.platforms == ("fortigate",)
    assert listed.anchors == ("list all ipsec tunnel in vd",)
    assert "selectors(total,up)" in by_name[SUMMARY].markers
