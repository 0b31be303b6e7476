"""Formats and framings beyond the corpus, and what Slack and humans do to lines."""

from __future__ import annotations

import pytest

from kb.events import Event
from kb.groups import group_events
from kb.scan import parse_text

IOS = (
    "%CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid spi for "
    "destaddr=192.0.2.10, prot=50, spi=0x9E6D41B7(2657960375), srcaddr=198.51.100.20, "
    "input interface=GigabitEthernet0/2"
)
ASA = (
    "%ASA-4-402114: IPSEC: Received an ESP packet (SPI= 0xDEADBEEF, sequence number= 0x1A) "
    "from 198.51.100.7 to 192.0.2.1 with an invalid SPI."
)


def only(text: str):
    events = parse_text(text)
    assert len(events) == 1, events
    return events[0]


@pytest.mark.parametrize(
    ("prefix", "time", "device"),
    [
        ("Sep  2 13:27:57.707: ", "Sep  2 13:27:57.707", None),
        ("*Oct 24 04:31:10.058: ", "Oct 24 04:31:10.058", None),
        (".Mar 26 20:49:19: ", "Mar 26 20:49:19", None),
        ("*Jul 16 10:11:50 GMT: ", "Jul 16 10:11:50 GMT", None),
        ("*Feb  2 11:39:59KST: ", "Feb  2 11:39:59KST", None),
        ("Jan 12 2024 10:01:02.345 UTC: ", "Jan 12 2024 10:01:02.345 UTC", None),
        ("<188>989474: ", None, None),
        ("<188>989474: *Feb  2 11:39:59KST: ", "Feb  2 11:39:59KST", None),
        ("42w2d: ", "42w2d", None),
        ("00:12:34: ", "00:12:34", None),
        ("<0>91: *Oct 07 03:10:04: mydevice.com ", "Oct 07 03:10:04", "mydevice.com"),
        ("2024-01-12T10:01:02+00:00 rtr-edge-1 ", "2024-01-12T10:01:02+00:00", "rtr-edge-1"),
        (
            "2024-01-12T10:01:02+00:00 rtr-edge-1 Jan 12 10:01:02.345: ",
            "Jan 12 10:01:02.345",
            "rtr-edge-1",
        ),
        # `logging origin-id hostname`: the host between the sequence number and the time.
        (
            "<164>4711: rtr-edge-1: Jan 12 2024 10:01:02.345 UTC: ",
            "Jan 12 2024 10:01:02.345 UTC",
            "rtr-edge-1",
        ),
        ("4711: rtr-edge-1: *Jan 12 10:01:02.345: ", "Jan 12 10:01:02.345", "rtr-edge-1"),
        ("4711: rtr-edge-1: 00:12:34: ", "00:12:34", "rtr-edge-1"),
        ("", None, None),
    ],
)
def test_every_syslog_framing(prefix: str, time: str | None, device: str | None) -> None:
    event = only(prefix + IOS)
    assert (event.peer, event.local, event.spi) == ("198.51.100.20", "192.0.2.10", "0x9E6D41B7")
    assert event.interface == "GigabitEthernet0/2"
    assert (event.time, event.device) == (time, device)


@pytest.mark.parametrize(
    "spaced",
    [
        # As the NANOG 2017-12 archive prints it, and the other ways posts space the fields.
        IOS.replace("destaddr=192.0.2.10,", "destaddr= 192.0.2.10 ,"),
        IOS.replace(", ", " , "),
        IOS.replace("=", " = "),
        IOS.replace(", prot=50, ", " ,prot=50 ,"),
    ],
)
def test_spaces_inside_fields_give_the_plain_fields(spaced: str) -> None:
    plain = only(IOS).to_dict()
    got = only(spaced).to_dict()
    keys = ("kind", "peer", "local", "spi", "spi_decimal", "protocol", "interface", "problems")
    assert {k: got[k] for k in keys} == {k: plain[k] for k in keys}


