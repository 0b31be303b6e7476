"""PAN-OS IPsec state: `show vpn ipsec-sa [tunnel X]`, `show vpn ike-sa [gateway X]`,
`show vpn flow [tunnel-id N | name X]`.

`show vpn ipsec-sa` (PAN-OS 8 to 11):

    GwID/client IP  TnID  Peer-Address  Tunnel(Gateway)  Algorithm  SPI(in)  SPI(out) life(Sec/KB)
    --------------  ----  ------------  ---------------  ---------  -------  -------- ------------
    1               2     198.51.100.7  tun1(gw1)        ESP/G256/  A1B2C3D4 E5F6A7B8 3210/0

    Show IPSec SA: Total 1 tunnels found. 1 ipsec sa found.

Newer releases add a `remain-time(Sec)` column: `life` is then the lifetime (`3600/Unlimited`)
and `remain-time` what is left; without that column `life` is what is left. One Tunnel per row:
peer, name (the tunnel; its gateway in parentheses dropped), the inbound Sa (SPI(in)) and the
outbound Sa (SPI(out), also current_outbound_spi), both with the row's lifetimes and the
Algorithm column as their transform. The local address is not printed: None. When the closing
line says more SAs than rows were read, that is a problem (truncated paste).

`show vpn ike-sa` prints up to four tables: `IKEv1 phase-1 SAs` (GwID, Peer-Address, Gateway
Name, Role, Mode, Algorithm, Established, Expiration, V, ST, Xt, Phase2), `IKEv1 phase-2 SAs`
(Gateway Name, TnID, Tunnel, GwID/IP, Role, Algorithm, SPI(in), SPI(out), MsgID, ST, Xt),
`IKEv2 SAs` (Gateway ID, Peer-Address, Gateway Name, Role, SN, Algorithm, Established,
Expiration, Xt, Child, ST) and `IKEv2 IPSec Child SAs` (Gateway Name, TnID, Tunnel, ID, Parent,
Role, SPI(in), SPI(out), MsgID, ST). Phase-1 and IKEv2 rows are IkeSa entries (version from the
table, role initiator/responder, state as printed, e.g. `Established`, `Mature`; lifetime =
Expiration - Established). Recent releases print IKEv1 phase-1 ST as a number (`13`) whose
meaning is not documented: state is then None, never a guess. Phase-2 and child rows are
Tunnels with their inbound/outbound SPIs and ST as the SAs' status; their peer is the
Peer-Address of the phase-1 row with the same gateway name (None when that row is absent).

`show vpn flow tunnel-id N` (also `show vpn flow name X`): a `tunnel NAME` line, then
`key: value` lines (id, type, gateway id, local ip, peer ip, inner/outer interface, state,
tunnel mtu, soft/hard lifetime, lifetime remain, latest rekey, monitor, en/decap context,
local spi, remote spi, key type, protocol, auth/enc algorithm, a `proxy-id:` sub-block with its
own local ip / remote ip, anti replay check, copy tos, error and packet counters). One Tunnel:
local/peer from `local ip`/`peer ip`, status from `state`, the proxy-id's local/remote ip as
local/remote ident. `local spi` is read as this firewall's inbound SA and `remote spi` as its
outbound SA (current_outbound_spi), the usual IKE meaning: each end chooses the SPI of the SAs
it receives on, and the peer's is "remote". No Palo Alto document found states this for this
output; match it against `show vpn ipsec-sa` SPI(in)/SPI(out) of the same box when in doubt.
The SAs carry no transform here (PAN-OS spells algorithms differently in each command, and
comparing them across commands would invent a mismatch). Counters: auth_errors,
decrypt_errors, inner_packet_warnings, replay, lifetime_expired, lifesize_expired, encaps,
decaps, encap_bytes, decap_bytes, key_acquire_requests. The `show vpn flow` summary table
(id, name, state, monitor, local-ip, peer-ip, tunnel-i/f) gives one Tunnel per row.

Sources: outputs published in the Cloudflare Magic WAN / Zscaler / VyOS interoperability guides
for PAN-OS 9.1-11 (`admin@panvm03> show vpn ike-sa gateway ...`, `admin@PA-VM> show vpn
ipsec-sa`, remain-time column, IKEv1 ST `13`), Palo Alto's LIVEcommunity articles
("Flapping IPSec Tunnel": SPIs in `show vpn ipsec-sa`; CLI commands to status and monitor an
IPsec tunnel: `show vpn flow`, `show vpn flow tunnel-id`, encap/decap counters) and the PAN-OS
CLI reference. ntc-templates ships no PAN-OS VPN template (checked).
"""

from __future__ import annotations

from kb.events import canonical_ip
from kb.state.commands import Command, register
from kb.state.model import IkeSa, Line, Sa, StateBlock, Tunnel

