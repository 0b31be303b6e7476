"""A /spi paste's answer shared with the channel: the "Share in channel" button under the
ephemeral answer, and what its click does.

Only the person who typed /spi sees its answer; the team needs it where they are. The button
carries a short id (bot/slack_state.py keeps the paste under it, with the incidents the answer
recorded), and its click diagnoses that paste again without recording it twice and posts the
full answer, with its buttons, in the channel. Slash commands carry no thread_ts (Slack does
not say whether /spi was typed in a thread), so the answer is posted in the channel, and its
own thread is then the conversation, as under a pasted log: device state pasted there is read
with the paste and the answer updated in place.
"""

from __future__ import annotations

import json
import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement

from bot import blocks, delivery, metrics, verdict_blocks
from bot.listeners.deps import Deps
from bot.slack_state import SlackState
from kb.diagnose import Diagnosis, diagnose
from kb.store import StoreError

log = logging.getLogger("spibot.slack")
SHARE = "spi_share"
# Why chat.postMessage can refuse a channel the person could type /spi in: the bot is not in
# it (slash commands work everywhere, posting needs membership), or it is a DM between people.
NOT_IN_CHANNEL = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}
INVITE = (
    "I can't post in this conversation ({error}). Invite me with `/invite @spibot` and press "
    "*Share in channel* again, or paste the log lines in a channel I am in: I answer in the "
    "message's thread."
)


def recorded(result: Diagnosis) -> dict[str, int]:
    """{peer: incident} of each peer the answer recorded."""
    return {p.peer: p.incident for p in result.peers if p.peer and p.incident is not None}


def top_confirmed(result: Diagnosis) -> str | None:
    """The busiest peer's top cause when device state proved it (said once per thread)."""
    causes = result.peers[0].causes if result.peers else result.causes
    top = causes[0] if causes and result.groups else None
    return top.id if top is not None and top.confidence == "confirmed" else None


def offer(
    answer: list[Block],
    result: Diagnosis,
    paste: str,
    state: SlackState | None,
    channel: str | None,
    user: str | None,
) -> list[Block]:
    """The ephemeral answer with a "Share in channel" button under it, or with a line saying
    how to show it to the team when it cannot be kept (a database that takes no writes)."""
    kept = None
    if state is not None and channel:
        kept = state.keep_share(channel, user, paste, recorded(result), top_confirmed(result))
    if kept is None:
        tip = "Only you see this. To show the team, paste the lines in a channel I am in."
        return [*blocks.fit(answer, blocks.MAX_BLOCKS - 1), blocks.context(tip)]
    # Slack sends no message with a click on an ephemeral answer: its Details buttons carry
    # the kept paste's id themselves.
    for block in answer:
        for element in getattr(block, "elements", None) or []:
            if getattr(element, "action_id", None) == blocks.DETAILS:
                element.value = json.dumps({**json.loads(element.value or "{}"), "share": kept})
    button = ButtonElement(
        text="Share in channel", action_id=SHARE, style="primary", value=blocks.value(id=kept)
    )
    share = ActionsBlock(block_id="share", elements=[button])
    return [*blocks.fit(answer, blocks.MAX_BLOCKS - 1), share]


def on_share(
    ack, body: dict, action: dict, client: WebClient, respond, context, deps: Deps
) -> None:
    ack()
    user = body["user"]["id"]
    try:
        share_id = json.loads(action.get("value") or "{}").get("id")
    except (ValueError, AttributeError):
        share_id = None
    try:
        store, state = deps.stores.get(context)
        kept = state.share(str(share_id)) if share_id else None
        if kept is None:
            _say(respond, "This answer is no longer kept: run `/spi` with the lines again.")
            return
        if not state.claim_share(share_id, user):
            _say(respond, "This answer is already in the channel.")
            return
    except StoreError as exc:
        _say(respond, blocks.esc(f"Not shared: {exc}."))
        return
    try:
        ts = _post(client, store, state, kept, user)
    except SlackApiError as exc:
        state.shared(share_id, None)  # a later click may post it
        error = str(exc.response.get("error") or "error")
        if error not in NOT_IN_CHANNEL:
            raise
        _say(respond, INVITE.format(error=blocks.esc(error)))
        return
    except Exception:
        state.shared(share_id, None)
        raise
    state.shared(share_id, ts)
    # The copy only its author saw gives way to the shared one, so that no one records a
    # verdict on both.
    respond(
        replace_original=True,
        text="Shared in the channel: its buttons and thread are where the team sees them.",
    )


def _post(client: WebClient, store, state: SlackState, kept: dict, user: str) -> str:
    channel = kept["channel"]
    result = diagnose(kept["paste"], store, record=False, source=f"slack:{channel}")
    # The incidents are the ones the ephemeral answer recorded: its lines count once, and
    # those incidents are this answer's own, not "past" ones.
    own = kept["incidents"]
    for p in result.peers:
        p.incident = own.get(p.peer or "")
    result.recorded = [p.incident for p in result.peers if p.incident is not None]
    result.incidents = [i for i in result.incidents if i.id not in set(own.values())]
    answer = [b.to_dict() for b in blocks.fit(blocks.diagnosis(result), blocks.MAX_BLOCKS - 1)]
    # A "not it" said on the ephemeral answer before it was shared is struck out here too.
    titles = {a.id: a.title for a in store.articles()}
    answer = verdict_blocks.as_recorded(answer, store.incidents_by_id(own.values()), titles)
    by = blocks.context(f"Shared by <@{blocks.esc(user)}> from `/spi`").to_dict()
    rendered = [*answer[: blocks.MAX_BLOCKS - 1], by]  # Slack's limit, the struck lines too
    posted = delivery.post_reply(
        client,
        channel=channel,
        text=blocks.notification(result),
        blocks=rendered,
        unfurl_links=False,
        unfurl_media=False,
    )
    metrics.REPLIES.labels("post").inc()
    ts = posted["ts"]
    first = next((p for p in result.peers if p.incident is not None), None)
    incident, peer = (first.incident, first.peer) if first else (None, result.peer)
    state.remember_reply(channel, ts, ts, ts, incident, peer)
    state.open_thread(
        channel, ts, ts, peer, own, ts, kept["paste"], confirmed=kept.get("confirmed")
    )
    return ts


def _say(respond, text: str) -> None:
    """A line under the answer, to the person who clicked; the answer stays."""
    respond(response_type="ephemeral", replace_original=False, text=text)
