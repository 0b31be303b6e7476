"""Invalid-SPI events grouped per device, peer, local address and SPI."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from kb.events import Event
from kb.stamps import seconds as _seconds  # read once per distinct time stamp

GroupKey = tuple[str | None, str | None, str | None, str | None]
# A real incident has a handful of peers and SPIs; a scan of a whole estate a few thousand.
# Past this many groups, events of new ones are counted (Grouper.ungrouped), not kept: one
# group per distinct SPI of a huge log took 845 MB for 1.2 million SPIs.
MAX_GROUPS = 10_000


@dataclass(slots=True)
class Group:
    device: str | None
    peer: str | None
    local: str | None
    spi: str | None
    platform: str | None
    protocol: str | None
    count: int = 0
    first_time: str | None = None
    last_time: str | None = None
    first_line: int = 0
    last_line: int = 0
    interfaces: set[str] = field(default_factory=set)

    @property
    def first_seconds(self) -> float | None:
        return _seconds(self.first_time)

    @property
    def last_seconds(self) -> float | None:
        return _seconds(self.last_time)

    @property
    def span_seconds(self) -> float | None:
        first, last = self.first_seconds, self.last_seconds
        if first is None or last is None:
            return None
        return round(last - first, 3)

    def to_dict(self) -> dict:
        return {
            "device": self.device,
            "peer": self.peer,
            "local": self.local,
            "spi": self.spi,
            "platform": self.platform,
            "protocol": self.protocol,
            "count": self.count,
            "first_seen": self.first_time,
            "last_seen": self.last_time,
            "first_line": self.first_line,
            "last_line": self.last_line,
            "span_seconds": self.span_seconds,
            "interfaces": sorted(self.interfaces),
        }


class Grouper:
    """Folds events into groups as they stream past; holds one small record per group, for
    at most `max_groups` groups."""

    def __init__(self, max_groups: int = MAX_GROUPS) -> None:
        self._groups: dict[GroupKey, Group] = {}
        self._max_groups = max_groups
        self.ungrouped = 0  # invalid-SPI events that would have opened a group past the cap

    def add(self, event: Event) -> None:
        self.add_all((event,))

    def add_all(self, events: Iterable[Event]) -> None:
        groups, get = self._groups, self._groups.get
        for event in events:
            if event.kind != "invalid_spi":
                continue
            key = (event.device, event.peer, event.local, event.spi)
            group = get(key)
            if group is None:
                if len(groups) >= self._max_groups:
                    self.ungrouped += 1
                    continue
                group = Group(*key, event.platform, event.protocol, first_line=event.line)
                groups[key] = group
            group.count += 1
            group.last_line = event.line
            if event.time:
                group.first_time = group.first_time or event.time
                group.last_time = event.time
            if event.interface:
                group.interfaces.add(event.interface)

    def groups(self) -> list[Group]:
        return sorted(self._groups.values(), key=lambda g: g.first_line)


def group_events(events: Iterable[Event]) -> list[Group]:
    grouper = Grouper()
    grouper.add_all(events)
    return grouper.groups()
