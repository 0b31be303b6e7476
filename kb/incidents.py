"""Incidents and their notes, as the rest of kb sees them (no database here)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Note:
    id: int
    incident_id: int
    text: str
    author: str | None
    created_at: str
    permalink: str | None = None

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "text": self.text,
            "author": self.author,
            "created_at": self.created_at,
            "permalink": self.permalink,
        }


@dataclass
class Incident:
    id: int
    peer: str | None
    local: str | None
    device: str | None
    platform: str | None
    status: str
    opened_at: str
    updated_at: str
    resolved_at: str | None
    fixed_by: str | None
    top_cause: str | None
    summary: str | None
    signals: list[str]
    event_count: int
    spis: list[str] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    not_it: list[str] = field(default_factory=list)  # a cause once per person who said it
    confirmed_cause: str | None = None  # what pasted device state proved
    proof: list[str] = field(default_factory=list)  # the lines that prove it
    not_it_by: dict[str, list[str]] = field(default_factory=dict)  # cause -> who said "not it"
    fixed_author: str | None = None  # who said "this fixed it" (a Slack user id, or a name)
    closed_reason: str | None = None  # why it closed with nobody's fix (a quiet rekey race)

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "peer": self.peer,
            "local": self.local,
            "device": self.device,
            "spis": self.spis,
            "status": self.status,
            "opened_at": self.opened_at,
            "updated_at": self.updated_at,
            "resolved_at": self.resolved_at,
            "summary": self.summary,
            "top_cause": self.top_cause,
            "fixed_by": self.fixed_by,
            "not_it": self.not_it,
            "not_it_by": self.not_it_by,
            "notes": [n.to_dict() for n in self.notes],
            "confirmed_cause": self.confirmed_cause,
            "proof": self.proof,
            "fixed_author": self.fixed_author,
            "closed_reason": self.closed_reason,
        }


@dataclass
class Sighting:
    """What one paste showed of one peer, to open or update its incident."""

    peer: str
    local: str | None
    device: str | None
    platform: str | None
    spis: list[str]
    signals: list[str]
    event_count: int
    top_cause: str | None
    summary: str
    confirmed_cause: str | None = None  # the top cause, when device state proved it
    proof: list[str] = field(default_factory=list)
