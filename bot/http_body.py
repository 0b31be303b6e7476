"""What every HTTP route of spibot does with a request body before reading what it says: a
size limit checked before a byte is read, and a refusal that says why in one line."""

from __future__ import annotations

import re
from collections.abc import Callable

REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    405: "Method Not Allowed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    503: "Service Unavailable",
}
DIGITS = re.compile(r"[0-9]+")  # str.isdigit() also takes "²", which int() refuses


class Refused(Exception):
    """A request turned away: its status, a one-line reason, whether its body is unread (the
    client may still be sending: close, do not read the rest)."""

    def __init__(self, status: int, why: str, unread: bool = False) -> None:
        super().__init__(why)
        self.status = status
        self.unread = unread


def read_limited(environ: dict, limit: int) -> bytes:
    """The body as sent, at most `limit` bytes: a declared length is checked before a byte is
    read, a chunked body is read one byte past the limit at most."""
    stream = environ["wsgi.input"]
    try:
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            body = stream.read(limit + 1)
            if len(body) > limit:
                raise Refused(413, f"chunked body over {limit} bytes", unread=True)
            return body
        declared = environ.get("CONTENT_LENGTH") or "0"
        if not DIGITS.fullmatch(declared):
            raise Refused(400, "malformed Content-Length", unread=True)
        if len(declared) > 12 or int(declared) > limit:  # no int() of 5,000 digits
            raise Refused(413, f"Content-Length over {limit} bytes", unread=True)
        body = stream.read(int(declared))
    except (OSError, ValueError) as exc:  # a malformed chunk, a read timeout
        raise Refused(400, f"body unreadable: {exc}", unread=True) from None
    if len(body) < int(declared):
        raise Refused(400, "body shorter than its Content-Length", unread=True)
    return body


def close_after_response(start_response: Callable) -> None:
    # Otherwise gunicorn keeps the connection and first reads the refused body to its end.
    # It ignores a Connection header from the app; its response object takes the order.
    response = getattr(start_response, "__self__", None)
    if hasattr(response, "force_close"):
        response.force_close()
