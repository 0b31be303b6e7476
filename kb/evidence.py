"""From events and groups to signals: what the paste shows, phrased for the engineer."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from kb.events import Event, is_private
from kb.fortigate import IKE_PORTS, NO_TUNNEL, tunnel_and_port
from kb.groups import Group
from kb.signals import Signal
from kb.stamps import duration
from kb.transcripts import counter_value, nat_addresses

REPEAT_MIN_COUNT = 3  # or two lines at least REPEAT_MIN_SPAN apart
REPEAT_MIN_SPAN = 50.0  # IOS logs the error at most once a minute
LONG_OUTAGE = 300.0
FAILOVER_WINDOW = 120.0  # a failover this long before the first invalid SPI still counts
MANY_SPIS = 3
MANY_PEERS_ONE_SPI = 3
MANY_PEERS = 5
RELOAD_WINDOW = 3600.0  # peers keep their old SAs for up to a lifetime (an hour by default)
PFKEY_REKEY_WINDOW = 2.0  # seconds from an IKEv2 rekey packet to the PFKEY report within it
MANY_DROPS = 100  # a drop counter this high is a stream of packets, not one at a rekey
_CRYPTO_PROCESS = re.compile(r"process\s*+=?\s*+\"?\s*+(?:crypto|ipsec|ike|isakmp)", re.I)
_SEQ_ZERO = re.compile(r"sequence number=\s*(?:0x)?0+\b", re.I)
_NAT_T_PORT = re.compile(r"(?::|remport=['\"]?|\()4500\b")


def _repeats(group: Group) -> bool:
    span = group.span_seconds or 0.0
    return group.count >= REPEAT_MIN_COUNT or (group.count >= 2 and span >= REPEAT_MIN_SPAN)


def _where(events: Sequence[Event]) -> str:
    lines = [str(e.line) for e in events[:3]]
    more = f" and {len(events) - 3} more" if len(events) > 3 else ""
    return f"line{'s' if len(events) > 1 else ''} {', '.join(lines)}{more}"


@dataclass(frozen=True)
class _Paste:
    """What every rule reads, worked out once."""

    events: Sequence[Event]
    groups: Sequence[Group]
    invalid: list[Event]
    by_kind: dict[str, list[Event]]
    peers: set[str]

    @classmethod
    def of(cls, events: Sequence[Event], groups: Sequence[Group]) -> _Paste:
        by_kind: dict[str, list[Event]] = defaultdict(list)
        for event in events:
            by_kind[event.kind].append(event)
        invalid = by_kind["invalid_spi"]
        return cls(events, groups, invalid, by_kind, {e.peer for e in invalid if e.peer})


def gather(events: Sequence[Event], groups: Sequence[Group]) -> list[Signal]:
    """Every signal in a paste, in a stable order (pure: same input, same signals)."""
    paste = _Paste.of(events, groups)
    return [signal for rule in _RULES for signal in rule(paste)]


def _timing(paste: _Paste) -> list[Signal]:
    """Per peer: a repeating SPI (and a long outage), a single line, many SPIs."""
    signals = []
    by_peer: dict[str | None, list[Group]] = defaultdict(list)
    for group in paste.groups:
        by_peer[group.peer].append(group)
    for peer, peer_groups in by_peer.items():
        who = peer or "an unknown peer"
        for g in (g for g in peer_groups if _repeats(g)):
            spi = g.spi or "(not printed)"
            span = duration(g.span_seconds) if g.span_seconds is not None else "unknown time"
            signals.append(
                Signal(
                    "repeating_spi",
                    f"the same SPI {spi} from {who} was logged {g.count} times over {span} "
                    "(a rekey race does not repeat; IOS logs this at most once a minute)",
                    peer,
                )
            )
            if (g.span_seconds or 0) >= LONG_OUTAGE:
                signals.append(
                    Signal(
                        "long_outage",
                        f"SPI {spi} from {who} kept failing for {span}: nothing re-keyed "
                        "the tunnel, so dead-peer detection is probably off",
                        peer,
                    )
                )
        if sum(g.count for g in peer_groups) == 1:
            g = peer_groups[0]
            signals.append(
                Signal(
                    "single_event",
                    f"a single invalid-SPI line for {who} (SPI {g.spi or 'not printed'}, "
                    f"line {g.first_line}) "
                    "and nothing after it",
                    peer,
                )
            )
        spis = {g.spi for g in peer_groups if g.spi}
        if len(spis) >= MANY_SPIS:
            signals.append(
                Signal("many_spis_per_peer", f"{len(spis)} different SPIs from {who}", peer)
            )
    return signals


def _sources(paste: _Paste) -> list[Signal]:
    """One SPI from many sources; many sources at once."""
    signals = []
    sources_per_spi: dict[str, set[str]] = defaultdict(set)
    for event in paste.invalid:
        if event.spi and event.peer:
            sources_per_spi[event.spi].add(event.peer)
    for spi, sources in sorted(sources_per_spi.items()):
        if len(sources) >= MANY_PEERS_ONE_SPI:
            signals.append(
                Signal("many_peers_one_spi", f"SPI {spi} arrived from {len(sources)} sources")
            )
    if len(paste.peers) >= MANY_PEERS:
        count = len(paste.peers)
        signals.append(Signal("many_peers", f"invalid SPIs from {count} different sources"))
    return signals


_IKE_COMPANIONS = (
    ("ike_no_sa", "IKMP_NO_SA from {peer}: it still holds an IKE SA this box lost"),
    ("delete_notify_no_sa", "this box had no IKE SA to send a delete notify to {peer} on"),
)


def _ike_companions(paste: _Paste) -> list[Signal]:
    """IKE messages saying one side lost its SA; weaker for a peer with no invalid SPI."""
    signals = []
    for name, text in _IKE_COMPANIONS:
        for peer, found in _per_peer(paste.by_kind[name]).items():
            strength = 1.0 if not paste.peers or peer in paste.peers or peer is None else 0.5
            said = text.format(peer=peer or "the peer") + f" ({_where(found)})"
            signals.append(Signal(name, said, peer, strength))
    return signals


def _failover(paste: _Paste) -> list[Signal]:
    failovers = paste.by_kind["ha_failover"]
    return [_failover_signal(failovers, paste.invalid)] if failovers else []


def _integrity(paste: _Paste) -> list[Signal]:
    """Anti-replay (and its sequence-number-0 form) and MAC failures."""
    signals = []
    found = paste.by_kind["replay_error"]
    if found:
        signals.append(
            Signal("replay_errors", f"{len(found)} anti-replay failure(s) ({_where(found)})")
        )
        zero = [e for e in found if _SEQ_ZERO.search(e.text)]
        if zero:
            signals.append(
                Signal(
                    "replay_seq_zero",
                    f"anti-replay failure with sequence number 0 ({_where(zero)})",
                )
            )
    found = paste.by_kind["mac_error"]
    if found:
        signals.append(
            Signal("mac_errors", f"{len(found)} integrity (MAC) failure(s) ({_where(found)})")
        )
    return signals


def _mismatch(paste: _Paste) -> list[Signal]:
    mismatch = sorted(
        paste.by_kind["policy_mismatch"] + paste.by_kind["not_ipsec"], key=lambda e: e.line
    )
    if not mismatch:
        return []
    return [
        Signal(
            "policy_mismatch",
            f"{len(mismatch)} policy mismatch / clear-text-where-ESP-expected message(s) "
            f"({_where(mismatch)})",
        )
    ]


def _acl_denies(paste: _Paste) -> list[Signal]:
    signals = []
    for peer, found in _per_peer(paste.by_kind["acl_deny"]).items():
        strength = 1.0 if not paste.peers or peer in paste.peers else 0.5
        what = ", ".join(sorted({e.detail or "" for e in found}))
        signals.append(
            Signal(
                "acl_deny_ike",
                f"an ACL denied {what} from {peer or 'a peer'} ({_where(found)})",
                peer,
                strength,
            )
        )
    return signals


def _nat(paste: _Paste) -> list[Signal]:
    """A private peer talking to a public address, or UDP 4500 in the lines."""
    pairs = {(g.peer, g.local) for g in paste.groups if g.peer}
    natted = sorted({p for p, local in pairs if is_private(p) and not is_private(local)})
    signals = [
        Signal("nat_t", f"peer {peer} is a private address talking to a public one: NAT", peer)
        for peer in natted
    ]
    # UDP 4500 from a source no tunnel owns (FortiGate vpntunnel="N/A") says nothing about
    # the NAT of a tunnel.
    port_4500 = [
        e for e in paste.events if _NAT_T_PORT.search(e.text) and tunnel_and_port(e)[0] != NO_TUNNEL
    ]
    if port_4500 and not natted:
        signals.append(Signal("nat_t", f"UDP 4500 (NAT-T) is in use ({_where(port_4500)})"))
    return signals


def _protocol_and_tunnel(paste: _Paste) -> list[Signal]:
    """AH packets, IKEv2 invalid-SPI notifies, tunnel down events."""
    signals = []
    ah = [e for e in paste.invalid if e.protocol == "ah"]
    if ah:
        signals.append(Signal("ah_protocol", f"the packets are AH ({_where(ah)})"))
    found = paste.by_kind["ike_invalid_spi_notify"]
    if found:
        signals.append(
            Signal(
                "ike_invalid_spi_notify",
                f"IKEv2 reported an invalid SPI at rekey ({_where(found)})",
            )
        )
    downs = sum(e.detail == "DOWN" for e in paste.by_kind["tunnel_status"])
    if downs:
        signals.append(Signal("tunnel_flap", f"the tunnel went down {downs} time(s)"))
    return signals


def _fortigate(paste: _Paste) -> list[Signal]:
    """Per peer, from FortiGate's unknown-SPI event: no tunnel owns the SPI; the remote port
    changed between lines (a NAT made a new binding) or is one IKE never uses."""
    signals = []
    seen: dict[str | None, list[tuple[Event, str | None, str | None]]] = defaultdict(list)
    for event in paste.invalid:
        tunnel, port = tunnel_and_port(event)
        if tunnel or port:
            seen[event.peer].append((event, tunnel, port))
    for peer, found in sorted(seen.items(), key=lambda kv: kv[0] or ""):
        who = peer or "an unknown source"
        orphans = [e for e, tunnel, _ in found if tunnel == NO_TUNNEL]
        if orphans:
            signals.append(
                Signal(
                    "no_tunnel_for_spi",
                    f'no tunnel owns the SPIs from {who} (vpntunnel="N/A", {_where(orphans)}): '
                    "FortiGate names the tunnel of a configured peer, so this source is not one",
                    peer,
                )
            )
        ports = list(dict.fromkeys(port for _, _, port in found if port))
        if len(ports) >= 2:
            signals.append(
                Signal(
                    "remote_port_changed",
                    f"the remote port of {who} changed ({' -> '.join(ports[:4])}): a NAT in "
                    "front of it made a new binding for the same tunnel",
                    peer,
                )
            )
        odd = [port for port in ports if port not in IKE_PORTS]
        if odd:
            signals.append(
                Signal(
                    "odd_remote_port",
                    f"ESP from {who} came from port {', '.join(odd[:3])}, not the 500/4500 that "
                    "IKE uses: a NAT in front of it, or not an IKE peer at all",
                    peer,
                )
            )
    return signals


def _first_invalid(paste: _Paste, peer: str | None = None) -> Event | None:
    """The first invalid-SPI event of the paste, or of one peer."""
    return next((e for e in paste.invalid if peer is None or e.peer == peer), None)


def _before(event: Event, target: Event | None, window: float) -> tuple[bool, float | None]:
    """Whether event comes before target (by line, and within `window` seconds when both have
    times), and the gap in seconds when known."""
    if target is None or event.line > target.line:
        return False, None
    gap = None
    if event.seconds is not None and target.seconds is not None:
        gap = target.seconds - event.seconds
    return gap is None or 0 <= gap <= window, gap


def _box(paste: _Paste) -> list[Signal]:
    """This box reloaded (its peers still hold the old SAs), or ran short of memory, CPU or
    forwarding capacity (a crypto process failing is the strongest case)."""
    signals = []
    reloads = paste.by_kind["box_reload"]
    if reloads:
        first = reloads[0]
        before, gap = _before(first, _first_invalid(paste), RELOAD_WINDOW)
        what = f"this box restarted ({first.tag or first.detail}, line {first.line})"
        if before:
            when = f"{duration(gap)} " if gap is not None else ""
            said = (
                f"{what} {when}before the first invalid SPI: it lost every SA while its peers "
                "kept theirs, so they keep sending on SPIs it no longer has"
            )
            signals.append(Signal("box_reloaded", said))
        else:
            said = f"{what}, not shortly before the invalid SPIs"
            signals.append(Signal("box_reloaded", said, strength=0.5))
    found = paste.by_kind["box_resources"]
    problems = [e for e in found if not (e.detail or "").startswith("process ")]
    if problems:
        tags = sorted({(e.tag or "").lstrip("%") for e in problems if e.tag})
        crypto = any(_CRYPTO_PROCESS.search(e.text) for e in found)
        where = " in a crypto process" if crypto else ""
        said = f"this box ran short of resources{where} ({', '.join(tags)}; {_where(problems)})"
        signals.append(Signal("box_resources", said, strength=1.0 if crypto else 0.5))
    return signals


def _one_sided_clear(paste: _Paste) -> list[Signal]:
    """An operator cleared SAs on this box (a command in the paste), or this box deleted an SA
    with no IKE SA to tell the peer on (delete notify for an SPI that then comes back invalid):
    the peer was never told."""
    signals = []
    for event in paste.by_kind["operator_clear"]:
        target = _first_invalid(paste, event.peer) or _first_invalid(paste)
        before, _ = _before(event, target, RELOAD_WINDOW)
        what = f"`{event.detail}` typed on this box (line {event.line})"
        if before:
            said = f"{what} before the invalid SPIs: the peer was not told and kept its SAs"
            signals.append(Signal("one_sided_clear", said, event.peer))
        else:
            said = f"{what} after the invalid SPIs began: not what started them"
            signals.append(Signal("one_sided_clear", said, event.peer, strength=0.3))
    invalid_spis = {(e.peer, e.spi) for e in paste.invalid if e.spi}
    for event in paste.by_kind["delete_notify_no_sa"]:
        if event.spi and (event.peer, event.spi) in invalid_spis:
            said = (
                f"this box deleted SA {event.spi} of {event.peer} with no IKE SA to tell it on "
                f"(line {event.line}), and the peer kept sending on it"
            )
            signals.append(Signal("one_sided_clear", said, event.peer))
            break
    return signals


def _nat_debug(paste: _Paste) -> list[Signal]:
    """`debug ip nat` translating traffic between two private networks: traffic that belongs
    in the tunnel is translated first, so it no longer matches the crypto ACL or proxy IDs."""
    translated = []
    for event in paste.by_kind["nat_translation"]:
        addresses = nat_addresses(event)
        if addresses is None:
            continue
        inside, outside, remote = addresses
        if inside != outside and is_private(inside) and is_private(remote):
            translated.append((event, inside, outside, remote))
    if not translated:
        return []
    _, inside, outside, remote = translated[0]
    lines = _where([t[0] for t in translated])
    said = (
        f"NAT translated {inside} -> {outside} for traffic to {remote} ({lines}): "
        "traffic between private networks is normally sent through the VPN untranslated, so a "
        "NAT exemption is probably missing"
    )
    return [Signal("nat_translated_vpn", said)]


def _drops(paste: _Paste) -> list[Signal]:
    """Drop counters: packets on SPIs this box does not have (ASA `show asp drop`, IOS-XE QFP,
    `#pkts invalid sa`), and anti-replay failures (`#pkts replay failed`)."""
    signals = []
    many = [e for e in paste.by_kind["drop_counter"] if counter_value(e) >= MANY_DROPS]
    replay = [e for e in many if (e.detail or "").startswith("replay failed")]
    invalid = [e for e in many if e not in replay]
    # When anti-replay failures outnumber them, the packets on unknown SPIs are most likely
    # late packets of SAs already replaced: the same reordering, not a stream on a stale SA.
    if sum(map(counter_value, invalid)) < sum(map(counter_value, replay)):
        invalid = []
    if invalid:
        said = "; ".join(f"{e.detail} (line {e.line})" for e in invalid[:2])
        signals.append(
            Signal(
                "invalid_spi_drops",
                f"drop counters: {said}: a steady stream of packets on SPIs this box does not "
                "have, not a few at a rekey",
            )
        )
    if replay:
        said = "; ".join(f"{e.detail} (line {e.line})" for e in replay[:2])
        # The counters are anti-replay failures beside the invalid SPIs, like the log lines;
        # their number is the further evidence.
        signals.append(Signal("replay_errors", f"anti-replay failures in the SA counters ({said})"))
        signals.append(
            Signal(
                "replay_drops",
                f"the SA counters show {said}: packets arrive late or out of order, by the "
                "thousands",
            )
        )
    return signals


def _pfkey_at_rekey(paste: _Paste, pfkey: list[Event]) -> list[Signal]:
    """PFKEY Invalid SPI in the middle of an IKEv2 CREATE_CHILD_SA exchange (a rekey) with the
    same peer: the box reports the SA it is negotiating (CSCwc54984: 'not expected')."""
    rekeys = [e for e in paste.by_kind["ike_packet"] if "CREATE_CHILD_SA" in (e.detail or "")]
    for event in pfkey:
        for rekey in rekeys:
            close, _ = _before(rekey, event, PFKEY_REKEY_WINDOW)
            if close and rekey.peer in (event.peer, None):
                said = (
                    f"PFKEY Invalid SPI {event.spi or ''} (line {event.line}) in the middle of a "
                    f"CREATE_CHILD_SA exchange (a rekey) with {rekey.peer} (line {rekey.line}): "
                    "the box reported the SA it was negotiating, which Cisco's bug CSCwc54984 "
                    "calls not expected"
                )
                return [Signal("pfkey_invalid_at_rekey", said.replace("SPI  (", "SPI ("))]
    return []


def _defect_signatures(paste: _Paste) -> list[Signal]:
    """ASA/FTD PFKEY 'Invalid SPI' (Cisco's bug notes CSCwc54984 and CSCvx23833 call it, at a
    rekey the box started, unexpected), and an SPI reported invalid that is one of this box's
    own SPIs byte-reversed (CSCvx23833)."""
    signals = []
    pfkey = [
        e for e in paste.invalid if e.platform in ("asa", "ftd") and "PFKEY" in (e.detail or "")
    ]
    if pfkey:
        spis = ", ".join(sorted({e.spi for e in pfkey if e.spi})) or "an SPI"
        said = (
            f"the ASA/FTD IKEv2 process got 'PFKEY Invalid SPI' for {spis} ({_where(pfkey)}): "
            "Cisco's bug notes CSCwc54984 and CSCvx23833 call this unexpected at a rekey"
        )
        signals.append(Signal("pfkey_invalid_spi", said))
        signals.extend(_pfkey_at_rekey(paste, pfkey))
    others: dict[str, Event] = {}
    for event in paste.events:
        if event.spi and event.kind != "invalid_spi":
            others.setdefault(event.spi, event)
    for event in paste.invalid:
        if not event.spi:
            continue
        flipped = f"0x{int(event.spi, 16).to_bytes(4, 'big')[::-1].hex().upper()}"
        own = others.get(flipped)
        if own is not None and flipped != event.spi:
            said = (
                f"SPI {event.spi} reported invalid (line {event.line}) is {flipped} (line "
                f"{own.line}) byte-reversed: the box mangled its own SPI, a defect (CSCvx23833), "
                "not a race"
            )
            signals.append(Signal("spi_byte_reversed", said, event.peer))
            break
    return signals


# In this order: the order of the reasons in a reply.
_RULES = (
    _timing,
    _sources,
    _ike_companions,
    _failover,
    _integrity,
    _mismatch,
    _acl_denies,
    _nat,
    _protocol_and_tunnel,
    _fortigate,
    _box,
    _one_sided_clear,
    _nat_debug,
    _drops,
    _defect_signatures,
)


def _per_peer(events: Sequence[Event]) -> dict[str | None, list[Event]]:
    out: dict[str | None, list[Event]] = defaultdict(list)
    for event in events:
        out[event.peer].append(event)
    return dict(sorted(out.items(), key=lambda kv: kv[0] or ""))


def _failover_signal(failovers: Sequence[Event], invalid: Sequence[Event]) -> Signal:
    first = failovers[0]
    what = f"{first.detail or 'failover'}" + (f" on {first.interface}" if first.interface else "")
    if not invalid:
        return Signal("ha_failover", f"{what} (line {first.line})", strength=0.5)
    target = invalid[0]
    before = first.line < target.line
    gap = None
    if first.seconds is not None and target.seconds is not None:
        gap = target.seconds - first.seconds
    if before and (gap is None or 0 <= gap <= FAILOVER_WINDOW):
        when = f"{duration(gap)} " if gap is not None else ""
        return Signal(
            "ha_failover",
            f"{what} {when}before the first invalid SPI (line {first.line}): the new active "
            "box never had the peer's SA",
            target.peer,
        )
    return Signal(
        "ha_failover",
        f"{what} (line {first.line}), not right before the invalid SPIs",
        strength=0.5,
    )
