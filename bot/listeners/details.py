""" "Details" under an answer card: everything the card leaves out, posted in its thread.

The card keeps one answer per peer short (bot/blocks.py `diagnosis`); its Details button asks
for the rest (`details`): the other causes with evidence, every command grouped by where and in
which mode it runs, caveats, sources, device-state findings, past incidents. The paste is read
again from what the thread remembers (bot/slack_state.py) without recording it a second time,
on the background pool: a long paste must not hold a listener thread past Slack's 3 seconds.
An ephemeral `/spi` answer has no thread: its Details button carries the id of the paste kept
for "Share in channel", and the details come back through the click's response_url
(bot/listeners/ephemeral.py).
"""

from __future__ import annotations

import json

from slack_sdk import WebClient

from bot import blocks, delivery
from bot.listeners.actions import channel_of, tell
from bot.listeners.deps import Deps
from kb.diagnose import diagnose

DETAILS = blocks.DETAILS


def on_details(ack, body: dict, action: dict, client: WebClient, context, deps: Deps) -> None:
    ack()
    deps.background.submit("details", post_details, body, action, client, context, deps)


def post_details(body: dict, action: dict, client: WebClient, context, deps: Deps) -> None:
    """Read the answer's paste again and post its details where the person can see them."""
    store, state = deps.paste_stores.get(context)
    try:
        picked = json.loads(action.get("value") or "{}")
    except ValueError:
        picked = {}
    peer, share_id = picked.get("peer"), picked.get("share")
    message = body.get("message") or {}
    channel = channel_of(body)
    thread_ts = message.get("thread_ts") or message.get("ts")
    paste = None
    if channel and thread_ts and not (body.get("container") or {}).get("is_ephemeral"):
        thread = state.thread(channel, thread_ts)
        paste = thread.combined() if thread is not None else None
    if paste is None and share_id:
        kept = state.share(str(share_id))
        paste = kept["paste"] if kept else None
    if paste is None and str(picked.get("incident", "")).isdigit():
        # a feed alert: its lines are kept with its incident (this workspace's only)
        paste = "\n".join(store.feed.lines(int(picked["incident"]))) or None
    if not paste:
        tell(client, body, "The paste of this answer is no longer kept: paste it again.")
        return
    result = diagnose(paste, store, record=False, source=f"slack:{channel}")
    if not result.groups:
        tell(client, body, "Nothing to detail: the paste holds no invalid-SPI line.")
        return
    rendered = [b.to_dict() for b in blocks.details(result, peer)]
    text = blocks.details_text(result, peer)
    if channel and thread_ts and not (body.get("container") or {}).get("is_ephemeral"):
        delivery.post_reply(
            client,
            channel=channel,
            thread_ts=thread_ts,
            text=text,
            blocks=rendered,
            unfurl_links=False,
            unfurl_media=False,
        )
        return
    # An ephemeral answer: the middleware sends this through the click's response_url.
    client.chat_postEphemeral(channel=channel, user=body["user"]["id"], text=text, blocks=rendered)
