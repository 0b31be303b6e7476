"""kb/state/ipsec_sa.py: `show crypto ipsec sa` on IOS/IOS-XE, ASA/FTD and PIX, field-exact.

Every expected value below was written by reading the fixture, not copied from the parser.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

import tests.state_expect as expect
from kb.state import ipsec_sa
from kb.state.commands import COMMANDS
from kb.state.lines import to_lines
from kb.state.model import Line, StateBlock
from kb.state.reader import read_state

FIXTURES = Path(__file__).parent / "fixtures" / "state"


def fixture_text(name: str) -> str:
    """The fixture without its `# ` header lines."""
    rows = (FIXTURES / name).read_text().split("\n")
    while rows and rows[0].startswith("# "):
        rows.pop(0)
    return "\n".join(rows)


def parse(text: str, platform: str | None = None) -> StateBlock:
    lines = to_lines(text)
    block = StateBlock(
        command="show crypto ipsec sa", platform=platform, first_line=1, last_line=len(lines)
    )
    ipsec_sa.parse(lines, block)
    return block


def where(entry, **fields: int) -> None:
    """Each field was read from the line with that number."""
    assert {k: entry.where[k].number for k in fields} == fields


def sa(direction, spi, transform, remaining, line, status="ACTIVE(ACTIVE)", **over):
    out = {
        "direction": direction,
        "protocol": "esp",
        "spi": f"0x{spi:08X}",
        "spi_decimal": spi,
        "transform": transform,
        "mode": "tunnel",
        "udp_encaps": False,
        "remaining_seconds": remaining,
        "lifetime_seconds": None,
        "status": status,
        "line": line,
    }
    out.update(over)
    return out


def ios_counters(encaps: int, decaps: int, send: int, recv: int) -> dict[str, int]:
    """The counters of IOS's standard (not detail) output, as the fixtures print them."""
    return {
        "encaps": encaps,
        "encrypt": encaps,
        "digest": encaps,
        "decaps": decaps,
        "decrypt": decaps,
        "verify": decaps,
        "compressed": 0,
        "decompressed": 0,
        "not_compressed": 0,
        "compr_failed": 0,
        "not_decompressed": 0,
        "decompress_failed": 0,
        "send_errors": send,
        "recv_errors": recv,
    }


def ios_detail_counters(encaps, decaps, invalid_sa, replay_failed) -> dict[str, int]:
    """The counters of IOS's detail output (no #send/#recv errors, per-cause drops instead)."""
    counters = ios_counters(encaps, decaps, 0, 0)
    del counters["send_errors"], counters["recv_errors"]
    for key in (
        "no_sa_send",
        "encaps_failed_send",
        "decaps_failed_recv",
        "invalid_prot_recv",
        "verify_failed",
        "invalid_identity_recv",
        "invalid_len_recv",
        "replay_rollover_send",
        "replay_rollover_recv",
        "tagged_send",
        "untagged_recv",
        "not_tagged_send",
        "not_untagged_recv",
        "internal_err_send",
        "internal_err_recv",
    ):
        counters[key] = 0
    counters["invalid_sa_recv"] = invalid_sa
    counters["replay_failed_recv"] = replay_failed
    return counters


def asa_counters(encaps: int, decaps: int, recv: int) -> dict[str, int]:
    return {
        "encaps": encaps,
        "encrypt": encaps,
        "digest": encaps,
        "decaps": decaps,
        "decrypt": decaps,
        "verify": decaps,
        "compressed": 0,
        "decompressed": 0,
        "not_compressed": encaps,
        "comp_failed": 0,
        "decomp_failed": 0,
        "pre_frag_successes": 0,
        "pre_frag_failures": 0,
        "fragments_created": 0,
        "pmtus_sent": 0,
        "pmtus_rcvd": 0,
        "decapsulated_frgs_needing_reassembly": 0,
        "tfc_rcvd": 0,
        "tfc_sent": 0,
        "valid_icmp_errors_rcvd": 0,
        "invalid_icmp_errors_rcvd": 0,
        "send_errors": 0,
        "recv_errors": recv,
    }