PLATFORM = "panos"
_NO_ADDRESS = frozenset({"0.0.0.0", "::"})
_ROLES = {"init": "initiator", "resp": "responder"}
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, 1)}
_DAYS_BEFORE = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)
_YEAR = 365 * 86400
_MAX_TOKEN = 64


def _collapsed(text: str) -> str:
    return " ".join(text.lower().split())


def _addr(text: str) -> str | None:
    address = canonical_ip(text) if len(text) <= _MAX_TOKEN else None
    return None if address in _NO_ADDRESS else address


def _spi(text: str, number: int, block: StateBlock) -> int | None:
    if 0 < len(text) <= 8 and all(c in "0123456789abcdefABCDEF" for c in text):
        return int(text, 16)
    block.problems.append(f"line {number}: SPI {text[:40]!r} is not hexadecimal")
    return None


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    text = text.strip()
    return int(text) if text.isdigit() and len(text) <= 18 else None


def _role_index(tokens: list[str], start: int) -> int | None:
    for i in range(start, len(tokens)):
        if tokens[i].lower() in _ROLES:
            return i
    return None


def _seconds(month_day: str, clock: str) -> int | None:
    """ "Jun.04", "21:09:13" -> seconds since the start of a (non-leap) year."""
    month, _, day = month_day.partition(".")
    parts = clock.split(":")
    m = _MONTHS.get(month.lower())
    if m is None or not day.isdigit() or len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    h, mi, s = (int(p) for p in parts)
    return ((_DAYS_BEFORE[m - 1] + int(day) - 1) * 24 + h) * 3600 + mi * 60 + s


def _lifetime(tokens: list[str]) -> int | None:
    """Expiration - Established, from four tokens "Jun.04 21:09:13 Jun.05 05:09:13"."""
    start, end = _seconds(tokens[0], tokens[1]), _seconds(tokens[2], tokens[3])
    if start is None or end is None:
        return None
    return end - start if end >= start else end - start + _YEAR


def _sas(
    inbound: tuple[int | None, Line],
    outbound: tuple[int | None, Line],
    protocol: str,
    transform: str | None = None,
) -> list[Sa]:
    out = []
    for direction, (spi, line) in (("inbound", inbound), ("outbound", outbound)):
        if spi is not None:
            out.append(Sa(direction, protocol, spi, line, transform=transform))
    return out


# ---- show vpn ipsec-sa ------------------------------------------------------------------------


def _ipsec_sa_row(line: Line, header: str, block: StateBlock) -> Tunnel | None:
    t = line.text.split()
    with_spis = "spi(in)" in header
    remain = "remain-time" in header
    if len(t) < (8 if with_spis else 5) + remain or not t[1].isdigit() or _addr(t[2]) is None:
        return None
    right = len(t) - remain - 3 if with_spis else len(t)
    alg = next((i for i in range(4, right) if t[i].upper().startswith(("ESP/", "AH/"))), 4)
    name = " ".join(t[3:alg]).split("(", 1)[0] or None
    algorithm = " ".join(t[alg:right]) or None
    tunnel = Tunnel(_addr(t[2]), None, line, name=name)
    if not with_spis:
        return tunnel
    protocol = "ah" if (algorithm or "").upper().startswith("AH") else "esp"
    spi_in = _spi(t[right], line.number, block)
    spi_out = _spi(t[right + 1], line.number, block)
    tunnel.sas = _sas((spi_in, line), (spi_out, line), protocol, algorithm)
    life = _int(t[right + 2].split("/", 1)[0])
    for sa in tunnel.sas:
        if remain:
            sa.lifetime_seconds, sa.remaining_seconds = life, _int(t[-1])
            sa.where["lifetime_seconds"] = line
        else:
            sa.remaining_seconds = life
        sa.where["remaining_seconds"] = line
    if spi_out is not None:
        tunnel.current_outbound_spi = spi_out
        tunnel.where["current_outbound_spi"] = line
    return tunnel


def _declared_sas(text: str) -> int | None:
    """ "Show IPSec SA: Total 2 tunnels found. 1 ipsec sa found." -> 1."""
    words = text.split()
    for i in range(1, len(words) - 2):
        if words[i + 1] == "ipsec" and words[i + 2] == "sa":
            return _int(words[i])
    return None


def parse_ipsec_sa(lines: list[Line], block: StateBlock) -> None:
    """`show vpn ipsec-sa`: one Tunnel per row (see the module docstring)."""
    header = ""
    read = 0
    for line in lines:
        low = _collapsed(line.text)
        if low.startswith(("gwid/client ip tnid", "gwid tnid")):
            header = low
            block.platform = PLATFORM
        elif "ipsec sa found" in low:
            declared = _declared_sas(low)
            block.platform = PLATFORM
            if declared is not None and declared > read:
                block.problems.append(
                    f"line {line.number}: the output lists {declared} IPsec SAs, {read} were read"
                )
        elif header and low[:1].isdigit():
            tunnel = _ipsec_sa_row(line, header, block)
            if tunnel is not None:
                block.tunnels.append(tunnel)
                read += 1


