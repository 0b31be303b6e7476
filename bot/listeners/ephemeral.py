"""Buttons on an ephemeral message (a /spi answer): their listeners answer through the
click's `response_url`.

Slack cannot chat.update an ephemeral message (it is no message of the channel's), and
chat.postEphemeral needs the bot in the channel, which /spi does not. So for a click on one,
every button listener is given, as its `client`, one whose chat_update and chat_postEphemeral
go to the response_url instead; every other call is the real client's. The listeners stay as
they are, and one that is added later is covered too.
"""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient


class ThroughResponseUrl:
    """A WebClient for a click on an ephemeral message."""

    def __init__(self, client: WebClient, response_url: str, original: bool) -> None:
        self._client = client
        self._url = response_url
        # Slack sends no copy of an ephemeral message with a click on it: an update built
        # from its blocks would be the verdict alone, so it is said under the answer instead.
        self._original = original

    def __getattr__(self, method: str):
        return getattr(self._client, method)

    def chat_update(self, *, text: str = "", blocks=None, **_) -> dict:
        return self._send(text, blocks, replace_original=self._original)

    def chat_postEphemeral(self, *, text: str = "", blocks=None, **_) -> dict:
        return self._send(text, blocks, replace_original=False)

    def _send(self, text: str, blocks, replace_original: bool) -> dict:
        sent = WebhookClient(self._url, timeout=10).send(
            text=text,
            blocks=blocks,
            response_type="ephemeral",
            replace_original=replace_original,
        )
        return {"ok": sent.status_code == 200, "status": sent.status_code}


def through_response_url(body: dict, context, next_) -> None:
    """Bolt middleware: a click on an ephemeral message gets ThroughResponseUrl as client."""
    container = body.get("container") or {}
    url = body.get("response_url")
    if body.get("type") == "block_actions" and container.get("is_ephemeral") and url:
        original = bool((body.get("message") or {}).get("blocks"))
        context["client"] = ThroughResponseUrl(context.client, url, original)
    next_()