def test_origin_id_hostname_gives_the_plain_fields() -> None:
    framed = only(f"<164>4711: rtr-edge-1: Jan 12 2024 10:01:02.345 UTC: {IOS}")
    plain = only(f"<164>4711: Jan 12 2024 10:01:02.345 UTC: {IOS}")
    assert framed.device == "rtr-edge-1" and plain.device is None
    keys = ("kind", "peer", "local", "spi", "time", "interface")
    assert {k: getattr(framed, k) for k in keys} == {k: getattr(plain, k) for k in keys}


def test_iosxe_subfacility_tag() -> None:
    event = only(IOS.replace("%CRYPTO-4-", "%CRYPTO-IPSEC-4-"))
    assert event.kind == "invalid_spi" and event.peer == "198.51.100.20"


def test_ah_and_ipv6() -> None:
    line = (
        "%CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid spi for "
        "destaddr=2001:DB8:0:0::1, prot=51, spi=0x00000100(256), srcaddr=2001:db8:0:0:0:0:0:2"
    )
    event = only(line)
    assert (event.protocol, event.peer, event.local) == ("ah", "2001:db8::2", "2001:db8::1")
    assert event.spi_consistent is True and event.interface is None


@pytest.mark.parametrize(
    "line",
    [
        ASA,
        ASA.replace("%ASA-4-", "%ASA-vpn-4-"),
        ASA.replace("%ASA", "%FTD"),
        ASA.replace("SPI= ", "SPI=").replace("number= ", "number="),
        ASA.replace("198.51.100.7 to", "198.51.100.7 (user= 198.51.100.7) to"),
    ],
)
def test_asa_variants(line: str) -> None:
    event = only(line)
    assert (event.kind, event.peer, event.local, event.spi) == (
        "invalid_spi",
        "198.51.100.7",
        "192.0.2.1",
        "0xDEADBEEF",
    )
    assert event.platform == ("ftd" if "%FTD" in line else "asa")
    assert event.spi_decimal is None and event.spi_consistent is None


def test_pix_402101_has_no_peer() -> None:
    line = (
        "%PIX-4-402101: decaps: rec'd IPSEC packet has invalid spi for destaddr=192.0.2.1, "
        "prot=esp, spi=0x1234ABCD"
    )
    event = only(line)
    assert (event.platform, event.kind, event.peer, event.local) == (
        "pix",
        "invalid_spi",
        None,
        "192.0.2.1",
    )
    assert (event.protocol, event.spi) == ("esp", "0x1234ABCD")


def test_screenos_bad_spi() -> None:
    line = (
        "2024-03-01 10:00:00 system-warning-00536: IPSec tunnel on int ethernet0/0 with tunnel "
        "ID 0x4 received a packet with a bad SPI. 198.51.100.9->192.0.2.4/92, ESP, SPI 0x2d0cbc7d"
    )
    event = only(line)
    assert (event.platform, event.peer, event.local, event.spi) == (
        "screenos",
        "198.51.100.9",
        "192.0.2.4",
        "0x2D0CBC7D",
    )


@pytest.mark.parametrize(
    ("line", "kind", "peer"),
    [
        (
            "%CRYPTO-5-SESSION_STATUS: Crypto tunnel is DOWN. Peer 198.51.100.7:500 Id: x",
            "tunnel_status",
            "198.51.100.7",
        ),
        (
            "%SEC-6-IPACCESSLOGP: list OUTSIDE denied udp 198.51.100.7(4500) -> 192.0.2.1(4500), 3 packets",
            "acl_deny",
            "198.51.100.7",
        ),
        (
            "%SEC-6-IPACCESSLOGNP: list 110 denied 50 198.51.100.7 -> 192.0.2.1, 1 packet",
            "acl_deny",
            "198.51.100.7",
        ),
        (
            '%ASA-4-106023: Deny udp src outside:198.51.100.7/500 dst inside:192.0.2.1/500 by access-group "OUT"',
            "acl_deny",
            "198.51.100.7",
        ),
        (
            "%ASA-4-402117: IPSEC: Received a non-IPSec packet (protocol= ICMP) from 198.51.100.7 to 192.0.2.1.",
            "not_ipsec",
            "198.51.100.7",
        ),
        (
            "%ASA-4-402116: IPSEC: Received an ESP packet (SPI= 0x1, sequence number= 0x2) from 198.51.100.7 (user= x) to 192.0.2.1. The decapsulated inner packet doesn't match the negotiated policy in the SA.",
            "policy_mismatch",
            "198.51.100.7",
        ),
        (
            "%ASA-4-402120: IPSEC: Received an ESP packet (SPI= 0x1, sequence number= 0x2) from 198.51.100.7 to 192.0.2.1 that failed authentication.",
            "mac_error",
            "198.51.100.7",
        ),
        (
            "%ASA-1-104001: (Secondary) Switching to ACTIVE - Other unit wants me Active.",
            "ha_failover",
            None,
        ),
        ("%VRRP-6-STATECHANGE: Gi0/0 Grp 1 state Backup -> Master", "ha_failover", None),
        ("IKEv2-PROTO-4: (229): Sending INVALID_SPI notify", "ike_invalid_spi_notify", None),
    ],
)
def test_companion_messages(line: str, kind: str, peer: str | None) -> None:
    event = only(line)
    assert (event.kind, event.peer) == (kind, peer)


