"""The one pipeline behind every door: text in, ranked causes and remembered incidents out.

Each peer is diagnosed on its own (kb/peers.py): `Diagnosis.peers`, busiest first, each with
its ranking, confidence, "what would decide it" and incident. The top-level `causes`, `peer`,
`local` and `platform` are the busiest peer's, as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from kb import answer
from kb.article import Article, load_articles
from kb.confidence import CONFIRMED
from kb.events import Event
from kb.evidence import gather
from kb.groups import MAX_GROUPS, Group, Grouper
from kb.incidents import Incident, Sighting
from kb.peers import MAX_PEERS_DIAGNOSED, PeerDiagnosis, box_first, diagnose_peers
from kb.ranking import Cause, History, rank
from kb.scan import ScanStats, scan_batches, tee
from kb.signals import Signal
from kb.stamps import duration
from kb.state.confirm import state_notes
from kb.state.findings import Ask, Finding
from kb.state.model import StateBlock
from kb.state.reader import StateReader
from kb.store import Store, StoreError, utcnow
from kb.weighing import weigh

DEFAULT_TOP = 5
# A paste given as text (Slack, /spi, the console) is read up to this many characters; files
# are streams and are read whole. Slack itself cuts a message at 40,000 characters.
MAX_PASTE_CHARS = 1_000_000
MAX_EVENTS_KEPT = 10_000  # a huge paste is still grouped whole; only this many events are listed
MAX_INCIDENTS_PER_PASTE = MAX_PEERS_DIAGNOSED  # more peers than this: a scan, not incidents


@dataclass
class Diagnosis:
    events: list[Event]
    groups: list[Group]
    signals: list[Signal]
    causes: list[Cause]
    incidents: list[Incident]
    stats: ScanStats
    peer: str | None = None
    local: str | None = None
    platform: str | None = None
    recorded: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    top: int = DEFAULT_TOP
    ungrouped: int = 0  # invalid-SPI lines past the group cap: counted, in no group
    peers: list[PeerDiagnosis] = field(default_factory=list)  # busiest first
    box_first: str | None = None  # "N peers at once: look at this box first"
    state: list[StateBlock] = field(default_factory=list)  # pasted device state, per output
    notes: list[Finding] = field(default_factory=list)  # what the state could not tell

    @property
    def findings(self) -> list[Finding]:
        """What the pasted device state proves, per peer (busiest first), then the notes."""
        return [f for p in self.peers for f in p.findings] + self.notes

    @property
    def ask(self) -> list[Ask]:
        """The busiest peer's "paste this to confirm it"."""
        return self.peers[0].ask if self.peers else []

    @property
    def confidence(self) -> str:
        """The busiest peer's confidence in its top cause."""
        return self.causes[0].confidence if self.causes and self.groups else ""

    @property
    def decide(self) -> str | None:
        """The busiest peer's "what would decide it", when its top two are close."""
        return self.peers[0].decide if self.peers else None

    @property
    def found(self) -> bool:
        """Whether the paste held invalid-SPI lines (groups hold only those)."""
        return bool(self.groups)

    @property
    def recognised(self) -> bool:
        """Whether the paste held any recognised line, invalid-SPI or companion."""
        return bool(self.stats.events)

    def summary(self) -> str:
        """One line for the top of a reply: peers, SPIs, platform, count, time span."""
        invalid = sum(g.count for g in self.groups) + self.ungrouped
        if not invalid:
            return f"No invalid-SPI lines; {self.stats.events} related line(s) recognised."
        peers = sorted({g.peer or "unknown peer" for g in self.groups})
        spis = sorted({g.spi or "?" for g in self.groups})
        platforms = sorted({g.platform or "?" for g in self.groups})
        seconds = [
            s for g in self.groups for s in (g.first_seconds, g.last_seconds) if s is not None
        ]
        spread = max(seconds) - min(seconds) if seconds else 0.0
        span = f" over {duration(spread)}" if invalid > 1 and spread > 0 else ""
        return (
            f"{invalid} invalid-SPI line(s){span} from {_list(peers)} "
            f"(SPI {_list(spis)}; {', '.join(platforms)})"
        )

    def to_dict(self) -> dict:
        first = answer.first_action(self.peers[0]) if self.peers else None
        return {
            "headline": answer.paste_headline(self),
            "first_action": first.to_dict() if first else None,
            "summary": self.summary(),
            "peer": self.peer,
            "local": self.local,
            "platform": self.platform,
            "events": [e.to_dict() for e in self.events],
            "events_total": self.stats.events,
            "groups": [g.to_dict() for g in self.groups],
            "signals": [{"name": s.name, "detail": s.detail, "peer": s.peer} for s in self.signals],
            "causes": [c.to_dict() for c in self.causes[: self.top]],
            "confidence": self.confidence,
            "decide": self.decide,
            "box_first": self.box_first,
            "peers": [p.to_dict(self.top) for p in self.peers],
            "state": [b.to_dict() for b in self.state],
            "findings": [f.to_dict() for f in self.findings],
            "ask": [a.to_dict() for a in self.ask],
            "incidents": [i.to_dict() for i in self.incidents],
            "recorded_incidents": self.recorded,
            "warnings": self.warnings,
        }


