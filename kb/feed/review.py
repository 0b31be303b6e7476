"""A feed incident diagnosed like a paste: its kept lines, both ends and their companion lines,
through the same pipeline, with the incident's history; what it said is written back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kb import answer
from kb.confidence import CONFIRMED
from kb.diagnose import Diagnosis, diagnose
from kb.incidents import Incident
from kb.store import Store

REKEY_RACE = "rekey-race"


@dataclass(frozen=True)
class Review:
    incident: Incident
    diagnosis: Diagnosis
    devices: list[str]  # the devices that reported its invalid-SPI lines

    @property
    def top(self):
        peers = [p for p in self.diagnosis.peers if p.causes]
        return peers[0].causes[0] if peers else None

    @property
    def lone_race(self) -> bool:
        top = self.top
        return is_lone_race(top.id if top else None, self.incident.event_count, len(self.devices))


def is_lone_race(top_cause: str | None, event_count: int, devices: int) -> bool:
    """One line from each reporting device, ranked a rekey race: it closes by itself, and
    alerts only a channel that asked for every event."""
    return top_cause == REKEY_RACE and event_count <= max(1, devices)


def review(store: Store, incident_id: int, now: datetime, *, write: bool = True) -> Review:
    """Diagnose the incident from its lines; with `write`, record the top cause and summary."""
    devices, peers = store.feed.sides(incident_id)
    incident = store.incident(incident_id)  # its count before the lines: never ahead of them
    if write and incident.status == "open":
        addresses = {*peers, *(a for a in (incident.peer, incident.local) if a)}
        store.feed.claim_companions(incident_id, devices, addresses)
    lines = store.feed.lines(incident_id)
    diagnosis = diagnose("\n".join(lines), store, record=False, source="feed", now=now)
    for p in diagnosis.peers:
        p.incident = incident_id
    result = Review(incident, diagnosis, devices)
    if write:
        top = result.top
        first = next((p for p in diagnosis.peers if p.causes), None)
        confirmed = None
        if top is not None and top.confidence == CONFIRMED:
            confirmed = (top.id, list(top.proof))
        store.feed.reviewed(
            incident_id,
            count=incident.event_count,
            when=now,
            top_cause=top.id if top else None,
            summary=answer.headline(first) if first else answer.paste_headline(diagnosis),
            signals=[s.name for s in diagnosis.signals],
            confirmed=confirmed,
        )
        result = Review(store.incident(incident_id), diagnosis, devices)
    return result
