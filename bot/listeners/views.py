"""The note form submitted (from "Add note" or the message shortcut): the note is committed
before the acknowledgement, and a bad peer or an empty note is shown on the form."""

from __future__ import annotations

import json

from slack_sdk import WebClient

from bot import metrics
from bot.listeners.deps import Deps
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