def _list(items: list[str], limit: int = 3) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _head(text: str, limit: int) -> str:
    """The first `limit` characters of text, ending with a whole line when one fits."""
    if len(text) <= limit:
        return text
    end = text.rfind("\n", 0, limit)
    return text[: end + 1] if end != -1 else text[:limit]


def _chunks(paste: str | Iterable[bytes], max_chars: int, warnings: list[str]) -> Iterable[bytes]:
    """Byte chunks of the paste: text up to `max_chars` characters (saying so when it is cut),
    byte chunks as they come."""
    if not isinstance(paste, str):
        return paste
    text = _head(paste, max_chars)
    if len(text) < len(paste):
        warnings.append(
            f"read the first {len(text):,} of {len(paste):,} characters; "
            "the rest of the paste was not analysed"
        )
    return [text.encode("utf-8", "surrogatepass")]


def _read(
    chunks: Iterable[bytes], stats: ScanStats, grouper: Grouper, reader: StateReader
) -> list[Event]:
    """Every event grouped, the first MAX_EVENTS_KEPT kept to list; device state to `reader`."""
    events: list[Event] = []
    for batch in scan_batches(tee(chunks, reader), stats):
        grouper.add_all(batch)
        if len(events) < MAX_EVENTS_KEPT:
            events.extend(batch[: MAX_EVENTS_KEPT - len(events)])
    return events


def _reading_warnings(stats: ScanStats, events: list[Event], grouper: Grouper) -> list[str]:
    warnings = stats.warnings()
    if stats.events > len(events):
        warnings.append(f"only the first {len(events)} of {stats.events} events are listed")
    if grouper.ungrouped:
        warnings.append(
            f"more than {MAX_GROUPS:,} distinct device, peer and SPI combinations: "
            f"{grouper.ungrouped:,} invalid-SPI line(s) of the others were not grouped"
        )
    if any(e.spi_consistent is False for e in events):
        warnings.append(
            "some lines print an SPI whose hex and decimal disagree: they were edited or "
            "corrupted; spibot trusts the hex value"
        )
    return warnings


def _shown_incidents(histories: Iterable[History]) -> list[Incident]:
    """Each peer's incidents, then related ones, each once (busiest peer first)."""
    seen: set[int] = set()
    incidents = []
    histories = list(histories)
    own = [i for h in histories for i in h.same_peer]
    related = [i for h in histories for i, _ in h.related + h.similar_device]
    for incident in own + related:
        if incident.id not in seen:
            seen.add(incident.id)
            incidents.append(incident)
    return incidents