def tunnel(peer, local, name, line, **over):
    out = expect.tunnel(
        peer=peer,
        local=local,
        name=name,
        peer_port=500,
        pfs=False,
        dh_group="none",
        line=line,
    )
    out.update(over)
    return out


# -- fixtures, field-exact ---------------------------------------------------------------------

IOS_TWO_PEERS = [
    tunnel(
        "198.51.100.7",
        "192.0.2.1",
        "VPN-MAP",
        9,
        current_outbound_spi="0x1A2B3C4D",
        local_ident="10.1.0.0/255.255.0.0/0/0",
        remote_ident="10.7.0.0/255.255.0.0/0/0",
        sas=[
            sa("inbound", 0x5E6F7081, "esp-256-aes esp-sha256-hmac", 3517, 24),
            sa("outbound", 0x1A2B3C4D, "esp-256-aes esp-sha256-hmac", 3517, 38),
        ],
        counters=ios_counters(1520, 1498, 0, 12),
    ),
    tunnel(
        "203.0.113.9",
        "192.0.2.1",
        "VPN-MAP",
        54,
        current_outbound_spi="0x9C8D7E6F",
        pfs=True,
        dh_group="group14",
        local_ident="10.1.0.0/255.255.0.0/0/0",
        remote_ident="10.9.0.0/255.255.0.0/0/0",
        sas=[
            sa("inbound", 0x2468ACE0, "esp-256-aes esp-sha256-hmac", 1210, 69),
            sa("outbound", 0x9C8D7E6F, "esp-256-aes esp-sha256-hmac", 1210, 83),
        ],
        counters=ios_counters(40, 0, 0, 0),
    ),
]


def test_ios_crypto_map_two_peers() -> None:
    block = parse(fixture_text("ios-show-crypto-ipsec-sa.txt"))
    got = block.to_dict()
    assert got["platform"] == "ios"
    assert got["problems"] == []
    assert got["boxes"] == ["192.0.2.1"]
    assert got["tunnels"] == IOS_TWO_PEERS
    assert got["ike"] == [] and got["counters"] == [] and got["config"] is None
    first, second = block.tunnels
    where(
        first,
        name=4,
        vrf=6,
        local_ident=7,
        remote_ident=8,
        peer_port=9,
        decaps=12,
        recv_errors=16,
        local=18,
        current_outbound_spi=20,
        pfs=21,
        dh_group=21,
    )
    where(first.sas[0], transform=25, mode=26, udp_encaps=26, remaining_seconds=28, status=31)
    where(second, vrf=51, local=63, current_outbound_spi=65, pfs=66)
    assert first.spis("inbound") == [0x5E6F7081]
    assert first.where["current_outbound_spi"].proof("hub") == (
        "hub: line 20: current outbound spi: 0x1A2B3C4D(439041101)"
    )


def test_ios_vti_detail() -> None:
    block = parse(fixture_text("ios-show-crypto-ipsec-sa-vti.txt"))
    assert block.platform == "ios"
    assert block.problems == []
    assert [t.to_dict() for t in block.tunnels] == [
        tunnel(
            "192.0.2.1",
            "198.51.100.7",
            "Tunnel0",  # not the tag Tunnel0-head-0
            8,
            current_outbound_spi="0x13579BDF",
            pfs=True,
            dh_group="group19",
            local_ident="0.0.0.0/0.0.0.0/0/0",
            remote_ident="0.0.0.0/0.0.0.0/0/0",
            sas=[
                sa("inbound", 0xC0FFEE01, "esp-gcm 256", 2874, 31),
                sa("outbound", 0x13579BDF, "esp-gcm 256", 2874, 45),
            ],
            counters=ios_detail_counters(88213, 80110, invalid_sa=37, replay_failed=2),
        )
    ]
    where(block.tunnels[0], invalid_sa_recv=15, replay_failed_recv=20, local=25)


