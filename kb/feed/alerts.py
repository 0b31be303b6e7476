"""When a feed incident gets an alert, an update, a resolution, or a place in a digest.

`plan` is pure: the incidents, the alerts already sent and the channels in, the actions out.
The rules: one message per incident per channel; updated in place when its count or its top
cause changed, and marked resolved once when the incident closes, each at most once per
UPDATE_EVERY (a refused update waits as long); a
lone rekey race (its one line per reporting device, ranked rekey-race) gets nothing unless the
channel asks for every event; past `flood` new alerts a minute in a channel, further new
incidents are folded into one digest message there, updated the same way.

`AlertBook` keeps the alerts in SQLite (table `alerts`): a post is claimed before it is sent,
so two processes or a restart never post the same alert twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from kb.db import Connection, stamp
from kb.workspace import Workspace, listed, one_of

UPDATE_EVERY = timedelta(seconds=30)
FLOOD_WINDOW = timedelta(minutes=1)
# A claim older than this with no message recorded: the process died while posting. Slack
# may or may not have the message; posting again loses nothing.
STALE_CLAIM = timedelta(minutes=2)
DIGEST_LISTED = 20  # incidents named in a digest message; the rest are counted


@dataclass(frozen=True, slots=True)
class Subject:
    """A feed incident as the planner sees it."""

    id: int
    status: str
    event_count: int
    top_cause: str | None
    device: str | None
    peer: str | None
    reviewed: bool  # a diagnosis has read it (else there is no card to show yet)
    lone_race: bool


@dataclass(frozen=True, slots=True)
class Sent:
    """An alert row: a message, a claim on one, or an incident folded into a digest."""

    id: int
    incident_id: int | None  # None: the digest message itself
    channel: str
    ref: str | None
    digest_id: int | None
    claimed_at: datetime
    posted_at: datetime | None
    updated_at: datetime | None
    shown_count: int | None
    shown_cause: str | None
    resolved_at: datetime | None


@dataclass(frozen=True, slots=True)
class Action:
    # post | update | resolve | fold | digest_post | digest_update | digest_resolve |
    # digest_forget
    kind: str
    channel: str
    incident_id: int | None = None
    sent: Sent | None = None  # the alert row acted on (update, resolve, digest_*)
    members: tuple[int, ...] = ()  # a digest's incidents


@dataclass
class _Channel:
    name: str
    every: bool
    sent: dict[int, Sent] = field(default_factory=dict)  # incident id -> its row
    digests: list[Sent] = field(default_factory=list)


def plan(
    subjects: Sequence[Subject],
    sent: Iterable[Sent],
    channels: dict[str, bool],
    now: datetime,
    *,
    flood: int,
    update_every: timedelta = UPDATE_EVERY,
) -> list[Action]:
    """The actions due now. `channels`: channel -> whether it asked for every event."""
    by_channel = {name: _Channel(name, every) for name, every in channels.items()}
    for row in sent:
        channel = by_channel.get(row.channel)
        if channel is None:
            continue  # a channel that no longer subscribes keeps its messages as they are
        if row.incident_id is None:
            channel.digests.append(row)
        else:
            channel.sent[row.incident_id] = row
    actions: list[Action] = []
    for channel in by_channel.values():
        actions.extend(_for_channel(channel, subjects, now, flood, update_every))
    return actions


def _due(row: Sent, now: datetime, every: timedelta) -> bool:
    last = row.updated_at or row.posted_at or row.claimed_at
    return now - last >= every


def _for_channel(
    channel: _Channel, subjects: Sequence[Subject], now: datetime, flood: int, every: timedelta
) -> list[Action]:
    actions = []
    recent = sum(
        1
        for row in channel.sent.values()
        if row.digest_id is None and row.posted_at and now - row.posted_at < FLOOD_WINDOW
    )
    fresh = []
    by_id = {s.id: s for s in subjects}
    for subject in subjects:
        row = channel.sent.get(subject.id)
        if row is None:
            wanted = channel.every or not subject.lone_race
            if subject.status == "open" and subject.reviewed and wanted:
                fresh.append(subject)
            continue
        if row.digest_id is not None:
            continue  # its digest speaks for it
        if row.ref is None:
            if now - row.claimed_at >= STALE_CLAIM and subject.status == "open":
                actions.append(Action("post", channel.name, subject.id, sent=row))
            continue
        if not _due(row, now, every):
            continue
        if subject.status != "open":
            if row.resolved_at is None:
                actions.append(Action("resolve", channel.name, subject.id, sent=row))
            continue
        if row.resolved_at is not None:  # reopened (Undo on "Fixed it"): open again in place
            actions.append(Action("update", channel.name, subject.id, sent=row))
            continue
        if (subject.event_count, subject.top_cause) != (row.shown_count, row.shown_cause):
            actions.append(Action("update", channel.name, subject.id, sent=row))
    room = max(0, flood - recent)
    for subject in fresh[:room]:
        actions.append(Action("post", channel.name, subject.id))
    folded = fresh[room:]
    # A digest claim never posted (its process died, or Slack refused it) holds no incident:
    # it is dropped once stale, and new incidents never wait in it.
    for digest in channel.digests:
        if digest.ref is None and now - digest.claimed_at >= STALE_CLAIM:
            actions.append(Action("digest_forget", channel.name, sent=digest))
    open_digest = next(
        (d for d in channel.digests if d.resolved_at is None and d.ref is not None), None
    )
    members = {
        d.id: sorted(i for i, row in channel.sent.items() if row.digest_id == d.id)
        for d in channel.digests
    }
    if folded:
        ids = tuple(s.id for s in folded)
        if open_digest is None:
            actions.append(Action("digest_post", channel.name, members=ids))
        else:
            actions.append(Action("fold", channel.name, sent=open_digest, members=ids))
    for digest in channel.digests:
        if digest.resolved_at is not None or digest.ref is None:
            continue
        ids = members[digest.id]
        if digest is open_digest and folded:
            continue  # the fold above updates it
        statuses = [by_id[i].status for i in ids if i in by_id]
        if ids and all(status != "open" for status in statuses):
            actions.append(Action("digest_resolve", channel.name, sent=digest, members=tuple(ids)))
        elif digest.shown_cause != digest_signature(statuses) and _due(digest, now, every):
            actions.append(Action("digest_update", channel.name, sent=digest, members=tuple(ids)))
    return actions


def digest_signature(statuses: Sequence[str]) -> str:
    """What a digest shows of its incidents, to tell when it is out of date: "open/all"."""
    return f"{sum(1 for s in statuses if s == 'open')}/{len(statuses)}"


def digest_sentence(subjects: Sequence[Subject]) -> str:
    """ "37 peers failing at once on hub-1: look at this box first" when most share a device."""
    devices = Counter(s.device for s in subjects if s.device)
    count = len(subjects)
    if devices:
        device, on_it = devices.most_common(1)[0]
        if on_it * 2 > count:
            return f"{count} peers failing at once on {device}: look at this box first"
        return f"{count} tunnels failing at once across {len(devices)} devices"
    return f"{count} tunnels failing at once"


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class AlertBook:
    """The alerts table, for one workspace."""

    def __init__(self, connection: Connection, workspace: Workspace) -> None:
        self.connection = connection
        self.workspace = workspace

    def rows(self, channels: Iterable[str]) -> list[Sent]:
        """The channels' live alert rows: messages not yet marked resolved (or marked resolved
        for an incident someone reopened), claims, incidents folded into an open digest."""
        found = self.workspace.select(
            "alerts",
            f"{one_of('channel', 'channels')} and (resolved_at is null or incident_id in "
            "(select id from incidents i where i.team_id = :team and i.status = 'open'))",
            {"channels": listed(channels)},
            order="id",
        )
        return [
            Sent(
                r["id"],
                r["incident_id"],
                r["channel"],
                r["ref"],
                r["digest_id"],
                _when(r["claimed_at"]),
                _when(r["posted_at"]),
                _when(r["updated_at"]),
                r["shown_count"],
                r["shown_cause"],
                _when(r["resolved_at"]),
            )
            for r in found
        ]

    def claim(self, channel: str, incident_id: int | None, now: datetime) -> int | None:
        """The new alert row's id, or None when another process claimed this one first."""
        with self.connection.writing("claim the alert"):
            row = {"channel": channel, "incident_id": incident_id, "claimed_at": stamp(now)}
            alert_id, inserted = self.workspace.insert(
                "alerts", row, on_conflict="on conflict do nothing"
            )
        return alert_id if inserted else None

    def reclaim(self, alert_id: int, stale_before: datetime, now: datetime) -> bool:
        """Take over a claim whose process died while posting; False if someone else did."""
        with self.connection.writing("claim the alert"):
            changed = self.workspace.update(
                "alerts",
                {"claimed_at": stamp(now)},
                "id = :id and ref is null and claimed_at <= :stale",
                {"id": alert_id, "stale": stamp(stale_before)},
            )
        return changed == 1

    def release(self, alert_id: int) -> None:
        """Drop a claim that was never posted, with any incident folded into it."""
        with self.connection.writing("release the alert"):
            if self.workspace.delete("alerts", "id = :id and ref is null", {"id": alert_id}):
                self.workspace.delete("alerts", "digest_id = :id", {"id": alert_id})

    def tried(self, alert_id: int, now: datetime) -> None:
        """An update Slack refused: the next try waits as long as an update would."""
        with self.connection.writing("record the alert"):
            self.workspace.update(
                "alerts", {"updated_at": stamp(now)}, "id = :id", {"id": alert_id}
            )

    def forget_resolved(self, before: datetime) -> int:
        """Drop the rows of alerts marked resolved before `before`: nothing changes them now."""
        with self.connection.writing("forget old alerts"):
            return self.workspace.delete(
                "alerts",
                "resolved_at is not null and resolved_at < :before",
                {"before": stamp(before)},
            )

    def shown(
        self,
        alert_id: int,
        now: datetime,
        *,
        ref: str | None = None,
        count: int | None = None,
        cause: str | None = None,
        resolved: bool = False,
    ) -> None:
        values: dict = {"updated_at": stamp(now), "shown_count": count, "shown_cause": cause}
        values["resolved_at"] = stamp(now) if resolved else None
        if ref is not None:
            values |= {"ref": ref, "posted_at": stamp(now)}
        with self.connection.writing("record the alert"):
            self.workspace.update("alerts", values, "id = :id", {"id": alert_id})

    def fold(self, channel: str, digest_id: int, incident_ids: Iterable[int], now: datetime):
        """Put incidents into a digest: they get no message of their own in this channel."""
        with self.connection.writing("fold alerts into a digest"):
            for incident_id in incident_ids:
                row = {"channel": channel, "incident_id": incident_id, "digest_id": digest_id}
                row |= {"claimed_at": stamp(now)}
                self.workspace.insert("alerts", row, on_conflict="on conflict do nothing")

    def resolve_members(self, digest_id: int, now: datetime) -> None:
        with self.connection.writing("record the alert"):
            self.workspace.update(
                "alerts",
                {"resolved_at": stamp(now)},
                "digest_id = :id and resolved_at is null",
                {"id": digest_id},
            )