def diagnose(
    paste: str | Iterable[bytes],
    store: Store | None = None,
    *,
    record: bool = True,
    top: int = DEFAULT_TOP,
    source: str = "cli",
    now: datetime | None = None,
    max_chars: int = MAX_PASTE_CHARS,
    state: StateReader | None = None,
) -> Diagnosis:
    """Recognise, group, weigh and rank a paste (text, or byte chunks of a file), reading it
    once. Text is read up to `max_chars` characters; byte chunks are read whole, as a stream.
    Device state in it is read by `state` (a caller streaming several files tells it where
    each starts), or by a reader of its own."""
    now = now or utcnow()
    stats = ScanStats()
    warnings: list[str] = []
    grouper = Grouper()
    reader = state if state is not None else StateReader()
    events = _read(_chunks(paste, max_chars, warnings), stats, grouper, reader)
    groups = grouper.groups()
    state = reader.blocks()
    if reader.dropped:
        warnings.append(
            f"{reader.dropped} device-state output(s) after the first {len(state)} were not read"
        )
    warnings.extend(_reading_warnings(stats, events, grouper))
    signals = weigh(gather(events, groups), events, groups)
    articles = store.articles() if store is not None else _bundled_articles()
    peers = diagnose_peers(groups, events, signals, articles, store, now, state=state)
    if peers:
        first = peers[0]
        causes, peer, local, platform = first.causes, first.peer, first.local, first.platform
        signals = signals + [s for p in peers for s in p.signals if s.name == "recurring_peer"]
    else:  # companion lines only: the paste as a whole, for what it is worth
        peer = local = None
        platform = events[0].platform if events else None
        causes = rank(articles, signals, History(), platform=platform)
    diagnosis = Diagnosis(
        events,
        groups,
        signals,
        causes,
        _shown_incidents(p.history for p in peers),
        stats,
        peer,
        local,
        platform,
        top=top,
        ungrouped=grouper.ungrouped,
        peers=peers,
        box_first=box_first(groups, peers, signals),
        state=state,
        notes=state_notes(state, groups),
    )
    diagnosis.warnings.extend(warnings)
    total = len({g.peer for g in groups})
    recording = record and store is not None and bool(groups) and bool(causes)
    if total > MAX_PEERS_DIAGNOSED:
        diagnosis.warnings.append(
            f"{total} peers in one paste: the {MAX_PEERS_DIAGNOSED} with the most lines were "
            f"diagnosed{' and recorded' if recording else ''} one by one"
        )
    if recording:
        _record(store, diagnosis, source, now)
    return diagnosis


def diagnose_first(
    texts: Iterable[str],
    store: Store | None = None,
    *,
    record: bool = True,
    top: int = DEFAULT_TOP,
    source: str = "cli",
    now: datetime | None = None,
) -> Diagnosis | None:
    """The diagnosis of the first text holding a recognised line, or None when none does.

    For a message whose log may be in its text or in its rich-text blocks: each text is read
    once, and the diagnosis comes from that same reading (no separate check first).
    """
    for text in texts:
        if text:
            diagnosis = diagnose(text, store, record=record, top=top, source=source, now=now)
            if diagnosis.recognised:
                return diagnosis
    return None


def _record(store: Store, diagnosis: Diagnosis, source: str, now: datetime) -> None:
    """An incident per known peer, each with its own top cause and signals."""
    known = [p for p in diagnosis.peers if p.peer and p.causes]
    sightings = []
    for p in known:
        top = p.causes[0].id
        confirmed = p.causes[0].confidence == CONFIRMED
        spis = sorted(p.spis)
        sightings.append(
            Sighting(
                peer=p.peer,
                local=p.local,
                device=p.groups[0].device,
                platform=p.platform,
                spis=spis,
                signals=sorted({s.name for s in p.signals}),
                event_count=p.lines,
                top_cause=top,
                summary=f"{p.lines} invalid-SPI line(s), SPI {', '.join(spis) or '?'}; "
                f"{p.confidence} {top}",
                confirmed_cause=top if confirmed else None,
                proof=list(p.causes[0].proof) if confirmed else [],
            )
        )
    try:
        diagnosis.recorded = store.record_incidents(sightings, source=source, now=now)
    except StoreError as exc:
        diagnosis.warnings.append(f"this diagnosis was not recorded: {exc}")
        return
    for p, incident in zip(known, diagnosis.recorded, strict=True):
        p.incident = incident


@cache
def _bundled_articles() -> list[Article]:
    return load_articles()
