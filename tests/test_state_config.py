"""kb/state/config.py: running configuration (IOS, ASA, FTD, FortiGate) read field-exact.

Every expected value below was written by reading the fixture (line numbers count from the
first line after the fixture's `# ` header, the prompt line being line 1).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kb.state import config as config_module
from kb.state.commands import COMMANDS
from kb.state.config import parse, parse_fortigate
from kb.state.lines import to_lines
from kb.state.model import StateBlock
from kb.state.reader import read_state

FIXTURES = Path(__file__).parent / "fixtures" / "state"


def body(name: str) -> str:
    lines = (FIXTURES / name).read_text().split("\n")
    while lines and lines[0].startswith("# "):
        lines.pop(0)
    return "\n".join(lines)


def run(text: str, typed: str | None = None, reader=parse, platform=None) -> StateBlock:
    lines = to_lines(text)
    block = StateBlock(
        command="show running-config",
        platform=platform,
        first_line=1,
        last_line=len(lines),
        typed=typed,
    )
    reader(lines, block)
    return block


def where(policy_or_config) -> dict[str, int]:
    return {k: v.number for k, v in policy_or_config.where.items()}


def policy(
    peer, name, transforms=(), pfs=None, life=None, ike=None, dpd=None, acl=None, defaults=()
):
    return {
        "peer": peer,
        "name": name,
        "transforms": list(transforms),
        "pfs": pfs,
        "lifetime_seconds": life,
        "ike_lifetime_seconds": ike,
        "dpd": dpd,
        "acl": acl,
        "defaults": list(defaults),
    }


# --- IOS ----------------------------------------------------------------------------------


def test_ios_crypto_map_two_peers():
    block = run(body("ios-running-config-crypto-map.txt"), "show running-config | section crypto")
    assert block.platform == "ios"
    assert block.problems == []
    assert block.parsed
    assert block.to_dict()["config"] == {
        "dpd": True,
        "invalid_spi_recovery": True,
        "redundancy": "HA-OUT",
        "lifetime_seconds": 28800,
        "policies": [
            policy(
                "198.51.100.7",
                "CMAP 10",
                ["esp-aes 256 esp-sha-hmac", "esp-aes esp-sha256-hmac"],
                pfs="group14",
                life=3600,
                acl="VPN-BRANCH-7",
            ),
            policy("203.0.113.20", "CMAP 20", ["esp-aes esp-sha256-hmac"], acl="VPN-BRANCH-20"),
        ],
    }
    config = block.config
    assert where(config) == {
        "invalid_spi_recovery": 9,
        "dpd": 10,
        "lifetime_seconds": 11,
        "redundancy": 32,
    }
    assert where(config.policies[0]) == {
        "name": 16,
        "peer": 18,
        "transforms": 20,
        "transform-set TS-AES256": 12,
        "transform-set TS-AES128": 14,
        "lifetime_seconds": 19,
        "pfs": 21,
        "acl": 22,
    }
    assert where(config.policies[1]) == {
        "name": 23,
        "peer": 25,
        "transforms": 26,
        "transform-set TS-AES128": 14,
        "acl": 27,
    }
    assert config.where["invalid_spi_recovery"].proof("hub-1") == (
        "hub-1: line 9: crypto isakmp invalid-spi-recovery"
    )


def test_ios_vti_ikev2_whole_running_config():
    block = run(body("ios-running-config-vti-ikev2.txt"), "show running-config")
    assert block.platform == "ios"
    assert block.problems == []
    assert block.to_dict()["config"] == {
        # The whole configuration was shown and holds no global keepalive or recovery line.
        "dpd": False,
        "invalid_spi_recovery": False,
        "redundancy": None,
        "lifetime_seconds": None,
        "policies": [
            policy(
                "198.51.100.7",
                "Tunnel10",
                ["esp-gcm 256"],
                pfs="group19",
                life=1800,
                ike=28800,
                dpd=True,
            ),
            policy("2001:db8:7::1", "Tunnel16", ["esp-gcm 256"]),
        ],
    }
    config = block.config
    assert config.where == {}
    assert where(config.policies[0]) == {
        "name": 55,
        "peer": 59,
        "transforms": 46,
        "transform-set TS-GCM": 42,
        "pfs": 47,
        "lifetime_seconds": 48,
        "dpd": 34,
        "ike_lifetime_seconds": 33,
    }
    assert where(config.policies[1]) == {
        "name": 62,
        "peer": 67,
        "transforms": 52,
        "transform-set TS-GCM": 42,
    }


def test_ios_whole_config_without_prompt_is_known_from_its_header():
    # "Current configuration :" is printed only by a whole `show running-config`.
    text = body("ios-running-config-vti-ikev2.txt").split("\n", 1)[1]
    block = run(text)
    assert block.config.dpd is False
    assert block.config.invalid_spi_recovery is False


def test_ios_no_dpd_section():
    block = run(body("ios-running-config-no-dpd.txt"), "sh run | s crypto")
    assert block.platform == "ios"
    assert block.problems == []
    assert block.to_dict()["config"] == {
        "dpd": False,
        "invalid_spi_recovery": False,
        "redundancy": None,
        "lifetime_seconds": None,
        "policies": [
            policy("192.0.2.1", "CMAP 10", ["esp-aes 256 esp-sha-hmac"], acl="VPN-HUB"),
        ],
    }
    assert where(block.config.policies[0]) == {
        "name": 13,
        "peer": 14,
        "transforms": 15,
        "transform-set TS-AES256": 11,
        "acl": 17,
    }


@pytest.mark.parametrize(
    "typed",
    [None, "show running-config | include crypto map", "show run | section crypto map"],
)
def test_ios_absence_proves_nothing_when_not_the_whole_section(typed):
    # None means "not shown": without the whole crypto section an absent line proves nothing.
    text = body("ios-running-config-no-dpd.txt")
    if typed is None:
        text = text.split("\n", 1)[1]
    block = run(text, typed)
    assert block.config.dpd is None
    assert block.config.invalid_spi_recovery is None
    assert [p.peer for p in block.config.policies] == ["192.0.2.1"]


@pytest.mark.parametrize("typed", ["show running-config", "sh run | i crypto", "sh ru | be crypto"])
def test_ios_whole_section_forms(typed):
    block = run(body("ios-running-config-no-dpd.txt").split("\n", 1)[1], typed)
    assert block.config.dpd is False


def test_ios_profile_keepalive_and_lost_indentation():
    # Pasted without its indentation: sub-commands still belong to their entry.
    text = "\n".join(
        [
            "crypto isakmp profile ISAKMP-HUB",
            "keepalive 10 retry 3",
            "match identity address 192.0.2.1 255.255.255.255 FVRF-A",
            "crypto ipsec transform-set TS esp-aes 256 esp-sha-hmac",
            "crypto map CMAP 10 ipsec-isakmp",
            "set peer 192.0.2.1",
            "set peer 192.0.2.2 default",
            "set transform-set TS",
            "set pfs",
            "set security-association lifetime days 1",
            "set isakmp-profile ISAKMP-HUB",
            "interface GigabitEthernet0/0",
            "crypto map CMAP redundancy",
        ]
    )
    block = run(text)
    assert block.problems == []
    config = block.to_dict()["config"]
    assert config["redundancy"] == "unnamed"
    assert config["policies"] == [
        policy("192.0.2.1", "CMAP 10", ["esp-aes 256 esp-sha-hmac"], "enabled", 86400, dpd=True),
        policy("192.0.2.2", "CMAP 10", ["esp-aes 256 esp-sha-hmac"], "enabled", 86400, dpd=True),
    ]
    assert where(block.config.policies[0])["dpd"] == 2


def test_ios_wildcard_profile_is_every_peer_and_keys_name_peers():
    text = "\n".join(
        [
            "crypto isakmp key KEY1 address 0.0.0.0 0.0.0.0",
            "crypto isakmp key KEY2 address ipv6 2001:DB8::9/128",
            "crypto isakmp key KEY3 address 203.0.113.0 255.255.255.0",
            "crypto ikev2 profile ANY",
            " match identity remote address 0.0.0.0",
            " match identity remote address 0.0.0.0 0.0.0.0",
            " dpd 30 5 on-demand",
            " lifetime 86400",
            "crypto ikev2 dpd 10 2 periodic",
        ]
    )
    block = run(text)
    config = block.to_dict()["config"]
    assert config["dpd"] is True
    assert config["policies"] == [
        policy(None, "ANY", ike=86400, dpd=True),
        policy("2001:db8::9", None),
    ]
    assert where(block.config.policies[1]) == {"peer": 2}
    assert where(block.config) == {"dpd": 9}


def test_ios_global_crypto_map_replay_interval_is_not_redundancy():
    block = run(
        "crypto map CMAP redundancy replay-interval inbound 1000 outbound 10000\n"
        "crypto isakmp keepalive 10"
    )
    assert block.config.redundancy is None


def test_ios_problems_name_the_line():
    text = "\n".join(
        [
            "crypto map CMAP 10 ipsec-isakmp",
            " set peer vpn.example.net dynamic",
            " set transform-set NOT-HERE",
            " set security-association lifetime seconds soon",
            "crypto map CMAP 20 ipsec-isakmp",
            " set transform-set NOT-HERE",
            "interface Tunnel5",
            " tunnel destination hub.example.net",
            " tunnel protection ipsec profile MISSING",
        ]
    )
    block = run(text)
    assert block.problems == [
        "line 4: lifetime seconds 'soon' is not a number",
        "line 8: tunnel destination hub.example.net is not an address",
        "line 2: peer vpn.example.net of crypto map CMAP 10 is a name, not an address",
        "line 5: crypto map CMAP 20 names no peer",
        "line 9: ipsec profile MISSING is not in this output",
    ]
    assert block.config.policies == []


def test_ios_conflicting_values_for_one_peer():
    text = "\n".join(
        [
            "crypto map A 10 ipsec-isakmp",
            " set peer 192.0.2.7",
            " set pfs group14",
            "crypto map B 10 ipsec-isakmp",
            " set peer 192.0.2.7",
            " set pfs group5",
        ]
    )
    block = run(text)
    assert block.config.policies[0].pfs == "group14"
    assert block.problems == [
        "line 6: pfs group5 for peer 192.0.2.7 differs from group14 (line 3); keeping the first"
    ]


def test_ios_pager_marks_and_slack_fences():
    raw = body("ios-running-config-crypto-map.txt").split("\n")
    raw[0] = "```" + raw[0]
    raw[16] = (
        " --More-- \x08\x08\x08\x08\x08\x08\x08\x08\x08\x08          \x08\x08\x08\x08\x08\x08\x08\x08\x08\x08"
        + raw[16]
    )
    raw[-1] += "```"
    block = run("\n".join(raw), "show running-config | section crypto")
    assert block.problems == []
    assert block.config.policies[0].where["peer"].number == 18
    assert block.config.policies[0].lifetime_seconds == 3600


def test_truncated_output_keeps_what_was_read():
    text = "\n".join(body("ios-running-config-crypto-map.txt").split("\n")[:21])
    block = run(text, "show running-config | section crypto")
    assert block.to_dict()["config"]["policies"] == [
        policy(
            "198.51.100.7",
            "CMAP 10",
            ["esp-aes 256 esp-sha-hmac", "esp-aes esp-sha256-hmac"],
            pfs="group14",
            life=3600,
        ),
        policy("203.0.113.20", None),
    ]


def test_unrelated_output_gives_no_config():
    block = run(
        "hub-1#show running-config\nhostname hub-1\ninterface Loopback0\n ip address 10.0.0.1 255.255.255.255\nend"
    )
    assert block.config is None
    assert not block.parsed
    assert block.problems == []


# --- ASA / FTD ----------------------------------------------------------------------------


def test_asa_running_config_crypto():
    block = run(body("asa-running-config-crypto.txt"), "show running-config crypto")
    assert block.platform == "asa"
    assert block.problems == ["line 20: transform set ESP-3DES-SHA is not in this output"]
    assert block.to_dict()["config"] == {
        "dpd": None,
        "invalid_spi_recovery": None,
        "redundancy": None,
        "lifetime_seconds": 28800,
        "policies": [
            policy(
                "198.51.100.7",
                "outside_map 10",
                ["esp-aes-256 esp-sha-hmac"],
                pfs="group14",
                life=3600,
                acl="outside_cryptomap_10",
            ),
            policy(
                "203.0.113.20",
                "outside_map 20",
                ["esp encryption aes-256 integrity sha-256"],
                acl="outside_cryptomap_20",
            ),
            policy(
                "203.0.113.21",
                "outside_map 20",
                ["esp encryption aes-256 integrity sha-256"],
                acl="outside_cryptomap_20",
            ),
            policy("192.0.2.99", "outside_map 30", acl="outside_cryptomap_30"),
        ],
    }
    config = block.config
    assert where(config) == {"lifetime_seconds": 7}
    assert where(config.policies[0]) == {
        "name": 10,
        "acl": 10,
        "pfs": 11,
        "peer": 12,
        "transforms": 13,
        "transform-set ESP-AES-256-SHA": 2,
        "lifetime_seconds": 14,
    }
    assert where(config.policies[2]) == {
        "name": 15,
        "acl": 15,
        "peer": 16,
        "transforms": 17,
        "transform-set PROP-AES256": 4,
    }


def test_asa_tunnel_group_keepalive():
    block = run(body("asa-running-config-tunnel-group.txt"), "show running-config tunnel-group")
    assert block.platform == "asa"
    assert block.problems == []
    assert block.to_dict()["config"] == {
        "dpd": None,
        "invalid_spi_recovery": None,
        "redundancy": None,
        "lifetime_seconds": None,
        "policies": [
            policy("198.51.100.7", "198.51.100.7", dpd=True),
            policy("203.0.113.20", "203.0.113.20", dpd=False),
            # No keepalive line: the ASA default for L2L (on), marked as a default.
            policy("192.0.2.99", "192.0.2.99", dpd=True, defaults=["dpd"]),
            # threshold infinite: the ASA answers DPD but never sends it.
            policy("2001:db8:99::1", "2001:db8:99::1", dpd=False),
        ],
    }
    policies = block.config.policies
    assert [where(p) for p in policies] == [
        {"name": 2, "peer": 2, "dpd": 5},
        {"name": 6, "peer": 6, "dpd": 10},
        {"name": 11, "peer": 11, "dpd": 11},
        {"name": 14, "peer": 14, "dpd": 18},
    ]


def test_asa_crypto_and_tunnel_group_together():
    text = (
        body("asa-running-config-crypto.txt") + "\n" + body("asa-running-config-tunnel-group.txt")
    )
    block = run(text, "show running-config")
    by_peer = {p.peer: p for p in block.config.policies}
    assert by_peer["198.51.100.7"].name == "outside_map 10"
    assert by_peer["198.51.100.7"].dpd is True
    assert by_peer["192.0.2.99"].dpd is True
    assert by_peer["192.0.2.99"].defaults == ["dpd"]
    assert by_peer["203.0.113.21"].dpd is None  # no tunnel-group of its own in this paste
    # ASA has no invalid-SPI recovery and no global keepalive line: nothing is assumed.
    assert block.config.invalid_spi_recovery is None
    assert block.config.dpd is None


def test_ftd_whole_running_config():
    block = run(body("ftd-running-config.txt"), "show running-config")
    assert block.platform == "ftd"
    assert block.problems == []
    assert block.to_dict()["config"] == {
        "dpd": False,
        "invalid_spi_recovery": None,
        "redundancy": None,
        "lifetime_seconds": None,
        "policies": [
            policy(
                "198.51.100.7",
                "CSM_outside_map 1",
                ["esp encryption aes-gcm-256 integrity null"],
                pfs="group21",
                life=7200,
                dpd=False,
                acl="CSM_IPSEC_ACL_1",
                defaults=["dpd"],
            ),
        ],
    }
    assert where(block.config) == {"dpd": 38}
    assert where(block.config.policies[0]) == {
        "name": 23,
        "acl": 23,
        "pfs": 24,
        "peer": 25,
        "transforms": 26,
        "transform-set CSM_IP_1": 19,
        "lifetime_seconds": 27,
        "dpd": 39,
    }


def test_ftd_kept_when_the_reader_knows_it():
    block = run(body("asa-running-config-crypto.txt"), platform="ftd")
    assert block.platform == "ftd"


def test_asa_name_printed_after_the_map():
    text = "crypto map M 10 set peer Peer-1\nname 192.0.2.77 Peer-1"
    block = run(text)
    assert [p.peer for p in block.config.policies] == ["192.0.2.77"]


# --- FortiGate ----------------------------------------------------------------------------


def test_fortigate_phase1():
    block = run(body("fortigate-show-vpn-ipsec-phase1-interface.txt"), reader=parse_fortigate)
    assert block.platform == "fortigate"
    assert block.problems == []
    assert block.to_dict()["config"] == {
        "dpd": None,
        "invalid_spi_recovery": None,
        "redundancy": None,
        "lifetime_seconds": None,
        "policies": [
            policy("198.51.100.7", "to-hub", ike=28800, dpd=True),
            # No `set dpd`: `show` omits the default, on-demand.
            policy("203.0.113.20", "to-dc", dpd=True, defaults=["dpd"]),
        ],
    }
    assert [where(p) for p in block.config.policies] == [
        {"name": 3, "peer": 12, "dpd": 10, "ike_lifetime_seconds": 6},
        {"name": 15, "peer": 20, "dpd": 15},
    ]


def test_fortigate_phase2_alone_names_no_peer():
    block = run(body("fortigate-show-vpn-ipsec-phase2-interface.txt"), reader=parse_fortigate)
    assert block.config is None
    assert block.problems == [
        "line 3: phase 2 to-hub-p2: its phase 1 to-hub is not in this output",
        "line 11: phase 2 to-dc-p2: its phase 1 to-dc is not in this output",
        "line 18: phase 2 dialup-p2: its phase 1 dialup is not in this output",
    ]


def test_fortigate_phase1_and_phase2_pasted_bare():
    p1 = body("fortigate-show-vpn-ipsec-phase1-interface.txt").split("\n")[1:-2]
    p2 = body("fortigate-show-vpn-ipsec-phase2-interface.txt").split("\n")[1:-2]
    block = run("\n".join(p1 + p2), reader=parse_fortigate)
    assert block.problems == []
    assert block.to_dict()["config"]["policies"] == [
        # No `set pfs`: FortiOS has PFS on, with the phase 2's `set dhgrp 14`.
        policy(
            "198.51.100.7", "to-hub", ["aes256-sha256"], "group14", 3600, 28800, True, None, ["pfs"]
        ),
        policy("203.0.113.20", "to-dc", ["aes128-sha256"], "none", dpd=True, defaults=["dpd"]),
    ]
    # `set dhgrp 14` is line 6 of the phase 2 fixture, the 5th line kept of it.
    assert where(block.config.policies[0])["pfs"] == len(p1) + 5


def test_fortigate_inside_vdom_config():
    text = "\n".join(
        [
            "config vdom",
            "edit root",
            "config vpn ipsec phase1-interface",
            '    edit "hq"',
            "        set remote-gw6 2001:DB8::1",
            "        set dpd disable",
            "        config ipv4-exclude-range",
            "            edit 1",
            "                set remote-gw 192.0.2.250",
            "            next",
            "        end",
            "        set keylife 3600",
            "    next",
            "end",
            "end",
        ]
    )
    block = run(text, reader=parse_fortigate)
    assert block.to_dict()["config"]["policies"] == [
        policy("2001:db8::1", "hq", ike=3600, dpd=False)
    ]


def test_fortigate_pfs_defaults_and_dh_group_sets():
    text = "\n".join(
        [
            "config vpn ipsec phase1-interface",
            '    edit "a"',
            "        set remote-gw 192.0.2.1",
            "    next",
            '    edit "b"',
            "        set remote-gw 192.0.2.2",
            "    next",
            '    edit "c"',
            "        set remote-gw 192.0.2.3",
            "    next",
            "end",
            "config vpn ipsec phase2-interface",
            '    edit "a-p2"',
            '        set phase1name "a"',
            "        set dhgrp 14 5",
            "    next",
            '    edit "b-p2"',
            '        set phase1name "b"',
            "        set pfs enable",
            "        set dhgrp 21",
            "    next",
            '    edit "c-p2"',
            '        set phase1name "c"',
            "    next",
            "end",
        ]
    )
    block = run(text, reader=parse_fortigate)
    assert block.problems == []
    assert block.to_dict()["config"]["policies"] == [
        # PFS on by default, with both groups: "group14 group5" is a set of two.
        policy("192.0.2.1", "a", pfs="group14 group5", dpd=True, defaults=["dpd", "pfs"]),
        policy("192.0.2.2", "b", pfs="group21", dpd=True, defaults=["dpd"]),
        # No `set dhgrp`: the default group list depends on the FortiOS release.
        policy("192.0.2.3", "c", pfs="enabled", dpd=True, defaults=["dpd", "pfs"]),
    ]
    assert [where(p)["pfs"] for p in block.config.policies] == [15, 20, 22]


def _fortigate_pastes() -> tuple[str, str]:
    return (
        body("fortigate-show-vpn-ipsec-phase1-interface.txt"),
        body("fortigate-show-vpn-ipsec-phase2-interface.txt"),
    )


# The phase 1 and phase 2 fixtures pasted one after the other: their bodies are 34 and 24 lines,
# each its prompt first and a bare prompt last.
TO_HUB = policy(
    "198.51.100.7", "to-hub", ["aes256-sha256"], "group14", 3600, 28800, True, None, ["pfs"]
)
TO_DC = policy("203.0.113.20", "to-dc", ["aes128-sha256"], "none", dpd=True, defaults=["dpd"])


def test_fortigate_prompted_phase1_then_phase2_join():
    phase1, phase2 = _fortigate_pastes()
    first, second = read_state(phase1 + phase2)
    assert (first.command, first.host, first.first_line, first.last_line) == (
        "show vpn ipsec phase1-interface",
        "FGT-BRANCH",
        1,
        32,
    )
    assert (second.command, second.host, second.first_line, second.last_line) == (
        "show vpn ipsec phase2-interface",
        "FGT-BRANCH",
        35,
        56,
    )
    assert first.problems == [] and second.problems == []
    assert first.to_dict()["config"]["policies"] == [TO_HUB, TO_DC]
    assert [where(p) for p in first.config.policies] == [
        {
            "name": 3,
            "peer": 12,
            "dpd": 10,
            "ike_lifetime_seconds": 6,
            "transforms": 39,  # set proposal aes256-sha256 (phase 2)
            "pfs": 40,  # set dhgrp 14 (phase 2)
            "lifetime_seconds": 41,  # set keylifeseconds 3600
        },
        {"name": 15, "peer": 20, "dpd": 15, "transforms": 47, "pfs": 48},
    ]
    # The phase-2 output lists the very same policies: the engine finds them from either.
    assert len(second.config.policies) == 2
    assert all(a is b for a, b in zip(second.config.policies, first.config.policies, strict=True))


def test_fortigate_prompted_phase2_then_phase1_join():
    phase1, phase2 = _fortigate_pastes()
    first, second = read_state(phase2 + phase1)
    assert (first.command, first.first_line, second.command, second.first_line) == (
        "show vpn ipsec phase2-interface",
        1,
        "show vpn ipsec phase1-interface",
        25,
    )
    assert first.problems == [] and second.problems == []
    assert second.to_dict()["config"]["policies"] == [TO_HUB, TO_DC]
    assert [where(p) for p in second.config.policies] == [
        {
            "name": 27,
            "peer": 36,
            "dpd": 34,
            "ike_lifetime_seconds": 30,
            "transforms": 5,
            "pfs": 6,
            "lifetime_seconds": 7,
        },
        {"name": 39, "peer": 44, "dpd": 39, "transforms": 13, "pfs": 14},
    ]
    assert [p.to_dict() for p in first.config.policies] == [TO_HUB, TO_DC]


def _phase1(prompt: str, gw: str) -> list[str]:
    return [
        f"{prompt} show vpn ipsec phase1-interface",
        "config vpn ipsec phase1-interface",
        '    edit "to-hub"',
        f"        set remote-gw {gw}",
        "    next",
        "end",
    ]


def _phase2(prompt: str, life: int) -> list[str]:
    return [
        f"{prompt} show vpn ipsec phase2-interface",
        "config vpn ipsec phase2-interface",
        '    edit "to-hub-p2"',
        '        set phase1name "to-hub"',
        f"        set keylifeseconds {life}",
        "    next",
        "end",
    ]


def test_fortigate_two_hosts_do_not_cross_join():
    text = "\n".join(
        _phase1("FGT-A #", "198.51.100.1")  # lines 1-6
        + _phase1("FGT-B #", "198.51.100.2")  # 7-12
        + _phase2("FGT-B #", 1800)  # 13-19
        + _phase2("FGT-A #", 3600)  # 20-26
        + _phase2("FGT-C #", 900)  # 27-33: its phase 1 is in no output
        + _phase2("#", 600)  # 34-40: no host, and no output without one has its phase 1
    )
    a1, b1, b2, a2, c2, bare = read_state(text)
    assert [b.host for b in (a1, b1, b2, a2, c2, bare)] == [
        "FGT-A",
        "FGT-B",
        "FGT-B",
        "FGT-A",
        "FGT-C",
        None,
    ]
    assert a1.to_dict()["config"]["policies"] == [
        policy(
            "198.51.100.1", "to-hub", life=3600, pfs="enabled", dpd=True, defaults=["dpd", "pfs"]
        )
    ]
    assert where(a1.config.policies[0]) == {
        "name": 3,
        "peer": 4,
        "dpd": 3,
        "pfs": 22,  # no `set pfs` nor `set dhgrp`: the phase 2's edit line
        "lifetime_seconds": 24,
    }
    assert b1.to_dict()["config"]["policies"] == [
        policy(
            "198.51.100.2", "to-hub", life=1800, pfs="enabled", dpd=True, defaults=["dpd", "pfs"]
        )
    ]
    assert where(b1.config.policies[0])["lifetime_seconds"] == 17
    assert (a1.problems, b1.problems, b2.problems, a2.problems) == ([], [], [], [])
    assert c2.config is None and not c2.parsed
    assert c2.problems == ["line 29: phase 2 to-hub-p2: its phase 1 to-hub is not in this output"]
    assert bare.config is None
    assert bare.problems == ["line 36: phase 2 to-hub-p2: its phase 1 to-hub is not in this output"]


def test_fortigate_prompts_without_hostname_join():
    text = "\n".join(_phase1("#", "198.51.100.9") + _phase2("#", 7200))
    p1, p2 = read_state(text)
    assert (p1.host, p2.host, p1.problems, p2.problems) == (None, None, [], [])
    assert p2.config.policies[0] is p1.config.policies[0]
    assert p1.config.policies[0].lifetime_seconds == 7200


def test_fortigate_phase2_with_absent_phase1_keeps_its_problem():
    phase1, phase2 = _fortigate_pastes()
    # Only the to-hub phase 1 is pasted: to-dc-p2 names a phase 1 in no output.
    kept = phase1.split("\n")
    kept = kept[:13] + kept[-4:]  # lines 1-13 (to-hub), then `end`, a blank line, the prompt
    first, second = read_state("\n".join(kept) + phase2)
    assert first.problems == []
    assert first.to_dict()["config"]["policies"] == [TO_HUB]
    assert second.problems == [
        "line 27: phase 2 to-dc-p2: its phase 1 to-dc is not in this output",
        "line 34: phase 2 dialup-p2: its phase 1 dialup is not in this output",
    ]
    assert second.config is not None and second.config.policies == first.config.policies


def test_fortigate_join_twice_changes_nothing():
    from kb.state.reader import StateReader

    phase1, phase2 = _fortigate_pastes()
    reader = StateReader()
    reader.feed_text(phase1 + phase2)
    blocks = [b.to_dict() for b in reader.blocks()]
    assert [b.to_dict() for b in reader.blocks()] == blocks


# --- registration, robustness ---------------------------------------------------------------


def test_registered():
    mine = [c for c in COMMANDS if c.parse in (config_module.parse, config_module.parse_fortigate)]
    words = {c.words: c for c in mine}
    assert words[("show", "running-config")].platforms == ("ios", "asa", "ftd")
    assert ("show", "vpn", "ipsec", "phase1-interface") in words
    assert ("show", "vpn", "ipsec", "phase2-interface") in words
    anchors = [a for c in mine for a in c.anchors]
    for anchor in anchors:
        assert anchor == anchor.lower()
        # Lines of `show crypto ipsec sa` / `show crypto map` must not start this output.
        for other in (
            "crypto map tag: cmap, local addr 192.0.2.1",
            'crypto map "cmap" 10 ipsec-isakmp',
        ):
            assert not other.startswith(anchor)


ADVERSARIAL = [
    "crypto map " + "A " * 5000,
    "crypto map M 1 set peer " + "1" * 10000,
    "crypto map M 1 set peer " + "192.0.2.1 " * 1000,
    " set security-association lifetime seconds " + "9" * 10000,
    "crypto isakmp key K address " + ":" * 10000,
    " match identity remote address " + "[" * 10000,
    "tunnel-group " + "x" * 10000 + " ipsec-attributes",
    " " * 10000 + "set peer 192.0.2.1",
    "config vpn ipsec phase1-interface " * 300,
    "config " * 1500,
    "edit " + '"' * 10000,
    "        set remote-gw " + "0" * 10000,
]


@pytest.mark.parametrize("line", ADVERSARIAL)
def test_adversarial_lines_are_fast(line):
    text = "\n".join(
        [
            "crypto map M 10 ipsec-isakmp",
            line,
            "config vpn ipsec phase1-interface",
            'edit "x"',
            line,
        ]
        * 2
    )
    for reader in (parse, parse_fortigate):
        start = time.perf_counter()
        run(text, reader=reader)
        assert time.perf_counter() - start < 0.5


def test_never_raises_on_junk():
    junk = "\n".join(
        [
            "crypto",
            "crypto map",
            "crypto map X",
            "crypto map X 10",
            "crypto map X 10 set",
            "crypto ipsec",
            "crypto ipsec transform-set",
            "crypto isakmp key",
            "crypto isakmp key k address",
            "tunnel-group",
            "tunnel-group x",
            " set peer",
            " set pfs",
            "interface",
            " tunnel protection ipsec profile",
            "set remote-gw",
            "edit",
            "end",
            "end",
            "next",
        ]
    )
    run(junk)
    run(junk, reader=parse_fortigate)
