"""FortiGate IPsec state: `diagnose vpn tunnel list [name X]` and `get vpn ipsec tunnel summary`.

`diagnose vpn tunnel list` (FortiOS 5.x to 7.x; `diag vpn tun list` at the prompt):

    list all ipsec tunnel in vd 0
    ------------------------------------------------------
    name=VPN1 ver=2 serial=1 192.0.2.1:0->198.51.100.7:0 tun_id=198.51.100.7 ... dst_mtu=1500
    bound_if=5 lgwy=static/1 tun=intf mode=auto/1 encap=none/552 options[0228]=npu frag-rfc ...
    proxyid_num=1 child_num=0 refcnt=4 ilast=3 olast=3 ad=/0
    stat: rxp=100 txp=100 rxb=15200 txb=8400
    dpd: mode=on-demand on=1 idle=20000ms retry=3 count=0 seqno=0
    natt: mode=none draft=0 interval=0 remote_port=0
    proxyid=P2 proto=0 sa=1 ref=2 serial=1 auto-negotiate
      src: 0:10.1.0.0/255.255.0.0:0
      dst: 0:10.2.0.0/255.255.0.0:0
      SA:  ref=3 options=18227 type=00 soft=0 mtu=1438 expire=1748/0B replaywin=2048
           seqno=1 esn=0 replaywin_lastseq=00000000 qat=0 rekey=0 hash_search_len=1
      life: type=01 bytes=0/0 timeout=1748/1800
      dec: spi=ca646448 esp=aes key=16 <key>
           ah=sha1 key=20 <key>
      enc: spi=e4af9d41 esp=aes key=16 <key>
           ah=sha1 key=20 <key>
      dec:pkts/bytes=100/15200, enc:pkts/bytes=100/8400
      npu_flag=00 npu_rgwy=198.51.100.7 npu_lgwy=192.0.2.1 npu_selid=0 dec_npuid=0 enc_npuid=0
    run_tally=0

Sources: Fortinet CLI reference "diagnose vpn tunnel" (docs.fortinet.com/document/fortigate/
7.4.9/cli-reference/537874326) names the command; the format is read from outputs published in
Fortinet's administration guides ("IPsec VPN ... verify", e.g. the HQ1 redundant-tunnel
example), in wiki.xdroop.com/books/fortios/page/vpn-tunnel-details (FortiOS 5, `ah=` on its
own line, no `ver=`), and in public lab write-ups on GitHub (FortiOS 6.4/7.x, a proxyid with
`sa=2` printing two `SA:` blocks during a rekey overlap, NAT-T `natt: mode=keepalive` /
`mode=silent` with `:4500` / NATed ports in the header).

What is read, and the choices made:
- One Tunnel per phase-2 selector (`proxyid=`): the proxyid's `src:`/`dst:` are the Tunnel's
  local/remote ident, like an IOS crypto-map entry per proxy pair. `name` is the phase-1 name
  (what `vpntunnel=` in the logs and `name X` on the command name). A phase 1 with no
  proxyid printed (a dial-up template, a tunnel never brought up) is one Tunnel with no SAs.
- `status`: "up" when the proxyid has SAs (`sa=1`, `sa=2`), "down" when `sa=0`; the proxyid
  line proves it. FortiGate prints no other status here.
- Each `dec:` is an inbound Sa, each `enc:` an outbound Sa (SPIs are bare hex); their
  lifetimes come from the `life: ... timeout=REMAINING/LIFETIME` of the same `SA:` block.
  `current_outbound_spi` is the `enc:` SPI when the proxyid prints one; when it prints several
  (rekey overlap) the output does not say which one is sent with, so it is left None and every
  `enc:` SPI is an outbound Sa.
- `udp_encaps` from `natt: mode=`: `none` -> False, anything else (keepalive, silent) -> True.
  `peer_port` is the peer's port in the header when not 0 (FortiGate prints 0 without NAT-T).
- `dpd` (Tunnel.dpd): False for `dpd: mode=off` (or `disable`), True for any other mode.
- counters: the phase 1's `stat:` (rx_packets, tx_packets, rx_bytes, tx_bytes; repeated on each
  of its Tunnels) and the proxyid's `dec:pkts/bytes` / `enc:pkts/bytes` (decaps, decap_bytes,
  encaps, encap_bytes; summed over its SAs).
- The address 0.0.0.0 (a dial-up template's peer) is no peer: None.

`get vpn ipsec tunnel summary` (Fortinet CLI reference "get vpn ipsec tunnel summary"):

    'VPN1' 198.51.100.7:0  selectors(total,up): 1/1  rx(pkt,err): 100/0  tx(pkt,err): 100/0

One Tunnel per row: status "up" when at least one selector is up, else "down"; counters
selectors_total, selectors_up, rx_packets, rx_errors, tx_packets, tx_errors. No local address.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kb.events import canonical_ip
from kb.fortigate import fields
from kb.state.commands import Command, register
from kb.state.model import Line, Sa, StateBlock, Tunnel

PLATFORM = "fortigate"
_NO_ADDRESS = frozenset({"0.0.0.0", "::"})
_DPD_OFF = frozenset({"off", "disable", "disabled"})
_MAX_SPI_DIGITS = 8
_DEC_NAMES = ("decaps", "decap_bytes")
_ENC_NAMES = ("encaps", "encap_bytes")


@dataclass(slots=True)
class _SaBlock:
    """One `SA:` block of a proxyid: its lifetimes, then its dec/enc SAs."""

    line: Line
    remaining: int | None = None
    lifetime: int | None = None
    life_line: Line | None = None
    sas: list[Sa] = field(default_factory=list)


@dataclass(slots=True)
class _Phase1:
    line: Line
    name: str | None
    local: str | None
    peer: str | None
    peer_port: int | None
    counters: dict[str, int] = field(default_factory=dict)
    dpd: bool | None = None
    dpd_line: Line | None = None
    udp_encaps: bool | None = None
    natt_line: Line | None = None
    tunnels: list[Tunnel] = field(default_factory=list)
    sa_block: _SaBlock | None = None
    last_sa: Sa | None = None


def _address(text: str, number: int, block: StateBlock) -> tuple[str | None, int | None]:
    """ "192.0.2.1:4500" -> ("192.0.2.1", 4500); the port is the text after the last colon."""
    host, _, port = text.rpartition(":")
    address = canonical_ip(host)
    if address is None:
        block.problems.append(f"line {number}: {host[:60]!r} is not an address")
    elif address in _NO_ADDRESS:
        address = None
    return address, int(port) if port.isdigit() and len(port) <= 5 else None


def _spi(text: str, number: int, block: StateBlock) -> int | None:
    if 0 < len(text) <= _MAX_SPI_DIGITS and all(c in "0123456789abcdefABCDEF" for c in text):
        return int(text, 16)
    block.problems.append(f"line {number}: SPI {text[:40]!r} is not hexadecimal")
    return None


def _int(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() and len(text) <= 18 else None


def _pair(text: str | None) -> tuple[int | None, int | None]:
    """ "1748/1800" -> (1748, 1800)."""
    if text is None:
        return None, None
    a, _, b = text.partition("/")
    return _int(a), _int(b)


def _header(line: Line, block: StateBlock) -> _Phase1:
    found = fields(line.text)
    local = peer = port = None
    for token in line.text.split():
        if "->" in token and "=" not in token:
            left, _, right = token.partition("->")
            local, _ = _address(left, line.number, block)
            peer, port = _address(right, line.number, block)
            break
    else:
        block.problems.append(
            f"line {line.number}: tunnel {(found.get('name') or '')[:60]!r} names no peer"
        )
    return _Phase1(line, found.get("name"), local, peer, port or None)


class _TunnelList:
    """The reader's state while walking `diagnose vpn tunnel list` line by line."""

    def __init__(self, block: StateBlock) -> None:
        self.block = block
        self.phase1: _Phase1 | None = None

    def line(self, line: Line) -> None:
        text = line.text.strip()
        if text.startswith("name="):
            self.finish()
            self.phase1 = _header(line, self.block)
            self.block.platform = PLATFORM
            return
        if text.startswith("list all ipsec tunnel in vd"):
            self.block.platform = PLATFORM
            return
        p1 = self.phase1
        if p1 is None:
            return
        head = text.split(" ", 1)[0]
        handler = _HANDLERS.get(head)
        if text.startswith("proxyid="):
            self.proxyid(p1, line, text)
        elif handler is not None:
            handler(self, p1, line, text)
        elif text.startswith("ah=") and p1.last_sa is not None:
            algorithm = fields(text).get("ah")
            if algorithm and p1.last_sa.transform is not None:
                p1.last_sa.transform += f" ah={algorithm}"
        elif text.startswith(("dec:pkts/bytes=", "enc:pkts/bytes=")):
            self.packets(p1, text)

    def stat(self, p1: _Phase1, line: Line, text: str) -> None:
        found = fields(text)
        for key, name in (
            ("rxp", "rx_packets"),
            ("txp", "tx_packets"),
            ("rxb", "rx_bytes"),
            ("txb", "tx_bytes"),
        ):
            value = _int(found.get(key))
            if value is not None:
                p1.counters[name] = value

    def dpd(self, p1: _Phase1, line: Line, text: str) -> None:
        found = fields(text)
        mode = found.get("mode")
        if mode is not None:
            p1.dpd = mode.lower() not in _DPD_OFF
        elif found.get("on") in ("0", "1"):
            p1.dpd = found["on"] == "1"
        p1.dpd_line = line

    def natt(self, p1: _Phase1, line: Line, text: str) -> None:
        mode = fields(text).get("mode")
        if mode is not None:
            p1.udp_encaps = mode.lower() != "none"
            p1.natt_line = line

    def proxyid(self, p1: _Phase1, line: Line, text: str) -> None:
        self.close_sa(p1)
        found = fields(text)
        tunnel = Tunnel(p1.peer, p1.local, p1.line, name=p1.name, peer_port=p1.peer_port)
        count = _int(found.get("sa"))
        if count is not None:
            tunnel.status = "up" if count > 0 else "down"
            tunnel.where["status"] = line
        tunnel.where["proxyid"] = line
        p1.tunnels.append(tunnel)

    def ident(self, p1: _Phase1, line: Line, text: str) -> None:
        if not p1.tunnels:
            return
        tunnel = p1.tunnels[-1]
        key, _, value = text.partition(":")
        if key == "src":
            tunnel.local_ident = value.strip()
            tunnel.where["local_ident"] = line
        else:
            tunnel.remote_ident = value.strip()
            tunnel.where["remote_ident"] = line

    def sa(self, p1: _Phase1, line: Line, text: str) -> None:
        self.close_sa(p1)
        if p1.tunnels:
            p1.sa_block = _SaBlock(line)

    def life(self, p1: _Phase1, line: Line, text: str) -> None:
        if p1.sa_block is not None:
            remaining, lifetime = _pair(fields(text).get("timeout"))
            p1.sa_block.remaining, p1.sa_block.lifetime = remaining, lifetime
            p1.sa_block.life_line = line

    def dec_enc(self, p1: _Phase1, line: Line, text: str) -> None:
        if p1.sa_block is None or not p1.tunnels:
            return
        found = fields(text)
        raw = found.get("spi")
        if raw is None:
            return
        spi = _spi(raw, line.number, self.block)
        if spi is None:
            return
        sab = p1.sa_block
        direction = "inbound" if text.startswith("dec") else "outbound"
        esp = found.get("esp")
        sa = Sa(direction, "esp", spi, line, transform=f"esp={esp}" if esp else None)
        sa.remaining_seconds, sa.lifetime_seconds = sab.remaining, sab.lifetime
        if sab.life_line is not None:
            sa.where["remaining_seconds"] = sa.where["lifetime_seconds"] = sab.life_line
        if p1.udp_encaps is not None and p1.natt_line is not None:
            sa.udp_encaps = p1.udp_encaps
            sa.where["udp_encaps"] = p1.natt_line
        sab.sas.append(sa)
        p1.tunnels[-1].sas.append(sa)
        p1.last_sa = sa

    def packets(self, p1: _Phase1, text: str) -> None:
        if not p1.tunnels:
            return
        counters = p1.tunnels[-1].counters
        for part in text.split(","):
            key, _, value = part.strip().partition("=")
            packets, octets = _pair(value)
            names = _DEC_NAMES if key.startswith("dec") else _ENC_NAMES
            for name, number in zip(names, (packets, octets), strict=True):
                if number is not None:
                    counters[name] = counters.get(name, 0) + number

    def close_sa(self, p1: _Phase1) -> None:
        sab = p1.sa_block
        p1.sa_block = None
        p1.last_sa = None
        if sab is None:
            return
        directions = {sa.direction for sa in sab.sas}
        if directions != {"inbound", "outbound"}:
            missing = " and ".join(d for d in ("inbound", "outbound") if d not in directions)
            self.block.problems.append(
                f"line {sab.line.number}: the SA of {p1.name or 'a tunnel'} "
                f"(peer {p1.peer or 'unknown'}) has no {missing} SPI"
            )

    def finish(self) -> None:
        p1 = self.phase1
        if p1 is None:
            return
        self.close_sa(p1)
        if not p1.tunnels:
            p1.tunnels.append(
                Tunnel(p1.peer, p1.local, p1.line, name=p1.name, peer_port=p1.peer_port)
            )
        for tunnel in p1.tunnels:
            tunnel.dpd = p1.dpd
            if p1.dpd_line is not None:
                tunnel.where["dpd"] = p1.dpd_line
            tunnel.counters = {**p1.counters, **tunnel.counters}
            outbound = [sa for sa in tunnel.sas if sa.direction == "outbound"]
            if len(outbound) == 1:
                tunnel.current_outbound_spi = outbound[0].spi
                tunnel.where["current_outbound_spi"] = outbound[0].line
        self.block.tunnels.extend(p1.tunnels)
        self.phase1 = None


