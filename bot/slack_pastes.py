"""Pastes in Slack: a message with log lines gets one reply in its thread.

Claimed before it is parsed (a retry, or the same post as a message and as an app_mention,
costs one insert), parsed once, answered on the background pool, and the reply is posted
through bot/delivery.py so that Slack's own failures do not lose it.
"""

from __future__ import annotations

from slack_bolt import App
from slack_sdk import WebClient

from bot import blocks, delivery, metrics
from bot.background import Background
from kb.diagnose import diagnose_first
from kb.scan import may_hold_events

# Messages people post; bots' messages (syslog feeds) only where /spi watch is on.
_PEOPLE_SUBTYPES = {None, "thread_broadcast", "file_share", "me_message"}


def _rich_text(elements: list) -> list[str]:
    out = []
    for element in elements or []:
        if element.get("type") in ("text", "link"):
            out.append(element.get("text") or element.get("url", ""))
        elif "elements" in element:
            out.extend(_rich_text(element["elements"]))
            if element.get("type") in ("rich_text_section", "rich_text_preformatted"):
                out.append("\n")
    return out


def message_texts(message: dict) -> list[str]:
    """The texts of a message that may hold log lines: its text, then its rich-text blocks
    and attachments when they say something else. Nothing is parsed here."""
    text = message.get("text") or ""
    parts = ["".join(_rich_text(b.get("elements", []))) for b in message.get("blocks") or []]
    parts += [a.get("text") or a.get("fallback") or "" for a in message.get("attachments") or []]
    rich = "\n".join(p for p in parts if p)
    return [t for t in dict.fromkeys((text, rich)) if t and may_hold_events(t)]


def _key(message: dict, channel: str, edited: bool) -> str:
    ts = message["ts"]
    if edited:
        return f"edit:{channel}:{ts}:{message.get('edited', {}).get('ts')}"
    return f"paste:{channel}:{ts}"


class Pastes:
    """Listeners for messages and mentions. `stores` answer in the listener thread (watch
    checks); `paste_stores` belong to the background threads that answer."""

    def __init__(self, stores, paste_stores, background: Background) -> None:
        self.stores = stores
        self.paste_stores = paste_stores
        self.background = background

    def register(self, app: App) -> None:
        app.event("message")(self.on_message)
        app.event("app_mention")(self.on_mention)

    def answer(self, message: dict, channel: str, client: WebClient, edited: bool, context) -> None:
        texts = message_texts(message)
        if not texts:
            return
        store, state = self.paste_stores.get(context)
        key = _key(message, channel, edited)
        if not state.first_time(key):
            return
        try:
            self.reply(message, channel, texts, client, store, state)
        except Exception:
            # A later delivery of the same paste (its app_mention twin, or Slack's retry of an
            # event whose ack came late) may still answer it.
            state.release(key)
            raise

    def reply(self, message, channel, texts, client, store, state) -> None:
        ts = message["ts"]
        prior = state.reply_for(channel, ts)
        with metrics.DIAGNOSE_SECONDS.time():
            result = diagnose_first(texts, store, record=prior is None, source=f"slack:{channel}")
        if result is None or not result.groups:
            return
        metrics.PASTES.inc()
        rendered = [b.to_dict() for b in blocks.diagnosis(result)]
        fallback = blocks.esc(result.summary())
        if prior is not None:
            client.chat_update(
                channel=channel, ts=prior["reply_ts"], text=fallback, blocks=rendered
            )
            metrics.REPLIES.labels("update").inc()
            return
        thread_ts = message.get("thread_ts") or ts
        posted = delivery.post_reply(
            client,
            channel=channel,
            thread_ts=thread_ts,
            text=fallback,
            blocks=rendered,
            unfurl_links=False,
            unfurl_media=False,
        )
        metrics.REPLIES.labels("post").inc()
        # The busiest peer with an incident: the one a note in this thread most likely means.
        first = next((p for p in result.peers if p.incident is not None), None)
        incident, peer = (first.incident, first.peer) if first else (None, result.peer)
        state.remember_reply(channel, ts, thread_ts, posted["ts"], incident, peer)

    def later(self, message: dict, channel: str, client: WebClient, edited: bool, context) -> None:
        self.background.submit("paste", self.answer, message, channel, client, edited, context)

    def on_message(self, event: dict, client: WebClient, context) -> None:
        subtype = event.get("subtype")
        channel = event.get("channel")
        if subtype == "message_changed":
            message = event.get("message") or {}
            if message.get("bot_id") and message.get("bot_id") == context.bot_id:
                return
            if message.get("bot_id") and not self.stores.get(context)[1].watched(channel):
                return
            self.later(message, channel, client, True, context)
            return
        if subtype == "bot_message" or event.get("bot_id"):
            if event.get("bot_id") != context.bot_id and self.stores.get(context)[1].watched(
                channel
            ):
                self.later(event, channel, client, False, context)
            return
        if subtype in _PEOPLE_SUBTYPES:
            self.later(event, channel, client, False, context)

    def on_mention(self, event: dict, client: WebClient, context) -> None:
        self.later(event, event["channel"], client, False, context)