def test_ios_nat_t() -> None:
    block = parse(fixture_text("ios-show-crypto-ipsec-sa-natt.txt"))
    assert block.platform == "ios"
    assert block.problems == []
    natt = {"udp_encaps": True}
    assert [t.to_dict() for t in block.tunnels] == [
        tunnel(
            "203.0.113.50",
            "192.0.2.66",
            "BRANCH-MAP",
            9,
            peer_port=4500,
            current_outbound_spi="0x0BADF00D",
            local_ident="10.20.0.0/255.255.255.0/0/0",
            remote_ident="10.0.0.0/255.0.0.0/0/0",
            sas=[
                sa("inbound", 0x7A7B7C7D, "esp-aes esp-sha-hmac", 1720, 24, **natt),
                sa("outbound", 0x0BADF00D, "esp-aes esp-sha-hmac", 1720, 38, **natt),
            ],
            counters=ios_counters(311, 290, 3, 0),
        )
    ]
    where(block.tunnels[0], peer_port=9, send_errors=16)
    where(block.tunnels[0].sas[0], udp_encaps=26)


def test_ios_ipv6_endpoints_on_two_lines() -> None:
    block = parse(fixture_text("ios-show-crypto-ipsec-sa-ipv6.txt"))
    assert block.platform == "ios"
    assert block.problems == []
    assert [t.to_dict() for t in block.tunnels] == [
        tunnel(
            "2001:db8:0:2::2",
            "2001:db8:0:1::1",
            "Tunnel6",
            8,
            current_outbound_spi="0x3C1D5E8F",
            local_ident="::/0/0/0",
            remote_ident="::/0/0/0",
            sas=[
                sa("inbound", 0xD00DFEED, "esp-256-aes esp-sha256-hmac", 148, 32),
                sa("outbound", 0x3C1D5E8F, "esp-256-aes esp-sha256-hmac", 148, 47),
            ],
            counters=ios_detail_counters(196, 190, invalid_sa=4, replay_failed=0),
        )
    ]
    where(block.tunnels[0], local=25)
    assert block.boxes == ["2001:db8:0:1::1"]


def test_ios_two_vrfs_and_an_entry_without_sas() -> None:
    block = parse(fixture_text("ios-show-crypto-ipsec-sa-vrf.txt"))
    assert block.platform == "ios"
    assert block.problems == []
    assert [t.to_dict() for t in block.tunnels] == [
        tunnel(
            "198.51.100.7",
            "192.0.2.10",
            "Tunnel10",
            8,
            vrf="CUST-A",
            current_outbound_spi="0x4F3E2D1C",
            local_ident="0.0.0.0/0.0.0.0/0/0",
            remote_ident="0.0.0.0/0.0.0.0/0/0",
            sas=[
                sa("inbound", 0x6B5A4938, "esp-256-aes esp-sha256-hmac", 2950, 23),
                sa("outbound", 0x4F3E2D1C, "esp-256-aes esp-sha256-hmac", 2950, 37),
            ],
            counters=ios_counters(500, 480, 0, 0),
        ),
        tunnel(
            "198.51.100.7",
            "192.0.2.20",
            "Tunnel20",
            56,
            vrf="CUST-B",
            # `current outbound spi: 0x0(0)` is IOS saying "none yet"
            current_outbound_spi=None,
            local_ident="0.0.0.0/0.0.0.0/0/0",
            remote_ident="0.0.0.0/0.0.0.0/0/0",
            counters=ios_counters(0, 0, 0, 0),
        ),
    ]
    where(block.tunnels[1], vrf=53, current_outbound_spi=67)
    assert block.boxes == ["192.0.2.10", "192.0.2.20"]


ASA_REKEY = tunnel(
    "198.51.100.7",
    "192.0.2.1",
    "outside_map 10",
    9,
    peer_port=None,  # ASA prints `/0`: no port
    current_outbound_spi="0x5C1B5E8F",
    pfs=True,  # from "PFS Group 14" in the in-use settings
    dh_group="group14",
    local_ident="10.1.0.0/255.255.0.0/0/0",
    remote_ident="10.7.0.0/255.255.0.0/0/0",
    sas=[
        sa("inbound", 0x51A2B3C4, "esp-aes-256 esp-sha-512-hmac", 25, 30, status="active"),
        sa("inbound", 0x8F1E2D3C, "esp-aes-256 esp-sha-512-hmac", 28790, 40, status="active"),
        sa("outbound", 0xE5D6C7B8, "esp-aes-256 esp-sha-512-hmac", 25, 51, status="active"),
        sa("outbound", 0x5C1B5E8F, "esp-aes-256 esp-sha-512-hmac", 28790, 61, status="active"),
    ],
    counters=asa_counters(91234, 90112, 5),
)


