"""IKE (phase 1) SA tables: `show crypto isakmp sa [detail]`, `show crypto ikev1 sa [detail]`
and `show crypto ikev2 sa [detail]`, on IOS/IOS-XE and on ASA/FTD (and PIX 7, which prints
what ASA 8.0 does). One parser reads every variant; each row becomes one IkeSa, and each
IKEv2 child SA an ASA prints becomes a Tunnel with its inbound and outbound ESP SA.

Formats, as the devices print them:

- IOS `show crypto isakmp sa`: an `IPv4 Crypto ISAKMP SA` table `dst src state conn-id
  [slot] status` (QM_IDLE, MM_NO_STATE, ...; status ACTIVE, `ACTIVE (deleted)`), then
  `IPv6 Crypto ISAKMP SA` with the same rows or, for long addresses, `dst: X` / `src: Y` /
  `state: QM_IDLE conn-id: 1005 status: ACTIVE` blocks.
  **Which side is this box is not printed**: dst and src are the responder and initiator of
  the exchange that created the SA, so this box may be either. Such a row keeps `local` and
  `peer` None and holds the two addresses in `dst` and `src` (`where["dst"]`, `where["src"]`
  the row's line); the reader attributes it by matching them to the log's addresses.
- IOS `show crypto isakmp sa detail`: `C-id Local Remote I-VRF Status Encr Hash Auth DH
  Lifetime Cap.`; I-VRF and Cap. may be blank. Local and Remote are this box and the peer.
  Lifetime is the time left (hh:mm:ss). There is no state column: `state` is the Status.
- IOS `show crypto ikev2 sa [detail]`: `IPv4 Crypto IKEv2 SA`, rows `Tunnel-id Local Remote
  fvrf/ivrf Status` (READY, IN-NEG, ...; IPv6 rows put Local and Remote on lines of their own),
  then `Life/Active Time: 86400/735 sec` (remaining = life - active), and in detail
  `Initiator of SA : Yes`. `vrf` is the ivrf (as in I-VRF and `protected vrf`).
- ASA `show crypto ikev1 sa [detail]` / `show crypto isakmp sa` (8.x, 9.x, PIX 7):
  `1   IKE Peer: 198.51.100.7`, `Type : L2L  Role : initiator`, `Rekey : no  State :
  MM_ACTIVE`, in detail `Lifetime: 86400` and `Lifetime Remaining: 86355`. The local address
  is not printed. ASA 7 printed a table `IKE Peer Type Dir Rky State [Encrypt Hash Auth
  Lifetime]`, rows `1 198.51.100.7 L2L Init No MM_Active ...`. 9.x also prints an `IKEv2 SAs:`
  section (below).
- ASA/FTD `show crypto ikev2 sa [detail]`: `IKEv2 SAs:`, `Session-id:1, Status:UP-ACTIVE, IKE
  count:1, CHILD count:1` (the session's status goes to `status`), rows `Tunnel-id Local
  Remote Status Role`, `Life/Active Time`, then per child SA `Child sa: local selector ...`,
  `remote selector ...`, `ESP spi in/out: 0x1a2b3c4d/0x5e6f7a8b`: a Tunnel between the row's
  Local and Remote with an inbound and an outbound Sa, so its SPIs can be compared with the
  log and the other end. The output names no current outbound SPI: that stays None.

Sources: genieparser `iosxe/tests/ShowCryptoIsakmpSa`, `ShowCryptoIsakmpSaDetail`,
`ShowCryptoIkev2Sa`, `ShowCryptoIkev2SaDetail`, `asa/tests/ShowCryptoIkev2Sa` (cli/equal);
ntc-templates `tests/cisco_asa/show_crypto_ikev1_sa_detail`; Cisco TAC "ASA IKEv2 Debugs for
Site-to-Site VPN with PSKs" (115935, tunnel verification); Cisco IOS Security Command Reference
(`show crypto isakmp sa`, field descriptions).
"""

from __future__ import annotations

from dataclasses import dataclass

from kb.state.ciscotext import address_port, hms_seconds, leading_int, spi
from kb.state.ciscotext import field as column
from kb.state.commands import Command, register
from kb.state.model import IkeSa, Line, Sa, StateBlock, Tunnel

_ROLES = {
    "init": "initiator",
    "initiator": "initiator",
    "resp": "responder",
    "responder": "responder",
}


