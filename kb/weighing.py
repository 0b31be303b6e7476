"""How much each signal counts, and for which peer: the timing rules, in one place.

kb/evidence.py names what a paste shows; this module decides how much each observation can
prove, from the time the paste covers and what else it shows, and which peer's ranking it
belongs to. Every rule is a class of evidence, never a case:

- **A single line** is evidence of a rekey race only when the paste shows enough log after it
  to see that it did not repeat. IOS logs the message at most once a minute, so a line followed
  by less than SILENCE_SOME (60 s) of the same device's log, or by nothing, says nothing about
  repetition: it counts SINGLE_UNSEEN. Between SILENCE_SOME and SILENCE_ENOUGH (120 s, two of
  those minutes) it counts SINGLE_SOME; after that, fully. The reason says which.
- **A one-sided clear** (this box had no IKE SA to send a delete notify on, for the same peer)
  means the SA was already gone here: the single line is then no race (SINGLE_AFTER_CLEAR).
- **Several SPIs from one peer** show SAs that keep changing only when the SPIs replace one
  another over time. SPIs seen at the same time are one SA per proxy-ID pair (a policy-based
  VPN has several, all live): SPIS_AT_ONCE. Without times the paste cannot show which it is:
  SPIS_UNTIMED. Both are 0: on their own, several SPIs must not make lifetime-mismatch top.
- **What made the SAs go out of step, when the paste shows it**, is the cause, and the
  symptoms of SAs out of step (EXPLAINED: the repetition, the long outage, one side's lost IKE
  SA) count EXPLAINED_BY_CAUSE: for a peer whose IKE or ESP an ACL or policy denied between the
  same two addresses, and for every peer after a failover of this box right before the lines
  (an ha_failover signal at full strength). Repetition is the symptom; the deny is the cause.
- **Which peer**: a signal counts for the peer it names. Signals with no peer (many peers, one
  SPI from many sources) and signals about this box (BOX_WIDE: a failover) count for every
  peer; so does a companion line naming an address with no invalid SPI in the paste (at the
  reduced strength kb/evidence.py gave it). OWN_LINES are patterns of one peer's own lines:
  with no peer they belong to the "unknown peer" entry, not to everyone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace

from kb.events import Event
from kb.evidence import MANY_SPIS
from kb.groups import Group
from kb.model import MODEL
from kb.signals import Signal
from kb.stamps import duration

SILENCE_SOME = MODEL["timing"]["silence_some"]  # numbers: kb/model.yaml
SILENCE_ENOUGH = MODEL["timing"]["silence_enough"]
SINGLE_UNSEEN = MODEL["timing"]["single_unseen"]
SINGLE_SOME = MODEL["timing"]["single_some"]
SINGLE_AFTER_CLEAR = MODEL["timing"]["single_after_clear"]
AT_ONCE_SECONDS = MODEL["timing"]["at_once_seconds"]
SPIS_AT_ONCE = MODEL["timing"]["spis_at_once"]
SPIS_UNTIMED = MODEL["timing"]["spis_untimed"]
EXPLAINED_BY_CAUSE = MODEL["timing"]["explained_by_cause"]

OWN_LINES = frozenset({"single_event", "repeating_spi", "long_outage", "many_spis_per_peer"})
FAILOVER = frozenset({"ha_failover"})  # this box failed over (strength 1: right before)
BOX_WIDE = FAILOVER | {"box_reloaded"}  # about this box: counts for every peer
ONE_SIDED_CLEAR = frozenset({"delete_notify_no_sa", "one_sided_clear"})
DENY = "acl_deny"  # the event kind of a deny of IKE/ESP
EXPLAINED = frozenset({"repeating_spi", "long_outage", "ike_no_sa", "delete_notify_no_sa"})


def applies(signal: Signal, peer: str | None, peers: set[str | None]) -> bool:
    """Whether a signal counts for `peer` (None: the unknown peer), `peers` being the paste's."""
    if signal.peer == peer:
        return True
    if signal.peer is None:
        return signal.name not in OWN_LINES
    return signal.name in BOX_WIDE or signal.peer not in peers


