"""What every evidence rule reads of a paste, worked out once, and the helpers they share."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from kb.events import Event
from kb.groups import Group


@dataclass(frozen=True)
class Paste:
    """What every rule reads, worked out once."""

    events: Sequence[Event]
    groups: Sequence[Group]
    invalid: list[Event]
    by_kind: dict[str, list[Event]]
    peers: set[str]

    @classmethod
    def of(cls, events: Sequence[Event], groups: Sequence[Group]) -> Paste:
        by_kind: dict[str, list[Event]] = defaultdict(list)
        for event in events:
            by_kind[event.kind].append(event)
        invalid = by_kind["invalid_spi"]
        return cls(events, groups, invalid, by_kind, {e.peer for e in invalid if e.peer})


def where(events: Sequence[Event]) -> str:
    lines = [str(e.line) for e in events[:3]]
    more = f" and {len(events) - 3} more" if len(events) > 3 else ""
    return f"line{'s' if len(events) > 1 else ''} {', '.join(lines)}{more}"


def per_peer(events: Sequence[Event]) -> dict[str | None, list[Event]]:
    out: dict[str | None, list[Event]] = defaultdict(list)
    for event in events:
        out[event.peer].append(event)
    return dict(sorted(out.items(), key=lambda kv: kv[0] or ""))


def first_invalid(paste: Paste, peer: str | None = None) -> Event | None:
    """The first invalid-SPI event of the paste, or of one peer."""
    return next((e for e in paste.invalid if peer is None or e.peer == peer), None)


def precedes(event: Event, target: Event | None, window: float) -> tuple[bool, float | None]:
    """Whether event comes before target (by line, and within `window` seconds when both have
    times), and the gap in seconds when known."""
    if target is None or event.line > target.line:
        return False, None
    gap = None
    if event.seconds is not None and target.seconds is not None:
        gap = target.seconds - event.seconds
    return gap is None or 0 <= gap <= window, gap
