"""ASA/FTD `show vpn-sessiondb l2l [filter ipaddress X]` and `show vpn-sessiondb detail l2l`:
the LAN-to-LAN sessions the box holds, as Tunnels and (detail) IkeSas.

The summary form prints per connection `Connection : NAME-OR-ADDRESS`, `Index : N  IP Addr :
ADDRESS`, `Protocol : IKEv2 IPsec`, `Encryption`, `Hashing`, `Bytes Tx/Rx`, `Login Time`,
`Duration`: one Tunnel per connection (peer = IP Addr, else Connection when it is an address;
name = Connection; status "up", since the database lists established sessions only).

The detail form adds `IKEv2 Tunnels: 1`, `IPsec Tunnels: 2` (`IKE Sessions: 1 IPSec Sessions:
2` on old releases) and sections `IKE:` / `IKEv1:` / `IKEv2:` (each an IkeSa: version,
`Rekey Int (T)` as the lifetime, `Rekey Left(T)` as the time left, state "up") and `IPsec:` /
`IPsecOverNatT:` (each a Tunnel of its own, as IOS prints one per proxy pair: `Local Addr` and
`Remote Addr` are the protected networks, `PFS Group`, `Rekey Int (T)` / `Rekey Left(T)` the
phase-2 lifetime and time left, bytes and packets as counters). A connection with no IPsec
section keeps the one Tunnel of the summary form. Sections other than these (`NAC:`) are not
read. No SPI and no local address are printed: `local` stays None.

Sources: ntc-templates tests/cisco_asa/show_vpn-sessiondb_detail_l2l/*.raw (ASA 7 to 9.x),
templates cisco_asa_show_vpn-sessiondb_detail_l2l.textfsm; Cisco ASA command reference
(show vpn-sessiondb); published `show vpn-sessiondb l2l` outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kb.state.ciscotext import address_port, leading_int
from kb.state.ciscotext import field as column
from kb.state.commands import Command, register
from kb.state.model import IkeSa, Line, StateBlock, Tunnel


@dataclass
class _Connection:
    tunnel: Tunnel  # the summary Tunnel; replaced by one per IPsec section in detail
    ipsec: list[Tunnel] = field(default_factory=list)
    ike: IkeSa | None = None
    announced: int | None = None  # "IPsec Tunnels: N"
    announced_line: Line | None = None
    port: tuple[int, Line] | None = None  # both UDP ports of the IKE section, when equal


@dataclass
class _Reader:
    block: StateBlock
    conn: _Connection | None = None
    section: str | None = None  # "ike", "ipsec" or "other"
    ike_version: int | None = None  # from Protocol, for an `IKE:` section
    current: Tunnel | IkeSa | None = None


def parse(lines: list[Line], block: StateBlock) -> None:
    reader = _Reader(block)
    for line in lines:
        text = line.text.strip()
        if text:
            _read(reader, line, text)
    _close(reader)


def _read(r: _Reader, line: Line, text: str) -> None:
    if text.startswith("Connection") and column(text, "Connection") is not None:
        _close(r)
        _open(r, line, text)
        return
    if r.conn is None:
        return
    if _section_header(r, line, text):
        return
    if r.section is None:
        _connection_field(r, line, text)
    elif r.section == "ike":
        _ike_field(r, line, text)
    elif r.section == "ipsec":
        _ipsec_field(r, line, text)


def _open(r: _Reader, line: Line, text: str) -> None:
    name = column(text, "Connection") or None
    tunnel = Tunnel(peer=address_port(name)[0] if name else None, local=None, line=line)
    tunnel.name = name
    tunnel.status = "up"
    tunnel.where["status"] = line
    if tunnel.peer:
        tunnel.where["peer"] = line
    r.conn = _Connection(tunnel)
    r.section = None
    r.ike_version = None
    r.current = None


def _connection_field(r: _Reader, line: Line, text: str) -> None:
    conn = r.conn
    assert conn is not None
    tunnel = conn.tunnel
    address = column(text, "IP Addr", one_word=True)
    if address is not None:
        peer = address_port(address)[0]
        if peer is not None:
            tunnel.peer = peer
            tunnel.where["peer"] = line
        elif tunnel.peer is None:
            r.block.problems.append(
                f"line {line.number}: IP Addr '{address[:60]}' is not an address (a name?)"
            )
    protocol = column(text, "Protocol")
    if protocol:
        first = protocol.split(" ", 1)[0].lower()
        r.ike_version = {"ikev1": 1, "ike": 1, "ikev2": 2}.get(first)
    _bytes(tunnel, line, text)
    # "IPsec Tunnels: 2", "IPsecOverNatT Tunnels: 2"; ASA 7: "IKE Sessions: 1 IPSec Sessions: 2"
    label = "Tunnels" if text.lower().startswith("ipsec") else "IPSec Sessions"
    count = leading_int(column(text, label, one_word=True))
    if count is not None:
        conn.announced = count
        conn.announced_line = line


def _bytes(tunnel: Tunnel, line: Line, text: str) -> None:
    for label, name in (
        ("Bytes Tx", "bytes_tx"),
        ("Bytes Rx", "bytes_rx"),
        ("Pkts Tx", "pkts_tx"),
        ("Pkts Rx", "pkts_rx"),
    ):
        value = leading_int(column(text, label, one_word=True))
        if value is not None:
            tunnel.counters[name] = value
            tunnel.where[name] = line


def _section_header(r: _Reader, line: Line, text: str) -> bool:
    """`IKEv2:`, `IPsec:`, `IPsecOverNatT:`, `NAC:`: one word and a colon."""
    if not text.endswith(":") or " " in text:
        return False
    name = text[:-1].lower()
    conn = r.conn
    assert conn is not None
    if name.startswith("ipsec"):
        r.section = "ipsec"
        tunnel = Tunnel(peer=conn.tunnel.peer, local=None, line=line)
        tunnel.name, tunnel.status = conn.tunnel.name, "up"
        tunnel.where.update({k: v for k, v in conn.tunnel.where.items() if k in ("peer", "status")})
        tunnel.where["section"] = line
        if conn.port is not None:
            tunnel.peer_port = conn.port[0]
            tunnel.where["peer_port"] = conn.port[1]
        conn.ipsec.append(tunnel)
        r.current = tunnel
    elif name.startswith("ike"):
        r.section = "ike"
        # `IKE:` is what releases before IKEv2 support (8.4) printed: IKEv1.
        version = {"ike": 1, "ikev1": 1, "ikev2": 2}.get(name, r.ike_version)
        sa = IkeSa(peer=conn.tunnel.peer, local=None, version=version, state="up", line=line)
        if "peer" in conn.tunnel.where:
            sa.where["peer"] = conn.tunnel.where["peer"]
        sa.where["state"] = line
        conn.ike = sa
        r.block.ike.append(sa)
        r.current = sa
    else:
        r.section = "other"
        r.current = None
    return True


def _rekey(target: Tunnel | IkeSa, line: Line, text: str) -> None:
    lifetime = leading_int(column(text, "Rekey Int (T)", one_word=True))
    if lifetime is not None:
        target.lifetime_seconds = lifetime
        target.where["lifetime_seconds"] = line
    left = leading_int(column(text, "Rekey Left(T)", one_word=True))
    if left is not None:
        target.remaining_seconds = left
        target.where["remaining_seconds"] = line


def _ike_field(r: _Reader, line: Line, text: str) -> None:
    sa = r.current
    conn = r.conn
    if not isinstance(sa, IkeSa) or conn is None:
        return
    _rekey(sa, line, text)
    src = column(text, "UDP Src Port", one_word=True)
    dst = column(text, "UDP Dst Port", one_word=True)
    if src and src == dst and src.isdigit() and len(src) <= 5:
        conn.port = (int(src), line)


def _ipsec_field(r: _Reader, line: Line, text: str) -> None:
    tunnel = r.current
    if not isinstance(tunnel, Tunnel):
        return
    _rekey(tunnel, line, text)
    for label, attr in (("Local Addr", "local_ident"), ("Remote Addr", "remote_ident")):
        value = column(text, label, one_word=True)
        if value:
            setattr(tunnel, attr, value)
            tunnel.where[attr] = line
    pfs = column(text, "PFS Group", one_word=True)
    if pfs:
        tunnel.pfs = True
        tunnel.dh_group = pfs
        tunnel.where["pfs"] = tunnel.where["dh_group"] = line
    _bytes(tunnel, line, text)


def _close(r: _Reader) -> None:
    conn = r.conn
    if conn is None:
        return
    r.block.tunnels.extend(conn.ipsec or [conn.tunnel])
    if conn.announced is not None and conn.announced > len(conn.ipsec):
        r.block.problems.append(
            f"line {conn.announced_line.number if conn.announced_line else 0}: connection "
            f"{conn.tunnel.name or conn.tunnel.peer}: {conn.announced} IPsec tunnels announced, "
            f"{len(conn.ipsec)} read (output cut?)"
        )
    r.conn = None


_MARKERS = ("session type: lan-to-lan", "vpn-sessiondb")

SUMMARY = register(
    Command(
        words=("show", "vpn-sessiondb", "l2l"),
        platforms=("asa", "ftd"),
        parse=parse,
        anchors=("session type: lan-to-lan",),
        markers=_MARKERS,
    )
)
DETAIL = register(
    Command(
        words=("show", "vpn-sessiondb", "detail", "l2l"),
        platforms=("asa", "ftd"),
        parse=parse,
        markers=_MARKERS,
    )
)
