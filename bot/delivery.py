"""Getting a reply to Slack once: bounded waits on rate limits, retries on Slack's own
transient failures, and a text-only answer when Slack refuses the blocks.

A paste is acknowledged before it is answered, so Slack does not redeliver it: a reply lost
here is lost for good. Hence the retries, one layer of them per kind of failure: the client's
handlers for 429 (capped), 5xx and dropped connections; post_reply for `ok: false` answers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web import SlackResponse

log = logging.getLogger("spibot.slack")

# Longest Retry-After that a listener thread sleeps through; a longer one fails the call at
# once (a worker asleep for minutes answers nobody).
MAX_RETRY_AFTER_SECONDS = 10
POST_ATTEMPTS = 3
BACKOFF_SECONDS = (0.5, 2.0)
# `ok: false` errors that say "try again", as opposed to a refusal of this request. A 429 is
# not among them: CappedRateLimitHandler has waited for it already, or refused to.
TRANSIENT_ERRORS = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
BLOCKS_REFUSED = frozenset({"invalid_blocks", "invalid_blocks_format", "msg_too_long"})


def retry_after(response: HttpResponse | None) -> float:
    """Seconds a 429 asks us to wait (1 when the header is missing or unreadable)."""
    if response is None:
        return 0.0
    for name, values in response.headers.items():
        if name.lower() == "retry-after":
            value = values[0] if isinstance(values, list) else values
            try:
                return float(value)
            except (TypeError, ValueError):
                return 1.0
    return 1.0


class CappedRateLimitHandler(RateLimitErrorRetryHandler):
    """slack-sdk's 429 handler, except that a Retry-After over `cap` seconds is not slept."""

    def __init__(self, max_retry_count: int = 2, cap: float = MAX_RETRY_AFTER_SECONDS) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.cap = cap

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        ok = super()._can_retry(state=state, request=request, response=response, error=error)
        return ok and retry_after(response) <= self.cap


def web_client(bot_token: str | None, api_url: str) -> WebClient:
    client = WebClient(token=bot_token or None, base_url=api_url, timeout=10)
    client.retry_handlers.extend(
        [
            CappedRateLimitHandler(),
            ConnectionErrorRetryHandler(),
            ServerErrorRetryHandler(max_retry_count=2),
        ]
    )
    return client


def _retry_here(exc: SlackApiError) -> bool:
    # 5xx were retried by the client's ServerErrorRetryHandler already; retrying them here too
    # would multiply the attempts (and the replies, when Slack stored one before failing).
    return exc.response.status_code < 500 and exc.response.get("error") in TRANSIENT_ERRORS


def post_reply(
    client: WebClient, sleep: Callable[[float], None] = time.sleep, **message
) -> SlackResponse:
    """chat.postMessage, tried up to POST_ATTEMPTS times when Slack answers `ok: false` with an
    error that means "try again"; blocks that Slack refuses are replaced by the message's
    plain text. Never retried after a read timeout: Slack may have posted it. Raises the last
    error."""
    failures = 0
    while True:
        try:
            return client.chat_postMessage(**message)
        except SlackApiError as exc:
            if exc.response.get("error") in BLOCKS_REFUSED and "blocks" in message:
                log.warning("Slack refused the reply's blocks (%s); sending text only", exc)
                message = {k: v for k, v in message.items() if k != "blocks"}
                continue
            failures += 1
            if not _retry_here(exc) or failures == POST_ATTEMPTS:
                raise
        sleep(BACKOFF_SECONDS[min(failures, len(BACKOFF_SECONDS)) - 1])
