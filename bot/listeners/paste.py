"""Pastes in Slack (message and app_mention): a message with log lines gets one reply in its
thread, and the thread is the conversation.

Claimed before it is parsed (a retry, or the same post as a message and as an app_mention,
costs one insert), parsed once, answered on the background pool, and the reply is posted
through bot/delivery.py so that Slack's own failures do not lose it.

More log lines or device state pasted later in a thread spibot answered are read together
with everything pasted there before (bot/slack_state.py keeps it), and the answer is updated
in place; when that turns the top cause into a confirmed one, one short "Confirmed:" reply
says so in the thread (issue 11, item 5).
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient

from bot import blocks, delivery, metrics, verdict_blocks
from bot.listeners import home
from bot.listeners.deps import Deps
from bot.slack_state import SlackState, Thread
from kb.diagnose import MAX_PASTE_CHARS, Diagnosis, diagnose
from kb.scan import may_hold_events
from kb.state.reader import may_hold_state
from kb.store import Store, StoreError

log = logging.getLogger("spibot.slack")
# A thread answer diagnosed from texts that a concurrent reply has since added to is done
# again, this many times at most, so the last update holds every paste.
THREAD_ROUNDS = 3

# Messages people post; bots' messages (syslog feeds) only where /spi watch is on.
_PEOPLE_SUBTYPES = {None, "thread_broadcast", "file_share", "me_message"}


def on_message(event: dict, client: WebClient, context, deps: Deps) -> None:
    subtype = event.get("subtype")
    channel = event.get("channel")
    if subtype == "message_changed":
        message = event.get("message") or {}
        if message.get("bot_id") and message.get("bot_id") == context.bot_id:
            return
        if message.get("bot_id") and not deps.stores.get(context)[1].watched(channel):
            return
        _later(message, channel, client, True, context, deps)
        return
    if subtype == "bot_message" or event.get("bot_id"):
        if event.get("bot_id") != context.bot_id and deps.stores.get(context)[1].watched(channel):
            _later(event, channel, client, False, context, deps)
        return
    if subtype in _PEOPLE_SUBTYPES:
        _later(event, channel, client, False, context, deps)


def on_mention(event: dict, client: WebClient, context, deps: Deps) -> None:
    _later(event, event["channel"], client, False, context, deps)


def _later(message: dict, channel: str, client: WebClient, edited: bool, context, deps) -> None:
    deps.background.submit("paste", answer, message, channel, client, edited, context, deps)


def answer(
    message: dict, channel: str, client: WebClient, edited: bool, context, deps: Deps
) -> None:
    """The background work for one delivery of a message: claim it, then reply."""
    texts = message_texts(message)
    if not texts:
        return
    store, state = deps.paste_stores.get(context)
    key = _key(message, channel, edited)
    if not state.first_time(key):
        return
    try:
        _reply(message, channel, texts, client, store, state)
    except Exception:
        # A later delivery of the same paste (its app_mention twin, or Slack's retry of an
        # event whose ack came late) may still answer it.
        state.release(key)
        raise
    # After the paste is recorded (a second line keeps its peer's incident open): lone rekey
    # races elsewhere that stayed quiet close now, with no scheduler (bot/listeners/home.py).
    home.close_quiet_rekey_races(store, state)


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
    return [t for t in dict.fromkeys((text, rich)) if t and may_hold_input(t)]


def may_hold_input(text: str) -> bool:
    """Whether text may hold log lines or device state: C-speed searches, nothing parsed."""
    return may_hold_events(text) or may_hold_state(text)


def _key(message: dict, channel: str, edited: bool) -> str:
    ts = message["ts"]
    if edited:
        return f"edit:{channel}:{ts}:{message.get('edited', {}).get('ts')}"
    return f"paste:{channel}:{ts}"


def _reply(message, channel, texts, client, store, state) -> None:
    ts = message["ts"]
    thread_ts = message.get("thread_ts") or ts
    thread = state.thread(channel, thread_ts, ts, texts[0])
    if thread is not None:
        _in_thread(thread, ts, texts[0], channel, client, store, state)
        return
    prior = state.reply_for(channel, ts)
    with metrics.DIAGNOSE_SECONDS.time():
        text, result = _first(texts, store, record=prior is None, source=f"slack:{channel}")
    if result is None or not result.groups:
        return
    metrics.PASTES.inc()
    rendered = [b.to_dict() for b in blocks.diagnosis(result)]
    fallback = blocks.notification(result)
    if prior is not None:  # an answer from before threads were remembered
        client.chat_update(channel=channel, ts=prior["reply_ts"], text=fallback, blocks=rendered)
        metrics.REPLIES.labels("update").inc()
        return
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
    recorded = {p.peer: p.incident for p in result.peers if p.peer and p.incident is not None}
    top = _top(result)
    confirmed = top.id if top is not None and top.confidence == "confirmed" else None
    state.open_thread(
        channel, thread_ts, posted["ts"], peer, recorded, ts, text, confirmed=confirmed
    )


def _in_thread(
    thread: Thread,
    ts: str,
    text: str,
    channel: str,
    client: WebClient,
    store: Store,
    state: SlackState,
) -> None:
    """A paste in a thread spibot answered: everything pasted there read as one, the answer
    updated in place, and a confirmation said once."""
    state.add_to_thread(channel, thread.thread_ts, ts, text)
    for _ in range(THREAD_ROUNDS):
        thread = state.thread(channel, thread.thread_ts, ts, text) or thread
        with metrics.DIAGNOSE_SECONDS.time():
            result = diagnose(thread.combined(), store, record=False, source=f"slack:{channel}")
        if state.version(channel, thread.thread_ts) in (thread.version, None):
            break
    if not result.groups:
        return
    metrics.PASTES.inc()
    _as_recorded(result, thread)
    rendered = [b.to_dict() for b in blocks.diagnosis(result)]
    # The "not it"s already given on the answer stay struck out when it is drawn again.
    titles = {a.id: a.title for a in store.articles()}
    known = store.incidents_by_id(thread.incidents.values()) if thread.incidents else []
    rendered = verdict_blocks.as_recorded(rendered, known, titles)
    client.chat_update(
        channel=channel,
        ts=thread.reply_ts,
        text=blocks.notification(result),
        blocks=rendered,
    )
    metrics.REPLIES.labels("update").inc()
    _confirm(result, thread, channel, client, store, state)


def _confirm(
    result: Diagnosis,
    thread: Thread,
    channel: str,
    client: WebClient,
    store: Store,
    state: SlackState,
) -> None:
    """The "Confirmed:" reply, once per thread and cause, and the incident told."""
    top = _top(result)
    if top is None or top.confidence != "confirmed" or top.id in thread.confirmed:
        return
    if not state.confirm_thread(channel, thread.thread_ts, top.id):
        return  # a concurrent delivery, or an earlier edit, said it already
    peer = result.peers[0] if result.peers else None
    name = (peer.peer if peer else result.peer) or "unknown peer"
    finding = _finding(result, top.id, name)
    proof = list(getattr(top, "proof", None) or (finding.proof if finding else []))
    said = blocks.confirmed(top.title, name, finding.text if finding else "", proof)
    try:
        delivery.post_reply(
            client,
            channel=channel,
            thread_ts=thread.thread_ts,
            text=said,
            unfurl_links=False,
            unfurl_media=False,
        )
    except Exception:
        # Not said: a later delivery of this paste (Slack's retry, an edit) may say it.
        state.unconfirm_thread(channel, thread.thread_ts, top.id)
        raise
    metrics.REPLIES.labels("post").inc()
    incident = thread.incidents.get(name, thread.incident_id)
    if incident is not None:
        try:
            store.confirm_incident(incident, top.id, proof)
        except StoreError as exc:
            log.warning("confirmation of incident #%s not recorded: %s", incident, exc)


def _first(texts: list[str], store, *, record: bool, source: str):
    """The first text holding a recognised line and its diagnosis, or (None, None)."""
    for text in texts:
        result = diagnose(text, store, record=record, source=source)
        if result.recognised:
            return text, result
    return None, None


def _top(result: Diagnosis):
    """The busiest peer's top cause (the one a thread's confirmation is about)."""
    causes = result.peers[0].causes if result.peers else result.causes
    return causes[0] if causes and result.groups else None


def _finding(result: Diagnosis, cause: str, peer: str):
    """The confirmed finding behind a cause, for its sentence."""
    found = getattr(result.peers[0], "findings", None) if result.peers else None
    for finding in found or getattr(result, "findings", None) or []:
        if finding.kind == "confirmed" and finding.cause == cause and finding.peer in (peer, None):
            return finding
    return None


def _as_recorded(result: Diagnosis, thread: Thread) -> None:
    """A thread's answer is read again without recording: its peers keep the incidents the
    first answer recorded (their buttons and notes), and those are not "past" incidents."""
    for p in result.peers:
        p.incident = thread.incidents.get(p.peer or "")
    result.recorded = [p.incident for p in result.peers if p.incident is not None]
    own = set(thread.incidents.values())
    result.incidents = [i for i in result.incidents if i.id not in own]
    if thread.unread:
        result.warnings.append(
            f"{thread.unread} later message(s) in this thread ({thread.unread_chars:,} "
            f"characters) were not read: a thread is read up to {MAX_PASTE_CHARS:,} characters"
        )
