"""From events and groups to signals: what the paste shows, phrased for the engineer.

The rules on the invalid-SPI lines and their companion messages are here; the rules on what
surrounds them (FortiGate's fields, this box, the operator's session, defect signatures) are in
kb/evidence_context.py. Each rule is one small function; _RULES lists them all, in order.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

from kb import evidence_context
from kb.events import Event, is_private
from kb.fortigate import NO_TUNNEL, tunnel_and_port
from kb.groups import Group
from kb.model import MODEL
from kb.paste import Paste, per_peer, where
from kb.signals import Signal, emits
from kb.stamps import duration

REPEAT_MIN_COUNT = MODEL["evidence"]["repeat_min_count"]  # numbers: kb/model.yaml
REPEAT_MIN_SPAN = MODEL["evidence"]["repeat_min_span"]
LONG_OUTAGE = MODEL["evidence"]["long_outage"]
FAILOVER_WINDOW = MODEL["evidence"]["failover_window"]
MANY_SPIS = MODEL["evidence"]["many_spis"]
MANY_PEERS_ONE_SPI = MODEL["evidence"]["many_peers_one_spi"]
MANY_PEERS = MODEL["evidence"]["many_peers"]
_SEQ_ZERO = re.compile(r"sequence number=\s*(?:0x)?0+\b", re.I)
_NAT_T_PORT = re.compile(r"(?::|remport=['\"]?|\()4500\b")


def _repeats(group: Group) -> bool:
    span = group.span_seconds or 0.0
    return group.count >= REPEAT_MIN_COUNT or (group.count >= 2 and span >= REPEAT_MIN_SPAN)


def gather(events: Sequence[Event], groups: Sequence[Group]) -> list[Signal]:
    """Every signal in a paste, in a stable order (pure: same input, same signals)."""
    paste = Paste.of(events, groups)
    return [signal for rule in _RULES for signal in rule(paste)]


# Said of a repeating SPI: the once-a-minute rate limit is IOS's, so only an IOS paste hears it.
_REPEATS = {
    "ios": "a rekey race does not repeat; IOS logs this at most once a minute",
    None: "a rekey race does not repeat",
}


@emits(
    ("repeating_spi", "symptom", "the same SPI from the same peer repeating over a minute or more"),
    (
        "long_outage",
        "symptom",
        "the same SPI repeating for five minutes or more: nothing re-keyed it",
    ),
    ("single_event", "symptom", "one invalid-SPI line for a peer and SPI, then silence"),
    ("many_spis_per_peer", "symptom", "three or more different SPIs from one peer"),
)
def _timing(paste: Paste) -> list[Signal]:
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
                    f"({_REPEATS.get(g.platform, _REPEATS[None])})",
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


@emits(
    ("many_peers_one_spi", "symptom", "one SPI from three or more different sources"),
    ("many_peers", "symptom", "invalid SPIs from five or more sources"),
)
def _sources(paste: Paste) -> list[Signal]:
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


@emits(
    ("ike_no_sa", "direct", "IKMP_NO_SA from a peer: it holds an IKE SA this box does not"),
    ("delete_notify_no_sa", "direct", "no IKE SA to send a delete notify on"),
)
def _ike_companions(paste: Paste) -> list[Signal]:
    """IKE messages saying one side lost its SA; weaker for a peer with no invalid SPI."""
    signals = []
    for name, text in _IKE_COMPANIONS:
        for peer, found in per_peer(paste.by_kind[name]).items():
            strength = 1.0 if not paste.peers or peer in paste.peers or peer is None else 0.5
            said = text.format(peer=peer or "the peer") + f" ({where(found)})"
            signals.append(Signal(name, said, peer, strength))
    return signals


@emits(
    ("ha_failover", "direct", "an HSRP/VRRP/ASA failover before the invalid SPIs"),
)
def _failover(paste: Paste) -> list[Signal]:
    failovers = paste.by_kind["ha_failover"]
    return [_failover_signal(failovers, paste.invalid)] if failovers else []


@emits(
    ("replay_errors", "direct", "anti-replay failures beside the invalid SPIs"),
    ("replay_seq_zero", "direct", "anti-replay failure with sequence number 0"),
    ("mac_errors", "direct", "integrity (MAC) failures beside the invalid SPIs"),
)
def _integrity(paste: Paste) -> list[Signal]:
    """Anti-replay (and its sequence-number-0 form) and MAC failures, per peer: they concern
    the SA of the peer the line names (a line naming none, such as IOS PKT_REPLAY_ERR, counts
    for the whole paste)."""
    signals = []
    for peer, found in per_peer(paste.by_kind["replay_error"]).items():
        source = f" from {peer}" if peer else ""
        said = f"{len(found)} anti-replay failure(s){source} ({where(found)})"
        signals.append(Signal("replay_errors", said, peer))
        zero = [e for e in found if _SEQ_ZERO.search(e.text)]
        if zero:
            said = f"anti-replay failure with sequence number 0{source} ({where(zero)})"
            signals.append(Signal("replay_seq_zero", said, peer))
    for peer, found in per_peer(paste.by_kind["mac_error"]).items():
        source = f" from {peer}" if peer else ""
        said = f"{len(found)} integrity (MAC) failure(s){source} ({where(found)})"
        signals.append(Signal("mac_errors", said, peer))
    return signals


@emits(
    ("policy_mismatch", "direct", "proxy-ID/policy mismatch or clear text where ESP was expected"),
)
def _mismatch(paste: Paste) -> list[Signal]:
    mismatch = sorted(
        paste.by_kind["policy_mismatch"] + paste.by_kind["not_ipsec"], key=lambda e: e.line
    )
    if not mismatch:
        return []
    return [
        Signal(
            "policy_mismatch",
            f"{len(mismatch)} policy mismatch / clear-text-where-ESP-expected message(s) "
            f"({where(mismatch)})",
        )
    ]


@emits(
    ("acl_deny_ike", "direct", "an ACL denied IKE (UDP 500/4500) or ESP"),
)
def _acl_denies(paste: Paste) -> list[Signal]:
    signals = []
    for peer, found in per_peer(paste.by_kind["acl_deny"]).items():
        strength = 1.0 if not paste.peers or peer in paste.peers else 0.5
        what = ", ".join(sorted({e.detail or "" for e in found}))
        signals.append(
            Signal(
                "acl_deny_ike",
                f"an ACL denied {what} from {peer or 'a peer'} ({where(found)})",
                peer,
                strength,
            )
        )
    return signals


@emits(
    ("nat_t", "context", "the peer is behind NAT or uses UDP 4500"),
)
def _nat(paste: Paste) -> list[Signal]:
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
        signals.append(Signal("nat_t", f"UDP 4500 (NAT-T) is in use ({where(port_4500)})"))
    return signals


@emits(
    ("ah_protocol", "direct", "the packets are AH, which cannot cross NAT"),
    ("ike_invalid_spi_notify", "direct", "an IKEv2 INVALID_SPI notify (at a rekey: a race)"),
    ("tunnel_flap", "context", "the tunnel went down or flapped"),
)
def _protocol_and_tunnel(paste: Paste) -> list[Signal]:
    """AH packets, IKEv2 invalid-SPI notifies, tunnel down events."""
    signals = []
    ah = [e for e in paste.invalid if e.protocol == "ah"]
    if ah:
        signals.append(Signal("ah_protocol", f"the packets are AH ({where(ah)})"))
    found = paste.by_kind["ike_invalid_spi_notify"]
    if found:
        signals.append(
            Signal(
                "ike_invalid_spi_notify",
                f"IKEv2 reported an invalid SPI at rekey ({where(found)})",
            )
        )
    downs = sum(e.detail == "DOWN" for e in paste.by_kind["tunnel_status"])
    if downs:
        signals.append(Signal("tunnel_flap", f"the tunnel went down {downs} time(s)"))
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
    *evidence_context.RULES,
)


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