@pytest.mark.parametrize(
    "line",
    [
        "%SEC-6-IPACCESSLOGP: list 101 permitted udp 198.51.100.7(500) -> 192.0.2.1(500), 1 packet",
        "%SEC-6-IPACCESSLOGP: list 101 denied tcp 198.51.100.7(5555) -> 192.0.2.1(443), 1 packet",
        "%HSRP-5-STATECHANGE: Gi0/0 Grp 1 state Speak -> Standby",
        "%OSPF-5-ADJCHG: Process 1, Nbr 10.0.0.1 on Gi0/1 from LOADING to FULL, Loading Done",
    ],
)
def test_irrelevant_lines_give_nothing(line: str) -> None:
    assert parse_text(line) == []


def test_slack_escaping_fences_and_quotes() -> None:
    paste = (
        "```Apr 11 02:40:55.021: %HSRP-5-STATECHANGE: Gi0/0 Grp 10 state Standby -&gt; Active\n"
        + IOS.replace("rec'd", "rec’d").replace("srcaddr=", "srcaddr = ")
        + "```"
    )
    events = parse_text(paste)
    assert [e.kind for e in events] == ["ha_failover", "invalid_spi"]
    assert events[0].detail == "Standby -> Active"
    assert events[1].peer == "198.51.100.20" and events[1].line == 2


def test_slack_link_wrappers_and_crlf() -> None:
    paste = (
        "<http://mydevice.com|mydevice.com>\r\n"
        + IOS.replace("srcaddr=198.51.100.20", "srcaddr=<http://198.51.100.20|198.51.100.20>")
        + "\r\n"
    )
    event = only(paste)
    assert event.peer == "198.51.100.20" and event.line == 2
    assert event.interface == "GigabitEthernet0/2"


def test_backtick_apostrophe_and_lowercase_hex() -> None:
    event = only(IOS.replace("rec'd", "rec`d").replace("0x9E6D41B7", "0x9e6d41b7"))
    assert event.spi == "0x9E6D41B7" and event.spi_consistent is True


@pytest.mark.parametrize("after", ["packet", "for"])
def test_line_wrapped_in_two(after: str) -> None:
    cut = IOS.index(after) + len(after)
    paste = f"Sep  2 13:27:57.707: {IOS[:cut]}\n   {IOS[cut:].strip()}\nnext line\n"
    event = only(paste)
    assert (event.peer, event.spi, event.line, event.time) == (
        "198.51.100.20",
        "0x9E6D41B7",
        1,
        "Sep  2 13:27:57.707",
    )


@pytest.mark.parametrize(
    "head",
    [
        "%CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid spi",
        "Sep  2 13:27:57.707: %CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid spi for",
        "%PIX-4-402101: decaps: rec'd IPSEC packet has invalid spi.",
    ],
)
def test_line_cut_short_after_the_tag_is_an_event_with_peer_and_spi_unknown(head: str) -> None:
    for paste in (head, f"seeing this once in a while:\n{head}\n", f"{head}\nnext line\n"):
        event = only(paste)
        assert (event.kind, event.peer, event.local, event.spi) == ("invalid_spi", None, None, None)
        assert event.detail == "cut short" and "has invalid spi" in event.problems[0]


