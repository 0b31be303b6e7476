"""Evidence that sits in a paste beside the invalid-SPI lines: each signal from a paste in a
real format (FortiGate, IOS, ASA/FTD), and the cause it moves."""

from __future__ import annotations

from kb.diagnose import diagnose


def signals(paste: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for signal in diagnose(paste, None, record=False).signals:
        found.setdefault(signal.name, []).append(signal.detail)
    return found


def top(paste: str) -> str:
    return diagnose(paste, None, record=False).causes[0].id


def forti_esp(peer: str, spi: str, when: str, tunnel: str = "to-branch", remport: int = 500) -> str:
    """The unknown-SPI event as Fortinet 190530 and 199842 print it."""
    return (
        f'date=2024-11-20 time={when} logid="0101037131" type="event" subtype="vpn" '
        f'level="error" vd="root" logdesc="IPsec ESP" msg="IPsec ESP" action="error" '
        f'remip={peer} locip=192.0.2.20 remport={remport} locport=500 outintf="wan1" '
        f'cookies="N/A" user="N/A" group="N/A" assignip=N/A vpntunnel="{tunnel}" '
        f'status="esp_error" error_num="Received ESP packet with unknown SPI." spi="{spi}" '
        'seq="00000001"'
    )


def test_a_line_cut_short_is_diagnosed_and_says_what_to_paste() -> None:
    paste = (
        "seen once in a while:\n"
        "%CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid spi\n"
    )
    result = diagnose(paste, None)
    assert result.found and (result.peer, result.groups[0].spi) == (None, None)
    assert result.causes[0].id in ("rekey-race", "sa-out-of-sync")
    [warning] = result.warnings
    assert "peer and the SPI are unknown" in warning
    assert "destaddr, spi and srcaddr" in warning and "show crypto ipsec sa" in warning
    assert "SPI None" not in " ".join(r for c in result.causes for r in c.reasons)


def test_fortigate_no_tunnel_for_the_spi_is_not_a_configured_peer() -> None:
    paste = forti_esp("203.0.113.4", "00000101", "03:10:02", tunnel="N/A", remport=4500)
    found = signals(paste)
    assert 'vpntunnel="N/A"' in found["no_tunnel_for_spi"][0]
    assert "nat_t" not in found  # UDP 4500 from a source no tunnel owns is no NAT evidence
    assert top(paste) == "unsolicited-esp"
    named = forti_esp("203.0.113.4", "00000101", "03:10:02", tunnel="DC-to-Branch7")
    assert "no_tunnel_for_spi" not in signals(named)


def test_fortigate_remote_port_changing_is_a_new_nat_binding() -> None:
    paste = "\n".join(
        forti_esp("203.0.113.36", "2d7e61b9", f"07:41:{s}", "to-store36", port)
        for s, port in (("15", 4500), ("25", 61871), ("35", 61871), ("45", 61871))
    )
    found = signals(paste)
    assert "changed (4500 -> 61871)" in found["remote_port_changed"][0]
    assert "port 61871" in found["odd_remote_port"][0]
    assert top(paste) == "nat-traversal"


def test_fortigate_ha_member_state_moved_before_the_unknown_spis() -> None:
    ha = (
        'date=2024-11-20 time=03:09:30 logid="0108037892" logdesc="Virtual cluster member '
        'state moved" msg="Virtual cluster\'s member state moved" ha_role="primary" '
        'vcluster=1 vcluster_state="work" vcluster_member=0 hostname="fw-edge-2" sn="FGT60F"'
    )
    paste = "\n".join(
        [ha] + [forti_esp("198.51.100.211", "8e01c7d4", f"03:1{m}:10") for m in range(3)]
    )
    found = signals(paste)
    assert "Virtual cluster member state moved (fw-edge-2: primary)" in found["ha_failover"][0]
    assert "before the first invalid SPI" in found["ha_failover"][0]
    assert top(paste) == "ha-failover"


def test_fortigate_local_in_policy_denying_ike_from_the_peer() -> None:
    deny = (
        'date=2024-11-20 time=03:10:20 devname="site2" logid="0001000014" type="traffic" '
        'subtype="local" level="notice" vd="root" srcip=198.51.100.157 srcport=500 '
        'srcintf="port1" dstip=192.0.2.20 dstport=500 dstintf="unknown0" sessionid=4952 '
        'proto=17 action="deny" policyid=2 policytype="local-in-policy" service="IKE"'
    )
    paste = "\n".join(
        [forti_esp("198.51.100.157", "6cf1a0b2", f"03:1{m}:14") for m in range(4)] + [deny]
    )
    found = signals(paste)
    assert "udp 500/500 (local-in policy 2) from 198.51.100.157" in found["acl_deny_ike"][0]
    assert top(paste) == "firewall-blocking"
