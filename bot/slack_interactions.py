"""Slack's interactive surfaces: the buttons under a reply ("This fixed it", "Not it",
"Add note"), the note form and the message shortcut that opens it, the 📌 reaction that files
a message as a note, and App Home.

Buttons and forms answer inside Slack's 3 seconds on the listener threads; reactions and App
Home do their work on the background pool, like pastes.
"""

from __future__ import annotations

import json

from slack_bolt import App
from slack_sdk import WebClient

from bot import blocks, metrics
from bot.background import Background
from bot.slack_pastes import message_texts
from kb.events import canonical_ip
from kb.scan import parse_text
from kb.store import Store, StoreError

SHORTCUT = "add_to_spi_incident"


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


def tell(client: WebClient, body: dict, text: str) -> None:
    """An ephemeral line to the person who clicked."""
    channel = (body.get("channel") or {}).get("id") or body.get("container", {}).get("channel_id")
    client.chat_postEphemeral(channel=channel, user=body["user"]["id"], text=text)


class Interactions:
    """The handlers, bound to the stores and the background pool they share."""

    def __init__(self, stores, paste_stores, background: Background, note_reaction: str) -> None:
        self.stores = stores
        self.paste_stores = paste_stores
        self.background = background
        self.note_reaction = note_reaction

    def register(self, app: App) -> None:
        app.action("spi_fixed")(self.on_fixed)
        app.action("spi_not_it")(self.on_not_it)
        app.action("spi_add_note")(self.on_add_note)
        app.shortcut(SHORTCUT)(self.on_shortcut)
        app.view(blocks.NOTE_MODAL)(self.on_note_submitted)
        app.event("reaction_added")(self.on_reaction)
        app.event("app_home_opened")(self.on_home)

    def on_fixed(self, ack, body: dict, action: dict, client: WebClient, context) -> None:
        ack()
        store, _ = self.stores.get(context)
        picked = json.loads(action["value"])
        user = body["user"]["id"]
        try:
            _, changed = store.resolve(int(picked["incident"]), picked["article"], author=user)
        except StoreError as exc:
            tell(client, body, blocks.esc(f"Not recorded: {exc}."))
            return
        if not changed:
            tell(client, body, blocks.esc(f"Already marked as fixed by {picked['article']}."))
            return
        message = body.get("message") or {}
        channel = (body.get("channel") or {}).get("id") or body["container"]["channel_id"]
        client.chat_update(
            channel=channel,
            ts=message.get("ts") or body["container"]["message_ts"],
            text=f"Fixed by {blocks.esc(picked['article'])}",
            blocks=blocks.resolved(
                message.get("blocks") or [],
                picked["article"],
                user,
                incident=picked["incident"],
                peer=picked.get("peer"),
            ),
        )

    def on_not_it(self, ack, body: dict, action: dict, client: WebClient, context) -> None:
        ack()
        store, _ = self.stores.get(context)
        picked = json.loads(action["value"])
        try:
            recorded = store.not_it(
                int(picked["incident"]), picked["article"], author=body["user"]["id"]
            )
        except StoreError as exc:
            tell(client, body, blocks.esc(f"Not recorded: {exc}."))
            return
        said = "Noted" if recorded else "Already noted"
        tell(
            client,
            body,
            blocks.esc(
                f"{said}: {picked['article']} will rank lower for {picked.get('peer')} from now on."
            ),
        )

    def on_add_note(self, ack, body: dict, action: dict, client: WebClient) -> None:
        ack()
        picked = json.loads(action["value"])
        message = body.get("message") or {}
        metadata = {
            "incident": picked.get("incident"),
            "channel": body["channel"]["id"],
            "thread_ts": message.get("thread_ts") or message.get("ts"),
        }
        view = blocks.note_modal("", picked.get("peer"), metadata)
        client.views_open(trigger_id=body["trigger_id"], view=view.to_dict())

    def on_shortcut(self, ack, shortcut: dict, client: WebClient, context) -> None:
        ack()
        _, state = self.stores.get(context)
        message = shortcut["message"]
        channel = shortcut["channel"]["id"]
        thread_ts = message.get("thread_ts") or message["ts"]
        permalink = client.chat_getPermalink(channel=channel, message_ts=message["ts"])
        reply = state.reply_in_thread(channel, thread_ts)
        texts = message_texts(message)
        events = parse_text(texts[0]) if texts else []
        peer = reply["peer"] if reply else next((e.peer for e in events if e.peer), None)
        metadata = {
            "incident": reply["incident_id"] if reply else None,
            "channel": channel,
            "thread_ts": thread_ts,
            "permalink": permalink.get("permalink"),
        }
        text = message.get("text") or ""
        if permalink.get("permalink"):
            text = f"{text}\n\n{permalink['permalink']}"
        view = blocks.note_modal(text, peer, metadata)
        client.views_open(trigger_id=shortcut["trigger_id"], view=view.to_dict())

    def on_note_submitted(self, ack, body: dict, view: dict, client: WebClient, context) -> None:
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
            store, state = self.stores.get(context)
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

    def on_reaction(self, event: dict, body: dict, client: WebClient, context) -> None:
        if event.get("reaction") == self.note_reaction:
            self.background.submit(
                "reaction", self.note_from_reaction, event, body, client, context
            )

    def note_from_reaction(self, event: dict, body: dict, client: WebClient, context) -> None:
        store, state = self.paste_stores.get(context)
        if not state.first_time(f"event:{body.get('event_id')}"):
            return
        item = event.get("item") or {}
        if item.get("type") != "message":
            return
        channel, ts = item["channel"], item["ts"]
        found = client.conversations_replies(
            channel=channel, ts=ts, latest=ts, inclusive=True, limit=1
        )
        message = next((m for m in found.get("messages", []) if m.get("ts") == ts), None)
        if message is None or message.get("bot_id") == context.bot_id:
            return
        thread_ts = message.get("thread_ts") or ts
        reply = state.reply_in_thread(channel, thread_ts)
        if reply is None:
            return  # not a thread spibot answered
        if not state.first_time(f"reaction-note:{channel}:{ts}"):
            return
        permalink = client.chat_getPermalink(channel=channel, message_ts=ts).get("permalink")
        incident, _ = store.add_note(
            peer=reply["peer"],
            text=message.get("text") or "(no text)",
            author=message.get("user") or event.get("user"),
            source="slack:reaction",
            permalink=permalink,
            incident_id=reply["incident_id"],
        )
        metrics.NOTES.labels("reaction").inc()
        client.chat_postMessage(
            channel=channel,
            thread_ts=thread_ts,
            text=f"📌 Added that message as a note to incident #{incident.id}.",
        )

    def on_home(self, event: dict, body: dict, client: WebClient, context) -> None:
        self.background.submit("home", self.publish_home, event, body, client, context)

    def publish_home(self, event: dict, body: dict, client: WebClient, context) -> None:
        store, state = self.paste_stores.get(context)
        if not state.first_time(f"event:{body.get('event_id')}"):
            return
        recent = store.incidents(limit=50)
        peers = list(dict.fromkeys(i.peer for i in recent if i.peer))[:10]
        open_ = [i for i in recent if i.status == "open"]
        view = blocks.home(store.counts(), open_, peers)
        client.views_publish(user_id=event["user"], view=view.to_dict())
