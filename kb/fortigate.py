"""FortiGate key=value logs: the unknown-SPI event and the events that explain it.

    date=2024-08-13 time=20:08:54 logid="0101037131" type="event" subtype="vpn" ...
      remip=... locip=... remport=4500 vpntunnel="N/A" error_num="Received ESP packet with
      unknown SPI." spi="2c65ad60"                      (Fortinet 199842, 249721)
    logid="0108037892" logdesc="Virtual cluster member state moved" ha_role="primary"
                                                         (HA, Fortinet 339687)
    logid=0101037138 action="tunnel-down" logdesc="IPsec connection status changed"
    logid="0001000014" type="traffic" subtype="local" action="deny"
      policytype="local-in-policy" srcip=... dstport=500 proto=17   (Fortinet 196654, 426227)

A log id is type (2 digits), subtype (2) and message id (6): 01 01 037131 is an event of the
VPN subtype, 01 08 037892 an event of the HA subtype.
"""

from __future__ import annotations

import re

from kb.events import PROTOCOLS, Event, canonical_ip, set_spi

# A key starts where a word starts, or findall would rescan a long word from each character.
_FIELD = re.compile(r"""(?<!\w)(\w++)=(?:"([^"]*+)"|'([^']*+)'|(\S++))""")
IKE_PORTS = frozenset({"500", "4500"})
NO_TUNNEL = "N/A"
_HA_SUBTYPE = "08"
# HA messages that mean a unit took over or lost its mate (logdesc or msg, lower case).
_HA_TAKEOVER = ("state moved", "member dead", "became master", "became primary")
_HA_HEARTBEAT_LOST = ("down", "lost", "fail")
_PROTOCOL_NUMBERS = {"17": "udp", "50": "esp", "51": "ah"}


def fields(line: str) -> dict[str, str]:
    """Every key=value of a FortiGate line, keys in lower case."""
    return {k.lower(): a or b or c for k, a, b, c in _FIELD.findall(line)}


def recognise(line: str, number: int) -> Event | None:
    """The event of a FortiGate log line, or None for lines that do not bear on IPsec."""
    found = fields(line)
    for handler in (_unknown_spi, _ha, _tunnel_status, _local_in_deny):
        event = handler(found, line, number)
        if event is not None:
            _frame(event, found)
            return event
    return None


def _frame(event: Event, found: dict[str, str]) -> None:
    event.device = event.device or found.get("devname")
    if "date" in found and "time" in found:
        event.time = f"{found['date']} {found['time']}"


def _logid(found: dict[str, str]) -> str:
    return found.get("logid") or found.get("log_id") or ""


def _unknown_spi(found: dict[str, str], line: str, number: int) -> Event | None:
    # error_num="Received ESP packet with unknown SPI." (exports do not always quote it)
    if "unknown spi" not in line.lower():
        return None
    event = Event("invalid_spi", "fortigate", _logid(found) or None, number, line)
    event.peer = _ip(found.get("remip"))
    event.local = _ip(found.get("locip"))
    event.protocol = "esp"
    event.interface = found.get("outintf")
    set_spi(event, found.get("spi"))
    # Which tunnel owns the SPI ("N/A": none) and the remote port, as the box printed them.
    shown = [f"{key}={found[key]}" for key in ("vpntunnel", "remport") if found.get(key)]
    event.detail = " ".join(shown) or None
    return event


def tunnel_and_port(event: Event) -> tuple[str | None, str | None]:
    """(vpntunnel, remport) of a FortiGate unknown-SPI event, as printed; Nones if absent."""
    if event.platform != "fortigate" or not event.detail:
        return None, None
    shown = dict(part.split("=", 1) for part in event.detail.split(" ") if "=" in part)
    return shown.get("vpntunnel"), shown.get("remport")


def _ha(found: dict[str, str], line: str, number: int) -> Event | None:
    logid = _logid(found)
    is_ha = found.get("subtype") == "ha" or (len(logid) == 10 and logid[2:4] == _HA_SUBTYPE)
    if not is_ha:
        return None
    said = f"{found.get('logdesc', '')} {found.get('msg', '')}".lower()
    lost_heartbeat = "heartbeat" in said and any(w in said for w in _HA_HEARTBEAT_LOST)
    if not (lost_heartbeat or any(phrase in said for phrase in _HA_TAKEOVER)):
        return None
    event = Event("ha_failover", "fortigate", logid or None, number, line)
    what = found.get("logdesc") or found.get("msg") or "HA event"
    unit = found.get("hostname") or found.get("sn")
    role = found.get("ha_role")
    event.detail = what + (f" ({unit}: {role})" if unit and role else "")
    event.device = found.get("hostname")
    event.interface = found.get("devintfname")
    return event


def _tunnel_status(found: dict[str, str], line: str, number: int) -> Event | None:
    action = found.get("action", "").lower()
    if action not in ("tunnel-up", "tunnel-down"):
        return None
    event = Event("tunnel_status", "fortigate", _logid(found) or None, number, line)
    event.peer = _ip(found.get("remip"))
    event.local = _ip(found.get("locip"))
    event.interface = found.get("outintf")
    event.detail = action.removeprefix("tunnel-").upper()
    return event


def _local_in_deny(found: dict[str, str], line: str, number: int) -> Event | None:
    """A local-in policy (or the implicit local deny) dropping IKE or ESP to the box, or a
    forwarding policy dropping it on its way between the peers."""
    if found.get("action") != "deny":
        return None
    if found.get("policytype") != "local-in-policy" and found.get("type") != "traffic":
        return None
    proto = _PROTOCOL_NUMBERS.get(found.get("proto", ""), found.get("proto", "").lower())
    sport, dport = found.get("srcport"), found.get("dstport")
    if proto == "udp" and not ({sport, dport} & IKE_PORTS):
        return None
    if proto not in ("udp", "esp", "ah"):
        return None
    event = Event("acl_deny", "fortigate", _logid(found) or None, number, line)
    # The denied packet came from the remote end, so its source is the peer.
    event.peer = _ip(found.get("srcip"))
    event.local = _ip(found.get("dstip"))
    event.protocol = PROTOCOLS.get(proto)
    event.interface = found.get("srcintf")
    ports = "/".join(p for p in (sport, dport) if p)
    policy = found.get("policyid")
    event.detail = f"{proto} {ports}".strip() + (f" (local-in policy {policy})" if policy else "")
    return event


def _ip(text: str | None) -> str | None:
    return canonical_ip(text) if text else None