def test_asa_rekey_two_inbound_spis() -> None:
    block = parse(fixture_text("asa-show-crypto-ipsec-sa.txt"))
    assert block.platform == "asa"
    assert block.problems == []
    assert [t.to_dict() for t in block.tunnels] == [ASA_REKEY]
    only = block.tunnels[0]
    assert only.spis("inbound") == [0x51A2B3C4, 0x8F1E2D3C]
    where(only, name=3, vrf=6, local=22, current_outbound_spi=26, pfs=33, recv_errors=20)
    where(only.sas[0], status=31, transform=32, udp_encaps=33, remaining_seconds=35)


def test_asa_nat_t_peer_address_heading() -> None:
    block = parse(fixture_text("asa-show-crypto-ipsec-sa-natt.txt"))
    assert block.platform == "asa"
    assert block.problems == []
    natt = {"udp_encaps": True, "status": "active"}
    assert [t.to_dict() for t in block.tunnels] == [
        tunnel(
            "203.0.113.50",
            "192.0.2.2",
            "outside_map 20",
            8,
            peer_port=4500,  # from `remote crypto endpt.: 203.0.113.50/4500`
            current_outbound_spi="0xA1B2C3D4",
            pfs=None,
            dh_group=None,
            local_ident="10.2.0.0/255.255.0.0/0/0",
            remote_ident="10.50.0.0/255.255.0.0/0/0",
            sas=[
                sa("inbound", 0x0F0E0D0C, "esp-aes-256 esp-sha-hmac", 21017, 29, **natt),
                sa("outbound", 0xA1B2C3D4, "esp-aes-256 esp-sha-hmac", 21017, 40, **natt),
            ],
            counters=asa_counters(1200, 1187, 0),
        )
    ]
    where(block.tunnels[0], peer_port=21, current_outbound_spi=25)


def test_ftd_and_pix7_keep_their_platform() -> None:
    """FTD runs the ASA code: the content cannot tell them apart, so a platform the reader
    already knew (from the prompt) stays."""
    text = fixture_text("asa-show-crypto-ipsec-sa.txt")
    assert parse(text, platform="ftd").platform == "ftd"
    assert parse(text, platform="pix").platform == "pix"
    assert parse(text, platform="ios").platform == "asa"  # the content overrules a guess


def test_pix6_layout() -> None:
    block = parse(fixture_text("pix-show-crypto-ipsec-sa.txt"))
    assert block.platform is None  # PIX 6 and IOS 12.x print the same
    assert block.problems == []
    assert [t.to_dict() for t in block.tunnels] == [
        tunnel(
            "198.51.100.6",
            "192.0.2.5",
            "mymap",
            9,
            peer_port=500,  # `current_peer: 198.51.100.6:500`
            current_outbound_spi="0x1B261CF6",
            pfs=None,
            dh_group=None,
            local_ident="10.5.0.0/255.255.255.0/0/0",
            remote_ident="10.6.0.0/255.255.255.0/0/0",
            sas=[
                sa("inbound", 0x8D7B6D3B, "esp-3des esp-md5-hmac", 28738, 22, status=None),
                sa("outbound", 0x1B261CF6, "esp-3des esp-md5-hmac", 28738, 38, status=None),
            ],
            counters={
                "encaps": 4,
                "encrypt": 4,
                "digest": 4,
                "decaps": 4,
                "decrypt": 4,
                "verify": 4,
                "compressed": 0,
                "decompressed": 0,
                "not_compressed": 0,
                "compr_failed": 0,
                "decompress_failed": 0,
                "send_errors": 1,
                "recv_errors": 0,
            },
        )
    ]
    assert parse(fixture_text("pix-show-crypto-ipsec-sa.txt"), "pix").platform == "pix"


