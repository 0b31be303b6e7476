"""The message formats spibot reads, one recogniser per message, each returning an Event.

See docs/architecture.md for where formats fit. A line is recognised by its tag
(%CRYPTO-4-RECVD_PKT_INV_SPI, %ASA-4-402114, ...) or, for formats without one (debugs,
FortiGate, PAN-OS, ScreenOS), by a phrase no ordinary message contains. FortiGate's key=value
logs are read in kb/fortigate.py, an operator's session (commands, counters, captures, NAT
debug) in kb/transcripts.py; both are routed from here.

Longer than our usual 300 lines on purpose: each pattern sits beside the recogniser that uses
it and the tables that route tags and phrases to recognisers, so that one read checks a
format's fields and its linear-time shape together. What has no tag or phrase of its own to
route by lives in the two modules above.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from kb import fortigate, transcripts
from kb.events import PROTOCOLS, SPI_MAX, Event, canonical_ip, new_event, set_spi
from kb.stamps import HOST, ISO, STAMP, find_time, read_prefix

# A recogniser reads the line from pos (just after the tag) and fills in the event.
Handler = Callable[["Event", str, int], "Event | None"]

# Linear by construction: every run is possessive (`*+`, `++`) and stops at a character that
# cannot continue it, so no pattern ever gives characters back to retry; a search whose parts
# are far apart (`.*?`) is two searches (_simple's `after`, _session). Long runs of one
# character class used to make patterns backtrack quadratically, or cubically, and hold the
# GIL for seconds.

# An address is hex digits, colons and dots ending in a hex digit ("10.0.0.1." ends before
# the dot): runs of separators and of digits, alternating.
_ADDR = r"\[?[:.]*+[0-9A-Fa-f]++(?:[:.]++[0-9A-Fa-f]++)*+\]?"
_HEX = r"(?:0x)?[0-9A-Za-z]++"

TAG = re.compile(
    r"(?P<tag>%(?P<facility>[A-Z][A-Z0-9_]*+)(?:-[A-Z][A-Z0-9_]*+)*+(?:-[a-z]++)?-\d-"
    r"(?P<mnemonic>[A-Z0-9_]++))\b\s*+:?\s*+"
)

# decaps: rec'd IPSEC packet has invalid spi for destaddr=L, prot=50, spi=0xHEX(DEC), srcaddr=P
# IOS and IOS-XE; PIX/ASA 402101 prints the same words without srcaddr. Posts and some
# terminals show spaces around the fields ("destaddr= 192.0.2.10 , prot=50"): clean_line
# closes them up after "=", and a space before each comma is allowed here.
_DECAPS = re.compile(
    rf"decaps:?\s*+rec.?d (?i:ipsec) packet has invalid spi for\s++destaddr=(?P<local>{_ADDR})"
    rf"\s*+,\s*+prot=(?P<prot>\w++)\s*+,\s*+spi=(?P<hex>{_HEX})(?:\s*+\((?P<dec>-?\d++)\))?"
    rf"(?:\s*+,\s*+srcaddr=(?P<peer>{_ADDR}))?(?:\s*+,\s*+input interface=(?P<iface>[^\s,]++))?",
)
# The same message cut short right after its head, as people paste it from memory or a ticket:
# still an invalid SPI, with the peer and the SPI unknown. "for" and trailing punctuation may
# end it; anything else after "spi" is not this message.
_DECAPS_HEAD = re.compile(
    r"decaps:?\s*+rec.?d (?i:ipsec) packet has invalid spi(?: for)?[\s.,:]*+$"
)
CUT_SHORT = "cut short"
# ASA/FTD 4021xx:
#   Received an ESP packet (SPI= 0xHEX, sequence number= 0xHEX) from P [(user= U)] to L
_ASA_PACKET = re.compile(
    rf"IPSEC:\s*+Received an? (?P<proto>ESP|AH) packet \(SPI=(?P<hex>{_HEX}),\s*+"
    rf"sequence number=(?P<seq>{_HEX})\) from (?P<peer>{_ADDR})(?:\s*+\(user=[^()]*+\))?"
    rf" to (?P<local>{_ADDR})",
)
_ASA_NON_IPSEC = re.compile(
    rf"Received a non-IPSec packet \(protocol=(?P<proto>[^()]*+)\) from (?P<peer>{_ADDR})"
    rf"(?:\s*+\(user=[^()]*+\))? to (?P<local>{_ADDR})",
    re.I,
)
_IKMP_NO_SA = re.compile(rf"IKE message from (?P<peer>{_ADDR}) has no SA", re.I)
_REPLAY = re.compile(r"replay check failed(?: connection id=(?P<conn>\d++))?", re.I)
_MAC_ERR = re.compile(
    rf"mac verify failed for connection id=\d++\s++local=(?P<local>{_ADDR})\s++"
    rf"remote=(?P<peer>{_ADDR})\s++spi=(?P<hex>{_HEX})",
    re.I,
)
# "not an IPSEC packet ... dest_addr=": the phrase, then the addresses anywhere after it.
_NOT_IPSEC = re.compile(r"not an IPSEC packet", re.I)
_NOT_IPSEC_ADDRESSES = re.compile(
    rf"dest_addr=\s*+/?(?P<local>{_ADDR}),\s*+src_addr=(?P<peer>{_ADDR})"
    r"(?:,\s*+prot=(?P<prot>\d++))?",
    re.I,
)
_SESSION = re.compile(r"Crypto tunnel (?:v\d )?is (?P<state>UP|DOWN)\b", re.I)
# The shortest address before an optional :port and a space (IPv6 has colons too); each
# try is bounded by its own run of address characters.
_SESSION_PEER = re.compile(r"Peer (?P<peer>[0-9A-Fa-f:.]+?)(?::(?P<port>\d++))?(?:\s|$)", re.I)
# The interface is the whole word before " Grp "; starting only where a word starts keeps
# the search from rescanning a long word from each of its characters.
_STATECHANGE = re.compile(
    r"(?<!\S)(?P<iface>\S++) Grp (?P<grp>\d++) state (?P<old>\w++) -> (?P<new>\w++)"
)
_ASA_FAILOVER = re.compile(r"Switching to (?P<new>ACTIVE|STANDBY|FAILED)", re.I)
_ACL_IOS = re.compile(
    rf"list (?P<acl>\S++) denied (?P<proto>\w++) (?P<src>{_ADDR})(?:\((?P<sport>\d++)\))?"
    rf"(?:\s*+\([^()]*+\))?\s*+->\s*+(?P<dst>{_ADDR})(?:\((?P<dport>\d++)\))?"
)
_ACL_ASA = re.compile(
    rf"Deny (?:protocol )?(?P<proto>\w++) src [\w-]++:(?P<src>{_ADDR})(?:/(?P<sport>\d++))?"
    rf" dst [\w-]++:(?P<dst>{_ADDR})(?:/(?P<dport>\d++))?",
    re.I,
)
_ASA_POLICY = re.compile(r"doesn't match the negotiated policy", re.I)

_DELETE_NOTIFY = re.compile(
    rf"ignoring request to send delete notify \(no ISAKMP sa\) src (?P<local>{_ADDR})"
    rf" dst (?P<peer>{_ADDR})(?: for SPI (?P<hex>{_HEX}))?",
    re.I,
)
# ASA/FTD IKEv2 platform debugs (711001 when sent to syslog): PFKEY is the ASA's interface
# between IKE and the IPsec data path. "Invalid SPI" reports an SPI the data path does not
# have; add/update/Active/delete name SPIs this box itself installed or removed (CSCvx23833).
_PFKEY = re.compile(
    rf"Received PFKEY (?P<what>Invalid SPI|add SA|update SA|Active SA|delete SA) for SPI "
    rf"(?P<hex>{_HEX})",
    re.I,
)
_INBOUND_RULE = re.compile(rf"inbound permit rule, SPI (?P<hex>{_HEX})", re.I)
_INVALID_SPI_NOTIFY = re.compile(r"Sending INVALID_SPI notify", re.I)
_PANOS = re.compile(rf"can't find sa for proto (?P<proto>ESP|AH) spi (?P<hex>{_HEX})", re.I)
# PAN-OS ikemgr: "====> Deleted SA: L[500]-P[500] SPI:0xIN/0xOUT <====" (the Palo Alto KB on
# rekey races): both SPIs of the pair of SAs just deleted with peer P.
_PANOS_DELETED = re.compile(
    rf"Deleted SA:\s*+(?P<local>{_ADDR})\[\d++\]-(?P<peer>{_ADDR})\[\d++\]\s*+"
    rf"SPI:(?P<spi_a>{_HEX})/(?P<spi_b>{_HEX})",
    re.I,
)
# ASA/FTD IKEv2 platform debug: "RECV PKT [CREATE_CHILD_SA] [P]:500->[L]:500 InitSPI=..."
_IKEV2_PACKET = re.compile(
    rf"(?P<dir>RECV|SEND) PKT \[(?P<exchange>[A-Z_]++)\] \[(?P<src>{_ADDR})\]:\d++->"
    rf"\[(?P<dst>{_ADDR})\]:\d++"
)
_SCREENOS = re.compile(
    rf"received a packet with a bad SPI\.?(?:\s*+(?P<peer>{_ADDR})->(?P<local>{_ADDR})"
    rf"(?:/\d++)?,\s*+(?P<proto>ESP|AH),\s*+SPI (?P<hex>{_HEX}))?",
    re.I,
)
# ScreenOS system-critical-00042: "Replay packet detected on IPSec tunnel on ethernet0/2 with
# tunnel ID 0x67! From P to L/128, ESP, SPI 0xf5b259cc, SEQ 0x573." (the addresses follow the
# phrase; read from where it ends)
_SCREENOS_REPLAY_PHRASE = re.compile(r"Replay packet detected", re.I)
_SCREENOS_REPLAY = re.compile(
    rf"From (?P<peer>{_ADDR}) to (?P<local>{_ADDR})(?:/\d++)?,\s*+(?P<proto>ESP|AH),\s*+"
    rf"SPI (?P<hex>{_HEX})",
    re.I,
)

_PLATFORMS = {"ASA": "asa", "FTD": "ftd", "PIX": "pix"}
_IKE_PORTS = {"500", "4500", "isakmp", "non500-isakmp"}


def _ip(text: str | None) -> str | None:
    return canonical_ip(text) if text else None


def _addresses(event: Event, m: re.Match) -> Event:
    groups = m.re.groupindex
    event.peer = _ip(m["peer"]) if "peer" in groups else None
    event.local = _ip(m["local"]) if "local" in groups else None
    return event


def _decaps(event: Event, line: str, pos: int) -> Event | None:
    m = _DECAPS.match(line, pos)
    if m is None:
        return _decaps_cut_short(event, line, pos)
    event.kind = "invalid_spi"
    _addresses(event, m)
    event.protocol = PROTOCOLS.get(m["prot"].lower())
    event.interface = m["iface"]
    set_spi(event, m["hex"], m["dec"])
    return event


def _decaps_cut_short(event: Event, line: str, pos: int) -> Event | None:
    if _DECAPS_HEAD.match(line, pos) is None:
        return None
    event.kind = "invalid_spi"
    event.detail = CUT_SHORT
    event.problems.append(
        "the line ends after 'has invalid spi': no destination, SPI or source address"
    )
    return event


def _asa_packet(kind: str) -> Handler:
    def handle(event: Event, line: str, pos: int) -> Event | None:
        m = _ASA_PACKET.match(line, pos)
        if m is None:
            return None
        event.kind = kind
        _addresses(event, m)
        event.protocol = m["proto"].lower()
        set_spi(event, m["hex"])
        return event

    return handle


def _asa_policy(event: Event, line: str, pos: int) -> Event | None:
    if _ASA_POLICY.search(line, pos) is None:
        return None
    return _asa_packet("policy_mismatch")(event, line, pos)


def _simple(kind: str, pattern: re.Pattern, after: re.Pattern | None = None) -> Handler:
    """A recogniser for `pattern`, searched from where the phrase `after` ends when one is
    given: that is `after.*?pattern` in two linear searches (a later occurrence of the phrase
    could only find the same match or none)."""
    has_addresses = "peer" in pattern.groupindex or "local" in pattern.groupindex
    has_spi = "hex" in pattern.groupindex
    has_proto = "proto" in pattern.groupindex

    def handle(event: Event, line: str, pos: int) -> Event | None:
        if after is not None:
            head = after.search(line, pos)
            if head is None:
                return None
            pos = head.end()
        m = pattern.search(line, pos)
        if m is None:
            return None
        event.kind = kind
        if has_addresses:
            _addresses(event, m)
        if has_spi and m["hex"]:
            set_spi(event, m["hex"])
        if has_proto and m["proto"]:
            event.protocol = PROTOCOLS.get(m["proto"].lower())
        return event

    return handle


def _session(event: Event, line: str, pos: int) -> Event | None:
    m = _SESSION.search(line, pos)
    if m is None:
        return None
    peer = _SESSION_PEER.search(line, m.end())
    if peer is None:
        return None
    event.kind = "tunnel_status"
    event.peer = _ip(peer["peer"])
    event.detail = m["state"].upper()
    return event


def _statechange(event: Event, line: str, pos: int) -> Event | None:
    # Sliced, so that an interface right after the tag counts as starting a word.
    m = _STATECHANGE.search(line[pos:])
    if m is None:
        return None
    old, new = m["old"], m["new"]
    if not {old.lower(), new.lower()} & {"active", "master"}:
        return None
    event.kind = "ha_failover"
    event.interface = m["iface"]
    event.detail = f"{old} -> {new}"
    return event


def _asa_failover(event: Event, line: str, pos: int) -> Event | None:
    m = _ASA_FAILOVER.search(line, pos)
    if m is None:
        return None
    event.kind = "ha_failover"
    event.detail = f"switching to {m['new'].upper()}"
    return event


def _acl(pattern: re.Pattern) -> Handler:
    def handle(event: Event, line: str, pos: int) -> Event | None:
        m = pattern.search(line, pos)
        if m is None:
            return None
        proto = m["proto"].lower()
        if proto in ("udp",) and not ({m["sport"], m["dport"]} & _IKE_PORTS):
            return None
        if proto not in ("udp", "50", "51", "esp", "ah"):
            return None
        event.kind = "acl_deny"
        # The denied packet came from the remote end, so its source is the peer.
        event.peer = _ip(m["src"])
        event.local = _ip(m["dst"])
        event.protocol = PROTOCOLS.get(proto)
        ports = "/".join(p for p in (m["sport"], m["dport"]) if p)
        event.detail = f"{proto} {ports}".strip()
        return event

    return handle


_BOX_DETAIL_CHARS = 120


def _box(kind: str, facilities: frozenset[str]) -> Handler:
    """This box itself: a reload or restart (box_reload), or memory, CPU or forwarding
    resources running out (box_resources). The detail is the message text, cut short."""

    def handle(event: Event, line: str, pos: int) -> Event | None:
        if (event.tag or "")[1:].split("-", 1)[0] not in facilities:
            return None
        event.kind = kind
        event.detail = line[pos : pos + _BOX_DETAIL_CHARS].strip() or None
        return event

    return handle


_IOS_SYS = frozenset({"SYS"})
_ASA_SYS = frozenset({"ASA", "FTD", "PIX"})


def _ike_debug(event: Event, line: str, pos: int) -> Event | None:
    m = _PFKEY.search(line, pos)
    if m is not None:
        if event.tag is None:
            event.platform = "asa"  # PFKEY debugs exist on ASA and FTD only
        # The data path reports ESP on an SPI it does not have: an invalid-SPI event (with no
        # peer in the line); the other PFKEY messages name SPIs of this box's own SAs.
        invalid = m["what"].lower() == "invalid spi"
        event.kind = "invalid_spi" if invalid else "own_spi"
        event.detail = f"PFKEY {m['what']}"
        set_spi(event, m["hex"])
        return event
    m = _INBOUND_RULE.search(line, pos)
    if m is not None:
        event.kind = "own_spi"
        event.detail = "inbound permit rule"
        set_spi(event, m["hex"])
        return event
    if _INVALID_SPI_NOTIFY.search(line, pos):
        event.kind = "ike_invalid_spi_notify"
        return event
    m = _IKEV2_PACKET.search(line, pos)
    if m is not None:
        # An IKE packet to or from a peer; the peer is the other end whichever way it went.
        received = m["dir"] == "RECV"
        event.kind = "ike_packet"
        event.platform = event.platform if event.tag else "asa"
        event.peer = _ip(m["src"] if received else m["dst"])
        event.local = _ip(m["dst"] if received else m["src"])
        event.detail = f"{m['dir']} {m['exchange']}"
        return event
    return _simple("delete_notify_no_sa", _DELETE_NOTIFY)(event, line, pos)


def _panos_deleted(event: Event, line: str, pos: int) -> Event | None:
    m = _PANOS_DELETED.search(line, pos)
    if m is None:
        return None
    event.kind = "sa_deleted"
    _addresses(event, m)
    set_spi(event, m["spi_b"])
    event.detail = f"SPI:{m['spi_a']}/{m['spi_b']}"
    return event


def deleted_spis(event: Event) -> list[str]:
    """Both SPIs of a PAN-OS sa_deleted event, canonical ("0x%08X"); [] if unreadable."""
    spis = []
    for text in (event.detail or "").removeprefix("SPI:").split("/"):
        probe = Event("", None, None, 0, "")
        set_spi(probe, text)
        if probe.spi:
            spis.append(probe.spi)
    return spis


# Mnemonic -> recogniser of the text after the tag.
_BY_MNEMONIC: dict[str, Handler] = {
    "RECVD_PKT_INV_SPI": _decaps,
    "402101": _decaps,
    "402114": _asa_packet("invalid_spi"),
    "402116": _asa_policy,
    "402117": _simple("not_ipsec", _ASA_NON_IPSEC),
    "402119": _asa_packet("replay_error"),
    "402120": _asa_packet("mac_error"),
    "IKMP_NO_SA": _simple("ike_no_sa", _IKMP_NO_SA),
    "PKT_REPLAY_ERR": _simple("replay_error", _REPLAY),
    "RECVD_PKT_MAC_ERR": _simple("mac_error", _MAC_ERR),
    "RECVD_PKT_NOT_IPSEC": _simple("not_ipsec", _NOT_IPSEC_ADDRESSES, after=_NOT_IPSEC),
    "SESSION_STATUS": _session,
    "STATECHANGE": _statechange,
    "104001": _asa_failover,
    "104002": _asa_failover,
    "IPACCESSLOGP": _acl(_ACL_IOS),
    "IPACCESSLOGNP": _acl(_ACL_IOS),
    "IPACCESSLOGDP": _acl(_ACL_IOS),
    "106023": _acl(_ACL_ASA),
    "106006": _acl(_ACL_ASA),
    "106007": _acl(_ACL_ASA),
    "711001": _ike_debug,
    # This box restarted: IOS %SYS-5-RESTART "System restarted --" and %SYS-5-RELOAD "Reload
    # requested by ..."; ASA/FTD 199001 (reload command), 199002 (startup completed), 199005
    # (startup begin).
    "RESTART": _box("box_reload", _IOS_SYS),
    "RELOAD": _box("box_reload", _IOS_SYS),
    "199001": _box("box_reload", _ASA_SYS),
    "199002": _box("box_reload", _ASA_SYS),
    "199005": _box("box_reload", _ASA_SYS),
    # This box short of resources: %SYS-2-MALLOCFAIL, %SYS-3-CPUHOG (Cisco 15093),
    # %IOSXE_QFP-2-LOAD_EXCEED (the forwarding processor over its load threshold).
    "MALLOCFAIL": _box("box_resources", _IOS_SYS),
    "CPUHOG": _box("box_resources", _IOS_SYS),
    "LOAD_EXCEED": _box("box_resources", frozenset({"IOSXE_QFP"})),
}

# ACL log tags: a line of theirs makes an event only for a deny of IKE, ESP or AH (kb/markers.py
# reads the others only when their deny says so); every other mnemonic read is in MNEMONICS.
ACL_MNEMONICS = frozenset({"IPACCESSLOGP", "IPACCESSLOGNP", "IPACCESSLOGDP"})
ACL_MNEMONICS |= {"106023", "106006", "106007"}
MNEMONICS = tuple(sorted(set(_BY_MNEMONIC) - ACL_MNEMONICS))

# Untagged formats: (phrase that must appear, platform, recogniser), tried in this order.
_UNTAGGED: tuple[tuple[str, str, Handler], ...] = (
    ("delete notify", "ios", _ike_debug),
    ("invalid spi", "ios", _ike_debug),
    ("invalid_spi", "ios", _ike_debug),
    ("pfkey", "asa", _ike_debug),
    ("pkt [", "asa", _ike_debug),
    ("deleted sa:", "panos", _panos_deleted),
    ("can't find sa", "panos", _simple("invalid_spi", _PANOS)),
    ("bad spi", "screenos", _simple("invalid_spi", _SCREENOS)),
    (
        "replay packet detected",
        "screenos",
        _simple("replay_error", _SCREENOS_REPLAY, after=_SCREENOS_REPLAY_PHRASE),
    ),
    ("#pkts", "ios", transcripts.sa_counter),
    ("crypto endpt", "ios", transcripts.sa_endpoints),
    # an operator's session pasted with the log (kb/transcripts.py)
    ("drop-reason:", "asa", transcripts.capture_drop),
    ("invalid spi (", "asa", transcripts.drop_counter),
    ("_spi", "ios", transcripts.drop_counter),
    ("cle", "ios", transcripts.operator_clear),
    ("diag", "fortigate", transcripts.operator_clear),
    ("nat", "ios", transcripts.nat_translation),
    ("-process=", "ios", transcripts.process_note),
)

# What a line without a tag must hold to be read at all (the property tests build text without
# them and expect no event).
UNTAGGED_PHRASES = tuple(phrase for phrase, _, _ in _UNTAGGED)

# Any of these in a line makes it worth a full look; kb/markers.py finds them in one pass, and
# reads lines of the two noisiest families (ASA/FTD/PIX, IOS ACL denies) only when they could
# make an event. Permitted packets are most of an ACL log and never matter: no marker at all.
MARKER_TAGS = (
    rb"%(?:CRYPTO|ASA|FTD|PIX|HSRP|VRRP|SEC-6-IPACCESSLOG[A-Z]*+: list \S++ denied"
    rb"|SYS-\d-(?:RESTART|RELOAD|MALLOCFAIL|CPUHOG)|IOSXE_QFP-\d-LOAD_EXCEED)"
)
# Every untagged format names SPI or ESP in upper case.
MARKER_WORDS = (b"SPI", b"ESP")
# Lines with neither a tag nor SPI/ESP that still bear on a diagnosis, found by plain search:
# FortiGate HA events (log id subtype 08), tunnel up/down and denied IKE/ESP traffic.
MARKER_LITERALS = (
    b'logid="0108',
    b"logid=0108",
    b"subtype=ha",
    b'subtype="ha"',
    b"tunnel-up",
    b"tunnel-down",
    b"local-in-policy",
    b"dstport=500 ",
    b"dstport=4500 ",
    b"proto=50 ",
    # an operator's session: clears typed at a prompt, NAT debugs, the process of a %SYS error
    b"clear cr",
    b"clea cr",
    b"cle cr",
    b"clear vpn ",
    b"vpn tunnel ",
    b"vpn tun ",
    b"vpn ike gateway ",
    b"NAT: s=",
    b"NAT*: s=",
    b"-Process=",
    # `show crypto ipsec sa` counters
    b"#pkts replay failed",
    b"#pkts invalid sa",
    b"crypto endpt.",
)

# Hand-copied lines break after these words; the next line finishes the message.
_WRAP_END = re.compile(r"(?:\bfor|\bpacket|\bspi|,)$", re.I)
JOINABLE = frozenset(
    {"RECVD_PKT_INV_SPI", "402101", "402114", "402116", "402119", "402120", "RECVD_PKT_MAC_ERR"}
    | {"RECVD_PKT_NOT_IPSEC", "IKMP_NO_SA"}
)


# The lines of an invalid-SPI storm as devices print them, each read in one match: most events
# of a big log are these. The shortcut takes a line only when its first "%" starts one of them
# whole, with IPv4 addresses, an SPI of eight upper-case hex digits and a decimal that agrees;
# anything else goes to the recognisers, whose events it must equal (tests/test_scan_parity.py
# compares the two on every input, tests/test_recognise.py on the shapes at its edges).
_IPV4 = r"(?:\d{1,3}+\.){3}\d{1,3}+"
_SHORTCUT = re.compile(
    r"(?P<tag>%CRYPTO-4-RECVD_PKT_INV_SPI): decaps: rec'd IPSEC packet has invalid spi for "
    rf"destaddr=(?P<local>{_IPV4}), prot=(?P<prot>50|51), spi=(?P<hex>0x[0-9A-F]{{8}})"
    rf"\((?P<dec>\d{{1,10}}+)\), srcaddr=(?P<peer>{_IPV4})"
    r"(?:, input interface=(?P<iface>[^\s,]++))?$"
    r"|(?P<asa>%(?P<facility>ASA|FTD)-4-(?P<mnemonic>402114|402119|402120)): IPSEC: "
    rf"Received an? (?P<proto>ESP|AH) packet \(SPI=(?P<ahex>0x[0-9A-F]{{8}}), sequence "
    rf"number=(?:0x)?[0-9A-Za-z]++\) from (?P<apeer>{_IPV4}) to (?P<alocal>{_IPV4})(?: |$)"
)
_SHORTCUT_KINDS = {"402114": "invalid_spi", "402119": "replay_error", "402120": "mac_error"}


def _shortcut(line: str, number: int) -> Event | None:
    start = line.find("%")
    m = _SHORTCUT.match(line, start) if start != -1 else None
    if m is None:
        return None
    time, device = read_prefix(line[:start]) if start else (None, None)
    if m["tag"] is not None:
        spi = m["hex"]
        decimal = int(m["dec"])
        if decimal > SPI_MAX or decimal != int(spi, 16):
            return None  # the recogniser says what does not add up
        return Event(
            "invalid_spi", "ios", m["tag"], number, line, peer=canonical_ip(m["peer"]),
            local=canonical_ip(m["local"]), spi=spi, spi_decimal=decimal, spi_consistent=True,
            protocol=PROTOCOLS[m["prot"]], interface=m["iface"], device=device, time=time,
        )  # fmt: skip
    return Event(
        _SHORTCUT_KINDS[m["mnemonic"]], _PLATFORMS[m["facility"]], m["asa"], number, line,
        peer=canonical_ip(m["apeer"]), local=canonical_ip(m["alocal"]), spi=m["ahex"],
        protocol=m["proto"].lower(), device=device, time=time,
    )  # fmt: skip


# The same lines as the scanner meets them, before clean_line: one match of the whole line, the
# framing included, takes a line only if clean_line would leave it as it is (printable ASCII,
# none of & < ` in it, no space around "=", none at its ends) but for the "= " of ASA's
# "(SPI= 0x..., sequence number= 0x...)", which it closes up. The framings are those read_prefix
# reads first (`logging buffered`, a collector's ISO time and host, with spaces for \s), and the
# first with a syslog PRI and sequence number in front, which read_prefix's full grammar reads as
# the same time and no device. What the match does not take, recognise() reads as before
# (tests/test_scan_parity.py holds the two to the same events, and to read_prefix's framing).
_PRINTABLE = r"[ -%'-;>-_a-~]"  # printable ASCII but for & < = `
_WORD = r"[!-%'-+\--;>-_a-~]"  # ... and for space and ","


def _spaced(pattern: str) -> str:
    return pattern.replace("\\s", " ")


_FAST = re.compile(
    rf"(?:(?:<\d{{1,3}}+>\d++: )?[*.]?(?P<stamp>{_spaced(STAMP)}):? *+"
    rf"|(?P<iso>{_spaced(ISO)}) ++(?P<host>{HOST}) ++)?"
    r"(?:(?P<tag>%CRYPTO-4-RECVD_PKT_INV_SPI): decaps: rec'd IPSEC packet has invalid spi for "
    rf"destaddr=(?P<local>{_IPV4}), prot=(?P<prot>50|51), spi=(?P<hex>0x[0-9A-F]{{8}})"
    rf"\((?P<dec>\d{{1,10}}+)\), srcaddr=(?P<peer>{_IPV4})"
    rf"(?:, input interface=(?P<iface>{_WORD}++))?"
    r"|(?P<asa>%(?P<facility>ASA|FTD)-4-(?P<mnemonic>402114|402119|402120)): IPSEC: "
    rf"Received an? (?P<proto>ESP|AH) packet \(SPI= ?(?P<ahex>0x[0-9A-F]{{8}}), sequence "
    rf"number= ?(?:0x)?[0-9A-Za-z]++\) from (?P<apeer>{_IPV4}) to (?P<alocal>{_IPV4})"
    rf"(?: {_PRINTABLE}*+(?<! ))?)\Z",
    re.ASCII,
)
_FAST_GROUPS = (
    "stamp", "iso", "host", "tag", "local", "prot", "hex", "dec", "peer", "iface", "asa",
    "facility", "mnemonic", "proto", "ahex", "apeer", "alocal",
)  # fmt: skip
_FAST_INDEX = [_FAST.groupindex[name] for name in _FAST_GROUPS]
# What fast_line's events hold, in the order kb/_lines.c (the same reading in C) takes them.
FAST_WORDS = (
    *(_SHORTCUT_KINDS[m] for m in ("402114", "402119", "402120")),
    "ios",
    _PLATFORMS["ASA"],
    _PLATFORMS["FTD"],
    PROTOCOLS["50"],
    PROTOCOLS["51"],
    "%CRYPTO-4-RECVD_PKT_INV_SPI",
)


def fast_line(text: str, number: int) -> Event | None:
    """recognise(clean_line(text), number) for the commonest invalid-SPI lines as read, before
    clean_line; None for any other line (which recognise() reads as before)."""
    m = _FAST.match(text)
    if m is None:
        return None
    time, iso, host, tag, local, prot, spi, dec, peer, iface, asa, facility, mnemonic, proto, \
        ahex, apeer, alocal = m.group(*_FAST_INDEX)  # fmt: skip
    if iso is not None:
        time = iso
    if tag is not None:
        decimal = int(dec)
        if decimal > SPI_MAX or decimal != int(spi, 16):
            return None  # the recogniser says what does not add up
        return new_event(
            "invalid_spi", "ios", tag, number, text, canonical_ip(peer), canonical_ip(local),
            spi, decimal, True, PROTOCOLS[prot], iface, host, time,
        )  # fmt: skip
    return new_event(
        _SHORTCUT_KINDS[mnemonic], _PLATFORMS[facility], asa, number,
        text.replace("= ", "=") if "= " in text else text,
        canonical_ip(apeer), canonical_ip(alocal), ahex, None, None, proto.lower(), None, host,
        time,
    )  # fmt: skip


def recognise(line: str, number: int) -> Event | None:
    """The event a cleaned log line holds, or None."""
    return _shortcut(line, number) or recognise_each(line, number)


def recognise_each(line: str, number: int) -> Event | None:
    """recognise() without the shortcut: the recogniser of the line's tag or phrase."""
    tag = TAG.search(line)
    if tag is not None:
        handler = _BY_MNEMONIC.get(tag["mnemonic"])
        if handler is None:
            return None
        event = Event("", _PLATFORMS.get(tag["facility"], "ios"), tag["tag"], number, line)
        if handler(event, line, tag.end()) is None:
            return None
        if start := tag.start():
            event.time, event.device = read_prefix(line[:start])
        return event
    lowered = line.lower()
    if "logid=" in lowered or "log_id=" in lowered or "logdesc=" in lowered:
        return fortigate.recognise(line, number)
    for phrase, platform, handler in _UNTAGGED:
        at = lowered.find(phrase)
        if at != -1:
            event = Event("", platform, None, number, line)
            if handler(event, line, 0) is not None:
                event.time = event.time or find_time(line[:at])
                return event
    return None


def cut_short(line: str) -> bool:
    """Whether a line not read whole is the first half of a wrapped message: it ends in
    'for', 'packet', 'spi' or ',' and carries the tag of a message that gets wrapped."""
    if _WRAP_END.search(line) is None:
        return False
    tag = TAG.search(line)
    return tag is not None and tag["mnemonic"] in JOINABLE