def weigh(signals: Sequence[Signal], events: Sequence[Event], groups: Sequence[Group]):
    """The signals with the strengths (and reasons) the timing rules give them, same order."""
    by_peer: dict[str | None, list[Group]] = defaultdict(list)
    for group in groups:
        by_peer[group.peer].append(group)
    last = _last_seconds(events, groups)
    # A clear that came before the lines (strength 1), of that peer or of every peer (None).
    cleared = {s.peer for s in signals if s.name in ONE_SIDED_CLEAR and s.strength >= 1.0}
    denied = _denied_peers(events, groups)
    failover = any(s.name in FAILOVER and s.strength >= 1.0 for s in signals)
    out = []
    for signal in signals:
        own = by_peer.get(signal.peer, [])
        if signal.name == "single_event" and own:
            signal = _single(signal, own[0], last, bool(cleared & {signal.peer, None}))
        elif signal.name == "many_spis_per_peer" and own:
            signal = _spis(signal, own)
        if signal.name in EXPLAINED and signal.peer in denied:
            why = "; explained by the deny of IKE/ESP between the same two addresses"
            signal = _scaled(signal, EXPLAINED_BY_CAUSE, why)
        elif signal.name in EXPLAINED and failover:
            why = "; explained by the failover on this box just before the lines"
            signal = _scaled(signal, EXPLAINED_BY_CAUSE, why)
        out.append(signal)
    return out


def _scaled(signal: Signal, strength: float, why: str) -> Signal:
    if strength >= signal.strength:
        return signal
    return replace(signal, strength=strength, detail=signal.detail + why)


def _last_seconds(events: Iterable[Event], groups: Iterable[Group]) -> dict[str | None, float]:
    """The last time logged per platform: times of different log sources do not compare (one
    prints the year, another does not)."""
    last: dict[str | None, float] = {}
    stamps = [(e.platform, e.seconds) for e in events]
    stamps += [(g.platform, g.last_seconds) for g in groups]
    for platform, seconds in stamps:
        if seconds is not None and seconds > last.get(platform, float("-inf")):
            last[platform] = seconds
    return last


def _single(signal: Signal, group: Group, last: dict, cleared: bool) -> Signal:
    if cleared:
        return _scaled(
            signal,
            SINGLE_AFTER_CLEAR,
            "; but this box had already lost the SA (a one-sided clear), so it is no race",
        )
    at, end = group.first_seconds, last.get(group.platform)
    after = None if at is None or end is None else max(0.0, end - at)
    if after is not None and after >= SILENCE_ENOUGH:
        return replace(signal, detail=signal.detail + f" for the {duration(after)} the paste shows")
    if after is not None and after >= SILENCE_SOME:
        # The once-a-minute rate limit is IOS's: other platforms' reasons do not mention it.
        minute = (
            "barely the minute in which IOS would log it again"
            if group.platform == "ios"
            else "barely a minute"
        )
        return _scaled(
            signal, SINGLE_SOME, f"; but the paste shows only {duration(after)} after it, {minute}"
        )
    shown = "ends there" if not after else f"shows only {duration(after)} after it"
    limit = " (IOS logs it at most once a minute)" if group.platform == "ios" else ""
    return _scaled(
        signal,
        SINGLE_UNSEEN,
        f"; but the paste {shown}, too short to show whether it repeats{limit}",
    )


def _spis(signal: Signal, groups: list[Group]) -> Signal:
    spans: dict[str, tuple[float, float] | None] = {}
    for g in groups:
        if not g.spi:
            continue
        first, last = g.first_seconds, g.last_seconds
        if first is None or last is None or (g.spi in spans and spans[g.spi] is None):
            spans[g.spi] = None
            continue
        seen = spans.get(g.spi)
        spans[g.spi] = (first, last) if seen is None else (min(seen[0], first), max(seen[1], last))
    if any(span is None for span in spans.values()):
        return _scaled(
            signal,
            SPIS_UNTIMED,
            "; the paste does not show whether they replaced one another or were live together",
        )
    chain, end = 0, float("-inf")
    for first, last in sorted(span for span in spans.values() if span is not None):
        if first > end + AT_ONCE_SECONDS:
            chain += 1
            end = last
        else:
            end = max(end, last)
    if chain >= MANY_SPIS:
        return replace(signal, detail=signal.detail + ", one after another")
    return _scaled(
        signal,
        SPIS_AT_ONCE,
        ", live at the same time: one SA per pair of protected networks (a policy-based VPN "
        "has several), not SAs that keep changing",
    )


def _denied_peers(events: Iterable[Event], groups: Iterable[Group]) -> set[str]:
    """Peers whose IKE or ESP was denied between the same two addresses as their invalid SPIs."""
    pairs: dict[str, set[str | None]] = defaultdict(set)
    for g in groups:
        if g.peer:
            pairs[g.peer].add(g.local)
    denied = set()
    for event in events:
        if event.kind != DENY or event.peer not in pairs:
            continue
        locals_ = pairs[event.peer]
        if event.local is None or None in locals_ or event.local in locals_:
            denied.add(event.peer)
    return denied
