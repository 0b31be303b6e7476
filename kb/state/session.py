"""`show crypto session [detail] [remote X]` on IOS/IOS-XE: one session per peer, with status.

One Tunnel per `Peer:` line, named by the `Interface:` before it, with the `Session status:`
(UP-ACTIVE, UP-NO-IKE, UP-IDLE, DOWN-NEGOTIATING, DOWN) printed before it; one IkeSa per
`IKEv1 SA:` / `IKEv2 SA:` / `IKE SA:` line. The `IPSEC FLOW` lines under a peer add up into
its counters: "active_sas", "decaps", "encaps", "inbound_drops", "outbound_drops", and
"remaining_seconds" (the shortest inbound lifetime left among flows with active SAs);
"uptime_seconds" from `Uptime:`. Tunnel.dpd from the active IKE SA's `Capabilities:` codes
(D: Dead Peer Detection, K: keepalives).

VRFs: Tunnel.vrf is the inside VRF (`ivrf`, as `protected vrf` in `show crypto ipsec sa`);
IkeSa.vrf is the front-door VRF (`fvrf`), where IKE and the peer's address live.

Sources: Cisco IOS Security Command Reference, "show crypto session"; ntc-templates
tests/cisco_ios/show_crypto_session_detail (IKEv1 and IKEv2); genieparser ios and iosxe tests
ShowCryptoSession and ShowCryptoSessionDetail (the IPv6 `IKEv2 SA: local A/500` wrapped before
`remote B/500 Active`; `life (KB/Sec) KB Vol Rekey Disabled/3060`).
"""

from __future__ import annotations

from kb.state.commands import Command, read_each, register
from kb.state.ipsec_sa import address_port, to_int
from kb.state.model import IkeSa, Line, StateBlock, Tunnel

_NO_VRF = ("(none)", "none", "")


def uptime_seconds(text: str) -> int | None:
    """Seconds in "11:12:24", "3d18h", "7w0d", "1y2w" -> seconds; None when it is none of these."""
    text = text.strip().lower()
    if ":" in text:
        parts = text.split(":")
        numbers = [to_int(p) for p in parts]
        if len(parts) != 3 or None in numbers:
            return None
        hours, minutes, seconds = numbers
        return hours * 3600 + minutes * 60 + seconds  # type: ignore[operator]
    units = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
    total, digits = 0, ""
    for char in text:
        if char.isascii() and char.isdigit() and len(digits) < 6:
            digits += char
        elif char in units and digits:
            total += int(digits) * units[char]
            digits = ""
        else:
            return None
    return total if not digits and text else None


