"""The peer of an invalid-SPI line that does not print it, from the lines around it.

- PAN-OS logs `can't find sa for proto ESP spi 0xB` right after ikemgr's
  `Deleted SA: L[500]-P[500] SPI:0xA/0xB` (the Palo Alto KB on rekey races): the SPI names
  the pair of SAs, and so the peer P and the local address L.
- An ASA or FTD prints `Received PFKEY Invalid SPI for SPI 0xB` in the middle of an IKEv2
  exchange whose `RECV PKT [...] [P]:500->[L]:500` came just before (bug CSCwc54984): the
  peer is P when exactly one peer's IKE packets were seen within PACKET_WINDOW seconds (or,
  for lines with no time, PACKET_LINES lines).
- PIX/ASA 402101 prints the local address and no source; `show crypto ipsec sa` pasted with
  it (before or after) prints `local crypto endpt.: L, remote crypto endpt.: P`: when the paste
  names exactly one remote endpoint for L, the lines to L came from P. Events after such a line
  are held back, in order, until the paste ends or MAX_HELD events wait.

Memory stays bounded however long the log: the last MAX_SPIS deleted SPIs, MAX_PACKETS IKE
packets, MAX_ENDPOINTS endpoint pairs and MAX_HELD held events at most.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from collections.abc import Iterable

from kb.events import Event
from kb.formats import deleted_spis

MAX_SPIS = 4096
MAX_PACKETS = 32  # IKE packets kept from the last moments: enough to see two peers talking
MAX_ENDPOINTS = 4096
MAX_HELD = 2000
PACKET_WINDOW = 2.0
PACKET_LINES = 10


class PeerContext:
    """Fills in the peer (and local address) of invalid-SPI events from other lines; `feed`
    returns the events ready to go on, in input order, and `flush` the rest at the end."""

    def __init__(self) -> None:
        self._deleted: OrderedDict[str, tuple[str | None, str | None]] = OrderedDict()
        # IKE packets of the last moments, oldest first, each with its time in seconds (read
        # once: parsing a timestamp per packet per comparison was most of a PFKEY-heavy paste)
        self._packets: list[tuple[Event, float | None]] = []
        self._endpoints: defaultdict[str, set[str]] = defaultdict(set)  # local -> peers
        self._held: list[Event] = []

    def feed(self, events: Iterable[Event]) -> list[Event]:
        ready: list[Event] = []
        for event in events:
            if event.peer is not None and event.kind == "invalid_spi" and not self._held:
                ready.append(event)  # most of a big log: nothing to learn from, nothing to fill
                continue
            self._see(event)
            if self._held or _waits_for_endpoints(event):
                self._held.append(event)
                if len(self._held) >= MAX_HELD:
                    ready.extend(self.flush())
            else:
                ready.append(event)
        return ready

    def flush(self) -> list[Event]:
        held, self._held = self._held, []
        for event in held:
            if _waits_for_endpoints(event):
                peers = self._endpoints.get(event.local or "", set())
                if len(peers) == 1:
                    event.peer = next(iter(peers))
        return held

    def _see(self, event: Event) -> None:
        if event.kind == "sa_deleted":
            for spi in deleted_spis(event):
                self._deleted[spi] = (event.peer, event.local)
                self._deleted.move_to_end(spi)
            while len(self._deleted) > MAX_SPIS:
                self._deleted.popitem(last=False)
        elif event.kind == "ike_packet" and event.peer:
            now = event.seconds
            recent = [p for p in self._packets if _recent(p, (event, now))]
            self._packets = [*recent[-(MAX_PACKETS - 1) :], (event, now)]
        elif event.kind == "sa_endpoints" and event.peer and event.local:
            if event.local in self._endpoints or len(self._endpoints) < MAX_ENDPOINTS:
                self._endpoints[event.local].add(event.peer)
        elif event.kind == "invalid_spi" and event.peer is None:
            self._fill(event)

    def _fill(self, event: Event) -> None:
        if event.spi in self._deleted:
            event.peer, local = self._deleted[event.spi]
            event.local = event.local or local
            return
        if event.platform in ("asa", "ftd") and event.detail and "PFKEY" in event.detail:
            now = (event, event.seconds)
            peers = {(p.peer, p.local) for p, t in self._packets if _recent((p, t), now)}
            if len(peers) == 1:
                event.peer, local = peers.pop()
                event.local = event.local or local


def _waits_for_endpoints(event: Event) -> bool:
    """An invalid-SPI line with its local address and no peer: `show crypto ipsec sa` in the
    paste may name the peer."""
    return event.kind == "invalid_spi" and event.peer is None and event.local is not None


def _recent(earlier: tuple[Event, float | None], later: tuple[Event, float | None]) -> bool:
    """Whether `earlier` (an event and its time) was logged at most PACKET_WINDOW seconds (or,
    with no times, PACKET_LINES lines) before `later`."""
    (first, at), (then, now) = earlier, later
    if at is not None and now is not None:
        return 0 <= now - at <= PACKET_WINDOW
    return 0 <= then.line - first.line <= PACKET_LINES
