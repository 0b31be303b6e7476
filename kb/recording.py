"""Writing what one workspace learns: incidents from pastes, notes, and verdicts on causes.

Each public method is one transaction (all of it is written, or none) and returns ids; the
Store reads the incident back. Every statement on incidents, notes and feedback goes through
the Workspace, so it is scoped to the workspace: another workspace's incident is "no incident"
here (ids are not capabilities). Article ids are checked by the caller before anything is
written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta

from kb.db import Connection, StoreError, stamp, utcnow
from kb.incidents import Sighting
from kb.workspace import Workspace, listed, one_of

REUSE_WINDOW = timedelta(hours=24)  # a paste for the same peer within a day is the same incident
_LATEST_OPEN = "peer = :peer and status = 'open'"
# A lone rekey race: one line, ranked rekey-race, nothing proved, nobody wrote or judged
# anything, and no line from its peer since `:cutoff` (in any incident of the peer).
_LONE_REKEY_RACE = (
    "status = 'open' and top_cause = 'rekey-race' and event_count = 1 "
    "and confirmed_cause is null and updated_at <= :cutoff "
    "and not exists (select 1 from notes n where n.team_id = :team "
    "and n.incident_id = incidents.id) "
    "and not exists (select 1 from feedback f where f.team_id = :team "
    "and f.incident_id = incidents.id) "
    "and not exists (select 1 from incidents o where o.team_id = :team "
    "and o.peer = incidents.peer and o.updated_at > :cutoff)"
)


class Recorder:
    def __init__(self, connection: Connection, workspace: Workspace) -> None:
        self.connection = connection
        self.workspace = workspace

    def record_incidents(
        self, sightings: Iterable[Sighting], *, source: str, now: datetime | None
    ) -> list[int]:
        """Open an incident per peer, or update its open one seen within REUSE_WINDOW."""
        now = now or utcnow()
        when, cutoff = stamp(now), stamp(now - REUSE_WINDOW)
        with self.connection.writing("record the incident"):
            return [self._record(seen, source, when, cutoff) for seen in sightings]

    def _record(self, seen: Sighting, source: str, when: str, cutoff: str) -> int:
        row = self.workspace.first(
            "incidents",
            f"{_LATEST_OPEN} and updated_at >= :cutoff",
            {"peer": seen.peer, "cutoff": cutoff},
            columns="id, event_count",
            order="updated_at desc",
            team_index=True,
        )
        values = {
            "local": seen.local,
            "device": seen.device,
            "platform": seen.platform,
            "updated_at": when,
            "top_cause": seen.top_cause,
            "summary": seen.summary,
            "signals": json.dumps(sorted(set(seen.signals))),
        }
        if seen.confirmed_cause:
            values |= {"confirmed_cause": seen.confirmed_cause, "proof": json.dumps(seen.proof)}
        # Plain SQL (through the Workspace) on this hot path: sqlite-utils' insert and update
        # re-read the table's schema on every call, which was half the cost of answering a paste.
        if row is None:
            values |= {"peer": seen.peer, "status": "open", "opened_at": when}
            values |= {"event_count": seen.event_count, "source": source}
            incident_id, _ = self.workspace.insert("incidents", values)
        else:
            incident_id = row["id"]
            values["event_count"] = row["event_count"] + seen.event_count
            self.workspace.update("incidents", values, "id = :id", {"id": incident_id})
        self._add_spis(incident_id, seen.spis)
        return incident_id

    def add_note(
        self,
        *,
        peer: str,
        note: dict,
        spi: str | None,
        device: str | None,
        fixed_by: str | None,
        incident_id: int | None,
        now: datetime | None,
    ) -> tuple[int, int]:
        """(incident id, note id). A note["request_key"] already used in this workspace (a
        retried request, a form submitted twice) writes nothing and returns what it stored."""
        when = stamp(now or utcnow())
        with self.connection.writing("add the note"):
            stored = self._note_by_key(note.get("request_key"))
            if stored is not None:
                return stored
            if incident_id is None:
                incident_id = self._open_incident_for(peer, device, note["source"], when)
            else:
                self._require_incident(incident_id)
            note_id = self._insert_note(incident_id, note, spi, device, when)
            if fixed_by:
                self._resolve(incident_id, fixed_by, note["author"], when)
        return incident_id, note_id

    def resolve(self, incident_id: int, article_id: str, author: str | None) -> bool:
        """Close the incident as fixed by the article; False when it already was (a second
        click): nothing is written, so the fix counts once."""
        with self.connection.writing("resolve the incident"):
            return self._resolve(incident_id, article_id, author, stamp(utcnow()))

    def close_quiet_rekey_races(
        self, quiet: timedelta, now: datetime, keep: Iterable[int] = ()
    ) -> list[int]:
        """Resolve each lone rekey race quiet for `quiet` with nobody's fix (fixed_by null, no
        "fixed" verdict: it never counts as a fix in ranking) and a closed_reason; the ids.
        `keep`: incidents the caller knows are still talked about (a thread with a new paste)."""
        cutoff, when = stamp(now - quiet), stamp(now)
        minutes = int(quiet.total_seconds() // 60)
        reason = f"closed: a single rekey race, quiet for {minutes} min"
        kept = set(keep)

        def quiet_ones() -> list[int]:
            rows = self.workspace.select(
                "incidents", _LONE_REKEY_RACE, {"cutoff": cutoff}, columns="id", order="id"
            )
            return [r["id"] for r in rows if r["id"] not in kept]

        # Looked for first without the write lock: most pastes and Home visits find none.
        if not quiet_ones():
            return []
        with self.connection.writing("close quiet rekey races"):
            ids = quiet_ones()  # again, under the lock: a paste may have just added a line
            if ids:
                values = {"status": "resolved", "fixed_by": None, "resolved_at": when}
                values |= {"updated_at": when, "closed_reason": reason}
                where, args = one_of("id", "ids"), {"ids": listed(ids)}
                self.workspace.update("incidents", values, where, args)
        return ids

    def confirm(self, incident_id: int, article_id: str, proof: list[str]) -> None:
        """Record the cause device state proved, and its proof; it is the top cause now."""
        with self.connection.writing("record the confirmed cause"):
            self._require_incident(incident_id)
            values = {
                "confirmed_cause": article_id,
                "top_cause": article_id,
                "proof": json.dumps(proof),
                "updated_at": stamp(utcnow()),
            }
            self.workspace.update("incidents", values, "id = :id", {"id": incident_id})

    def reopen(self, incident_id: int) -> bool:
        """Undo "fixed": the incident is open again and its fix no longer counts for the peer;
        False when it was not resolved."""
        with self.connection.writing("reopen the incident"):
            status, _ = self._require_incident(incident_id)
            if status != "resolved":
                return False
            values = {"status": "open", "fixed_by": None, "resolved_at": None}
            values |= {"updated_at": stamp(utcnow()), "closed_reason": None}
            self.workspace.update("incidents", values, "id = :id", {"id": incident_id})
            self.workspace.delete(
                "feedback", "incident_id = :id and verdict = 'fixed'", {"id": incident_id}
            )
            return True

    def undo_not_it(self, incident_id: int, article_id: str, author: str | None) -> bool:
        """Take back one person's "not it"; False when they had not said it."""
        with self.connection.writing("take back the feedback"):
            self._require_incident(incident_id)
            where = (
                "incident_id = :id and article_id = :article and verdict = 'not_it' "
                "and coalesce(author, '') = :author"
            )
            args = {"id": incident_id, "article": article_id, "author": author or ""}
            return self.workspace.delete("feedback", where, args) > 0

    def not_it(self, incident_id: int, article_id: str, author: str | None) -> bool:
        """Record that a person checked a cause and it was not it; False when they already
        said so (each person counts once)."""
        with self.connection.writing("record the feedback"):
            self._require_incident(incident_id)
            return self._feedback(incident_id, article_id, "not_it", author, stamp(utcnow()))

    def _note_by_key(self, request_key: str | None) -> tuple[int, int] | None:
        if request_key is None:
            return None
        row = self.workspace.first(
            "notes",
            "request_key = :key",
            {"key": request_key},
            columns="incident_id, id",
            team_index=True,
        )
        return (row["incident_id"], row["id"]) if row else None

    def _open_incident_for(self, peer: str, device, source: str, when: str) -> int:
        row = self.workspace.first(
            "incidents",
            _LATEST_OPEN,
            {"peer": peer},
            columns="id",
            order="updated_at desc",
            team_index=True,
        )
        if row is not None:
            return row["id"]
        incident = {"peer": peer, "device": device, "status": "open", "opened_at": when}
        incident |= {"updated_at": when, "summary": "opened by a note", "signals": "[]"}
        incident |= {"event_count": 0, "source": source}
        return self.workspace.insert("incidents", incident)[0]

    def _insert_note(self, incident_id: int, note: dict, spi, device, when: str) -> int:
        if spi:
            self._add_spis(incident_id, [spi])
        row = {"incident_id": incident_id, "created_at": when, **note}
        note_id, _ = self.workspace.insert("notes", row)
        self.workspace.update(
            "incidents",
            {"updated_at": when, "device": device},
            "id = :id",
            {"id": incident_id},
            keep={"device"},
        )
        return note_id

    def _add_spis(self, incident_id: int, spis: Iterable[str]) -> None:
        # incident_id is this workspace's: inserted or found through the Workspace just now.
        self.connection.db.conn.executemany(
            "insert or ignore into incident_spis (incident_id, spi) values (?, ?)",
            [(incident_id, s) for s in sorted(set(spis))],
        )

    def _require_incident(self, incident_id: int) -> tuple:
        found = self.workspace.first(
            "incidents", "id = :id", {"id": incident_id}, columns="status, fixed_by"
        )
        if found is None:
            raise StoreError(f"no incident #{incident_id}")
        return found["status"], found["fixed_by"]

    def _feedback(self, incident_id, article_id, verdict, author, when) -> bool:
        # The unique index (migration 0008) makes a person's repeated verdict a no-op.
        row = {"incident_id": incident_id, "article_id": article_id, "verdict": verdict}
        row |= {"author": author, "created_at": when}
        return self.workspace.insert("feedback", row, on_conflict="on conflict do nothing")[1] == 1

    def _resolve(self, incident_id: int, article_id: str, author, when: str) -> bool:
        if self._require_incident(incident_id) == ("resolved", article_id):
            return False
        self.workspace.update(
            "incidents",
            # A person's fix replaces a reason it closed by itself.
            {
                "status": "resolved",
                "fixed_by": article_id,
                "resolved_at": when,
                "updated_at": when,
                "closed_reason": None,
            },
            "id = :id",
            {"id": incident_id},
        )
        self._feedback(incident_id, article_id, "fixed", author, when)
        return True