# ---- show vpn ike-sa --------------------------------------------------------------------------

_SECTIONS = (
    ("ikev1 phase-1 sas", "v1"),
    ("phase-1 sas", "v1"),
    ("ikev1 phase-2 sas", "v1-child"),
    ("ikev2 ipsec child sas", "v2-child"),
    ("ikev2 sas", "v2"),
)


def _ike_row(line: Line, section: str) -> IkeSa | None:
    t = line.text.split()
    role = _role_index(t, 3)
    peer = _addr(t[1]) if len(t) > 1 else None
    if role is None or peer is None:
        return None
    ike = IkeSa(peer, None, 1 if section == "v1" else 2, None, line)
    ike.role = _ROLES[t[role].lower()]
    tail = 8 if section == "v1" else 7
    if len(t) >= role + 3 + tail:
        times = t[-tail : -tail + 4]
        state = t[-3] if section == "v1" else t[-1]
        ike.state = None if state.isdigit() else state
        ike.lifetime_seconds = _lifetime(times)
        if ike.lifetime_seconds is not None:
            ike.where["lifetime_seconds"] = line
        if ike.state is not None:
            ike.where["state"] = line
    ike.where["gateway"] = line
    return ike


def _child_row(
    line: Line, section: str, peers: dict[str, str | None], block: StateBlock
) -> Tunnel | None:
    t = line.text.split()
    tnid = next((i for i in range(1, len(t)) if t[i].isdigit()), None)
    tail = 5 if section == "v1-child" else 4  # SPI(in) position from the right
    if tnid is None or len(t) < tnid + 2 + tail:
        return None
    gateway = " ".join(t[:tnid])
    spi_in = _spi(t[-tail], line.number, block)
    spi_out = _spi(t[-tail + 1], line.number, block)
    tunnel = Tunnel(peers.get(gateway), None, line, name=t[tnid + 1])
    state = t[-2] if section == "v1-child" else t[-1]
    tunnel.sas = _sas((spi_in, line), (spi_out, line), "esp")
    for sa in tunnel.sas:
        sa.status = None if state.isdigit() else state
    if spi_out is not None:
        tunnel.current_outbound_spi = spi_out
        tunnel.where["current_outbound_spi"] = line
    return tunnel


# Headers, rules and totals of the ike-sa tables (rows start with a GwID or a gateway name).
_NOT_ROWS = (
    "-",
    "gateway name tnid",
    "gateway id peer-address",
    "gwid/client ip",
    "gwid peer-address",
    "show ike",
    "there is no",
)


def parse_ike_sa(lines: list[Line], block: StateBlock) -> None:
    """`show vpn ike-sa`: IkeSa per phase-1/IKEv2 row, Tunnel per phase-2/child row."""
    section = None
    peers: dict[str, str | None] = {}
    for line in lines:
        low = _collapsed(line.text)
        found = next((s for prefix, s in _SECTIONS if low.startswith(prefix)), None)
        if found is not None:
            section = found
            block.platform = PLATFORM
            continue
        if section is None or not low or low.startswith(_NOT_ROWS):
            continue
        if section in ("v1", "v2"):
            ike = _ike_row(line, section)
            if ike is not None:
                block.ike.append(ike)
                name = " ".join(line.text.split()[2 : _role_index(line.text.split(), 3)])
                peers[name] = ike.peer
        else:
            tunnel = _child_row(line, section, peers, block)
            if tunnel is not None:
                block.tunnels.append(tunnel)


# ---- show vpn flow ----------------------------------------------------------------------------

_COUNTERS = {
    "authentication errors": "auth_errors",
    "decryption errors": "decrypt_errors",
    "inner packet warnings": "inner_packet_warnings",
    "replay packets": "replay",
    "when lifetime expired": "lifetime_expired",
    "when lifesize expired": "lifesize_expired",
    "encap packets": "encaps",
    "decap packets": "decaps",
    "encap bytes": "encap_bytes",
    "decap bytes": "decap_bytes",
    "key acquire requests": "key_acquire_requests",
}
_PROXY_KEYS = frozenset({"local ip", "remote ip", "protocol", "local port", "remote port"})


