"""The forms submitted. The note form (from "Add note" or the message shortcut): the note is
committed before the acknowledgement, and a bad peer or an empty note is shown on the form.
The "Fixed it" form: the incident resolved by the chosen cause and its note filed in one
transaction, then the verdict put at the top of the answer (bot/verdict_blocks.py)."""

from __future__ import annotations

import json

from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient

from bot import blocks, metrics, verdict_blocks
from bot.listeners.deps import Deps
from bot.listeners.home import refresh_home
from kb.db import stamp, utcnow
from kb.events import canonical_ip
from kb.store import Store, StoreError


def on_note_submitted(ack, body: dict, view: dict, client: WebClient, context, deps: Deps) -> None:
    values = view["state"]["values"]
    peer_text = (values["peer"]["value"].get("value") or "").strip()
    note_text = (values["note"]["value"].get("value") or "").strip()
    peer = canonical_ip(peer_text)
    if peer is None:
        ack(response_action="errors", errors={"peer": "Enter the peer's IP address."})
        return
    if not note_text:
        ack(response_action="errors", errors={"note": "The note is empty."})
        return
    metadata = _metadata(view)
    # A form submitted twice (or resubmitted after Slack gave up waiting) is one note.
    key = f"view:{view.get('id')}" if view.get("id") else None
    try:
        store, state = deps.stores.get(context)
        incident_id = _incident_for(store, metadata.get("incident"), peer)
        incident, _ = store.add_note(
            peer=peer,
            text=note_text,
            author=body["user"]["id"],
            source="slack:modal",
            permalink=metadata.get("permalink"),
            incident_id=incident_id,
            request_key=key,
        )
    except StoreError as exc:
        ack(response_action="errors", errors={"note": f"Not saved: {exc}"[:150]})
        return
    ack()  # only now: the note is committed
    if key is not None and not state.first_time(f"confirm:{key}"):
        return  # the first submission confirmed it already
    metrics.NOTES.labels("modal").inc()
    if metadata.get("channel") and metadata.get("thread_ts"):
        client.chat_postMessage(
            channel=metadata["channel"],
            thread_ts=metadata["thread_ts"],
            text=f"📝 Note added to incident #{incident.id} for {peer}.",
        )


def on_fixed_submitted(ack, body: dict, view: dict, client: WebClient, context, deps: Deps) -> None:
    values = view["state"]["values"]
    cause = ((values["cause"]["value"].get("selected_option") or {}).get("value") or "").strip()
    note_text = (values["note"]["value"].get("value") or "").strip()
    if not cause:
        ack(response_action="errors", errors={"cause": "Choose what fixed it."})
        return
    metadata = _metadata(view)
    user = body["user"]["id"]
    # A form submitted twice (or resubmitted after Slack gave up waiting) is one verdict.
    key = f"view:{view.get('id')}" if view.get("id") else None
    try:
        store, state = deps.stores.get(context)
        incident = store.incident(int(metadata["incident"]))
        if incident.status == "resolved" and incident.fixed_by != cause:
            fixed = store.article(incident.fixed_by).title if incident.fixed_by else "another cause"
            said = f"Already marked as fixed by {fixed}: Undo that first."
            ack(response_action="errors", errors={"cause": said[:150]})
            return
        title = store.article(cause).title
        note, changed = None, True
        if note_text:
            incident, note_id = store.add_note(
                peer=incident.peer or metadata.get("peer") or "",
                text=note_text,
                author=user,
                source="slack:fixed",
                incident_id=incident.id,
                fixed_by=cause,
                request_key=key,
            )
            note = next((n.to_dict() for n in incident.notes if n.id == note_id), None)
        else:
            incident, changed = store.resolve(incident.id, cause, author=user)
    except (StoreError, KeyError, TypeError, ValueError) as exc:
        ack(response_action="errors", errors={"cause": f"Not saved: {exc}"[:150]})
        return
    ack()  # only now: the verdict (and its note) is committed
    if not changed or (key is not None and not state.first_time(f"confirm:{key}")):
        return  # the first submission (or another person's) showed it already
    if note is not None:
        metrics.NOTES.labels("fixed").inc()
    _show_verdict(client, metadata, user, incident.id, cause, title, note)
    if not metadata.get("channel"):  # given from App Home: show it there
        refresh_home(user, client, context, deps)


def _show_verdict(
    client: WebClient, metadata: dict, user: str, incident: int, cause: str, title, note
) -> None:
    """The verdict at the top of the answer; where the answer cannot be read back (an
    ephemeral one), said to the person who gave it."""
    channel, ts = metadata.get("channel"), metadata.get("ts")
    message = None
    if channel and ts:
        found = client.conversations_replies(
            channel=channel, ts=ts, latest=ts, inclusive=True, limit=1
        )
        message = next((m for m in found.get("messages", []) if m.get("ts") == ts), None)
    if message is None:
        said = f"✅ Marked incident #{incident} as fixed by {blocks.esc(title)}."
        if metadata.get("response_url"):
            WebhookClient(metadata["response_url"]).send(
                text=said, response_type="ephemeral", replace_original=False
            )
        elif channel:
            client.chat_postEphemeral(channel=channel, user=user, text=said)
        else:  # given from App Home: said in the person's messages with the app
            client.chat_postMessage(channel=user, text=said)
        return
    new_blocks = verdict_blocks.with_verdict(
        message.get("blocks") or [],
        incident=incident,
        cause=cause,
        title=title,
        user=user,
        at=(note or {}).get("created_at") or stamp(utcnow()),
        note=note,
        peer=metadata.get("peer"),
    )
    # The message's own text comes back from Slack escaped already.
    text = f"✅ Fixed by {blocks.esc(title)}. {message.get('text') or ''}".strip()
    client.chat_update(channel=channel, ts=ts, text=text[:3000], blocks=new_blocks)


def _metadata(view: dict) -> dict:
    try:
        found = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _incident_for(store: Store, incident_id, peer: str) -> int | None:
    """The incident a modal was opened for, if it is still this workspace's and this peer's.

    A stale, foreign or garbled id is a StoreError the modal shows, not a 500."""
    if incident_id is None:
        return None
    try:
        number = int(incident_id)
    except (TypeError, ValueError):
        raise StoreError(f"{incident_id!r} is not an incident number") from None
    if store.incident(number).peer != peer:
        return None  # the peer was changed in the form: file it under that peer
    return number