# -- variants ------------------------------------------------------------------------------------


def test_without_prompt_and_with_pager_marks_and_fences() -> None:
    """The same output pasted without its prompt, through a pager, in a Slack code block."""
    rows = fixture_text("ios-show-crypto-ipsec-sa.txt").split("\n")[1:]  # no prompt
    rows[20] = " --More-- \b\b\b\b\b\b\b\b\b\b          \b\b\b\b\b\b\b\b\b\b" + rows[20]
    rows[50] = "<--- More --->" + rows[50]
    text = "```\n" + "\n".join(rows) + "\n```"
    block = parse(text)
    got = [t.to_dict() for t in block.tunnels]
    # One line less at the top and one more (the fence): the same line numbers.
    assert got == IOS_TWO_PEERS
    assert block.problems == []


def test_junk_and_log_lines_interleaved() -> None:
    rows = fixture_text("asa-show-crypto-ipsec-sa.txt").split("\n")
    rows.insert(
        27,
        "Mar 1 10:00:01 asa1 %ASA-4-402116: IPSEC: Received an ESP packet (SPI= 0x51A2B3C4, "
        "sequence number= 0x1) from 198.51.100.7 (user= 198.51.100.7) to 192.0.2.1.",
    )
    rows.insert(30, "spi: garbage that is not an spi at all")
    rows.insert(31, "#pkts: lots, #nothing")
    block = parse("\n".join(rows))
    assert [(s.spi, s.line.number) for s in block.tunnels[0].sas] == [
        (0x51A2B3C4, 33),
        (0x8F1E2D3C, 43),
        (0xE5D6C7B8, 54),
        (0x5C1B5E8F, 64),
    ]
    assert block.problems == [
        "line 31: an inbound esp SA of 198.51.100.7 shows no SPI (garbage that is not an spi at all)"
    ]
    assert block.tunnels[0].counters["recv_errors"] == 5


def test_hex_and_decimal_disagree() -> None:
    """ntc-templates' own test data holds `0x4321DCBA(0987612345)`: the hex is kept."""
    text = fixture_text("ios-show-crypto-ipsec-sa-natt.txt").replace(
        "spi: 0x7A7B7C7D(2054913149)", "spi: 0x7A7B7C7D(2054913150)"
    )
    block = parse(text)
    assert block.tunnels[0].sas[0].spi == 0x7A7B7C7D
    assert block.problems == [
        "line 24: SPI 0x7A7B7C7D and its decimal form (2054913150) disagree; "
        "the hexadecimal value 0x7A7B7C7D is kept"
    ]


def test_bad_spis_are_problems_not_crashes() -> None:
    text = fixture_text("ios-show-crypto-ipsec-sa-natt.txt")
    text = text.replace("current outbound spi: 0x0BADF00D(195948557)", "current outbound spi: 0xZZ")
    text = text.replace("spi: 0x7A7B7C7D(2054913149)", "spi: 0x123456789")
    text = text.replace("spi: 0x0BADF00D(195948557)", "spi: [Not Available]")
    block = parse(text)
    assert block.tunnels[0].current_outbound_spi is None
    assert block.tunnels[0].sas == []
    assert block.problems == [
        "line 20: SPI 0xZZ is not a 32-bit hexadecimal number",
        "line 24: an inbound esp SA of 203.0.113.50 shows no SPI (0x123456789)",
        "line 38: an outbound esp SA of 203.0.113.50 shows no SPI ([Not Available])",
    ]


@pytest.mark.parametrize(
    ("cut", "problem"),
    [
        (
            12,
            "line 12: output ends before the SAs of 198.51.100.7 (entry at line 9); "
            "its SA list is incomplete",
        ),
        (24, "line 24: output ends inside the inbound esp SA 0x5E6F7081 of 198.51.100.7"),
        (
            32,
            "line 32: output ends before the outbound SAs of 198.51.100.7; "
            "its SA list is incomplete",
        ),
    ],
)
def test_truncated_output_keeps_what_was_read(cut: int, problem: str) -> None:
    rows = fixture_text("ios-show-crypto-ipsec-sa.txt").split("\n")[:cut]
    block = parse("\n".join(rows))
    assert block.problems == [problem]
    assert [t.peer for t in block.tunnels] == ["198.51.100.7"]
    assert block.tunnels[0].local == "192.0.2.1"  # from the crypto map line