@dataclass
class _Reader:
    block: StateBlock
    asa_entry: IkeSa | None = None  # an `IKE Peer:` entry whose State line is still to come
    ikev2: IkeSa | None = None  # the last IKEv2 row, which detail lines belong to
    ikev2_port: int | None = None  # the remote port of that row: 4500 when NAT-T
    session_status: Line | None = None  # ASA `Session-id:..., Status:UP-ACTIVE` line
    child: Tunnel | None = None  # an ASA child SA whose SPIs are still to come
    v6_dst: Line | None = None  # IOS IPv6 isakmp `dst:` / `src:` lines before their state line
    v6_src: Line | None = None

    def platform(self, name: str) -> None:
        if self.block.platform is None:
            self.block.platform = name


def parse(lines: list[Line], block: StateBlock) -> None:
    reader = _Reader(block)
    for line in lines:
        text = " ".join(line.text.split())
        if text:
            _read(reader, line, text)
    _finish(reader)


def _read(r: _Reader, line: Line, text: str) -> None:
    low = text.lower()
    if _header(r, low):
        _close_asa_entry(r)
        return
    if "IKE Peer:" in text:
        _asa_entry(r, line, text)
        return
    if r.asa_entry is not None and _asa_entry_field(r, line, text):
        return
    words = text.split(" ")
    if low.startswith("session-id:") and "Status:" in text:
        _session(r, line)
    elif low.startswith("child sa:"):
        _child_start(r, line, text)
    elif low.startswith("remote selector"):
        _child_remote(r, line, text)
    elif low.startswith("esp spi in/out:") or low.startswith("ah spi in/out:"):
        _child_spis(r, line, text, "ah" if low[0] == "a" else "esp")
    elif low.startswith("life/active time:"):
        _life_active(r, line, words)
    elif low.startswith("initiator of sa :") or low.startswith("initiator of sa:"):
        if r.ikev2 is not None:
            r.ikev2.role = "initiator" if low.endswith("yes") else "responder"
            r.ikev2.where["role"] = line
    elif low.startswith("mode ") or ", mode " in low:
        _child_mode(r, line, low)
    elif words[0] in ("Local", "Remote") and len(words) == 2:
        _ikev2_end(r, line, words)
    elif words[0] in ("dst:", "src:", "state:"):
        _isakmp_v6(r, line, words)
    else:
        _row(r, line, words)


_IOS_TITLES = ("ipv4 crypto isakmp sa", "ipv6 crypto isakmp sa", "ipv4 crypto ikev2 sa")
_IOS_TITLES += ("ipv6 crypto ikev2 sa",)
_ASA_TITLES = ("ikev1 sas:", "ikev2 sas:", "there are no ikev", "active sa:", "rekey sa:")
_ASA_TITLES += ("total ike sa:", "ike peer type dir")
_COLUMNS = ("dst src state", "c-id local remote", "engine-id:conn-id")


def _header(r: _Reader, low: str) -> bool:
    """Section titles and column headers: nothing to read but the platform."""
    if low.startswith(_IOS_TITLES):
        r.platform("ios")
    elif low.startswith(_ASA_TITLES):
        r.platform("asa")
    elif low.startswith("tunnel-id "):
        r.platform("asa" if low.endswith(" role") else "ios")
    else:
        return low.startswith(_COLUMNS)
    return True


# --- ASA `IKE Peer:` entries (IKEv1) ------------------------------------------------------


def _asa_entry(r: _Reader, line: Line, text: str) -> None:
    head, _, rest = text.partition("IKE Peer:")
    if head.strip() and not head.strip().isdigit():
        return  # a log line that mentions an IKE peer
    _close_asa_entry(r)
    name = rest.strip().split(" ", 1)[0] if rest.strip() else ""
    peer, _ = address_port(name)
    if peer is None:
        r.block.problems.append(
            f"line {line.number}: IKE peer '{name[:60]}' is not an address (a name?)"
        )
    r.platform("asa")
    r.asa_entry = IkeSa(peer=peer, local=None, version=1, state=None, line=line)
    r.block.ike.append(r.asa_entry)


def _asa_entry_field(r: _Reader, line: Line, text: str) -> bool:
    sa = r.asa_entry
    assert sa is not None
    read = False
    role = column(text, "Role", one_word=True)
    if role:
        sa.role = _ROLES.get(role.lower(), role)
        sa.where["role"] = line
        read = True
    state = column(text, "State", one_word=True)
    if state:
        sa.state = state
        sa.where["state"] = line
        read = True
    lifetime = leading_int(column(text, "Lifetime", one_word=True))
    if lifetime is not None:
        sa.lifetime_seconds = lifetime
        sa.where["lifetime_seconds"] = line
        read = True
    remaining = leading_int(column(text, "Lifetime Remaining", one_word=True))
    if remaining is not None:
        sa.remaining_seconds = remaining
        sa.where["remaining_seconds"] = line
        read = True
    return read or column(text, "Type", one_word=True) is not None


