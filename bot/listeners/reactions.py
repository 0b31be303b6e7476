"""The note reaction (📌 unless SPIBOT_NOTE_REACTION says otherwise) on a message in a thread
spibot answered files that message as a note on the thread's incident; done on the
background pool, like pastes."""

from __future__ import annotations

from slack_sdk import WebClient

from bot import metrics
from bot.listeners.deps import Deps


def on_reaction(event: dict, body: dict, client: WebClient, context, deps: Deps) -> None:
    if event.get("reaction") == deps.note_reaction:
        deps.background.submit("reaction", note_from_reaction, event, body, client, context, deps)


def note_from_reaction(event: dict, body: dict, client: WebClient, context, deps: Deps) -> None:
    store, state = deps.paste_stores.get(context)
    if not state.first_time(f"event:{body.get('event_id')}"):
        return
    item = event.get("item") or {}
    if item.get("type") != "message":
        return
    channel, ts = item["channel"], item["ts"]
    found = client.conversations_replies(channel=channel, ts=ts, latest=ts, inclusive=True, limit=1)
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