def test_two_boxes_back_to_back_without_prompts() -> None:
    """An ASA's output then an IOS router's, no prompt between: each Tunnel keeps its own box;
    the block's platform cannot be one of them."""
    asa = fixture_text("asa-show-crypto-ipsec-sa.txt").split("\n")[1:-1]
    ios = fixture_text("ios-show-crypto-ipsec-sa-natt.txt").split("\n")[2:]
    block = parse("\n".join(asa + ios))
    assert [(t.local, t.peer, t.peer_port) for t in block.tunnels] == [
        ("192.0.2.1", "198.51.100.7", None),
        ("192.0.2.66", "203.0.113.50", 4500),
    ]
    assert block.boxes == ["192.0.2.1", "192.0.2.66"]
    assert block.platform is None
    assert block.problems == []


def test_asa_ipv6_crypto_map() -> None:
    text = """interface: outside
    IPv6 Crypto map tag: v6map, seq num: 1, local addr: 2001:db8::1

      local ident (addr/mask/prot/port): (2001:db8:10::/48/0/0)
      remote ident (addr/mask/prot/port): (2001:db8:20::/48/0/0)
      current_peer: 2001:db8::2

      #pkts encaps: 7, #pkts encrypt: 7, #pkts digest: 7
      #send errors: 0, #recv errors: 1

      local crypto endpt.: 2001:db8::1/500, remote crypto endpt.: 2001:db8::2/500
      current outbound spi: 0BADF00D
      current inbound spi : 7A7B7C7D

    inbound esp sas:
      spi: 0x7A7B7C7D (2054913149)
         SA State: active
         in use settings ={L2L, Tunnel, IKEv2, }
         sa timing: remaining key lifetime (sec): 548
    outbound esp sas:
      spi: 0x0BADF00D (195948557)
         SA State: active
         in use settings ={L2L, Tunnel, IKEv2, }
         sa timing: remaining key lifetime (sec): 548"""
    block = parse(text)
    assert block.platform == "asa"
    assert block.problems == []
    only = block.tunnels[0]
    assert (only.peer, only.local, only.peer_port, only.name) == (
        "2001:db8::2",
        "2001:db8::1",
        500,
        "v6map 1",
    )
    assert (only.local_ident, only.remote_ident) == ("2001:db8:10::/48/0/0", "2001:db8:20::/48/0/0")
    assert only.counters == {
        "encaps": 7,
        "encrypt": 7,
        "digest": 7,
        "send_errors": 0,
        "recv_errors": 1,
    }
    assert [(s.direction, s.spi, s.remaining_seconds, s.transform) for s in only.sas] == [
        ("inbound", 0x7A7B7C7D, 548, None),
        ("outbound", 0x0BADF00D, 548, None),
    ]


def test_ah_and_transport_and_pcp() -> None:
    text = """interface: Tunnel5
    Crypto map tag: Tunnel5-head-0, local addr 192.0.2.1
   current_peer 198.51.100.5 port 500
     current outbound spi: 0x2B3C4D5E(725372254)
     inbound esp sas:
     inbound ah sas:
      spi: 0x7E6D5C4B(2121096267)
        transform: ah-sha-hmac ,
        in use settings ={Transport, }
        Status: ACTIVE(ACTIVE)
     inbound pcp sas:
      spi: 0x1234(4660)
        transform: comp-lzs ,
     outbound ah sas:
      spi: 0x2B3C4D5E(725372254)
        in use settings ={Transport, }"""
    block = parse(text)
    assert block.problems == []
    assert [
        (s.direction, s.protocol, s.spi, s.mode, s.transform) for s in block.tunnels[0].sas
    ] == [
        ("inbound", "ah", 0x7E6D5C4B, "transport", "ah-sha-hmac"),
        ("outbound", "ah", 0x2B3C4D5E, "transport", None),
    ]
    assert block.tunnels[0].name == "Tunnel5"


