"""One diagnosis per peer, and whether this box is the place to look first.

Each peer of a paste (from its invalid-SPI groups; lines with no peer are one "unknown peer"
entry) gets its own signals (kb/weighing.py says which count for it), its own history, its own
ranking with its own confidence and "what would decide it", and later its own incident. So
four repeating lines from one peer and a single line from another are two answers, not one
ranking where each peer's evidence argues against the other's.

When many peers fail at once, the common cause is more likely on this box than on each of
them: BOX_FIRST_PEERS peers whose first invalid SPIs fall within BOX_FIRST_WINDOW, or two or
more after this box failed over (BOX_EVENTS), make the reply say "N peers at once: look at
this box first". Not when the peers look like unsolicited ESP (a scan is many peers too).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from kb import answer
from kb.article import Article
from kb.confidence import CONFIRMED, decide
from kb.events import Event
from kb.groups import Group
from kb.model import MODEL
from kb.ranking import Cause, History, rank
from kb.recall import recall, recurring
from kb.signals import Signal
from kb.state.ask import ask
from kb.state.confirm import apply, confirm, views
from kb.state.findings import Ask, Finding
from kb.state.model import StateBlock
from kb.store import Store
from kb.weighing import applies

MAX_PEERS_DIAGNOSED = 20  # beyond this many peers, the paste is a scan: the busiest are ranked
BOX_FIRST_PEERS = MODEL["peers"]["box_first_peers"]  # numbers: kb/model.yaml
BOX_FIRST_WINDOW = MODEL["peers"]["box_first_window"]
BOX_EVENTS = frozenset({"ha_failover"})  # this box failed over
NOT_THIS_BOX = frozenset({"unsolicited-esp"})  # top causes that make many peers no box problem


@dataclass
class PeerDiagnosis:
    peer: str | None  # None: the lines that name no peer
    local: str | None
    platform: str | None
    groups: list[Group]
    signals: list[Signal]
    causes: list[Cause]
    decide: str | None = None
    incident: int | None = None
    history: History = field(default_factory=History)
    findings: list[Finding] = field(default_factory=list)  # what pasted device state proves
    ask: list[Ask] = field(default_factory=list)  # what to paste to confirm the top cause

    @property
    def confidence(self) -> str:
        return self.causes[0].confidence if self.causes else ""

    @property
    def lines(self) -> int:
        return sum(g.count for g in self.groups)

    @property
    def spis(self) -> list[str]:
        return list(dict.fromkeys(g.spi for g in self.groups if g.spi))

    @property
    def spi(self) -> str | None:
        busiest = max(self.groups, key=lambda g: g.count, default=None)
        return busiest.spi if busiest else None

    def to_dict(self, top: int) -> dict:
        first = answer.first_action(self)
        return {
            "headline": answer.headline(self),
            "first_action": first.to_dict() if first else None,
            "peer": self.peer,
            "local": self.local,
            "platform": self.platform,
            "lines": self.lines,
            "spis": self.spis,
            "confidence": self.confidence,
            "causes": [c.to_dict() for c in self.causes[:top]],
            "decide": self.decide,
            "incident": self.incident,
            "findings": [f.to_dict() for f in self.findings],
            "ask": [a.to_dict() for a in self.ask],
        }


def by_peer(groups: Sequence[Group]) -> list[tuple[str | None, list[Group]]]:
    """The groups of each peer, busiest peer first (then a known peer, then the first seen)."""
    found: dict[str | None, list[Group]] = defaultdict(list)
    for group in groups:
        found[group.peer].append(group)
    return sorted(
        found.items(),
        key=lambda kv: (-sum(g.count for g in kv[1]), kv[0] is None, kv[1][0].first_line),
    )


def diagnose_peers(
    groups: Sequence[Group],
    events: Sequence[Event],
    signals: Sequence[Signal],
    articles: Sequence[Article],
    store: Store | None,
    now: datetime,
    limit: int = MAX_PEERS_DIAGNOSED,
    state: Sequence[StateBlock] = (),
) -> list[PeerDiagnosis]:
    """A ranking per peer, busiest first, for the `limit` busiest peers; pasted device state
    confirms, supports or contradicts each (kb/state/confirm.py)."""
    split = by_peer(groups)
    peers = {peer for peer, _ in split}
    known = {peer for peer in peers if peer}
    out = []
    for peer, own in split[:limit]:
        mine = [s for s in signals if applies(s, peer, peers)]
        history = History()
        if store is not None:
            seen = [e for e in events if e.peer == peer]
            history = recall(store, seen, own, mine, others=known - {peer})
            mine += recurring(history, now)
        busiest = max(own, key=lambda g: g.count)
        platform = busiest.platform or next((e.platform for e in events if e.platform), None)
        causes = rank(articles, mine, history, platform=platform, peer=peer, local=busiest.local)
        diagnosis = PeerDiagnosis(peer, busiest.local, platform, own, mine, causes)
        diagnosis.history = history
        diagnosis.findings = confirm(own, state) if state else []
        apply(causes, diagnosis.findings)
        if causes and causes[0].confidence != CONFIRMED:
            diagnosis.decide = decide(causes, platform, peer, busiest.local, diagnosis.spi)
        receiver, sender = views(busiest, state)
        top = causes[0].id if causes else None
        diagnosis.ask = ask(
            top, platform, peer, busiest.local, busiest.device, receiver, sender, diagnosis.findings
        )
        out.append(diagnosis)
    return out


def box_first(
    groups: Sequence[Group], peers: Sequence[PeerDiagnosis], signals: Sequence[Signal]
) -> str | None:
    """The "N peers at once: look at this box first" line, or None when peers fail alone."""
    known = [p for p in peers if p.peer]
    if known and sum(p.causes[0].id in NOT_THIS_BOX for p in known) * 2 >= len(known):
        return None
    firsts: dict[str, float | None] = {}
    for group in groups:
        if group.peer:
            at = group.first_seconds
            had = firsts.get(group.peer, at)
            firsts[group.peer] = None if at is None or had is None else min(had, at)
    together = _most_together(list(firsts.values()))
    failed_over = any(s.name in BOX_EVENTS and s.strength >= 1.0 for s in signals)
    if failed_over and len(firsts) >= 2:
        return (
            f"{len(firsts)} peers at once, right after a failover on this box: look at this "
            "box first (the newly active box never had their SAs)"
        )
    reloaded = any(s.name == "box_reloaded" and s.strength >= 1.0 for s in signals)
    if reloaded and len(firsts) >= 2:
        return (
            f"{len(firsts)} peers at once, after this box reloaded: look at this box first "
            "(it lost every peer's SAs; the peers keep sending on theirs until they notice)"
        )
    if together >= BOX_FIRST_PEERS:
        return (
            f"{together} peers at once: look at this box first (a reload, a failover or a "
            "clear on this box loses every peer's SAs together)"
        )
    return None


def _most_together(firsts: list[float | None]) -> int:
    """The most peers whose first lines fall within BOX_FIRST_WINDOW of each other (peers
    with no time count with every window: a paste without times is taken as one moment)."""
    untimed = sum(at is None for at in firsts)
    timed = sorted(at for at in firsts if at is not None)
    best, start = 0, 0
    for end, at in enumerate(timed):
        while at - timed[start] > BOX_FIRST_WINDOW:
            start += 1
        best = max(best, end - start + 1)
    return best + untimed
