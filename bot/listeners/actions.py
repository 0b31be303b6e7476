"""The buttons under a reply: "This fixed it", "Not it" and "Add note". Each is acknowledged
first and answers inside Slack's 3 seconds on the listener threads."""

from __future__ import annotations

import json

from slack_sdk import WebClient

from bot import blocks
from bot.listeners.deps import Deps
from kb.store import StoreError


def tell(client: WebClient, body: dict, text: str) -> None:
    """An ephemeral line to the person who clicked."""
    channel = (body.get("channel") or {}).get("id") or body.get("container", {}).get("channel_id")
    client.chat_postEphemeral(channel=channel, user=body["user"]["id"], text=text)


def on_fixed(ack, body: dict, action: dict, client: WebClient, context, deps: Deps) -> None:
    ack()
    store, _ = deps.stores.get(context)
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


def on_not_it(ack, body: dict, action: dict, client: WebClient, context, deps: Deps) -> None:
    ack()
    store, _ = deps.stores.get(context)
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


def on_add_note(ack, body: dict, action: dict, client: WebClient) -> None:
    """Opens the note form (bot/listeners/views.py files it) for the reply's incident."""
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