def test_non_address_peer_is_a_problem() -> None:
    """ntc-templates' ASA sample has scrubbed peers such as REMOTE-PEER-8.8.4.4."""
    block = parse("current_peer: REMOTE-PEER-203.0.113.4\n#send errors: 0, #recv errors: 0\n")
    assert block.tunnels[0].peer is None
    assert block.problems == [
        "line 1: peer REMOTE-PEER-203.0.113.4 is not an address",
        "line 3: output ends before the SAs of an unnamed peer (entry at line 1); "
        "its SA list is incomplete",
    ]


# -- registration --------------------------------------------------------------------------------


def test_registered_once_with_distinct_anchors() -> None:
    mine = [c for c in COMMANDS if c.words == ("show", "crypto", "ipsec", "sa")]
    assert len(mine) == 1
    command = mine[0]
    assert command.platforms == ("ios", "asa", "ftd", "pix")
    assert command.parse is ipsec_sa.parse
    assert command.anchors == ("crypto map tag:", "ipv6 crypto map tag:")
    # `show crypto session detail` prints "Interface: Tunnel0": not an anchor here.
    assert not any(a.startswith("interface") for a in command.anchors)
    assert all(a == a.lower() for a in command.anchors + command.markers)
    for name in ("ios-show-crypto-ipsec-sa.txt", "asa-show-crypto-ipsec-sa.txt"):
        text = fixture_text(name).lower()
        assert all(m in text for m in command.markers)


# -- robustness and speed ------------------------------------------------------------------------

ADVERSARIAL_UNITS = [
    "#pkts encaps: 1, ",
    "spi: 0x",
    "current_peer ",
    "crypto map tag: a, local addr ",
    " ",
    "9",
    ":",
    "(",
    "[]",
    "/",
    "0x1A2B3C4D(",
    "in use settings={",
    "sa timing: remaining key lifetime (k/sec): (",
    "local crypto endpt.: 1.1.1.1/",
    "pfs (y/n): y, dh group: ",
    "-head-0",
    "inbound esp sas:",
]


