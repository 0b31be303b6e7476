"""One batch of received lines, recognised and sorted into tunnels and companion lines.

Pure: no database, no clock. Each line is read on its own (a datagram is one message; joining
it to the next sender's line would invent a wrapped line), by the same recogniser as a paste.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from kb.events import Event
from kb.scan import parse_text


@dataclass(frozen=True, slots=True)
class Received:
    line: str  # one log line, as the recogniser reads it
    source: str  # the sender: the device when the line names none
    arrived: float  # time.monotonic() when it came in, for the commit latency


@dataclass(slots=True)
class Seen:
    """An event with the line it came from and when that line came in."""

    event: Event
    line: str
    arrived: float


@dataclass(slots=True)
class Tunnel:
    """The invalid-SPI lines of one tunnel in a batch. Both ends share one key: the addresses
    sorted, when the line names both; else the reporting device and the peer; a line that
    names no peer (PAN-OS "can't find sa", ASA PFKEY), the device and the SPI."""

    key: tuple[str, str, str | None]
    peer: str | None
    local: str | None
    device: str
    platform: str | None
    seen: list[Seen] = field(default_factory=list)

    @property
    def spis(self) -> list[str]:
        return sorted({s.event.spi for s in self.seen if s.event.spi})


@dataclass(slots=True)
class Batch:
    tunnels: list[Tunnel]
    companions: list[Seen]  # recognised lines that are not invalid-SPI lines
    recognised: int  # lines that held at least one event


def tunnel_key(
    peer: str | None, local: str | None, device: str, spi: str | None = None
) -> tuple[str, str, str | None]:
    if peer is None:
        return ("spi", device, spi)
    if local:
        low, high = sorted((peer, local))
        return ("pair", low, high)
    return ("device", device, peer)


def sort_batch(received: Iterable[Received]) -> Batch:
    tunnels: dict[tuple, Tunnel] = {}
    companions: list[Seen] = []
    recognised = 0
    for item in received:
        events = parse_text(item.line)
        if events:
            recognised += 1
        for event in events:
            if event.device is None:
                event.device = item.source
            seen = Seen(event, item.line, item.arrived)
            if event.kind != "invalid_spi":
                companions.append(seen)
                continue
            key = tunnel_key(event.peer, event.local, event.device, event.spi)
            tunnel = tunnels.get(key)
            if tunnel is None:
                tunnel = Tunnel(key, event.peer, event.local, event.device, event.platform)
                tunnels[key] = tunnel
            tunnel.seen.append(seen)
    return Batch(list(tunnels.values()), companions, recognised)
