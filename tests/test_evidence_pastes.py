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


def ios(peer: str, spi: int, when: str, local: str = "192.0.2.1") -> str:
    """RECVD_PKT_INV_SPI as TAC note 115801 prints it."""
    return (
        f"{when}: %CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid spi for "
        f"destaddr={local}, prot=50, spi=0x{spi:08X}({spi}), srcaddr={peer}, "
        "input interface=GigabitEthernet0/0/0"
    )


def asa(peer: str, spi: int, when: str, platform: str = "ASA") -> str:
    """402114 as the ASA syslog guide prints it."""
    return (
        f"{when}: %{platform}-4-402114: IPSEC: Received an ESP packet (SPI= 0x{spi:08X}, "
        f"sequence number= 0x31A) from {peer} to 192.0.2.1 with an invalid SPI."
    )


def test_this_box_reloaded_before_the_invalid_spis() -> None:
    paste = "\n".join(
        [
            "<165>4702: rtr-edge-1: Jan 12 2024 09:58:40.112 UTC: %SYS-5-RESTART: System "
            "restarted --",
            "Cisco IOS XE Software, Version 17.09.04a",
            ios("198.51.100.23", 0x0C7D3E91, "Jan 12 2024 10:01:02.345 UTC"),
        ]
    )
    [said] = signals(paste)["box_reloaded"]
    assert "this box restarted (%SYS-5-RESTART, line 1) 2m 22s before" in said
    # One line after a reload: the peer's stale SA, not a rekey race.
    assert top(paste) == "sa-out-of-sync"
    alone = ios("198.51.100.23", 0x0C7D3E91, "Jan 12 2024 10:01:02.345 UTC")
    assert top(alone) == "rekey-race"


def test_ftd_startup_is_a_reload_too() -> None:
    paste = "\n".join(
        [
            "Mar 18 2024 07:30:01: %FTD-6-199002: Startup completed. Beginning operation.",
            asa("198.51.100.90", 0x7D2E4B90, "Mar 18 2024 07:40:01", "FTD"),
        ]
    )
    assert "(%FTD-6-199002, line 1) 10m 00s before" in signals(paste)["box_reloaded"][0]


def test_an_operator_clear_in_a_transcript_is_a_one_sided_clear() -> None:
    # As in a public IOS-XE lab transcript: the operator clears on HQ only.
    for prompt in (
        "HQ#clear cry sa   ",
        "hub#clear crypto session remote 103.1.1.1",
        "R1#cle cr sa",
    ):
        paste = f"{prompt}\nHQ#\n{ios('103.1.1.1', 0x3EA71AED, '*Oct 24 04:31:10.058')}"
        found = signals(paste)
        assert "typed on this box (line 1) before the invalid SPIs" in found["one_sided_clear"][0]
        # A clear on this box within minutes outweighs "a single line".
        assert top(paste) == "sa-out-of-sync", prompt


def test_an_asa_clear_names_its_peer_and_a_clear_afterwards_counts_little() -> None:
    lines = [asa("198.51.100.17", 0x6B4E2A3D, f"Mar 03 2024 09:14:{s}") for s in ("05", "10")]
    before = "asa-hq# clear crypto ipsec sa peer 198.51.100.17\n" + "\n".join(lines)
    result = diagnose(before, None, record=False)
    [clear] = [s for s in result.signals if s.name == "one_sided_clear"]
    assert (clear.peer, clear.strength) == ("198.51.100.17", 1.0)
    after = "\n".join(lines) + "\nasa-hq# clear crypto ipsec sa peer 198.51.100.17"
    [late] = [s for s in diagnose(after, None).signals if s.name == "one_sided_clear"]
    assert late.strength < 1.0 and "not what started them" in late.detail


def test_prose_and_garbled_console_lines_are_no_command() -> None:
    paste = (
        "clear crypto sa on both ends already done twice this morning\n"
        "HQ#clear crypto 03.1.1.1 for S\n" + ios("103.1.1.1", 0x3EA71AED, "*Oct 24 04:31:10.058")
    )
    assert "one_sided_clear" not in signals(paste)