@pytest.mark.parametrize("unit", ADVERSARIAL_UNITS)
def test_adversarial_lines_are_fast(unit: str) -> None:
    line = (unit * (10_000 // len(unit) + 1))[:10_000]
    text = "\n".join(
        [
            "interface: Tunnel0",
            "Crypto map tag: Tunnel0-head-0, local addr 192.0.2.1",
            "current_peer 198.51.100.7 port 500",
            "inbound esp sas:",
            line,
            "spi: 0x1A2B3C4D(439041101)",
            line,
            "current_peer " + line,
            line,
        ]
    )
    lines = [Line(i + 1, row) for i, row in enumerate(text.split("\n"))]
    block = StateBlock(command="show crypto ipsec sa", platform=None, first_line=1, last_line=9)
    start = time.perf_counter()
    ipsec_sa.parse(lines, block)
    assert time.perf_counter() - start < 0.5
    assert all(len(p) < 400 for p in block.problems)


def test_random_garbage_never_raises() -> None:
    words = [*fixture_text("ios-show-crypto-ipsec-sa-vti.txt").split(), "\x00", "", "(", ")", ":"]
    rng = random.Random(11)
    for _ in range(200):
        rows = [" ".join(rng.choices(words, k=rng.randint(0, 12))) for _ in range(30)]
        block = parse("\n".join(rows))
        block.to_dict()  # every fact it kept is well-formed
        assert not any("not read" in p for p in block.problems)


def hub_output(peers: int) -> str:
    """A crypto-map hub's output with one section per peer (about 20 lines each)."""
    rows = [
        "interface: GigabitEthernet0/0/0",
        "    Crypto map tag: HUB-MAP, local addr 192.0.2.1",
        "",
    ]
    for i in range(peers):
        peer = f"198.51.{100 + i // 250}.{1 + i % 250}"
        spi_in, spi_out = 0x10000000 + i, 0x20000000 + i
        rows += [
            "   protected vrf: (none)",
            "   local  ident (addr/mask/prot/port): (10.0.0.0/255.255.0.0/0/0)",
            f"   remote ident (addr/mask/prot/port): (10.{i // 250 + 1}.{i % 250}.0/255.255.255.0/0/0)",
            f"   current_peer {peer} port 500",
            "     PERMIT, flags={origin_is_acl,}",
            "    #pkts encaps: 100, #pkts encrypt: 100, #pkts digest: 100",
            "    #pkts decaps: 90, #pkts decrypt: 90, #pkts verify: 90",
            "    #send errors 0, #recv errors 0",
            f"     local crypto endpt.: 192.0.2.1, remote crypto endpt.: {peer}",
            f"     current outbound spi: 0x{spi_out:08X}({spi_out})",
            "     PFS (Y/N): N, DH group: none",
            "     inbound esp sas:",
            f"      spi: 0x{spi_in:08X}({spi_in})",
            "        transform: esp-256-aes esp-sha256-hmac ,",
            "        in use settings ={Tunnel, }",
            "        sa timing: remaining key lifetime (k/sec): (4607999/3517)",
            "        Status: ACTIVE(ACTIVE)",
            "     outbound esp sas:",
            f"      spi: 0x{spi_out:08X}({spi_out})",
            "        transform: esp-256-aes esp-sha256-hmac ,",
            "        in use settings ={Tunnel, }",
            "        sa timing: remaining key lifetime (k/sec): (4607999/3517)",
            "        Status: ACTIVE(ACTIVE)",
        ]
    return "\n".join(rows)


def test_hub_with_100_peers_is_fast() -> None:
    text = hub_output(100)
    lines = to_lines(text)
    assert len(lines) > 2000
    best = float("inf")
    for _ in range(3):
        block = StateBlock(command="show crypto ipsec sa", platform=None, first_line=1, last_line=0)
        start = time.perf_counter()
        ipsec_sa.parse(lines, block)
        best = min(best, time.perf_counter() - start)
    assert len(block.tunnels) == 100
    assert block.problems == []
    assert all(len(t.sas) == 2 for t in block.tunnels)
    assert block.tunnels[99].peer == "198.51.100.100"
    assert best < 1.0, f"{len(lines)} lines took {best * 1000:.1f} ms"


# -- through the reader ------------------------------------------------------------------------


def test_reader_finds_both_outputs_without_prompts() -> None:
    """`show crypto session detail` then `show crypto ipsec sa`, pasted with no prompt: the
    session's "Interface: Tunnel0" does not open an ipsec-sa block (not an anchor), and the
    ipsec sa output opens at its `Crypto map tag:` line."""
    session = fixture_text("ios-show-crypto-session-detail.txt").split("\n")[1:-1]
    ipsec = fixture_text("ios-show-crypto-ipsec-sa-vti.txt").split("\n")[1:]
    blocks = read_state("\n".join(session + ipsec))
    assert [(b.command, b.first_line, b.platform) for b in blocks] == [
        ("show crypto session", 1, "ios"),
        ("show crypto ipsec sa", len(session) + 2, "ios"),
    ]
    assert [t.peer for t in blocks[0].tunnels] == ["198.51.100.7", "203.0.113.14", "198.51.100.30"]
    assert [(t.name, t.peer, t.current_outbound_spi) for t in blocks[1].tunnels] == [
        ("Tunnel0", "192.0.2.1", 0x13579BDF)
    ]
    assert all(b.problems == [] for b in blocks)


def test_reader_with_prompts_and_abbreviations() -> None:
    text = "\n".join(
        [
            fixture_text("asa-show-crypto-ipsec-sa.txt"),
            fixture_text("ios-show-crypto-ipsec-sa-natt.txt").replace(
                "branch#show crypto ipsec sa peer", "branch#sh cry ips sa pe"
            ),
        ]
    )
    blocks = [b for b in read_state(text) if b.parsed]
    assert [(b.host, b.platform, b.boxes) for b in blocks] == [
        ("asa1", "asa", ["192.0.2.1"]),
        ("branch", "ios", ["192.0.2.66"]),
    ]
