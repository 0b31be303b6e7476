"""`show crypto ipsec sa [peer X] [detail]` on IOS/IOS-XE, ASA/FTD and PIX: the SA table.

One Tunnel per `current_peer` section (a crypto map entry or a tunnel interface; a hub prints
one per peer and proxy pair), one Sa per `spi:` line under an `inbound esp sas:` /
`outbound ah sas:` header (`pcp` sections are compression, not SAs, and are skipped).

Formats read (sources; fixtures in tests/fixtures/state/ cite them again):
- IOS/IOS-XE: `Crypto map tag: X, local addr A`, `protected vrf: V`, `current_peer A port 500`,
  `#send errors N, #recv errors N`, `plaintext mtu`, `current outbound spi: 0x1A2B3C4D(439041101)`,
  `PFS (Y/N): N, DH group: none`, `Status: ACTIVE(ACTIVE)`; IPv6 endpoints print
  `local crypto endpt.: A,` and `remote crypto endpt.: B` on two lines. Cisco IOS Security
  Command Reference, "show crypto ipsec sa"; genieparser iosxe tests ShowCryptoIpsecSa,
  ShowCryptoIpsecSaDetail, ShowCryptoIpsecSaIpv6Detailed; ntc-templates
  tests/cisco_ios/show_crypto_ipsec_sa_detail.
- ASA/FTD (and PIX 7, the same code): `Crypto map tag: X, seq num: N, local addr: A`,
  `Protected vrf (ivrf): Global`, `current_peer: A`, `#send errors: 0`, endpoints with `/port`
  (`/0` when none), bare-hex `current outbound spi: 5C1B5E8F`, `current inbound spi : ...`,
  `SA State: active`, `in use settings ={L2L, Tunnel, NAT-T-Encaps, IKEv2, }`,
  `remaining key lifetime (kB/sec): (3914999/28697)` or `(sec): 548`. Cisco ASA Series Command
  Reference, "show crypto ipsec sa"; ntc-templates tests/cisco_asa/show_crypto_ipsec_sa.
- PIX 6 and IOS 12.x: `Crypto map tag: X, local addr. A`, `current_peer: A:500`; the output
  does not say which of the two printed it, so the platform is left as it was.

Why the platform matters: ASA SPIs are bare hex, and only the content tells an ASA paste from
an FTD one (the same code prints both): an FTD or PIX platform the reader already set stays.
"""

from __future__ import annotations

import re

from kb.events import canonical_ip
from kb.state.commands import Command, read_each, register
from kb.state.model import Line, Sa, StateBlock, Tunnel

_HEX = re.compile(r"[0-9A-Fa-f]{1,8}")
# IOS prints a tunnel interface's SAs under the tag "<interface>-head-<n>".
_HEAD = re.compile(r"-head-[0-9]{1,6}\Z")
_WORD = re.compile(r"[a-z0-9]++")
_MAX_DIGITS = 20  # more is no counter; int() of thousands of digits is slow or refused
_ASA_FAMILY = ("asa", "ftd", "pix")


def to_int(text: str) -> int | None:
    """A plain decimal number, or None (unicode digits and huge numbers included)."""
    text = text.strip()
    if text and len(text) <= _MAX_DIGITS and text.isascii() and text.isdigit():
        return int(text)
    return None


def address_port(text: str) -> tuple[str | None, int | None]:
    """Address (canonical) and port of "192.0.2.1/4500", "192.0.2.1:500" or "2001:db8::1"; the
    port is None for none or 0 (ASA prints `/0` when it has no port to show)."""
    text = text.strip().rstrip(",").strip()
    port: int | None = None
    if "/" in text:
        text, _, tail = text.rpartition("/")
        port = to_int(tail)
    address = canonical_ip(text)
    if address is None and text.count(":") == 1:  # IOS 12.x and PIX 6: "A:500"
        head, _, tail = text.partition(":")
        address = canonical_ip(head)
        if address is not None:
            port = to_int(tail)
    return address, port or None


def parse_spi(text: str) -> tuple[int | None, str | None]:
    """The SPI of "0x5A6B7C8D(1516993677)" or bare "5C1B5E8F" (ASA), and a problem."""
    text = text.strip()
    decimal = None
    if "(" in text:
        text, _, rest = text.partition("(")
        decimal = rest.partition(")")[0].strip()
        text = text.strip()
    digits = text[2:] if text[:2].lower() == "0x" else text
    if _HEX.fullmatch(digits) is None:
        return None, f"SPI {_short(text)} is not a 32-bit hexadecimal number"
    spi = int(digits, 16)
    if decimal:
        value = to_int(decimal)
        if value != spi:
            return spi, (
                f"SPI {text} and its decimal form ({_short(decimal)}) disagree; "
                f"the hexadecimal value 0x{spi:08X} is kept"
            )
    return spi, None


