"""Syslog frames out of a TCP (or TLS) byte stream, as RFC 6587 frames them, incrementally.

Each frame is framed on its own, as it starts:
- octet counting, `LEN SP <PRI>...` (rsyslog's and syslog-ng's framing over TCP, RFC 5425 for
  TLS): LEN is 1-9 digits without a leading zero, and the frame must start with "<" after the
  space; a line that merely starts with a number ("45: *Nov 29 ...") is a line;
- otherwise one line, ended by LF (a CR before it is dropped) or by NUL (some old senders).
  Empty lines are skipped.

Limits, so one connection costs bounded memory and time:
- a frame longer than `max_frame` bytes (64 KiB) is dropped whole and counted `too_long`; the
  rest of an over-long octet-counted frame is skipped by its count, the rest of an over-long
  line up to its LF. A cut frame is not delivered: half a message read as a whole one
  would mislead more than a count does;
- at close (`close()`), a last line without its LF is delivered; a cut octet-counted frame is
  dropped and counted `unfinished`.

`feed` never copies the stream more than once per call: a frame still waiting for its end is
kept in a bytearray that new data is appended to, and looked at again only when it may be whole.
"""

from __future__ import annotations

MAX_FRAME = 64 * 1024
_MAX_DIGITS = 9
_DIGITS = b"0123456789"


class Framer:
    """feed(bytes) -> frames; close() -> the last frame, if whole. Counts what it drops."""

    __slots__ = (
        "_counted",
        "_held",
        "_need",
        "_skip",
        "_to_lf",
        "max_frame",
        "too_long",
        "unfinished",
    )

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self.too_long = 0  # frames dropped for their size
        self.unfinished = 0  # octet-counted frames cut by the close of the connection
        self._held = bytearray()  # the start of a frame not yet whole
        self._need = 0  # bytes _held must reach before an octet-counted frame is whole
        self._skip = 0  # bytes still to drop of an over-long octet-counted frame
        self._to_lf = False  # dropping the rest of an over-long line, up to its LF
        self._counted = False  # _held is an octet-counted frame (cut at close: unfinished)

    @property
    def pending(self) -> bool:
        """Whether part of a frame is waiting for the rest (for an idle timeout)."""
        return bool(self._held) or self._skip > 0 or self._to_lf

    def feed(self, data: bytes) -> list[bytes]:
        """The frames `data` completes, in order."""
        if self._skip:
            if len(data) <= self._skip:
                self._skip -= len(data)
                return []
            data = data[self._skip :]
            self._skip = 0
        if self._to_lf:
            end = data.find(b"\n")
            if end == -1:
                return []
            data = data[end + 1 :]
            self._to_lf = False
        held = self._held
        if held:
            held += data
            if len(held) < self._need or (
                not self._need and b"\n" not in data and b"\x00" not in data
            ):
                if not self._counted and len(held) > self.max_frame:
                    self._drop_line()
                return []
            data = bytes(held)
            held.clear()
            self._need = 0
            self._counted = False
        return self._frames(data)

    def close(self) -> list[bytes]:
        """The frame left when the stream ends: a last line without its LF is whole."""
        held = bytes(self._held)
        self._held.clear()
        self._need = 0
        if self._counted:
            self._counted = False
            self.unfinished += 1
            return []
        self._skip = 0
        self._to_lf = False
        line = held.rstrip(b"\r")
        return [line] if line else []

    def _frames(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        size = len(data)
        limit = self.max_frame
        find = data.find
        nul = b"\x00" in data
        lf = -1
        zero = -1 if nul else size  # without a NUL in data, only LFs end lines
        pos = 0
        while pos < size:
            first = data[pos]
            if 48 < first <= 57:  # 1-9: perhaps octet counting
                digits = pos + 1
                while digits < size and data[digits] in _DIGITS and digits - pos < _MAX_DIGITS:
                    digits += 1
                if digits + 1 >= size:
                    if digits - pos < _MAX_DIGITS and (digits == size or data[digits] == 32):
                        # "123" or "123 " at the end: the byte that decides has not come
                        self._hold(data, pos, size - pos + 1, counted=False)
                        return out
                elif data[digits] == 32 and data[digits + 1] == 60:  # "LEN <"
                    length = int(data[pos:digits])
                    start = digits + 1
                    end = start + length
                    if length > limit:
                        self.too_long += 1
                        if end > size:
                            self._skip = end - size
                            return out
                        pos = end
                        continue
                    if end > size:
                        self._hold(data, pos, end - pos, counted=True)
                        return out
                    frame = data[start:end]
                    if frame.endswith(b"\n"):  # some senders end a counted frame with LF
                        frame = frame[:-1]
                    out.append(frame)
                    pos = end
                    continue
            # The next LF and NUL are each searched for again only once passed: searching
            # from every NUL to an LF far away would make a run of NULs quadratic.
            if lf < pos:
                lf = find(b"\n", pos)
                if lf == -1:
                    lf = size
            if nul and zero < pos:
                zero = find(b"\x00", pos)
                if zero == -1:
                    zero = size
            end = zero if zero < lf else lf
            if end == size:
                break
            if end - pos > limit:
                self.too_long += 1
            elif end > pos:
                stop = end - 1 if data[end - 1] == 13 else end
                if stop > pos:
                    out.append(data[pos:stop])
            pos = end + 1
        if pos < size:
            if size - pos > limit:
                self._drop_line()
            else:
                self._hold(data, pos, 0, counted=False)
        return out

    def _hold(self, data: bytes, pos: int, need: int, *, counted: bool) -> None:
        self._held += memoryview(data)[pos:]
        self._need = need
        self._counted = counted

    def _drop_line(self) -> None:
        self.too_long += 1
        self._held.clear()
        self._need = 0
        self._to_lf = True
