"""Lines of an operator's session pasted beside the log: commands typed at a prompt, `show`
counters, packet-capture drop reasons and debugs. Each recogniser reads one cleaned line from
its start (or from a literal found first) and fills in the event; every run is possessive.

    HQ#clear cry sa                                   an operator's clear (IOS abbreviations)
    asa-hq# clear crypto ipsec sa peer 198.51.100.17
    73: 13:25:40.553224 203.0.113.88 > 192.0.2.14: ip-proto-50, length 100 Drop-reason:
        (np-sp-invalid-spi) Invalid SPI               ASA `capture ... type asp-drop`
      Invalid SPI (np-sp-invalid-spi)           18895 ASA `show asp drop`
    4 IN_US_V4_PKT_SA_NOT_FOUND_SPI 64574             IOS-XE QFP IPsec drops (TAC 115801)
    NAT*: s=10.1.1.10->203.0.113.5, d=10.2.2.20 [6827]    IOS `debug ip nat`
     -Process= "Crypto IKMP", ipl= 0, pid= 214        the process named under a %SYS error
"""

from __future__ import annotations

import re

from kb.events import Event, canonical_ip

_V4 = r"\d{1,3}+(?:\.\d{1,3}+){3}+"
# An address as kb.formats reads it: runs of separators and hex digits, alternating.
_ADDR = r"\[?[:.]*+[0-9A-Fa-f]++(?:[:.]++[0-9A-Fa-f]++)*+\]?"
_DETAIL_CHARS = 120

# A prompt (host, optional mode, # or >), then a clear of IPsec or IKE state: IOS and ASA
# (`cle`/`clea`/`clear`, `cr` ... `crypto`, then what), PAN-OS `clear vpn ipsec-sa|ike-sa`,
# FortiGate `diag[nose] vpn tun[nel] flush|down|reset` and `diag vpn ike gateway clear|flush`.
_CLEAR = re.compile(
    r"\s*+(?:[A-Za-z0-9][\w.()/@:-]*+)?\s*+[#>]\s*+(?:do\s++)?"
    r"(?P<cmd>(?P<cisco>cle(?:ar?)?\s++cr(?:y(?:p(?:to?)?)?)?\s++[a-z][\w-]*+)"
    r"|(?P<panos>clear\s++vpn\s++(?:ipsec-sa|ike-sa))"
    r"|(?P<forti>diag(?:nose)?\s++vpn\s++(?:tun(?:nel)?\s++(?:flush|down|reset)"
    r"|ike\s++gateway\s++(?:clear|flush))))",
    re.I,
)
_CLEAR_PEER = re.compile(rf"(?:peer|remote)\s++(?P<peer>{_ADDR})", re.I)

# "<n>: <time> <src>[.port] > <dst>[.port]: ..." up to the destination; the drop reason is
# read from its literal.
_CAPTURE = re.compile(
    rf"\s*+\d++:\s++(?P<time>\d\d:\d\d:\d\d(?:\.\d++)?)\s++(?P<peer>{_V4})(?:\.\d++)?"
    rf"\s++>\s++(?P<local>{_V4})(?:\.(?P<dport>\d++))?:"
)
_DROP_REASON = re.compile(r"Drop-reason:\s*+\((?P<reason>[\w-]++)\)", re.I)
# "  Invalid SPI (np-sp-invalid-spi)     18895"
_ASP_COUNTER = re.compile(r"\s*+(?P<label>[^()]*+)\((?P<reason>[\w-]++)\)\s++(?P<count>\d++)\s*+$")
# "4 IN_US_V4_PKT_SA_NOT_FOUND_SPI 64574"
_QFP_COUNTER = re.compile(r"\s*+(?:\d++\s++)?(?P<reason>[A-Z0-9_]++)\s++(?P<count>\d++)\s*+$")
_NAT = re.compile(
    rf"NAT\*?:\s*+s=(?P<src>{_V4})(?:->(?P<src_to>{_V4}))?,\s*+d=(?P<dst>{_V4})"
    rf"(?:->(?P<dst_to>{_V4}))?"
)
_PROCESS = re.compile(r'-Process=\s*+"(?P<process>[^"]*+)"', re.I)


def operator_clear(event: Event, line: str, pos: int) -> Event | None:
    """A clear of IPsec/IKE state typed at a prompt; the peer when the command names one."""
    m = _CLEAR.match(line)
    if m is None:
        return None
    event.kind = "operator_clear"
    event.platform = "panos" if m["panos"] else "fortigate" if m["forti"] else event.platform
    command = line[m.start("cmd") : m.start("cmd") + _DETAIL_CHARS].strip()
    if m["cisco"] and " ipsec " in f" {command.lower()} ":
        event.platform = "asa"  # `clear crypto ipsec sa` is the ASA's form; IOS has `crypto sa`
    event.detail = command
    peer = _CLEAR_PEER.search(command)
    event.peer = canonical_ip(peer["peer"]) if peer else None
    return event


