"""The message shortcut "Add to SPI incident": opens the note form with the message, its
link and the peer of the thread (or of the message's own log lines) filled in."""

from __future__ import annotations

from slack_sdk import WebClient

from bot import blocks
from bot.listeners.deps import Deps
from bot.listeners.paste import message_texts
from kb.scan import parse_text

SHORTCUT = "add_to_spi_incident"  # its callback id, in both manifests


def on_shortcut(ack, shortcut: dict, client: WebClient, context, deps: Deps) -> None:
    ack()
    _, state = deps.stores.get(context)
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