def _close_asa_entry(r: _Reader) -> None:
    sa = r.asa_entry
    if sa is not None and sa.state is None:
        r.block.problems.append(
            f"line {sa.line.number}: no State line for IKE peer {sa.peer or '(unnamed)'}"
            " (output cut?)"
        )
    r.asa_entry = None


# --- IKEv2 ----------------------------------------------------------------------------------


def _session(r: _Reader, line: Line) -> None:
    """ASA `Session-id:1, Status:UP-ACTIVE, IKE count:1, CHILD count:1`."""
    r.platform("asa")
    _close_asa_entry(r)
    r.session_status = line


def _session_status(r: _Reader) -> str | None:
    if r.session_status is None:
        return None
    after = r.session_status.text.split("Status:", 1)[1]
    return after.split(",", 1)[0].strip() or None


def _ikev2_row(r: _Reader, line: Line, words: list[str]) -> bool:
    """`1 192.0.2.1/500 198.51.100.7/500 none/none READY` (IOS), `... READY INITIATOR` (ASA),
    or the IPv6 form `1 none/none READY` whose Local and Remote follow on their own lines."""
    if not words[0].isdigit():
        return False
    if len(words) == 3 and "/" in words[1]:
        sa = IkeSa(peer=None, local=None, version=2, state=words[2], line=line)
        sa.vrf = _ivrf(words[1])
        sa.where["state"] = line
        _add_ikev2(r, sa)
        return True
    if len(words) < 5 or "/" not in words[1] or "/" not in words[2]:
        return False
    local, _ = address_port(words[1])
    peer, port = address_port(words[2])
    if local is None or peer is None:
        return False
    sa = IkeSa(peer=peer, local=local, version=2, state=None, line=line)
    if "/" in words[3]:  # IOS: fvrf/ivrf then Status
        sa.vrf = _ivrf(words[3])
        sa.state = words[4]
        r.platform("ios")
    else:  # ASA: Status then Role
        sa.state = words[3]
        sa.role = _ROLES.get(words[4].lower())
        if sa.role:
            sa.where["role"] = line
        sa.status = _session_status(r)
        if sa.status and r.session_status is not None:
            sa.where["status"] = r.session_status
        r.platform("asa")
    sa.where["state"] = line
    _add_ikev2(r, sa)
    r.ikev2_port = port
    return True


def _ivrf(pair: str) -> str | None:
    ivrf = pair.rpartition("/")[2]
    return None if ivrf.lower() in ("none", "") else ivrf


def _add_ikev2(r: _Reader, sa: IkeSa) -> None:
    _close_child(r)
    r.ikev2 = sa
    r.ikev2_port = None
    r.block.ike.append(sa)


def _ikev2_end(r: _Reader, line: Line, words: list[str]) -> None:
    """IOS IPv6 rows: `Local 2001:DB8::1/500`, `Remote 2001:DB8::2/500` under the row."""
    sa = r.ikev2
    address, _ = address_port(words[1])
    if sa is None or address is None:
        return
    if words[0] == "Local":
        sa.local = address
        sa.where["local"] = line
    else:
        sa.peer = address
        sa.where["peer"] = line


def _life_active(r: _Reader, line: Line, words: list[str]) -> None:
    """`Life/Active Time: 86400/735 sec`: the lifetime, and what is left of it."""
    sa = r.ikev2
    if sa is None or len(words) < 3:
        return
    life, _, active = words[2].partition("/")
    if not (life.isdigit() and active.isdigit() and len(life) <= 12 and len(active) <= 12):
        r.block.problems.append(f"line {line.number}: Life/Active Time '{words[2][:40]}' unread")
        return
    sa.lifetime_seconds = int(life)
    sa.remaining_seconds = max(int(life) - int(active), 0)
    sa.where["lifetime_seconds"] = line
    sa.where["remaining_seconds"] = line