class _Flow:
    """One `tunnel NAME` entry of `show vpn flow tunnel-id N`, key by key."""

    def __init__(self, line: Line, name: str | None) -> None:
        self.tunnel = Tunnel(None, None, line, name=name)
        self.values: dict[str, tuple[str, Line]] = {}
        self.in_proxy = False

    def add(self, key: str, value: str, line: Line) -> None:
        t = self.tunnel
        if key == "proxy-id":
            self.in_proxy = True
            return
        if self.in_proxy and key in _PROXY_KEYS:
            if key in ("local ip", "remote ip"):
                field = "local_ident" if key == "local ip" else "remote_ident"
                setattr(t, field, value)
                t.where[field] = line
            return
        self.in_proxy = False
        if key in _COUNTERS:
            number = _int(value)
            if number is not None:
                t.counters[_COUNTERS[key]] = number
        elif key not in self.values:
            self.values[key] = (value, line)

    def finish(self, block: StateBlock) -> Tunnel:
        t, v = self.tunnel, self.values
        for key, field in (("local ip", "local"), ("peer ip", "peer")):
            if key in v:
                address = _addr(v[key][0])
                if address is None and v[key][0] not in _NO_ADDRESS:
                    block.problems.append(f"line {v[key][1].number}: {key} is not an address")
                setattr(t, field, address)
        if "peer ip" in v:
            t.line = v["peer ip"][1]
        if "state" in v:
            t.status = v["state"][0] or None
            t.where["status"] = v["state"][1]
        remaining = _int(v["lifetime remain"][0].split()[0]) if "lifetime remain" in v else None
        lifetime = _int(v["hard lifetime"][0].split()[0]) if "hard lifetime" in v else None
        protocol = v.get("protocol", ("esp", None))[0].lower() or "esp"
        spis = {}
        for key in ("local spi", "remote spi"):
            if key in v and v[key][0]:
                spis[key] = (_spi(v[key][0].split()[0], v[key][1].number, block), v[key][1])
        if "local spi" in spis and "remote spi" not in spis:
            t.complete = False
            block.problems.append(
                f"line {spis['local spi'][1].number}: the output of tunnel "
                f"{t.name or '?'} ends before its remote spi"
            )
        t.sas = _sas(
            spis.get("local spi", (None, t.line)),
            spis.get("remote spi", (None, t.line)),
            "ah" if protocol == "ah" else "esp",
        )
        for sa in t.sas:
            sa.remaining_seconds, sa.lifetime_seconds = remaining, lifetime
            if remaining is not None:
                sa.where["remaining_seconds"] = v["lifetime remain"][1]
            if lifetime is not None:
                sa.where["lifetime_seconds"] = v["hard lifetime"][1]
        outbound = spis.get("remote spi")
        if outbound is not None and outbound[0] is not None:
            t.current_outbound_spi = outbound[0]
            t.where["current_outbound_spi"] = outbound[1]
        return t


def _flow_row(line: Line) -> Tunnel | None:
    """A row of the `show vpn flow` table: id name state monitor local-ip peer-ip tunnel-i/f."""
    t = line.text.split()
    if len(t) < 6 or not t[0].isdigit() or canonical_ip(t[4][:_MAX_TOKEN]) is None:
        return None
    tunnel = Tunnel(_addr(t[5]), _addr(t[4]), line, name=t[1], status=t[2])
    tunnel.where["status"] = line
    return tunnel


def parse_flow(lines: list[Line], block: StateBlock) -> None:
    """`show vpn flow [tunnel-id N | name X]` (see the module docstring)."""
    flow: _Flow | None = None
    for line in lines:
        text = line.text.strip()
        key, colon, value = text.partition(":")
        if flow is None and text[:1].isdigit():
            row = _flow_row(line)
            if row is not None:
                block.tunnels.append(row)
                block.platform = PLATFORM
        elif not colon and text.startswith("tunnel ") and len(text.split()) == 2:
            if flow is not None:
                block.tunnels.append(flow.finish(block))
            flow = _Flow(line, text.split()[1])
            block.platform = PLATFORM
        elif colon and flow is not None:
            flow.add(" ".join(key.lower().split()), value.strip(), line)
    if flow is not None:
        block.tunnels.append(flow.finish(block))


register(
    Command(
        words=("show", "vpn", "ipsec-sa"),
        platforms=(PLATFORM,),
        parse=parse_ipsec_sa,
        anchors=("gwid/client ip tnid", "gwid tnid peer-address"),
        markers=("SPI(in)",),
    )
)
register(
    Command(
        words=("show", "vpn", "ike-sa"),
        platforms=(PLATFORM,),
        parse=parse_ike_sa,
        anchors=(
            "ikev1 phase-1 sas",
            "ikev2 sas",
            "there is no ikev1 phase-1 sa found",
            "there is no ikev2 sa found",
        ),
        markers=(" SAs",),
    )
)
register(
    Command(
        words=("show", "vpn", "flow"),
        platforms=(PLATFORM,),
        parse=parse_flow,
        # `tunnel NAME` starts the detail and `total tunnels configured:` the table; neither is
        # safe to anchor on alone (other outputs start with "tunnel"), so only the markers.
        anchors=(),
        markers=("decap context",),
    )
)