def test_a_delete_notify_never_sent_for_the_invalid_spi_is_a_one_sided_clear() -> None:
    paste = (
        "ISAKMP-ERROR: (0):ignoring request to send delete notify (no ISAKMP sa) src "
        "61.128.1.1 dst 103.1.1.1 for SPI 0x3EA71AED\n"
        + ios("103.1.1.1", 0x3EA71AED, "*Oct 24 04:31:10.058", local="61.128.1.1")
    )
    assert "deleted SA 0x3EA71AED of 103.1.1.1" in signals(paste)["one_sided_clear"][0]
    assert top(paste) == "sa-out-of-sync"


def test_malloc_failure_in_the_crypto_process() -> None:
    malloc = (
        "Feb 27 11:40:02.114: %SYS-2-MALLOCFAIL: Memory allocation of 36012 bytes failed from "
        "0x62B1A3F0, alignment 0 \n"
        "Pool: Processor  Free: 151324  Cause: Memory fragmentation \n"
        ' -Process= "Crypto IKMP", ipl= 0, pid= 214\n'
        "-Traceback= 62B1A3F0 62B19E88 61F0C2D4\n"
    )
    repeats = "\n".join(
        ios("198.51.100.150", 0x3B90D5C7, f"Feb 27 11:4{m}:31.507") for m in range(1, 4)
    )
    result = diagnose(malloc + repeats, None, record=False)
    [said] = [s for s in result.signals if s.name == "box_resources"]
    assert "in a crypto process (SYS-2-MALLOCFAIL; line 1)" in said.detail
    assert said.strength == 1.0 and result.causes[0].id == "software-defect"
    hog = (
        "Feb 27 11:39:00.000: %SYS-3-CPUHOG: Task ran for 2148 msec (20/13), Process = IP "
        "Input, PC = 3199482\n"
    )
    [weak] = [s for s in diagnose(hog + repeats, None).signals if s.name == "box_resources"]
    assert weak.strength == 0.5  # a CPU hog in IP Input: a busy box, not the crypto process


def test_qfp_load_is_a_resource_problem() -> None:
    line = (
        "*Aug 23 16:10:01.038: %IOSXE_QFP-2-LOAD_EXCEED: Slot: 0, QFP:0, Load 90% exceeds the "
        "setting threshold."
    )
    assert "IOSXE_QFP-2-LOAD_EXCEED" in signals(line)["box_resources"][0]


def test_nat_debug_translating_vpn_traffic() -> None:
    paste = (
        "Sep 8 19:51:11.560: NAT*: s=10.1.1.10->203.0.113.5, d=10.2.2.20 [4909]\n"
        "Sep 8 19:51:11.568: NAT*: s=10.2.2.20, d=203.0.113.5->10.1.1.10 [4910]\n"
        + ios("198.51.100.9", 0x1234, "Sep  8 19:51:20.000")
    )
    [said] = signals(paste)["nat_translated_vpn"]
    assert "NAT translated 10.1.1.10 -> 203.0.113.5 for traffic to 10.2.2.20 (lines 1, 2)" in said
    internet = "NAT: s=10.1.1.10->203.0.113.5, d=198.51.100.80 [6825]\n" + ios(
        "198.51.100.9", 0x1234, "Sep  8 19:51:20.000"
    )
    assert "nat_translated_vpn" not in signals(internet)


ASP = """asa# show capture ASP

73: 13:25:40.553224 203.0.113.88 > 192.0.2.14: ip-proto-50, length 100 Drop-reason: (np-sp-invalid-spi) Invalid SPI
74: 13:25:42.565934 203.0.113.88 > 192.0.2.14: ip-proto-50, length 100 Drop-reason: (np-sp-invalid-spi) Invalid SPI

asa# sh asp drop

Frame drop:
  IPSEC tunnel is down (ipsec-tun-down)                                       6372
  Invalid SPI (np-sp-invalid-spi)                                             18895
  First TCP packet not SYN (tcp-not-syn)                                      2347204
"""