def counter_key(name: str) -> str:
    """Key of "#pkts invalid sa (rcv)" -> "invalid_sa_recv"; "#send errors" -> "send_errors"."""
    words = _WORD.findall(name.lower())
    if words and words[0] == "pkts":
        words = words[1:]
    return "_".join("recv" if w == "rcv" else w for w in words)


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


class _Reader:
    """Reads one block line by line; every field keeps the line that printed it."""

    def __init__(self, block: StateBlock) -> None:
        self.block = block
        self.hints: set[str] = set()
        self.interface: str | None = None
        self.map_tag: tuple[str, Line] | None = None
        self.map_local: tuple[str, Line] | None = None
        # Printed before `current_peer`, so held until the Tunnel exists.
        self.pending: dict[str, tuple[str | None, Line]] = {}
        self.tunnel: Tunnel | None = None
        self.section: tuple[str, str] | None = None  # (direction, protocol); None: none or pcp
        self.sa: Sa | None = None

    # -- dispatch ---------------------------------------------------------------------------

    def feed(self, line: Line) -> None:
        text = line.text.strip()
        if not text:
            return
        low = text.lower()
        if low.startswith("interface:"):
            self._close()
            self.interface = text[len("interface:") :].strip() or None
            self.map_tag = self.map_local = None
        elif low.startswith(("crypto map tag:", "ipv6 crypto map tag:")):
            self._crypto_map(text, low, line)
        elif low.startswith(("protected vrf", "local ident", "local  ident", "remote ident")):
            self._before_peer(text, low, line)
        elif low.startswith("current_peer"):
            self._peer(text, line)
        elif self.tunnel is not None:
            self._in_tunnel(text, low, line)

    def _in_tunnel(self, text: str, low: str, line: Line) -> None:
        if low.startswith("#"):
            self._counters(text, line)
        elif low.startswith(("local crypto endpt", "remote crypto endpt")):
            self._endpoints(text, low, line)
        elif low.startswith("current outbound spi"):
            self._outbound_spi(text, line)
        elif low.startswith("current inbound spi"):
            self.hints.add("asa")
        elif low.startswith("pfs (y/n)"):
            self._pfs(text, line)
        elif low.startswith("plaintext mtu"):
            self.hints.add("ios")
        elif low.endswith(" sas:") and low.startswith(("inbound ", "outbound ")):
            words = low.split()
            self.sa = None
            self.section = (words[0], words[1]) if words[1] in ("esp", "ah") else None
        elif low.startswith("spi:"):
            self._spi(text, line)
        elif self.sa is not None:
            self._sa_field(text, low, line)

    # -- the entry's heading ----------------------------------------------------------------

    def _crypto_map(self, text: str, low: str, line: Line) -> None:
        self._close()
        body = text.partition(":")[2]
        parts = [p.strip() for p in body.split(",")]
        tag = parts[0] or None
        seq = None
        self.map_local = None
        for part in parts[1:]:
            lowered = part.lower()
            if lowered.startswith("seq num:"):
                self.hints.add("asa")
                seq = part.partition(":")[2].strip()
            elif lowered.startswith("local addr"):
                rest = part[len("local addr") :]
                if rest.startswith(":"):
                    self.hints.add("asa")
                elif rest.startswith(" "):
                    self.hints.add("ios")  # "local addr. A" is IOS 12.x or PIX 6: no hint
                address, _ = address_port(rest.lstrip(":. "))
                if address:
                    self.map_local = (address, line)
        if tag and seq:
            tag = f"{tag} {seq}"  # as a crypto map entry is named in the configuration
        self.map_tag = (tag, line) if tag else None

    def _before_peer(self, text: str, low: str, line: Line) -> None:
        if self.tunnel is not None:
            self._close()
        value: str | None = text.partition(":")[2].strip()
        if low.startswith("protected vrf"):
            if low.startswith("protected vrf (ivrf)"):
                self.hints.add("asa")
            # "(none)" on IOS and "Global" on ASA both mean no VRF.
            if not value or value.lower() in ("(none)", "global", "none"):
                value = None
            self.pending["vrf"] = (value, line)
        else:
            value = (value.strip("()") or None) if value else None
            self.pending["local_ident" if low.startswith("local") else "remote_ident"] = (
                value,
                line,
            )

    def _peer(self, text: str, line: Line) -> None:
        self._close()
        rest = text[len("current_peer") :]
        if rest.startswith(":"):
            rest = rest[1:]
        words = rest.split()
        peer, port = address_port(words[0]) if words else (None, None)
        if len(words) >= 3 and words[1].lower() == "port":
            self.hints.add("ios")
            port = to_int(words[2]) or port
        if peer is None:
            shown = _short(words[0]) if words else "(nothing)"
            self.block.problems.append(f"line {line.number}: peer {shown} is not an address")
        tunnel = Tunnel(peer=peer, local=None, line=line, peer_port=port)
        if port is not None:
            tunnel.where["peer_port"] = line
        if self.map_local is not None:
            tunnel.local, tunnel.where["local"] = self.map_local
        if self.map_tag is not None:
            tag, tag_line = self.map_tag
            # A tunnel interface's SAs are better named by the interface (Tunnel0) than by
            # the tag IOS derives from it (Tunnel0-head-0).
            head = _HEAD.search(tag)
            if head and self.interface and tag.startswith(self.interface + "-"):
                tunnel.name = self.interface
            elif head and head.start():
                tunnel.name = tag[: head.start()]
            else:
                tunnel.name = tag
            tunnel.where["name"] = tag_line
        elif self.interface:
            tunnel.name = self.interface
        for field, (value, where) in self.pending.items():
            setattr(tunnel, field, value)
            tunnel.where[field] = where
        self.pending = {}
        self.block.tunnels.append(tunnel)
        self.tunnel = tunnel

    # -- the entry's body -------------------------------------------------------------------

    def _counters(self, text: str, line: Line) -> None:
        tunnel = self.tunnel
        assert tunnel is not None
        for part in text.split(","):
            name, _, value = part.strip().rpartition(" ")
            number = to_int(value)
            if number is None or not name:
                continue
            key = counter_key(name)
            if key:
                tunnel.counters[key] = number
                tunnel.where[key] = line

    def _endpoints(self, text: str, low: str, line: Line) -> None:
        tunnel = self.tunnel
        assert tunnel is not None
        if low.startswith("local crypto endpt"):
            local_part, _, _ = text.partition(",")
            address, _ = address_port(local_part.partition(":")[2])
            if address:
                tunnel.local, tunnel.where["local"] = address, line
        at = low.find("remote crypto endpt")
        if at < 0:
            return
        address, port = address_port(text[at:].partition(":")[2])
        if address and tunnel.peer is None:
            tunnel.peer = address
        if port and tunnel.peer_port is None:
            # ASA prints the port here only; IOS prints it on `current_peer`.
            tunnel.peer_port, tunnel.where["peer_port"] = port, line

    def _outbound_spi(self, text: str, line: Line) -> None:
        tunnel = self.tunnel
        assert tunnel is not None
        # Bare hex is no platform hint: ASA prints it, and so do PIX 6 and IOS 12.x.
        value = text.partition(":")[2].strip()
        spi, problem = parse_spi(value)
        if problem:
            self.block.problems.append(f"line {line.number}: {problem}")
        tunnel.where["current_outbound_spi"] = line
        # 0 is how IOS and ASA say "no outbound SA yet": not an SPI anyone sends with.
        tunnel.current_outbound_spi = spi or None

    def _pfs(self, text: str, line: Line) -> None:
        tunnel = self.tunnel
        assert tunnel is not None
        self.hints.add("ios")
        for part in text.split(","):
            key, _, value = part.partition(":")
            key, value = key.strip().lower(), value.strip()
            if key.startswith("pfs") and value[:1].upper() in ("Y", "N"):
                tunnel.pfs, tunnel.where["pfs"] = value[:1].upper() == "Y", line
            elif key == "dh group" and value:
                tunnel.dh_group, tunnel.where["dh_group"] = value, line

    def _spi(self, text: str, line: Line) -> None:
        self.sa = None
        if self.section is None:
            return
        direction, protocol = self.section
        value = text.partition(":")[2].strip()
        spi, problem = parse_spi(value)
        peer = self.tunnel.peer if self.tunnel else None
        if spi is None:
            self.block.problems.append(
                f"line {line.number}: an {direction} {protocol} SA of {peer} shows no SPI "
                f"({_short(value)})"
            )
            return
        if problem:
            self.block.problems.append(f"line {line.number}: {problem}")
        self.sa = Sa(direction=direction, protocol=protocol, spi=spi, line=line)
        assert self.tunnel is not None
        self.tunnel.sas.append(self.sa)

    def _sa_field(self, text: str, low: str, line: Line) -> None:
        sa = self.sa
        assert sa is not None
        if low.startswith("transform:"):
            value = text.partition(":")[2].strip().rstrip(",").strip()
            # ASA adds its compression setting; it is not part of the transform.
            if value.lower().endswith(" no compression"):
                value = value[: -len(" no compression")].rstrip()
            if value:
                sa.transform, sa.where["transform"] = value, line
        elif low.startswith("in use settings"):
            self._settings(low, line)
        elif low.startswith("sa timing:"):
            seconds = _remaining_seconds(low)
            if seconds is not None:
                sa.remaining_seconds, sa.where["remaining_seconds"] = seconds, line
        elif low.startswith("status:"):
            self.hints.add("ios")
            sa.status, sa.where["status"] = text.partition(":")[2].strip() or None, line
        elif low.startswith("sa state:"):
            self.hints.add("asa")
            sa.status, sa.where["status"] = text.partition(":")[2].strip() or None, line

    def _settings(self, low: str, line: Line) -> None:
        sa = self.sa
        assert sa is not None
        body = low.partition("{")[2].partition("}")[0]
        words = body.replace(",", " ").split()
        if any(w in ("l2l", "ra", "ikev1", "ikev2", "nat-t-encaps") for w in words):
            self.hints.add("asa")
        if "tunnel" in words:
            sa.mode = "tunnel"
        elif "transport" in words:
            sa.mode = "transport"
        if sa.mode:
            sa.where["mode"] = line
        sa.udp_encaps = "udp-encaps" in words or "nat-t-encaps" in words
        sa.where["udp_encaps"] = line
        # ASA names the PFS group here ("PFS Group 14"); IOS has its own `PFS (Y/N)` line.
        tunnel = self.tunnel
        at = body.find("pfs group ")
        if tunnel is not None and tunnel.pfs is None and at >= 0:
            group = to_int(body[at + len("pfs group ") :].partition(",")[0])
            if group is not None:
                tunnel.pfs, tunnel.where["pfs"] = True, line
                tunnel.dh_group, tunnel.where["dh_group"] = f"group{group}", line

    # -- ends -------------------------------------------------------------------------------

    def _close(self) -> None:
        """The current entry ends: what follows belongs to the next one."""
        self.tunnel = None
        self.section = None
        self.sa = None

    def finish(self, lines: list[Line]) -> None:
        self._truncated(lines)
        self._platform()

    def _truncated(self, lines: list[Line]) -> None:
        tunnel = self.block.tunnels[-1] if self.block.tunnels else None
        if tunnel is None or self.tunnel is not tunnel:
            return
        end = lines[-1].number if lines else tunnel.line.number
        peer = tunnel.peer or "an unnamed peer"
        complete = tunnel.complete
        tunnel.complete = False
        if "current_outbound_spi" not in tunnel.where:
            self.block.problems.append(
                f"line {end}: output ends before the SAs of {peer} (entry at line "
                f"{tunnel.line.number}); its SA list is incomplete"
            )
        elif self.sa is not None and not self.sa.where:
            self.block.problems.append(
                f"line {end}: output ends inside the {self.sa.direction} {self.sa.protocol} "
                f"SA {self.sa.spi_hex} of {peer}"
            )
        elif tunnel.current_outbound_spi and not tunnel.spis("outbound"):
            self.block.problems.append(
                f"line {end}: output ends before the outbound SAs of {peer}; "
                "its SA list is incomplete"
            )
        else:
            tunnel.complete = complete

    def _platform(self) -> None:
        if "asa" in self.hints and "ios" not in self.hints:
            if self.block.platform not in _ASA_FAMILY:
                self.block.platform = "asa"
        elif "ios" in self.hints and "asa" not in self.hints:
            self.block.platform = "ios"


def _remaining_seconds(low: str) -> int | None:
    """Seconds left in "sa timing: remaining key lifetime (k/sec): (4607999/3517)" (3517) or
    "(sec): 548" (548); None for "is not applicable"."""
    value = low.rpartition(":")[2].strip()
    if value.startswith("("):
        value = value[1:].partition(")")[0]
    return to_int(value.rpartition("/")[2])


def parse(lines: list[Line], block: StateBlock) -> None:
    read_each(_Reader(block), lines, block)


COMMAND = register(
    Command(
        words=("show", "crypto", "ipsec", "sa"),
        platforms=("ios", "asa", "ftd", "pix"),
        parse=parse,
        # Not "interface: ": `show crypto session detail` prints "Interface: Tunnel0" too.
        anchors=("crypto map tag:", "ipv6 crypto map tag:"),
        markers=("current outbound spi",),
    )
)