def test_a_line_cut_short_is_not_a_message_with_more_after_it() -> None:
    assert (
        parse_text("%CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid spi x=1")
        == []
    )


def test_line_wrapped_right_after_spi_is_still_joined() -> None:
    cut = IOS.index(" for ")
    event = only(f"{IOS[:cut]}\n{IOS[cut:].strip()}\n")
    assert (event.peer, event.spi, event.detail) == ("198.51.100.20", "0x9E6D41B7", None)


def test_hex_decimal_mismatch_is_reported() -> None:
    event = only(IOS.replace("(2657960375)", "(2657960376)"))
    assert event.spi == "0x9E6D41B7" and event.spi_decimal == 2657960376
    assert event.spi_consistent is False
    assert "disagree" in event.problems[0]


def test_spi_wider_than_32_bits_is_a_problem_not_a_value() -> None:
    event = only(IOS.replace("0x9E6D41B7(2657960375)", "0x19E6D41B7"))
    assert event.spi is None and "32 bits" in event.problems[0]
    assert event.peer == "198.51.100.20"


def test_groups_count_and_span() -> None:
    lines = [f"Mar  3 09:{m:02d}:02.000: {IOS}" for m in (14, 15, 16)]
    lines.append("Mar  3 09:17:00.000: " + IOS.replace("9E6D41B7(2657960375)", "00000001(1)"))
    groups = group_events(parse_text("\n".join(lines)))
    assert [(g.spi, g.count, g.span_seconds) for g in groups] == [
        ("0x9E6D41B7", 3, 120.0),
        ("0x00000001", 1, 0.0),
    ]
    assert groups[0].to_dict()["first_seen"] == "Mar  3 09:14:02.000"


FORTI_ESP = (
    'date=2024-08-13 time=20:08:54 eventtime=1723604934176251061 tz="-0700" logid="0101037131" '
    'type="event" subtype="vpn" level="error" vd="root" logdesc="IPsec ESP" msg="IPsec ESP" '
    'action="error" remip=10.66.31.140 locip=172.20.9.143 remport=4500 locport=500 '
    'outintf="port1" cookies="N/A" user="N/A" group="N/A" useralt="N/A" xauthuser="N/A" '
    'xauthgroup="N/A" assignip=N/A vpntunnel="N/A" status="esp_error" '
    'error_num="Received ESP packet with unknown SPI." spi="2c65ad60" seq="00000007"'
)
FORTI_LOCAL_IN = (
    'date=2024-01-15 time=11:02:20 devname="site2" devid="FGVM02TM00000002" logid="0001000014" '
    'type="traffic" subtype="local" level="notice" vd="root" srcip=10.56.240.208 srcport=500 '
    'srcintf="port1" srcintfrole="wan" dstip=10.56.240.221 dstport=500 dstintf="unknown0" '
    'dstintfrole="undefined" sessionid=4952 proto=17 action="deny" policyid=2 '
    'policytype="local-in-policy" service="IKE"'
)


def test_fortigate_unknown_spi_keeps_which_tunnel_owns_it_and_the_remote_port() -> None:
    # Fortinet 199842, as published: vpntunnel="N/A" means no tunnel owns the SPI.
    event = only(FORTI_ESP)
    assert (event.kind, event.peer, event.spi) == ("invalid_spi", "10.66.31.140", "0x2C65AD60")
    assert event.detail == "vpntunnel=N/A remport=4500"
    named = only(FORTI_ESP.replace('vpntunnel="N/A"', 'vpntunnel="to-branch32"'))
    assert named.detail == "vpntunnel=to-branch32 remport=4500"