_HANDLERS = {
    "stat:": _TunnelList.stat,
    "dpd:": _TunnelList.dpd,
    "natt:": _TunnelList.natt,
    "src:": _TunnelList.ident,
    "dst:": _TunnelList.ident,
    "SA:": _TunnelList.sa,
    "life:": _TunnelList.life,
    "dec:": _TunnelList.dec_enc,
    "enc:": _TunnelList.dec_enc,
}


def parse_tunnel_list(lines: list[Line], block: StateBlock) -> None:
    """`diagnose vpn tunnel list`: one Tunnel per proxyid (see the module docstring)."""
    reader = _TunnelList(block)
    for line in lines:
        reader.line(line)
    reader.finish()


def _summary_row(line: Line, block: StateBlock) -> Tunnel | None:
    text = line.text.strip()
    end = text.find("'", 1)
    if not text.startswith("'") or end < 0 or "selectors(total,up):" not in text:
        return None
    tokens = text[end + 1 :].split()
    if not tokens:
        return None
    peer, port = _address(tokens[0], line.number, block)
    tunnel = Tunnel(peer, None, line, name=text[1:end], peer_port=port or None)
    values = dict(zip(tokens[1::2], tokens[2::2], strict=False))
    for label, names in (
        ("selectors(total,up):", ("selectors_total", "selectors_up")),
        ("rx(pkt,err):", ("rx_packets", "rx_errors")),
        ("tx(pkt,err):", ("tx_packets", "tx_errors")),
    ):
        for name, number in zip(names, _pair(values.get(label)), strict=True):
            if number is not None:
                tunnel.counters[name] = number
    up = tunnel.counters.get("selectors_up")
    if up is not None:
        tunnel.status = "up" if up > 0 else "down"
        tunnel.where["status"] = line
    return tunnel


def parse_tunnel_summary(lines: list[Line], block: StateBlock) -> None:
    """`get vpn ipsec tunnel summary`: one Tunnel per quoted row."""
    for line in lines:
        if line.text.lstrip().startswith("'"):
            tunnel = _summary_row(line, block)
            if tunnel is not None:
                block.tunnels.append(tunnel)
                block.platform = PLATFORM


register(
    Command(
        words=("diagnose", "vpn", "tunnel", "list"),
        platforms=(PLATFORM,),
        parse=parse_tunnel_list,
        anchors=("list all ipsec tunnel in vd",),
        markers=("list all ipsec tunnel in vd", "proxyid_num=", "npu_flag=", "dec:pkts/bytes="),
    )
)
register(
    Command(
        words=("get", "vpn", "ipsec", "tunnel", "summary"),
        platforms=(PLATFORM,),
        parse=parse_tunnel_summary,
        # Rows start with the quoted tunnel name: nothing safe to anchor on.
        anchors=(),
        markers=("selectors(total,up):",),
    )
)
