"""What the knowledge base remembers that bears on a paste: the History the ranking weighs,
and the signal that a peer keeps coming back."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from kb.events import Event
from kb.groups import Group
from kb.incidents import Incident
from kb.model import MODEL
from kb.ranking import History
from kb.signals import Signal, emits
from kb.store import Store

RECURRING_WINDOW = timedelta(days=MODEL["history"]["recurring_days"])  # kb/model.yaml
RECURRING_COUNT = MODEL["history"]["recurring_count"]
PEER_HISTORY_LIMIT = 50  # the most recent incidents of the paste's own peers
RELATED_LIMIT = 20  # and of others sharing its local address, SPI or device
SIMILAR_EVIDENCE_CUTOFF = MODEL["history"]["similar_evidence_cutoff"]
SIMILAR_EVIDENCE_MIN_SHARED = MODEL["history"]["similar_evidence_min_shared"]


def recall(
    store: Store,
    events: list[Event],
    groups: list[Group],
    signals: list[Signal],
    *,
    others: Iterable[str] = (),
) -> History:
    """Past incidents of the groups' peers; others sharing their local address, SPI or device;
    incidents on devices named like those devices; recent fixes whose evidence was alike.

    Called once per peer of a paste (its groups, its events and signals); `others` are the
    paste's other peers, whose own past incidents count for them, not as "related" here."""
    peers = {g.peer for g in groups if g.peer}
    locals_ = {g.local for g in groups if g.local}
    spis = {g.spi for g in groups if g.spi}
    devices = {e.device for e in events if e.device} | {g.device for g in groups if g.device}
    found = store.history(peers, limit=PEER_HISTORY_LIMIT) if peers else []
    others = set(others) - peers
    exclude = peers | others
    found += store.history([], locals_, spis, devices, RELATED_LIMIT, exclude_peers=exclude)
    history = History()
    seen: set[int] = set()
    for incident in found:
        seen.add(incident.id)
        if incident.peer in peers:
            history.same_peer.append(incident)
            continue
        shared = []
        if incident.local and incident.local in locals_:
            shared.append(f"local address {incident.local}")
        if set(incident.spis) & spis:
            shared.append(f"SPI {sorted(set(incident.spis) & spis)[0]}")
        if incident.device and incident.device in devices:
            shared.append(f"device {incident.device}")
        history.related.append((incident, " and ".join(shared) or "context"))
    if devices:
        similar: dict[str, str] = {}
        for device in sorted(devices):
            for name in store.similar_devices(device, exclude=devices):
                similar.setdefault(name, device)
        for incident in store.incidents_on_devices(similar):
            if incident.id not in seen and incident.peer not in others:
                seen.add(incident.id)
                history.similar_device.append((incident, similar[incident.device]))
    names = {s.name for s in signals}
    alike: dict[int, float] = {}
    for incident_id, theirs in store.recent_fixes():
        if incident_id in seen:
            continue
        shared = names & set(theirs)
        overlap = len(shared) / len(names | set(theirs)) if names else 0.0
        # One shared signal (say, a single line) is too common to mean "the same problem".
        if len(shared) >= SIMILAR_EVIDENCE_MIN_SHARED and overlap >= SIMILAR_EVIDENCE_CUTOFF:
            alike[incident_id] = overlap
    for incident in store.incidents_by_id(alike):
        if incident.peer not in others:
            history.similar_evidence.append((incident, alike[incident.id]))
    return history


@emits(
    ("recurring_peer", "symptom", "this peer had three or more incidents in 30 days"),
)
def recurring(history: History, now: datetime) -> list[Signal]:
    """A recurring_peer signal for each peer with RECURRING_COUNT incidents in RECURRING_WINDOW."""
    signals = []
    cutoff = (now - RECURRING_WINDOW).isoformat(timespec="seconds")
    per_peer: dict[str, list[Incident]] = defaultdict(list)
    for incident in history.same_peer:
        if incident.opened_at >= cutoff:
            per_peer[incident.peer or ""].append(incident)
    for peer, incidents in sorted(per_peer.items()):
        if len(incidents) >= RECURRING_COUNT:
            fixed = sorted({i.fixed_by for i in incidents if i.fixed_by})
            tried = f" (fixed before by {', '.join(fixed)})" if fixed else ""
            signals.append(
                Signal(
                    "recurring_peer",
                    f"{peer} had {len(incidents)} incidents in the last 30 days{tried}",
                    peer,
                )
            )
    return signals
