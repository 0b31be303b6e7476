"""The peer of an invalid-SPI line that does not print it, from the lines just before it.

- PAN-OS logs `can't find sa for proto ESP spi 0xB` right after ikemgr's
  `Deleted SA: L[500]-P[500] SPI:0xA/0xB` (the Palo Alto KB on rekey races): the SPI names
  the pair of SAs, and so the peer P and the local address L.
- An ASA or FTD prints `Received PFKEY Invalid SPI for SPI 0xB` in the middle of an IKEv2
  exchange whose `RECV PKT [...] [P]:500->[L]:500` came just before (bug CSCwc54984): the
  peer is P when exactly one peer's IKE packets were seen within PACKET_WINDOW seconds (or,
  for lines with no time, PACKET_LINES lines).

Memory stays bounded however long the log: the last MAX_SPIS deleted SPIs and MAX_PACKETS IKE
packets are remembered.
"""

from __future__ import annotations

from collections import OrderedDict

from kb.events import Event
from kb.formats import deleted_spis

MAX_SPIS = 4096
MAX_PACKETS = 32  # IKE packets kept from the last moments: enough to see two peers talking
PACKET_WINDOW = 2.0
PACKET_LINES = 10


class PeerContext:
    """Fills in the peer (and local address) of invalid-SPI events from earlier lines."""

    def __init__(self) -> None:
        self._deleted: OrderedDict[str, tuple[str | None, str | None]] = OrderedDict()
        self._packets: list[Event] = []  # IKE packets of the last moments, oldest first

    def see(self, event: Event) -> None:
        if event.kind == "sa_deleted":
            for spi in deleted_spis(event):
                self._deleted[spi] = (event.peer, event.local)
                self._deleted.move_to_end(spi)
            while len(self._deleted) > MAX_SPIS:
                self._deleted.popitem(last=False)
        elif event.kind == "ike_packet" and event.peer:
            recent = [p for p in self._packets if _recent(p, event)]
            self._packets = [*recent[-(MAX_PACKETS - 1) :], event]
        elif event.kind == "invalid_spi" and event.peer is None:
            self._fill(event)

    def _fill(self, event: Event) -> None:
        if event.spi in self._deleted:
            event.peer, local = self._deleted[event.spi]
            event.local = event.local or local
            return
        if event.platform in ("asa", "ftd") and event.detail and "PFKEY" in event.detail:
            peers = {(p.peer, p.local) for p in self._packets if _recent(p, event)}
            if len(peers) == 1:
                event.peer, local = peers.pop()
                event.local = event.local or local


def _recent(earlier: Event, later: Event) -> bool:
    """Whether `earlier` was logged at most PACKET_WINDOW seconds (or, with no times,
    PACKET_LINES lines) before `later`."""
    if earlier.seconds is not None and later.seconds is not None:
        return 0 <= later.seconds - earlier.seconds <= PACKET_WINDOW
    return 0 <= later.line - earlier.line <= PACKET_LINES