def capture_drop(event: Event, line: str, pos: int) -> Event | None:
    """A packet the ASA dropped for an invalid SPI (`capture NAME type asp-drop`)."""
    at = line.find("Drop-reason:")
    reason = _DROP_REASON.match(line, at) if at != -1 else None
    if reason is None or "spi" not in reason["reason"].lower():
        return None
    m = _CAPTURE.match(line)
    if m is None:
        return None
    event.kind = "invalid_spi"
    event.peer, event.local = canonical_ip(m["peer"]), canonical_ip(m["local"])
    event.protocol = "esp" if "ip-proto-50" in line or m["dport"] == "4500" else None
    event.time = m["time"]
    event.detail = f"capture drop ({reason['reason']})"
    return event


def drop_counter(event: Event, line: str, pos: int) -> Event | None:
    """A non-zero drop counter for packets with an unknown SPI: ASA `show asp drop`, IOS-XE
    `show platform hardware qfp active feature ipsec datapath drops`."""
    m = _ASP_COUNTER.match(line)
    if m is not None and "invalid spi" in m["label"].lower():
        label = f"{m['label'].strip()} ({m['reason']})"
    else:
        m = _QFP_COUNTER.match(line)
        if m is None or "SPI" not in m["reason"]:
            return None
        label = m["reason"]
    count = int(m["count"][:18])
    if count == 0:
        return None
    event.kind = "drop_counter"
    event.detail = f"{label} {count}"
    return event


# `show crypto ipsec sa` (IOS, ASA, PIX): "#pkts replay failed (rcv): 9316",
# "#pkts no sa (send): 0, #pkts invalid sa (rcv): 212"
_SA_COUNTER = re.compile(r"#pkts (?P<name>replay failed|invalid sa) \(rcv\):\s*+(?P<count>\d++)")


def sa_counter(event: Event, line: str, pos: int) -> Event | None:
    """A non-zero receive-error counter of `show crypto ipsec sa`: anti-replay failures, or
    packets on an SA this box does not have."""
    at = line.find("#pkts replay failed")
    if at == -1:
        at = line.find("#pkts invalid sa")
    m = _SA_COUNTER.match(line, at) if at != -1 else None
    if m is None or int(m["count"][:18]) == 0:
        return None
    event.kind = "drop_counter"
    event.detail = f"{m['name']} (rcv) {int(m['count'][:18])}"
    return event


# `show crypto ipsec sa`: "local crypto endpt.: 192.0.2.33, remote crypto endpt.: 198.51.100.62"
# (PIX and IOS; the ASA adds "/0" ports)
_ENDPOINTS = re.compile(
    rf"local crypto endpt\.:\s*+(?P<local>{_ADDR})(?:/\d++)?,\s*+"
    rf"remote crypto endpt\.:\s*+(?P<peer>{_ADDR})(?:/\d++)?",
    re.I,
)


def sa_endpoints(event: Event, line: str, pos: int) -> Event | None:
    """The two ends of an SA in `show crypto ipsec sa`: this box and its peer."""
    at = line.lower().find("local crypto endpt")
    m = _ENDPOINTS.match(line, at) if at != -1 else None
    if m is None:
        return None
    event.kind = "sa_endpoints"
    event.peer, event.local = canonical_ip(m["peer"]), canonical_ip(m["local"])
    return event if event.peer and event.local else None


def counter_value(event: Event) -> int:
    """The count of a drop_counter event (its detail ends with it)."""
    return int((event.detail or "0").rsplit(" ", 1)[-1])


def _nat(line: str) -> re.Match | None:
    """The first `NAT: s=...` of a line: each "NAT" found by plain search, read from there."""
    at = line.find("NAT")
    while at != -1:
        m = _NAT.match(line, at)
        if m is not None:
            return m
        at = line.find("NAT", at + 3)
    return None


def nat_translation(event: Event, line: str, pos: int) -> Event | None:
    """`debug ip nat`: an address translated on its way in or out (Cisco's debug reference)."""
    m = _nat(line)
    if m is None or not (m["src_to"] or m["dst_to"]):
        return None
    event.kind = "nat_translation"
    src = m["src"] + (f"->{m['src_to']}" if m["src_to"] else "")
    dst = m["dst"] + (f"->{m['dst_to']}" if m["dst_to"] else "")
    event.detail = f"s={src} d={dst}"
    return event


def nat_addresses(event: Event) -> tuple[str, str, str] | None:
    """(inside host, what it was translated to, the host at the other end) of a
    nat_translation event, in either direction; None if it is not one."""
    m = _nat(event.text)
    if m is None:
        return None
    if m["src_to"]:
        return m["src"], m["src_to"], m["dst"]
    return m["dst_to"], m["dst"], m["src"]


def process_note(event: Event, line: str, pos: int) -> Event | None:
    """The ` -Process= "Crypto IKMP", ipl= 0, pid= 214` line under a %SYS error."""
    at = line.find("-Process=")
    m = _PROCESS.match(line, at) if at != -1 else None
    if m is None:
        return None
    event.kind = "box_resources"
    event.detail = f'process "{m["process"][:_DETAIL_CHARS]}"'
    return event
