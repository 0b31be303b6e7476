"""Feed alerts in Slack: the paste reply's answer card under one line saying where the lines
came from, updated in place (chat.update), marked resolved in the same message; a digest when
many incidents open at once. Everything a sender supplied (hostnames, addresses) is escaped."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from slack_sdk import WebClient
from slack_sdk.models.blocks import Block

from bot import blocks, delivery
from bot.feed.alerter import Message
from bot.verdict_blocks import who
from kb.feed.alerts import DIGEST_LISTED


def _since(stamp: str) -> str:
    return datetime.fromisoformat(stamp).strftime("%Y-%m-%d %H:%M UTC")


def _by(incident) -> str:
    return f" ({who(incident.fixed_author)})" if incident.fixed_by else ""


def render(message: Message) -> list[Block]:
    if message.review is None:
        return _digest(message)
    review = message.review
    incident = review.incident
    devices = ", ".join(blocks.esc(d) for d in review.devices) or "an unnamed device"
    lines = f"{incident.event_count:,} invalid-SPI line{'s' if incident.event_count != 1 else ''}"
    where = f"{lines} from {devices}, since {_since(incident.opened_at)} (incident #{incident.id})"
    if message.state == "resolved":
        head = [
            blocks.section(f"*Resolved:* {blocks.esc(message.how_closed)}{_by(incident)}"),
            blocks.context(f"Syslog feed: {where}"),
        ]
    else:
        head = [blocks.context(f":rotating_light: Syslog feed: {where}")]
    return blocks.fit([*head, *blocks.diagnosis(review.diagnosis)])


def _digest(message: Message) -> list[Block]:
    members = message.digest
    listed = [
        f"• {blocks.esc(s.peer or 'unknown peer')} on {blocks.esc(s.device or 'unknown device')}"
        f": {blocks.esc(s.top_cause or 'not yet diagnosed')}, {s.event_count:,} line(s)"
        + ("" if s.status == "open" else " (resolved)")
        for s in members[:DIGEST_LISTED]
    ]
    if len(members) > DIGEST_LISTED:
        listed.append(f"… and {len(members) - DIGEST_LISTED} more")
    title = blocks.esc(message.text)
    note = (
        "All of them are quiet again."
        if message.state == "resolved"
        else "Too many at once for an alert each: they are listed here, and this message is "
        "updated as they change. `/spi incidents` has each one."
    )
    return blocks.fit(
        [
            blocks.section(f"*{title}*"),
            blocks.section(blocks.clip("\n".join(listed))),
            blocks.context(note),
        ]
    )


class SlackAlerts:
    """The alerter's Output for Slack channels."""

    def __init__(self, client: Callable[[], WebClient]) -> None:
        self.client = client  # a function: with OAuth, the token is the install's of the day

    def post(self, channel: str, message: Message) -> str:
        posted = delivery.post_reply(
            self.client(),
            channel=channel,
            text=blocks.esc(message.text),
            blocks=[b.to_dict() for b in render(message)],
            unfurl_links=False,
            unfurl_media=False,
        )
        return posted["ts"]

    def update(self, channel: str, ref: str, message: Message) -> None:
        self.client().chat_update(
            channel=channel,
            ts=ref,
            text=blocks.esc(message.text),
            blocks=[b.to_dict() for b in render(message)],
        )
