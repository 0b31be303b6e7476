"""What one workspace remembers: its incidents, with their SPIs, notes and verdicts.

Reads only; every query goes through the Workspace, so it is scoped to the workspace.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from rapidfuzz import fuzz, process, utils

from kb.db import StoreError
from kb.incidents import Incident, Note
from kb.model import MODEL
from kb.workspace import Workspace, listed, one_of

SIMILAR_DEVICE_CUTOFF = MODEL["history"]["similar_device_cutoff"]  # kb/model.yaml
# Newest first, and a stable order for incidents updated in the same second.
_NEWEST = "updated_at desc, id desc"


class Memory:
    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    def incident(self, incident_id: int) -> Incident:
        found = self._incidents("id = :id", {"id": incident_id})
        if not found:
            raise StoreError(f"no incident #{incident_id}")
        return found[0]

    def incidents(
        self, peer: str | None = None, limit: int = 50, status: str | None = None
    ) -> list[Incident]:
        clauses, args = ["1 = 1"], {}
        if peer:
            clauses.append("peer = :peer")
            args["peer"] = peer
        if status:
            clauses.append("status = :status")
            args["status"] = status
        return self._incidents(" and ".join(clauses), args, limit)

    def history(
        self,
        peers: Iterable[str],
        locals_: Iterable[str] = (),
        spis: Iterable[str] = (),
        devices: Iterable[str] = (),
        limit: int = 200,
        exclude_peers: Iterable[str] = (),
    ) -> list[Incident]:
        """Past incidents that share a peer, local address, SPI or device with a paste."""
        clauses, args = [], {}
        for column, values in (("peer", peers), ("local", locals_), ("device", devices)):
            values = {v for v in values if v}
            if values:
                clauses.append(one_of(column, column))
                args[column] = listed(values)
        spis = {s for s in spis if s}
        if spis:
            clauses.append(
                f"id in (select incident_id from incident_spis where {one_of('spi', 'spis')})"
            )
            args["spis"] = listed(spis)
        if not clauses:
            return []
        where = " or ".join(clauses)
        excluded = set(exclude_peers)
        if excluded:
            where = f"({where}) and not {one_of('peer', 'excluded')}"
            args["excluded"] = listed(excluded)
        return self._incidents(where, args, limit)

    def incidents_on_devices(self, devices: Iterable[str], limit: int = 50) -> list[Incident]:
        devices = set(devices)
        if not devices:
            return []
        return self._incidents(one_of("device", "devices"), {"devices": listed(devices)}, limit)

    def incidents_by_id(self, ids: Iterable[int]) -> list[Incident]:
        ids = set(ids)
        if not ids:
            return []
        return self._incidents(one_of("id", "ids"), {"ids": listed(ids)})

    def devices(self) -> list[str]:
        rows = self.workspace.select(
            "incidents", "device is not null", columns="distinct device", team_index=True
        )
        return [r["device"] for r in rows]

    def similar_devices(self, name: str, exclude: Iterable[str] = (), limit: int = 5) -> list[str]:
        """Device names in this workspace's incidents that look like `name` (typos,
        -a/-b pairs, another domain suffix): rapidfuzz ratio on normalised names."""
        excluded = set(exclude)
        known = [d for d in self.devices() if d not in excluded]
        found = process.extract(
            name,
            known,
            scorer=fuzz.ratio,
            processor=utils.default_process,
            score_cutoff=SIMILAR_DEVICE_CUTOFF,
            limit=limit,
        )
        return [match for match, _score, _index in found]

    def recent_fixes(self, limit: int = 200) -> list[tuple[int, list[str]]]:
        """(incident id, signal names) of recently resolved incidents, newest first."""
        rows = self.workspace.select(
            "incidents",
            "fixed_by is not null",
            columns="id, signals",
            order="updated_at desc",
            limit=limit,
            team_index=True,
        )
        return [(r["id"], json.loads(r["signals"] or "[]")) for r in rows]

    def counts(self) -> dict[str, int]:
        count = self.workspace.count
        return {
            "incidents": count("incidents"),
            "open_incidents": count("incidents", "status = 'open'"),
            "notes": count("notes"),
        }

    def _incidents(self, where: str, args: dict, limit: int | None = None) -> list[Incident]:
        rows = self.workspace.select("incidents", where, args, order=_NEWEST, limit=limit)
        return self._hydrate(rows)

    def _hydrate(self, rows: list[dict]) -> list[Incident]:
        if not rows:
            return []
        ids = {"ids": listed(r["id"] for r in rows)}
        spis: dict[int, list[str]] = {r["id"]: [] for r in rows}
        # The ids are this workspace's (from the scoped query above), so their SPIs are too.
        for r in self.workspace.db.query(
            f"select incident_id, spi from incident_spis where {one_of('incident_id', 'ids')}", ids
        ):
            spis[r["incident_id"]].append(r["spi"])
        notes: dict[int, list[Note]] = {r["id"]: [] for r in rows}
        for r in self.workspace.select("notes", one_of("incident_id", "ids"), ids, order="id"):
            notes[r["incident_id"]].append(
                Note(
                    r["id"],
                    r["incident_id"],
                    r["text"],
                    r["author"],
                    r["created_at"],
                    r["permalink"],
                )
            )
        not_it: dict[int, list[tuple[str, str | None]]] = {r["id"]: [] for r in rows}
        fixers: dict[tuple[int, str], str | None] = {}
        for r in self.workspace.select(
            "feedback",
            f"verdict in ('not_it', 'fixed') and {one_of('incident_id', 'ids')}",
            ids,
            columns="incident_id, article_id, verdict, author",
            order="id",
        ):
            if r["verdict"] == "fixed":
                fixers[r["incident_id"], r["article_id"]] = r["author"]
            else:
                not_it[r["incident_id"]].append((r["article_id"], r["author"]))
        return [
            _incident(
                r,
                sorted(spis[r["id"]]),
                notes[r["id"]],
                not_it[r["id"]],
                fixers.get((r["id"], r["fixed_by"])),
            )
            for r in rows
        ]


def _incident(
    row: dict,
    spis: list[str],
    notes: list[Note],
    not_it: list[tuple[str, str | None]],
    fixed_author: str | None = None,
) -> Incident:
    by: dict[str, list[str]] = {}
    for article, author in not_it:
        by.setdefault(article, []).append(author or "someone")
    return Incident(
        id=row["id"],
        peer=row["peer"],
        local=row["local"],
        device=row["device"],
        platform=row["platform"],
        status=row["status"],
        opened_at=row["opened_at"],
        updated_at=row["updated_at"],
        resolved_at=row["resolved_at"],
        fixed_by=row["fixed_by"],
        top_cause=row["top_cause"],
        summary=row["summary"],
        signals=json.loads(row["signals"] or "[]"),
        event_count=row["event_count"] or 0,
        spis=spis,
        notes=notes,
        not_it=[article for article, _ in not_it],
        not_it_by=by,
        # A read-only copy served without migration 0006 has neither column.
        confirmed_cause=row.get("confirmed_cause"),
        proof=json.loads(row.get("proof") or "[]"),
        fixed_author=fixed_author,
        closed_reason=row.get("closed_reason"),  # null before migration 0009
    )