@pytest.mark.parametrize(
    ("line", "detail"),
    [
        (  # Fortinet 339687, as published
            'date=2024-09-06 time=21:28:52 logid="0108037892" logdesc="Virtual cluster member '
            'state moved" msg="Virtual cluster\'s member state moved" ha_role="primary" '
            'vcluster=1 vcluster_state="work" vcluster_member=0 hostname="Fortinet2" sn="FGVMx"',
            "Virtual cluster member state moved (Fortinet2: primary)",
        ),
        (  # the fields of message 37901 in the FortiOS log message reference
            'date=2024-02-12 time=22:03:40 logid="0108037901" type="event" subtype="ha" '
            'level="critical" vd="root" logdesc="Heartbeat device interface down" '
            'msg="Heartbeat device interface down" devintfname="port4" ha_role="primary"',
            "Heartbeat device interface down",
        ),
        (  # Fortinet 196075, FortiOS 4 format, as published
            "2009-02-16 11:06:34 device_id=FG2001111111 log_id=0105035001 type=event subtype=ha "
            'pri=critical vd=root msg="HA slave heartbeat interface internal lost neighbor '
            'information"',
            "HA slave heartbeat interface internal lost neighbor information",
        ),
    ],
)
def test_fortigate_ha_takeover_and_lost_heartbeat_are_failovers(line: str, detail: str) -> None:
    event = only(line)
    assert (event.kind, event.platform, event.detail) == ("ha_failover", "fortigate", detail)


@pytest.mark.parametrize(
    "line",
    [
        'date=2024-02-12 time=22:10:00 logid="0108037894" type="event" subtype="ha" '
        'logdesc="Virtual cluster member joined" msg="Virtual cluster detected member join"',
        "2009-02-16 11:06:40 device_id=FG2001111111 log_id=0105035001 type=event subtype=ha "
        'pri=notice vd=root msg="HA master heartbeat interface internal get peer information"',
        FORTI_LOCAL_IN.replace('action="deny"', 'action="accept"'),
        FORTI_LOCAL_IN.replace("dstport=500", "dstport=443").replace("srcport=500", "srcport=1"),
    ],
)
def test_fortigate_lines_that_do_not_bear_on_ipsec_give_nothing(line: str) -> None:
    assert parse_text(line) == []


def test_fortigate_local_in_deny_of_ike_or_esp_is_an_acl_deny() -> None:
    event = only(FORTI_LOCAL_IN)
    assert (event.kind, event.peer, event.local) == ("acl_deny", "10.56.240.208", "10.56.240.221")
    assert event.detail == "udp 500/500 (local-in policy 2)" and event.device == "site2"
    esp = only(
        FORTI_LOCAL_IN.replace("proto=17", "proto=50")
        .replace(" srcport=500", "")
        .replace(" dstport=500", "")
    )
    assert (esp.kind, esp.protocol) == ("acl_deny", "esp")


def test_fortigate_tunnel_up_and_down() -> None:
    line = (
        'date=2024-03-01 time=10:00:00 logid="0101037138" type="event" subtype="vpn" '
        'action="tunnel-up" logdesc="IPsec connection status changed" remip=198.51.100.5 '
        'locip=192.0.2.1 vpntunnel="to-hq"'
    )
    assert [(e.kind, e.peer, e.detail) for e in parse_text(line)] == [
        ("tunnel_status", "198.51.100.5", "UP")
    ]


def test_an_event_built_from_positions_is_the_event_built_by_name() -> None:
    import dataclasses

    from kb.events import new_event

    values = {
        "peer": "198.51.100.7", "local": "192.0.2.1", "spi": "0x0000000A", "spi_decimal": 10,
        "spi_consistent": True, "protocol": "esp", "interface": "Gi0/0", "device": "hub1",
        "time": "Mar  3 09:14:02",
    }  # fmt: skip
    by_name = Event("invalid_spi", "ios", "%CRYPTO-4-RECVD_PKT_INV_SPI", 7, "text", **values)
    by_position = new_event(
        "invalid_spi", "ios", "%CRYPTO-4-RECVD_PKT_INV_SPI", 7, "text", *values.values()
    )
    assert by_position == by_name
    # Every field is set (a slot left unset would raise here), and nothing is shared.
    assert dataclasses.asdict(by_position) == dataclasses.asdict(by_name)
    assert by_position.problems is not new_event(*["x"] * 5, *[None] * 9).problems
    assert len(dataclasses.fields(Event)) == 16  # a new field must be set by new_event too
