"""App Home: the incidents open now with their buttons, the recently resolved, or how to start;
published on the background pool when someone opens the tab.

Opening Home (and each paste, bot/listeners/paste.py) first closes the lone rekey races that
stayed quiet for SPIBOT_REKEY_QUIET_MINUTES (kb: Store.close_quiet_rekey_races): no scheduler
thread, so they close the next time anyone looks or pastes.

The thread of an incident is a note's permalink, or the answer spibot posted for it (what the
Slack door remembers in bot/slack_state.py's tables, read here) through chat.getPermalink.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from datetime import datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import home_blocks, settings
from bot.listeners.deps import Deps
from bot.slack_state import SlackState
from kb.incidents import Incident
from kb.store import Store, StoreError, utcnow
from kb.workspace import listed

log = logging.getLogger("spibot.slack")
PERMALINKS_KEPT = 2048  # a permalink never changes: kept per process, not asked for again

_permalinks: OrderedDict[tuple[str, str, str], str] = OrderedDict()
_permalinks_lock = threading.Lock()


def on_home(event: dict, body: dict, client: WebClient, context, deps: Deps) -> None:
    if event.get("tab") == "messages":  # the Messages tab opened: there is no Home to show
        return
    deps.background.submit("home", publish_home, event, body, client, context, deps)


def publish_home(
    event: dict, body: dict, client: WebClient, context, deps: Deps, now: datetime | None = None
) -> None:
    _, state = deps.paste_stores.get(context)
    if not state.first_time(f"event:{body.get('event_id')}"):
        return
    refresh_home(event["user"], client, context, deps, now=now)


def refresh_home(
    user: str, client: WebClient, context, deps: Deps, now: datetime | None = None
) -> None:
    """Publish `user`'s Home as it is now: on opening it, and after a verdict given from it
    (its buttons are the reply's, bot/listeners/actions.py)."""
    store, state = deps.paste_stores.get(context)
    now = now or utcnow()
    close_quiet_rekey_races(store, state, now=now)
    counts = store.counts()
    open_ = store.incidents(status="open", limit=home_blocks.OPEN_SHOWN)
    resolved = store.incidents(status="resolved", limit=home_blocks.RESOLVED_SHOWN)
    titles = {a.id: a.title for a in store.articles()}
    view = home_blocks.home(
        counts,
        open_,
        resolved,
        titles,
        thread_links(client, state, open_ + resolved),
        now=now,
        quiet_minutes=_quiet_minutes(),
    )
    client.views_publish(user_id=user, view=view.to_dict())


def _quiet_minutes() -> int:
    try:
        return settings.rekey_quiet_minutes()
    except settings.SettingsError as exc:  # `spibot serve` refuses it at start
        log.warning("lone rekey races stay open: %s", exc)
        return 0


def close_quiet_rekey_races(
    store: Store, state: SlackState, now: datetime | None = None
) -> list[int]:
    """Close the lone rekey races quiet for SPIBOT_REKEY_QUIET_MINUTES (0: none); the ids.
    Housekeeping: a database that takes no writes leaves them open, and says so in the log."""
    minutes = _quiet_minutes()
    if not minutes:
        return []
    now = now or utcnow()
    quiet = timedelta(minutes=minutes)
    try:
        # A later paste in the incident's own thread is read with the thread and recorded on
        # no incident: the thread's last paste is a line from the peer too.
        keep = _talked_about_since(state, now - quiet)
        closed = store.close_quiet_rekey_races(quiet, now=now, keep=keep)
    except StoreError as exc:
        log.warning("quiet rekey races left open: %s", exc)
        return []
    if closed:
        log.info("closed %d quiet rekey race(s): %s", len(closed), closed)
    return closed


def _talked_about_since(state: SlackState, since: datetime) -> set[int]:
    rows = state.db.query(
        "select j.value as id from slack_threads t, json_each(t.incidents) j "
        "where t.team_id = ? and t.updated_at > ?",
        [state.team, since.isoformat(timespec="seconds")],
    )
    return {int(r["id"]) for r in rows if isinstance(r["id"], int)}


def thread_links(client: WebClient, state: SlackState, incidents: list[Incident]) -> dict:
    """{incident id: permalink} for the incidents whose thread is known."""
    links: dict[int, str] = {}
    for i in incidents:
        noted = [n.permalink for n in i.notes if n.permalink]
        if noted:
            links[i.id] = noted[-1]
    missing = [i.id for i in incidents if i.id not in links]
    for incident_id, (channel, ts) in _answers(state, missing).items():
        found = _permalink(client, state.team, channel, ts)
        if found:
            links[incident_id] = found
    return links


def _answers(state: SlackState, ids: list[int]) -> dict[int, tuple[str, str]]:
    """Where spibot answered each incident's paste: (channel, reply ts), the first answer."""
    if not ids:
        return {}
    rows = state.db.query(
        "select incident_id as id, channel, reply_ts, created_at from slack_replies "
        "where team_id = :team and incident_id in (select value from json_each(:ids)) "
        "union all "
        "select j.value, t.channel, t.reply_ts, t.created_at "
        "from slack_threads t, json_each(t.incidents) j "
        "where t.team_id = :team and j.value in (select value from json_each(:ids)) "
        "order by created_at",
        {"team": state.team, "ids": listed(ids)},
    )
    found: dict[int, tuple[str, str]] = {}
    for r in rows:
        if r["channel"] and r["reply_ts"]:
            found.setdefault(int(r["id"]), (r["channel"], r["reply_ts"]))
    return found


def _permalink(client: WebClient, team: str, channel: str, ts: str) -> str | None:
    key = (team, channel, ts)
    with _permalinks_lock:
        if key in _permalinks:
            return _permalinks[key]
    try:
        found = client.chat_getPermalink(channel=channel, message_ts=ts).get("permalink")
    except (SlackApiError, OSError) as exc:  # the bot left the channel, the message is gone
        log.info("no permalink for %s/%s: %s", channel, ts, exc)
        return None
    if not found:
        return None
    with _permalinks_lock:
        _permalinks[key] = found
        if len(_permalinks) > PERMALINKS_KEPT:
            _permalinks.popitem(last=False)
    return found