def test_asa_asp_drop_capture_and_counter() -> None:
    result = diagnose(ASP, None, record=False)
    drops = [e for e in result.events if e.kind == "invalid_spi"]
    assert [(e.peer, e.local, e.spi, e.protocol) for e in drops] == [
        ("203.0.113.88", "192.0.2.14", None, "esp")
    ] * 2
    [counter] = [e for e in result.events if e.kind == "drop_counter"]
    assert counter.detail == "Invalid SPI (np-sp-invalid-spi) 18895"
    [said] = [s.detail for s in result.signals if s.name == "invalid_spi_drops"]
    assert "Invalid SPI (np-sp-invalid-spi) 18895 (line 10)" in said
    assert result.peer == "203.0.113.88"


def test_qfp_drop_counter_for_sa_not_found() -> None:
    paste = (
        "Router# show platform hardware qfp active feature ipsec datapath drops all | in SPI\n"
        "4 IN_US_V4_PKT_SA_NOT_FOUND_SPI 64574\n"
        "7 IN_TRANS_V4_IPSEC_PKT_NOT_FOUND_SPI 0\n"
    )
    events = diagnose(paste, None).events
    assert [(e.kind, e.detail) for e in events] == [
        ("drop_counter", "IN_US_V4_PKT_SA_NOT_FOUND_SPI 64574")
    ]


FTD_DEBUG = """%FTD-5-711001: IPSEC: Completed inbound permit rule, SPI 0xFEFD3E1E
%FTD-5-711001: IKEv2-PLAT-4: Received PFKEY Invalid SPI for SPI 0x1E3EFDFE, error FALSE
%FTD-5-711001: IKEv2-PLAT-4: Received PFKEY update SA for SPI 0xFEFD3E1E, error FALSE"""


def test_pfkey_invalid_spi_that_is_the_boxs_own_spi_byte_reversed() -> None:
    found = signals(FTD_DEBUG)
    assert "CSCwc54984 and CSCvx23833" in found["pfkey_invalid_spi"][0]
    [said] = found["spi_byte_reversed"]
    assert "SPI 0x1E3EFDFE reported invalid (line 2) is 0xFEFD3E1E (line 1) byte-reversed" in said
    assert top(FTD_DEBUG) == "software-defect"
    other = FTD_DEBUG.replace("0x1E3EFDFE", "0x12345678")
    assert "spi_byte_reversed" not in signals(other)


def test_pfkey_invalid_spi_alone_on_an_asa_points_at_a_defect_too() -> None:
    # As printed in bug CSCwc54984 (addresses replaced).
    paste = (
        "Jul 25 22:35:53 IKEv2-PLAT-4: Received PFKEY Invalid SPI for SPI 0x8D5E4089, error FALSE\n"
        "Jul 25 22:35:53 IKEv2-PROTO-4: (229): Sending INVALID_SPI notify\n"
    )
    events = diagnose(paste, None).events
    assert (events[0].kind, events[0].platform, events[0].spi) == (
        "invalid_spi",
        "asa",
        "0x8D5E4089",
    )
    assert "pfkey_invalid_spi" in signals(paste)
    # IOS IKEv2 sends INVALID_SPI notifies as part of normal recovery: no defect signal.
    assert "pfkey_invalid_spi" not in signals("IKEv2-PROTO-4: (229): Sending INVALID_SPI notify")


def test_screenos_replay_lines_are_read() -> None:
    # goLogAnalyzer test data (real ScreenOS lines; masked addresses completed).
    line = (
        "Jun 29 10:58:54 test test: NetScreen device_id=test  [Root]system-critical-00042: "
        "Replay packet detected on IPSec tunnel on ethernet0/2 with tunnel ID 0x67! From "
        "203.0.113.116 to 192.0.2.186/128, ESP, SPI 0xf5b259cc, SEQ 0x573. (2021-06-29 10:58:53)"
    )
    [event] = diagnose(line, None).events
    assert (event.kind, event.platform, event.peer, event.spi) == (
        "replay_error",
        "screenos",
        "203.0.113.116",
        "0xF5B259CC",
    )


SA_COUNTERS = """rtr-br12#show crypto ipsec sa peer 203.0.113.112 | i replay|invalid|verify
    #pkts decaps: 1840221, #pkts decrypt: 1840221, #pkts verify: 1840221
    #pkts invalid sa (rcv): 212, #pkts decaps failed (rcv): 0
    #pkts replay failed (rcv): 9316
"""


