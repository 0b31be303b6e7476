"""The one pipeline behind every door: text in, ranked causes and remembered incidents out."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from kb.article import Article, load_articles
from kb.events import Event
from kb.evidence import gather
from kb.groups import MAX_GROUPS, Group, Grouper
from kb.incidents import Incident, Sighting
from kb.ranking import Cause, History, rank
from kb.recall import recall, recurring
from kb.scan import ScanStats, scan
from kb.signals import Signal
from kb.stamps import duration
from kb.store import Store, StoreError, utcnow

DEFAULT_TOP = 5
# A paste given as text (Slack, /spi, the console) is read up to this many characters; files
# are streams and are read whole. Slack itself cuts a message at 40,000 characters.
MAX_PASTE_CHARS = 1_000_000
MAX_EVENTS_KEPT = 10_000  # a huge paste is still grouped whole; only this many events are listed
MAX_INCIDENTS_PER_PASTE = 20  # beyond this many peers, the paste is a scan, not 20 incidents


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
        return {
            "summary": self.summary(),
            "peer": self.peer,
            "local": self.local,
            "platform": self.platform,
            "events": [e.to_dict() for e in self.events],
            "events_total": self.stats.events,
            "groups": [g.to_dict() for g in self.groups],
            "signals": [{"name": s.name, "detail": s.detail, "peer": s.peer} for s in self.signals],
            "causes": [c.to_dict() for c in self.causes[: self.top]],
            "incidents": [i.to_dict() for i in self.incidents],
            "recorded_incidents": self.recorded,
            "warnings": self.warnings,
        }


def _list(items: list[str], limit: int = 3) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _primary(groups: list[Group]) -> Group | None:
    if not groups:
        return None
    counts: Counter[str | None] = Counter()
    for g in groups:
        counts[g.peer] += g.count
    best = max(counts.items(), key=lambda kv: (kv[1], kv[0] is not None))[0]
    return next(g for g in groups if g.peer == best)


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


def _read(chunks: Iterable[bytes], stats: ScanStats, grouper: Grouper) -> list[Event]:
    """Every event grouped; the first MAX_EVENTS_KEPT kept to list."""
    events: list[Event] = []
    for event in scan(chunks, stats):
        grouper.add(event)
        if len(events) < MAX_EVENTS_KEPT:
            events.append(event)
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


def _shown_incidents(history: History) -> list[Incident]:
    """This peer's incidents, then related ones, each once."""
    seen: set[int] = set()
    incidents = []
    related = [i for i, _ in history.related] + [i for i, _ in history.similar_device]
    for incident in history.same_peer + related:
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
) -> Diagnosis:
    """Recognise, group, weigh and rank a paste (text, or byte chunks of a file), reading it
    once. Text is read up to `max_chars` characters; byte chunks are read whole, as a stream."""
    now = now or utcnow()
    stats = ScanStats()
    warnings: list[str] = []
    grouper = Grouper()
    events = _read(_chunks(paste, max_chars, warnings), stats, grouper)
    groups = grouper.groups()
    warnings.extend(_reading_warnings(stats, events, grouper))
    signals = gather(events, groups)
    primary = _primary(groups)
    peer = primary.peer if primary else None
    local = primary.local if primary else None
    platform = primary.platform if primary else (events[0].platform if events else None)
    history = History()
    if store is not None and groups:
        history = recall(store, events, groups, signals)
        signals = signals + recurring(history, now)
    articles = store.articles() if store is not None else _bundled_articles()
    causes = rank(articles, signals, history, platform=platform, peer=peer, local=local)
    diagnosis = Diagnosis(
        events,
        groups,
        signals,
        causes,
        _shown_incidents(history),
        stats,
        peer,
        local,
        platform,
        top=top,
        ungrouped=grouper.ungrouped,
    )
    diagnosis.warnings.extend(warnings)
    if record and store is not None and groups and causes:
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
    by_peer: dict[str, list[Group]] = defaultdict(list)
    for group in diagnosis.groups:
        if group.peer:
            by_peer[group.peer].append(group)
    peers = sorted(by_peer, key=lambda p: -sum(g.count for g in by_peer[p]))
    if len(peers) > MAX_INCIDENTS_PER_PASTE:
        diagnosis.warnings.append(
            f"{len(peers)} peers in one paste: incidents were recorded for the "
            f"{MAX_INCIDENTS_PER_PASTE} with the most lines"
        )
    top = diagnosis.causes[0].id
    sightings = []
    for peer in peers[:MAX_INCIDENTS_PER_PASTE]:
        groups = by_peer[peer]
        count = sum(g.count for g in groups)
        spis = sorted({g.spi for g in groups if g.spi})
        sightings.append(
            Sighting(
                peer=peer,
                local=groups[0].local,
                device=groups[0].device,
                platform=groups[0].platform,
                spis=spis,
                signals=sorted({s.name for s in diagnosis.signals if s.peer in (peer, None)}),
                event_count=count,
                top_cause=top,
                summary=f"{count} invalid-SPI line(s), SPI {', '.join(spis) or '?'}; likely {top}",
            )
        )
    try:
        diagnosis.recorded = store.record_incidents(sightings, source=source, now=now)
    except StoreError as exc:
        diagnosis.warnings.append(f"this diagnosis was not recorded: {exc}")


@cache
def _bundled_articles() -> list[Article]:
    return load_articles()