def _child_start(r: _Reader, line: Line, text: str) -> None:
    _close_child(r)
    owner = r.ikev2
    if owner is None:
        r.block.problems.append(f"line {line.number}: child SA before any IKEv2 SA row")
    tunnel = Tunnel(
        peer=owner.peer if owner else None, local=owner.local if owner else None, line=line
    )
    if owner is not None:
        tunnel.line = owner.line
        tunnel.where["child"] = line
        tunnel.status = owner.status
        if "status" in owner.where:
            tunnel.where["status"] = owner.where["status"]
        if r.ikev2_port is not None:
            tunnel.peer_port = r.ikev2_port
            tunnel.where["peer_port"] = owner.line
    selector = text.partition("local selector")[2].strip()
    if selector:
        tunnel.local_ident = selector
        tunnel.where["local_ident"] = line
    r.child = tunnel


def _child_remote(r: _Reader, line: Line, text: str) -> None:
    if r.child is not None:
        r.child.remote_ident = text.partition("remote selector")[2].strip() or None
        r.child.where["remote_ident"] = line


def _child_spis(r: _Reader, line: Line, text: str, protocol: str) -> None:
    """`ESP spi in/out: 0x1a2b3c4d/0x5e6f7a8b` (AH 0x0/0x0 means no AH SA)."""
    if r.child is None:
        if protocol == "ah":
            return
        _child_start(r, line, "")
    tunnel = r.child
    assert tunnel is not None
    pair = text.partition(":")[2].strip().split(" ", 1)[0]
    inbound, slash, outbound = pair.partition("/")
    if not slash:
        r.block.problems.append(f"line {line.number}: SPI pair '{pair[:40]}' unread")
        return
    for direction, token in (("inbound", inbound), ("outbound", outbound)):
        value = spi(token)
        if value is None:
            r.block.problems.append(
                f"line {line.number}: SPI '{token[:40]}' is not a 32-bit hexadecimal number"
            )
        elif value or protocol == "esp":
            tunnel.sas.append(Sa(direction=direction, protocol=protocol, spi=value, line=line))
    if protocol == "esp":
        tunnel.where["esp_spis"] = line
        if tunnel not in r.block.tunnels:
            r.block.tunnels.append(tunnel)


def _child_mode(r: _Reader, line: Line, low: str) -> None:
    """Detail: `ah_hmac: None, comp: IPCOMP_NONE, mode tunnel`."""
    tunnel = r.child
    if tunnel is None:
        return
    mode = low.rpartition("mode ")[2].split(" ", 1)[0]
    if mode in ("tunnel", "transport"):
        for sa in tunnel.sas:
            sa.mode = mode
            sa.where["mode"] = line


def _close_child(r: _Reader) -> None:
    tunnel = r.child
    if tunnel is not None and "esp_spis" not in tunnel.where:
        r.block.problems.append(
            f"line {tunnel.where.get('child', tunnel.line).number}: child SA of "
            f"{tunnel.peer or 'an unknown peer'} has no ESP SPIs (output cut?)"
        )
    r.child = None


# --- ISAKMP (IKEv1) tables --------------------------------------------------------------------


def _row(r: _Reader, line: Line, words: list[str]) -> None:
    if _ikev2_row(r, line, words):
        return
    if len(words) >= 4 and canonical(words[0]) is not None:
        _isakmp_row(r, line, words)
    elif words[0].isdigit() and len(words) >= 6:
        if canonical(words[1]) and canonical(words[2]):
            _isakmp_detail_row(r, line, words)
        elif canonical(words[1]):
            _asa_table_row(r, line, words)


def canonical(token: str) -> str | None:
    return None if "/" in token else address_port(token)[0]


def _isakmp_row(r: _Reader, line: Line, words: list[str]) -> None:
    """`dst src state conn-id [slot] status`."""
    dst, src = canonical(words[0]), canonical(words[1])
    if src is None or not words[3].isdigit():
        return
    rest = words[4:]
    if len(rest) > 1 and rest[0].isdigit():  # the slot column of older IOS
        rest = rest[1:]
    status = _status(rest)
    sa = IkeSa(peer=None, local=None, version=1, state=words[2], line=line, status=status)
    sa.dst, sa.src = dst, src
    for name in ("dst", "src", "state", "status"):
        sa.where[name] = line
    r.platform("ios")
    r.block.ike.append(sa)


def _status(words: list[str]) -> str | None:
    """`ACTIVE`, `ACTIVE (deleted)`; what follows (an annotation) is not the status."""
    if not words or not words[0][:1].isalpha():
        return None
    if len(words) > 1 and words[1].startswith("(") and words[1].endswith(")"):
        return f"{words[0]} {words[1]}"
    return words[0]


