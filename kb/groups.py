"""Invalid-SPI events grouped per device, peer, local address and SPI."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from kb.events import Event

GroupKey = tuple[str | None, str | None, str | None, str | None]


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
    first_seconds: float | None = None
    last_seconds: float | None = None
    interfaces: set[str] = field(default_factory=set)

    @property
    def span_seconds(self) -> float | None:
        if self.first_seconds is None or self.last_seconds is None:
            return None
        return round(self.last_seconds - self.first_seconds, 3)

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
    """Folds events into groups as they stream past; holds one small record per group."""

    def __init__(self) -> None:
        self._groups: dict[GroupKey, Group] = {}

    def add(self, event: Event) -> None:
        if event.kind != "invalid_spi":
            return
        key = (event.device, event.peer, event.local, event.spi)
        group = self._groups.get(key)
        if group is None:
            group = Group(*key, event.platform, event.protocol, first_line=event.line)
            group.first_time, group.first_seconds = event.time, event.seconds
            self._groups[key] = group
        group.count += 1
        group.last_line = event.line
        group.last_time = event.time
        if event.seconds is not None:
            if group.first_seconds is None:
                group.first_seconds = event.seconds
            group.last_seconds = event.seconds
        if event.interface:
            group.interfaces.add(event.interface)

    def groups(self) -> list[Group]:
        return sorted(self._groups.values(), key=lambda g: g.first_line)


def group_events(events: Iterable[Event]) -> list[Group]:
    grouper = Grouper()
    for event in events:
        grouper.add(event)
    return grouper.groups()