def test_sa_counters_of_replay_failures_outweigh_a_repeating_spi() -> None:
    # Two invalid-SPI lines two minutes apart, and thousands of anti-replay failures (TAC 116858).
    lines = "\n".join(
        ios("203.0.113.112", 0x7E11C2A0, when) for when in ("Jul 18 07:23:41", "Jul 18 07:25:44")
    )
    paste = lines + "\n\n" + SA_COUNTERS
    found = signals(paste)
    assert "replay failed (rcv) 9316 (line 7)" in found["replay_drops"][0]
    # 212 packets on unknown SPIs among 9316 replay failures: late packets, not a stale SA.
    assert "invalid_spi_drops" not in found
    assert top(paste) == "packet-loss"
    only_invalid = lines + "\n    #pkts invalid sa (rcv): 2120\n"
    assert "invalid sa (rcv) 2120" in signals(only_invalid)["invalid_spi_drops"][0]


PANOS = """2025-07-06 03:32:18.287 -0400 [PNTF]: { 7: 60}: ====> IPSEC KEY DELETED; tunnel awspanw-panwfwx:panwon_proxy <====
====> Deleted SA: 10.18.152.5[4500]-192.104.67.227[4500] SPI:0xD3A1BD45/0xD6DDF300 <====
2025-07-06 03:32:18.319 -0400 [INFO]: { 7: }: delete proto ESP spi 0xD6DDF300
2025-07-06 03:32:18.319 -0400 [PWRN]: { 7: }: can't find sa for proto ESP spi 0xD6DDF300"""


def test_panos_cant_find_sa_takes_its_peer_from_the_deleted_sa_before_it() -> None:
    # ikemgr lines as the Palo Alto KB on rekey races prints them (masked SPI digits completed).
    result = diagnose(PANOS, None, record=False)
    [deleted] = [e for e in result.events if e.kind == "sa_deleted"]
    assert (deleted.peer, deleted.local) == ("192.104.67.227", "10.18.152.5")
    assert (result.peer, result.local, result.groups[0].spi) == (
        "192.104.67.227",
        "10.18.152.5",
        "0xD6DDF300",
    )
    other = PANOS.replace("spi 0xD6DDF300", "spi 0x11111111")
    assert diagnose(other, None).peer is None  # an SPI no deleted SA named: still unknown


ASA_REKEY = """Jul 25 22:35:53 IKEv2-PLAT-5: RECV PKT [CREATE_CHILD_SA] [198.51.100.77]:500->[192.0.2.5]:500 InitSPI=0x48a0d49e589d838c RespSPI=0x9a973412d4dfc9df MID=00000008
Jul 25 22:35:53 IKEv2-PLAT-4: Received PFKEY Invalid SPI for SPI 0x8D5E4089, error FALSE
Jul 25 22:35:53 IKEv2-PROTO-4: (229): Sending INVALID_SPI notify"""


def test_pfkey_invalid_spi_inside_a_rekey_names_its_peer_and_points_at_the_defect() -> None:
    # Debug lines as printed in bug CSCwc54984 (addresses replaced).
    result = diagnose(ASA_REKEY, None, record=False)
    assert (result.peer, result.local, result.groups[0].spi) == (
        "198.51.100.77",
        "192.0.2.5",
        "0x8D5E4089",
    )
    found = {s.name: s.detail for s in result.signals}
    assert (
        "CREATE_CHILD_SA exchange (a rekey) with 198.51.100.77" in found["pfkey_invalid_at_rekey"]
    )
    assert result.causes[0].id == "software-defect"


def test_pfkey_peer_only_when_one_peer_was_talking_just_before() -> None:
    second = (
        "Jul 25 22:35:53 IKEv2-PLAT-5: RECV PKT [INFORMATIONAL] [203.0.113.9]:500->"
        "[192.0.2.5]:500 InitSPI=0x1 RespSPI=0x2 MID=00000003\n"
    )
    assert diagnose(second + ASA_REKEY, None).peer is None  # two peers: cannot tell which
    late = ASA_REKEY.replace("22:35:53 IKEv2-PLAT-4", "22:36:30 IKEv2-PLAT-4")
    result = diagnose(late, None, record=False)
    assert result.peer is None
    assert "pfkey_invalid_at_rekey" not in {s.name for s in result.signals}