class _Reader:
    def __init__(self, block: StateBlock) -> None:
        self.block = block
        self.interface: tuple[str, Line] | None = None
        self.pending: dict[str, Line] = {}  # Profile / Uptime / Session status lines
        self.tunnel: Tunnel | None = None
        self.fvrf: str | None = None
        self.ike: IkeSa | None = None  # the last IKE SA, for its Capabilities line
        self.half_ike: Line | None = None  # an IKE SA line wrapped before "remote"
        self.flow_active: int | None = None  # Active SAs of the current IPSEC FLOW
        self.local_active = False  # whether the tunnel's local came from an active IKE SA
        self.opened: Line | None = None  # the first line of a session whose Peer is not yet read

    def feed(self, line: Line) -> None:
        text = line.text.strip()
        if not text:
            return
        low = text.lower()
        if self.half_ike is not None:
            first, self.half_ike = self.half_ike, None
            if low.startswith("remote "):
                self._ike(first, first.text.strip() + " " + text)
                return
            self._ike(first, first.text.strip())
        if low.startswith("interface:"):
            value = text.partition(":")[2].strip()
            self.interface = (value, line) if value else None
            self.tunnel = None
            self.pending = {}
            self.opened = line
        elif low.startswith(("profile:", "uptime:", "session status:")):
            if self.tunnel is not None and "peer" in self.tunnel.where:
                self.tunnel = None  # these come before the next peer's line
            self.pending[low.partition(":")[0]] = line
            if self.tunnel is None and self.opened is None:
                self.opened = line
        elif low.startswith("peer:"):
            self._peer(text, line)
        elif self.tunnel is None:
            return
        elif low.startswith(("ikev1 sa:", "ikev2 sa:", "ike sa:")):
            if " remote " in low:
                self._ike(line, text)
            else:
                self.half_ike = line
        elif low.startswith("capabilities:"):
            self._capabilities(text, line)
        elif low.startswith("ipsec flow:"):
            self._flow(text, line)
        elif low.startswith("active sas:"):
            self._active(text, line)
        elif low.startswith(("inbound:", "outbound:")):
            self._traffic(low, line)

    def _peer(self, text: str, line: Line) -> None:
        words = text.partition(":")[2].split()
        peer, port = address_port(words[0]) if words else (None, None)
        if peer is None:
            shown = words[0][:40] if words else "(nothing)"
            self.block.problems.append(f"line {line.number}: peer {shown} is not an address")
        tunnel = Tunnel(peer=peer, local=None, line=line)
        tunnel.where["peer"] = line
        self.fvrf = None
        for i, word in enumerate(words[1:-1], start=1):
            value = words[i + 1]
            lowered = word.lower()
            if lowered == "port":
                tunnel.peer_port = to_int(value) or port
                tunnel.where["peer_port"] = line
            elif lowered == "ivrf:" and value.lower() not in _NO_VRF:
                tunnel.vrf, tunnel.where["vrf"] = value, line
            elif lowered == "fvrf:" and value.lower() not in _NO_VRF:
                self.fvrf = value
        if self.interface is not None:
            tunnel.name, tunnel.where["name"] = self.interface
        elif "profile" in self.pending:
            profile = self.pending["profile"]
            tunnel.name = profile.text.partition(":")[2].strip() or None
            tunnel.where["name"] = profile
        status = self.pending.get("session status")
        if status is not None:
            tunnel.status = status.text.partition(":")[2].strip() or None
            tunnel.where["status"] = status
        uptime = self.pending.get("uptime")
        if uptime is not None:
            seconds = uptime_seconds(uptime.text.partition(":")[2])
            if seconds is not None:
                tunnel.counters["uptime_seconds"] = seconds
                tunnel.where["uptime_seconds"] = uptime
        self.pending = {}
        self.opened = None
        self.ike = None
        self.local_active = False
        self.flow_active = None
        self.block.tunnels.append(tunnel)
        self.tunnel = tunnel

    def _ike(self, line: Line, text: str) -> None:
        """Reads "IKEv1 SA: local 192.0.2.1/500 remote 198.51.100.7/500 Active"."""
        tunnel = self.tunnel
        assert tunnel is not None
        head, _, rest = text.partition(":")
        version = {"ikev1 sa": 1, "ikev2 sa": 2}.get(head.strip().lower())
        words = rest.split()
        local = peer = state = None
        for i, word in enumerate(words):
            lowered = word.lower()
            if lowered in ("local", "remote") and i + 1 < len(words):
                address, _ = address_port(words[i + 1])
                if lowered == "local":
                    local = address
                else:
                    peer = address
        if words and words[-1].lower() in ("active", "inactive"):
            state = words[-1]
        ike = IkeSa(peer=peer, local=local, version=version, state=state, line=line)
        ike.vrf = self.fvrf
        self.block.ike.append(ike)
        self.ike = ike
        # The box's own address: from the first active IKE SA, else from the first one.
        if local and (tunnel.local is None or (state == "Active" and not self.local_active)):
            tunnel.local, tunnel.where["local"] = local, line
            self.local_active = state == "Active"

    def _capabilities(self, text: str, line: Line) -> None:
        """Reads "Capabilities:DN connid:2913 lifetime:09:03:41": the codes the IKE SA runs
        with (D: Dead Peer Detection, K: keepalives), and the IKE lifetime left."""
        if self.ike is None:
            return
        tunnel = self.tunnel
        codes = text.partition(":")[2].split(" ", 1)[0]
        # Only an established IKE SA has negotiated its capabilities; "(none)" is none of them.
        if tunnel is not None and self.ike.state == "Active" and tunnel.dpd is not True:
            tunnel.dpd = "D" in codes or "K" in codes
            tunnel.where["dpd"] = line
        for word in text.split():
            if word.lower().startswith("lifetime:"):
                seconds = uptime_seconds(word.partition(":")[2])
                if seconds is None:
                    seconds = to_int(word.partition(":")[2])
                if seconds is not None:
                    self.ike.remaining_seconds = seconds
                    self.ike.where["remaining_seconds"] = line

    def _flow(self, text: str, line: Line) -> None:
        """Reads "IPSEC FLOW: permit 47 host 192.0.2.1 host 198.51.100.7": the first flow's
        selectors are the tunnel's idents, as printed."""
        tunnel = self.tunnel
        assert tunnel is not None
        self.flow_active = None
        if tunnel.local_ident is not None:
            return
        words = text.partition(":")[2].split()[2:]  # after the action and the protocol
        items: list[str] = []
        i = 0
        while i < len(words) and len(items) < 2:
            if words[i].lower() == "host" and i + 1 < len(words):
                items.append(f"host {words[i + 1]}")
                i += 2
            else:
                items.append(words[i])
                i += 1
        if len(items) == 2:
            tunnel.local_ident, tunnel.remote_ident = items
            tunnel.where["local_ident"] = tunnel.where["remote_ident"] = line

    def _active(self, text: str, line: Line) -> None:
        tunnel = self.tunnel
        assert tunnel is not None
        count = to_int(text.partition(":")[2].partition(",")[0])
        self.flow_active = count
        if count is not None:
            self._add("active_sas", count, line)

    def _traffic(self, low: str, line: Line) -> None:
        """Reads "Inbound:  #pkts dec'ed 4 drop 0 life (KB/Sec) 4605665/2949"."""
        inbound = low.startswith("inbound")
        words = low.split()
        for i, word in enumerate(words[:-1]):
            number = to_int(words[i + 1])
            if number is None:
                continue
            if word in ("dec'ed", "enc'ed"):
                self._add("decaps" if inbound else "encaps", number, line)
            elif word == "drop":
                self._add("inbound_drops" if inbound else "outbound_drops", number, line)
        if inbound and self.flow_active:
            seconds = to_int(low.rpartition("/")[2]) if "life" in low else None
            tunnel = self.tunnel
            assert tunnel is not None
            if seconds is not None and seconds < tunnel.counters.get("remaining_seconds", 1 << 62):
                tunnel.counters["remaining_seconds"] = seconds
                tunnel.where["remaining_seconds"] = line

    def _add(self, key: str, value: int, line: Line) -> None:
        tunnel = self.tunnel
        assert tunnel is not None
        tunnel.counters[key] = tunnel.counters.get(key, 0) + value
        tunnel.where.setdefault(key, line)

    def finish(self, lines: list[Line]) -> None:
        if self.half_ike is not None and self.tunnel is not None:
            first, self.half_ike = self.half_ike, None
            self._ike(first, first.text.strip())
        if self.opened is not None and lines:
            self.block.problems.append(
                f"line {lines[-1].number}: output ends before the Peer line of the session "
                f"that starts at line {self.opened.number}"
            )
        if self.block.tunnels and self.block.platform is None:
            self.block.platform = "ios"  # only IOS and IOS-XE print this command


def parse(lines: list[Line], block: StateBlock) -> None:
    read_each(_Reader(block), lines, block)


COMMAND = register(
    Command(
        words=("show", "crypto", "session"),
        platforms=("ios",),
        parse=parse,
        # Not "interface: ": `show crypto ipsec sa` starts with it too.
        anchors=("crypto session current status", "session status: "),
        markers=("Session status:",),
    )
)
