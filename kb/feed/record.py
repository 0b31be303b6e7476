"""Feed mode's incidents in SQLite: one transaction per batch of received lines.

A tunnel's lines go to its open incident, whichever end reported them and whichever door
(a paste, the feed) opened it, as long as the incident heard from it within the quiet period;
else a new incident opens. Each incident keeps the lines it will be diagnosed from (the first
KEEP_FIRST and the latest KEEP_LATEST invalid-SPI lines, and the companion lines of its
devices); its event_count counts them all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from kb.db import Connection, stamp
from kb.feed.batch import Batch, Seen, Tunnel
from kb.workspace import Workspace, listed, one_of

SOURCE = "feed"
KEEP_FIRST = 250
KEEP_LATEST = 50
# Companion lines (IKE, DPD, HA, tunnel up/down) from an incident's devices this long before
# its first line and while it is open are kept with it as evidence.
COMPANION_WINDOW = timedelta(minutes=10)
COMPANIONS_KEPT = 200  # per incident
_OPEN_PAIR = (
    "status = 'open' and updated_at >= :since and "
    "((peer = :a and local = :b) or (peer = :b and local = :a))"
)
_OPEN_ONE_END = "status = 'open' and updated_at >= :since and peer = :peer and device = :device"
# Lines that name no peer (PAN-OS "can't find sa", ASA PFKEY): the device and the SPI.
_OPEN_NO_PEER = (
    "status = 'open' and updated_at >= :since and peer is null and device = :device "
    "and (:spi = '' or id in (select incident_id from incident_spis where spi = :spi))"
)


@dataclass(frozen=True, slots=True)
class Recorded:
    incident_id: int
    opened: bool
    lines: int


class FeedRecorder:
    def __init__(self, connection: Connection, workspace: Workspace) -> None:
        self.connection = connection
        self.workspace = workspace

    def record(self, batch: Batch, now: datetime, quiet: timedelta) -> list[Recorded]:
        """Write one batch: its tunnels into incidents, its companion lines to wait for one."""
        when, since = stamp(now), stamp(now - quiet)
        with self.connection.writing("record the feed's lines"):
            recorded = [self._tunnel(t, when, since) for t in batch.tunnels]
            self._insert_lines(None, "companion", batch.companions, when)
        return recorded

    def _tunnel(self, tunnel: Tunnel, when: str, since: str) -> Recorded:
        kind, first, second = tunnel.key
        if kind == "pair":
            where, args = _OPEN_PAIR, {"a": first, "b": second}
        elif kind == "device":
            where, args = _OPEN_ONE_END, {"peer": tunnel.peer, "device": tunnel.device}
        else:
            where, args = _OPEN_NO_PEER, {"device": tunnel.device, "spi": second or ""}
        args["since"] = since
        row = self.workspace.first(
            "incidents", where, args, columns="id, event_count", order="updated_at desc"
        )
        count = len(tunnel.seen)
        if row is None:
            values = {
                "peer": tunnel.peer,
                "local": tunnel.local,
                "device": tunnel.device,
                "platform": tunnel.platform,
                "status": "open",
                "opened_at": when,
                "updated_at": when,
                "event_count": count,
                "source": SOURCE,
                "summary": f"{count} invalid-SPI line(s) from the feed, not yet diagnosed",
                "signals": "[]",
            }
            incident_id, _ = self.workspace.insert("incidents", values)
            opened = True
        else:
            incident_id, opened = row["id"], False
            # A pasted incident the feed now hears about is the feed's to diagnose, alert on
            # and close when it goes quiet.
            values = {"event_count": row["event_count"] + count, "updated_at": when}
            values["source"] = SOURCE
            self.workspace.update("incidents", values, "id = :id", {"id": incident_id})
        self._keep_lines(incident_id, tunnel.seen, when)
        self.connection.db.conn.executemany(
            "insert or ignore into incident_spis (incident_id, spi) values (?, ?)",
            [(incident_id, spi) for spi in tunnel.spis],
        )
        return Recorded(incident_id, opened, count)

    def _keep_lines(self, incident_id: int, seen: list[Seen], when: str) -> None:
        """Past the first KEEP_FIRST lines only the latest KEEP_LATEST stay: the count grows,
        the lines a diagnosis reads do not. Only lines that can stay are written."""
        kept = self.workspace.count(
            "feed_lines", "incident_id = :id and kind = 'invalid_spi'", {"id": incident_id}
        )
        head = max(0, KEEP_FIRST - kept)
        chosen = seen[:head] + seen[max(head, len(seen) - KEEP_LATEST) :]
        self._insert_lines(incident_id, "invalid_spi", chosen, when)
        if kept + len(chosen) > KEEP_FIRST + KEEP_LATEST:
            self.workspace.delete(
                "feed_lines",
                "incident_id = :id and kind = 'invalid_spi' "
                "and id not in (select id from feed_lines where incident_id = :id "
                f"and kind = 'invalid_spi' order by id limit {KEEP_FIRST}) "
                "and id not in (select id from feed_lines where incident_id = :id "
                f"and kind = 'invalid_spi' order by id desc limit {KEEP_LATEST})",
                {"id": incident_id},
            )

    def _insert_lines(self, incident_id: int | None, kind: str, seen: list[Seen], when: str):
        self.connection.db.conn.executemany(
            "insert into feed_lines (team_id, incident_id, kind, device, peer, received_at, line) "
            "values (?, ?, ?, ?, ?, ?, ?)",
            [
                (self.workspace.team, incident_id, kind, s.event.device, s.event.peer, when, s.line)
                for s in seen
            ],
        )

    def claim_companions(self, incident_id: int, devices: Iterable[str], peers: Iterable[str]):
        """Copy the waiting companion lines of the incident's devices from COMPANION_WINDOW
        before it opened onwards into the incident (each once, the latest first), those naming
        another peer excepted."""
        with self.connection.writing("keep the companion lines"):
            found = self.workspace.first(
                "incidents", "id = :id", {"id": incident_id}, columns="opened_at"
            )
            if found is None:
                return
            opened = datetime.fromisoformat(found["opened_at"])
            self.connection.db.execute(
                "insert or ignore into feed_lines "
                "(team_id, incident_id, kind, device, peer, received_at, line, origin) "
                "select team_id, :id, kind, device, peer, received_at, line, id "
                "from feed_lines where team_id = :team and incident_id is null "
                f"and {one_of('device', 'devices')} and received_at >= :since "
                f"and (peer is null or {one_of('peer', 'peers')}) "
                "and (select count(*) from feed_lines where incident_id = :id "
                f"and kind = 'companion') < {COMPANIONS_KEPT} "
                f"order by id desc limit {COMPANIONS_KEPT}",
                {
                    "id": incident_id,
                    "team": self.workspace.team,
                    "devices": listed(devices),
                    "peers": listed(peers),
                    "since": stamp(opened - COMPANION_WINDOW),
                },
            )

    def lines(self, incident_id: int) -> list[str]:
        """What a diagnosis of the incident reads: its kept lines in the order they came."""
        rows = self.workspace.select(
            "feed_lines",
            "incident_id = :id",
            {"id": incident_id},
            columns="line",
            order="received_at, id",
        )
        return [r["line"] for r in rows]

    def sides(self, incident_id: int) -> tuple[list[str], list[str]]:
        """(the devices that reported the incident's lines, the addresses they named)."""
        rows = self.workspace.select(
            "feed_lines",
            "incident_id = :id and kind = 'invalid_spi'",
            {"id": incident_id},
            columns="distinct device, peer",
        )
        devices = sorted({r["device"] for r in rows if r["device"]})
        peers = sorted({r["peer"] for r in rows if r["peer"]})
        return devices, peers

    def forget_waiting(self, before: datetime) -> int:
        """Drop companion lines nobody claimed that came in before `before`."""
        with self.connection.writing("forget old companion lines"):
            return self.workspace.delete(
                "feed_lines",
                "incident_id is null and received_at < :before",
                {"before": stamp(before)},
            )

    def close_quiet(self, quiet: timedelta, now: datetime) -> list[int]:
        """Resolve the feed's open incidents with no new line for `quiet`; the ids."""
        cutoff, when = stamp(now - quiet), stamp(now)
        where = "status = 'open' and source = :source and updated_at < :cutoff"
        args = {"source": SOURCE, "cutoff": cutoff}
        if not self.workspace.select("incidents", where, args, columns="id", limit=1):
            return []
        minutes = int(quiet.total_seconds() // 60)
        with self.connection.writing("close quiet incidents"):
            ids = [r["id"] for r in self.workspace.select("incidents", where, args, columns="id")]
            if ids:
                values = {"status": "resolved", "fixed_by": None, "resolved_at": when}
                values |= {"closed_reason": f"closed: no invalid-SPI line for {minutes} min"}
                self.workspace.update(
                    "incidents", values, one_of("id", "ids"), {"ids": listed(ids)}
                )
        return ids

    def to_review(self, due: str, stale: str, limit: int = 100) -> list[int]:
        """Open feed incidents never diagnosed, or with new lines: diagnosed again once their
        count grew by a quarter since a diagnosis before `due`, or whatever it grew by since
        one before `stale` (stamps). A hub's hundreds of steadily failing tunnels are not all
        read again every 30 s; least recently diagnosed first."""
        rows = self.workspace.select(
            "incidents",
            "status = 'open' and source = :source and (reviewed_at is null "
            "or (reviewed_count != event_count and (reviewed_at < :stale "
            "or (reviewed_at < :due and event_count * 4 >= reviewed_count * 5))))",
            {"source": SOURCE, "due": due, "stale": stale},
            columns="id",
            order="coalesce(reviewed_at, ''), id",
            limit=limit,
        )
        return [r["id"] for r in rows]

    def states(self, also: Iterable[int] = ()) -> list[dict]:
        """The open feed incidents and the `also` ones: what the alert planner reads, with how
        many devices reported each."""
        return self.workspace.select(
            "incidents",
            f"(status = 'open' and source = :source) or {one_of('id', 'ids')}",
            {"source": SOURCE, "ids": listed(also)},
            columns="id, status, event_count, top_cause, device, peer, reviewed_at, "
            "(select count(distinct f.device) from feed_lines f where f.incident_id = "
            "incidents.id and f.kind = 'invalid_spi') as devices",
            order="id",
        )

    def reviewed(
        self,
        incident_id: int,
        *,
        count: int,
        when: datetime,
        top_cause: str | None,
        summary: str,
        signals: Iterable[str],
        confirmed: tuple[str, list[str]] | None = None,
    ) -> None:
        """Record what the diagnosis of `count` lines said."""
        values = {"reviewed_at": stamp(when), "reviewed_count": count, "summary": summary}
        values |= {"top_cause": top_cause, "signals": json.dumps(sorted(set(signals)))}
        if confirmed:
            values |= {"confirmed_cause": confirmed[0], "proof": json.dumps(confirmed[1])}
        with self.connection.writing("record the feed's diagnosis"):
            self.workspace.update("incidents", values, "id = :id", {"id": incident_id})