PIX = "%PIX-4-402101: decaps: rec'd IPSEC packet has invalid spi for destaddr= 192.0.2.33, prot= 50, spi= 0x2b9f01a6"
SHOW_SA = """pix-hq(config)# show crypto ipsec sa

interface: outside
    Crypto map tag: outside_map, local addr. 192.0.2.33
   current_peer: 198.51.100.62:500
     local crypto endpt.: 192.0.2.33, remote crypto endpt.: 198.51.100.62
"""


def test_pix_402101_takes_its_peer_from_show_crypto_ipsec_sa_before_or_after() -> None:
    # The 402101 template prints no source; the SA's endpoints name the one peer of 192.0.2.33.
    for paste in (f"{PIX}\n{PIX}\n{SHOW_SA}", f"{SHOW_SA}\n{PIX}\n{PIX}"):
        result = diagnose(paste, None, record=False)
        assert [(e.kind, e.peer) for e in result.events if e.kind == "invalid_spi"] == [
            ("invalid_spi", "198.51.100.62")
        ] * 2
        assert [e.line for e in result.events] == sorted(e.line for e in result.events)
        assert result.peer == "198.51.100.62"


def test_two_remote_endpoints_for_one_local_address_leave_the_peer_unknown() -> None:
    two = SHOW_SA + "     local crypto endpt.: 192.0.2.33, remote crypto endpt.: 203.0.113.9\n"
    assert diagnose(f"{PIX}\n{two}", None).peer is None
    elsewhere = SHOW_SA.replace("endpt.: 192.0.2.33", "endpt.: 192.0.2.34")
    assert diagnose(f"{PIX}\n{elsewhere}", None).peer is None


def test_fortigate_tunnel_down_is_a_flap() -> None:
    # The 37138 event as a FortiAnalyzer export prints it (pastebin hNRw6CRY), then unknown SPIs.
    down = (
        'date=2024-11-20 time=03:09:50 logid=0101037138 type="event" subtype="vpn" '
        'level="notice" action="tunnel-down" msg="IPsec connection status change" '
        'logdesc="IPsec connection status changed" remip=198.51.100.157 locip=192.0.2.20 '
        'remport=500 outintf="wan1" locport=500 vpntunnel="DC-to-Branch7"'
    )
    paste = down + "\n" + forti_esp("198.51.100.157", "7a3e19c4", "03:11:07", "DC-to-Branch7")
    assert signals(paste)["tunnel_flap"] == ["the tunnel went down 1 time(s)"]


def test_anti_replay_failures_concern_the_peer_their_line_names() -> None:
    # FTD 402119 names the peer; IOS PKT_REPLAY_ERR does not, so it concerns the whole paste.
    ftd = (
        "Oct 21 2024 13:02:13: %FTD-4-402119: IPSEC: Received an ESP packet (SPI= 0x58D3A9F1, "
        "sequence number= 0x9C1402) from 203.0.113.77 (user= 203.0.113.77) to 192.0.2.30 that "
        "failed anti-replay checking."
    )
    ios_replay = (
        "Jul 18 07:23:27 GMT: %CRYPTO-4-PKT_REPLAY_ERR: decrypt: replay check failed "
        "connection id=2"
    )
    paste = asa("198.51.100.163", 0x2A71C0E8, "Oct 21 2024 13:02:11", "FTD") + "\n" + ftd
    [replay] = [s for s in diagnose(paste, None).signals if s.name == "replay_errors"]
    assert (replay.peer, replay.detail) == (
        "203.0.113.77",
        "1 anti-replay failure(s) from 203.0.113.77 (line 2)",
    )
    [anywhere] = [s for s in diagnose(ios_replay, None).signals if s.name == "replay_errors"]
    assert anywhere.peer is None


def test_a_clear_of_another_peer_counts_little() -> None:
    paste = "asa-hq# clear crypto ipsec sa peer 203.0.113.50\n" + asa(
        "198.51.100.17", 0x6B4E2A3D, "Mar 03 2024 09:14:05"
    )
    [clear] = [s for s in diagnose(paste, None).signals if s.name == "one_sided_clear"]
    assert clear.strength < 1.0 and "no invalid SPI in the paste" in clear.detail
