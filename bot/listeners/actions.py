"""The buttons under a reply: "Fixed it…" (opens the form; bot/listeners/views.py records it),
"Not it" and its Undo, the verdict's Undo, and "Add note". Each is acknowledged first and
answers inside Slack's 3 seconds on the listener threads.

A verdict is shown to everyone by updating the answer itself (bot/verdict_blocks.py); only
what concerns the clicker alone (already said, not yours to take back) is ephemeral.
"""

from __future__ import annotations

import json

from slack_sdk import WebClient

from bot import blocks, verdict_blocks
from bot.listeners.deps import Deps
from bot.listeners.home import refresh_home
from kb.db import stamp, utcnow
from kb.incidents import Incident
from kb.store import Store, StoreError


def channel_of(body: dict) -> str | None:
    """The channel of the clicked answer; None for a click in App Home (a view)."""
    return (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")


def tell(client: WebClient, body: dict, text: str) -> None:
    """A line to the person who clicked: ephemeral in the channel, or, for a click in App
    Home (no channel), in their messages with the app."""
    user = body["user"]["id"]
    channel = channel_of(body)
    if channel is None:
        client.chat_postMessage(channel=user, text=text)
        return
    client.chat_postEphemeral(channel=channel, user=user, text=text)


def _message(body: dict) -> dict | None:
    """The answer clicked, when it can be updated: an ephemeral one is not in the channel."""
    container = body.get("container") or {}
    message = body.get("message")
    if container.get("is_ephemeral") or not message or not message.get("ts"):
        return None
    return message


def _update(
    client: WebClient, body: dict, message: dict, new_blocks: list[dict], said: str
) -> None:
    """The answer replaced for everyone; its text (what notifications and screen readers
    use) kept, or what changed when it has none."""
    channel = channel_of(body)
    text = message.get("text") or said
    client.chat_update(channel=channel, ts=message["ts"], text=text, blocks=new_blocks)


def _picked(action: dict) -> dict:
    found = json.loads(action.get("value") or "{}")
    return found if isinstance(found, dict) else {}


def _title(store: Store, cause: str) -> str:
    return store.article(cause).title


def on_fixed(ack, body: dict, action: dict, client: WebClient, context, deps: Deps) -> None:
    """Opens the "Fixed it" form with the clicked cause preselected."""
    ack()
    store, _ = deps.stores.get(context)
    picked = _picked(action)
    try:
        incident = store.incident(int(picked["incident"]))
        titles = {a.id: a.title for a in store.articles()}
    except (StoreError, KeyError, TypeError, ValueError) as exc:
        tell(client, body, blocks.esc(f"Not recorded: {exc}."))
        return
    if incident.status == "resolved":
        fixed = titles.get(incident.fixed_by or "", incident.fixed_by)
        tell(client, body, blocks.esc(f"Already marked as fixed by {fixed}: Undo it to change."))
        return
    message = _message(body)
    on_answer = verdict_blocks.causes_on((message or {}).get("blocks") or [], incident.id)
    first = [picked.get("article"), *on_answer, incident.confirmed_cause, incident.top_cause]
    shown = [(c, titles[c]) for c in dict.fromkeys(first) if c in titles]
    others = sorted(
        ((c, t) for c, t in titles.items() if c not in dict(shown)), key=lambda ct: ct[1]
    )
    original = body.get("message") or {}
    metadata = {
        "incident": incident.id,
        "peer": picked.get("peer") or incident.peer,
        "channel": channel_of(body),
        "ts": message["ts"] if message else None,
        "thread_ts": original.get("thread_ts") or original.get("ts"),
    }
    if message is None and body.get("response_url"):
        # An ephemeral answer (/spi): the form's submission carries no response_url, and the
        # bot may not be in the channel, so the confirmation goes back through this click's.
        metadata["response_url"] = body["response_url"]
    view = verdict_blocks.fixed_modal(shown, others, picked.get("article"), metadata)
    client.views_open(trigger_id=body["trigger_id"], view=view.to_dict())


def on_reopen(ack, body: dict, action: dict, client: WebClient, context, deps: Deps) -> None:
    """Undo "Fixed": the incident open again, the answer's buttons back."""
    ack()
    store, _ = deps.stores.get(context)
    picked = _picked(action)
    user = body["user"]["id"]
    try:
        incident, changed = store.reopen(int(picked["incident"]))
    except (StoreError, KeyError, TypeError, ValueError) as exc:
        tell(client, body, blocks.esc(f"Not reopened: {exc}."))
        return
    if not changed:
        tell(client, body, f"Incident #{incident.id} is open already.")
        return
    message = _message(body)
    if message is None:
        tell(client, body, f"Reopened incident #{incident.id}.")
        return
    new_blocks = verdict_blocks.reopened(
        message.get("blocks") or [],
        incident=incident.id,
        user=user,
        at=stamp(utcnow()),
        restore=picked.get("restore"),
        cause=picked.get("article"),
        peer=picked.get("peer"),
    )
    _update(client, body, message, new_blocks, f"Incident #{incident.id} reopened.")


def on_not_it(ack, body: dict, action: dict, client: WebClient, context, deps: Deps) -> None:
    """One "not it" per person, struck out on the answer for everyone with who said it."""
    ack()
    found = _change_not_it(body, action, client, context, deps, Store.not_it, "Not recorded")
    if found is None:
        return
    store, incident, cause, recorded = found
    if not recorded:
        tell(client, body, blocks.esc(f"You already said {cause} is not it."))
        return
    _show_not_it(client, body, store, incident, cause, _picked(action).get("peer"), context, deps)


def on_undo_not_it(ack, body: dict, action: dict, client: WebClient, context, deps: Deps) -> None:
    """Takes back the clicker's own "not it"; anyone else's is theirs to take back."""
    ack()
    found = _change_not_it(body, action, client, context, deps, Store.undo_not_it, "Not changed")
    if found is None:
        return
    store, incident, cause, taken = found
    if not taken:
        people = incident.not_it_by.get(cause) or []
        whose = ", ".join(verdict_blocks.who(p) for p in people) or "whoever said it"
        tell(client, body, f"Only {whose} can take back their “not it”.")
        return
    _show_not_it(client, body, store, incident, cause, _picked(action).get("peer"), context, deps)


def _change_not_it(
    body: dict, action: dict, client: WebClient, context, deps: Deps, change, failed: str
) -> tuple[Store, Incident, str, bool] | None:
    """The clicker's "not it" said or taken back (`change` is Store.not_it or undo_not_it):
    (store, the incident as it is now, the cause, whether anything changed), or None when it
    could not be (said to the clicker)."""
    store, _ = deps.stores.get(context)
    picked = _picked(action)
    try:
        cause = str(picked["article"])
        changed = change(store, int(picked["incident"]), cause, author=body["user"]["id"])
        incident = store.incident(int(picked["incident"]))
    except (StoreError, KeyError, TypeError, ValueError) as exc:
        tell(client, body, blocks.esc(f"{failed}: {exc}."))
        return None
    return store, incident, cause, changed


def _show_not_it(
    client: WebClient,
    body: dict,
    store: Store,
    incident: Incident,
    cause: str,
    peer,
    context,
    deps: Deps,
) -> None:
    message = _message(body)
    people = incident.not_it_by.get(cause) or []
    if message is None and channel_of(body) is None:  # clicked in App Home: show it there
        refresh_home(body["user"]["id"], client, context, deps)
        return
    if message is None:
        said = ", ".join(verdict_blocks.who(p) for p in people) or "nobody"
        tell(client, body, f"Not it: {blocks.esc(cause)} — {said}.")
        return
    title = _title(store, cause)
    new_blocks = verdict_blocks.with_not_it(
        message.get("blocks") or [],
        incident=incident.id,
        cause=cause,
        title=title,
        people=people,
        peer=peer,
    )
    _update(client, body, message, new_blocks, blocks.esc(f"Not it: {title}."))


def on_add_note(ack, body: dict, action: dict, client: WebClient) -> None:
    """Opens the note form (bot/listeners/views.py files it) for the reply's incident."""
    ack()
    picked = json.loads(action["value"])
    message = body.get("message") or {}
    metadata = {
        "incident": picked.get("incident"),
        "channel": channel_of(body),
        "thread_ts": message.get("thread_ts") or message.get("ts"),
    }
    view = blocks.note_modal("", picked.get("peer"), metadata)
    client.views_open(trigger_id=body["trigger_id"], view=view.to_dict())