def _isakmp_detail_row(r: _Reader, line: Line, words: list[str]) -> None:
    """`C-id Local Remote [I-VRF] Status Encr Hash Auth DH Lifetime [Cap.]`: the columns are
    found from the Lifetime (hh:mm:ss), since I-VRF and Cap. may be blank."""
    at = next((i for i in range(len(words) - 1, 2, -1) if hms_seconds(words[i]) is not None), 0)
    status_at = at - 5
    if status_at not in (3, 4):
        r.block.problems.append(f"line {line.number}: isakmp detail row not read")
        return
    sa = IkeSa(
        peer=canonical(words[2]),
        local=canonical(words[1]),
        version=1,
        state=words[status_at],
        line=line,
        status=words[status_at],
        remaining_seconds=hms_seconds(words[at]),
    )
    if status_at == 4:
        sa.vrf = words[3]
        sa.where["vrf"] = line
    sa.where["remaining_seconds"] = line
    r.platform("ios")
    r.block.ike.append(sa)


def _asa_table_row(r: _Reader, line: Line, words: list[str]) -> None:
    """ASA 7: `1 198.51.100.7 L2L Init No MM_Active [3des SHA preshrd 86400]`."""
    sa = IkeSa(peer=canonical(words[1]), local=None, version=1, state=words[5], line=line)
    role = _ROLES.get(words[3].lower())
    if role:
        sa.role = role
        sa.where["role"] = line
    if len(words) >= 10 and words[9].isdigit() and len(words[9]) <= 12:
        sa.lifetime_seconds = int(words[9])
        sa.where["lifetime_seconds"] = line
    sa.where["state"] = line
    r.platform("asa")
    r.block.ike.append(sa)


def _isakmp_v6(r: _Reader, line: Line, words: list[str]) -> None:
    """IOS IPv6: ` dst: X`, ` src: Y`, ` state: QM_IDLE conn-id: 1005 status: ACTIVE`."""
    if words[0] == "dst:":
        r.v6_dst = line
        return
    if words[0] == "src:":
        r.v6_src = line
        return
    if len(words) < 2:
        return
    if r.v6_dst is None or r.v6_src is None:
        r.block.problems.append(f"line {line.number}: IPv6 ISAKMP SA state without dst and src")
        return
    status_at = words.index("status:") + 1 if "status:" in words else len(words)
    sa = IkeSa(
        peer=None,
        local=None,
        version=1,
        state=words[1],
        line=line,
        status=_status(words[status_at:]),
    )
    sa.dst, sa.src = _second_word_address(r.v6_dst), _second_word_address(r.v6_src)
    sa.where.update(dst=r.v6_dst, src=r.v6_src, state=line, status=line)
    r.platform("ios")
    r.block.ike.append(sa)
    r.v6_dst = r.v6_src = None


def _second_word_address(line: Line) -> str | None:
    words = line.text.split()
    return canonical(words[1]) if len(words) > 1 else None


def _finish(r: _Reader) -> None:
    _close_asa_entry(r)
    _close_child(r)
    if r.v6_dst is not None or r.v6_src is not None:
        first = r.v6_dst or r.v6_src
        assert first is not None
        r.block.problems.append(
            f"line {first.number}: output ends inside an IPv6 ISAKMP SA (no state line)"
        )


_MARKERS = ("isakmp sa", "ike peer", "ikev1 sa", "ikev2 sa", "ikev2  sa", "fvrf/ivrf")

ISAKMP = register(
    Command(
        words=("show", "crypto", "isakmp", "sa"),
        platforms=("ios", "asa", "pix"),
        parse=parse,
        anchors=(
            "ipv4 crypto isakmp sa",
            "ipv6 crypto isakmp sa",
            "active sa:",
            "1 ike peer:",
            "ike peer type dir rky state",
        ),
        markers=_MARKERS,
    )
)
IKEV1 = register(
    Command(
        words=("show", "crypto", "ikev1", "sa"),
        platforms=("asa",),
        parse=parse,
        anchors=("ikev1 sas:",),
        markers=_MARKERS,
    )
)
IKEV2 = register(
    Command(
        words=("show", "crypto", "ikev2", "sa"),
        platforms=("ios", "asa"),
        parse=parse,
        anchors=("ipv4 crypto ikev2 sa", "ipv6 crypto ikev2 sa", "ikev2 sas:"),
        markers=_MARKERS,
    )
)
