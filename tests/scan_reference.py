"""What kb.scan must find, read the slow and obvious way: one line at a time.

Every line holding a marker (a tag of the families spibot reads, SPI or ESP, a literal of a
tagless format: kb/formats.py) is decoded, cut to MAX_LINE_CHARS characters, cleaned and
recognised (by each format's recogniser, without kb.formats' shortcut for the commonest
lines); a line cut short by a wrap is joined with the next one or two. No buffers, no
prefilter, no engine, no shortcut: tests/test_scan_parity.py holds the fast path to this.
"""

from __future__ import annotations

import re

from kb.context import PeerContext
from kb.events import Event
from kb.formats import CUT_SHORT, MARKER_LITERALS, MARKER_TAGS, MARKER_WORDS, cut_short
from kb.formats import recognise_each as recognise
from kb.normalise import clean_line
from kb.scan import MAX_LINE_CHARS, ScanStats

_TAGS = re.compile(MARKER_TAGS)
_HEAD_BYTES = 4 * MAX_LINE_CHARS + 4  # more bytes than MAX_LINE_CHARS characters can take


def holds_marker(raw: bytes) -> bool:
    return bool(_TAGS.search(raw)) or any(w in raw for w in (*MARKER_WORDS, *MARKER_LITERALS))


def read_line(raw: bytes, stats: ScanStats, *, count_cut: bool = True) -> str:
    """The line as the scanner reads it: its first MAX_LINE_CHARS characters, decoded."""
    if len(raw) > MAX_LINE_CHARS:
        head = raw[:_HEAD_BYTES]
        while len(head) < len(raw) and raw[len(head)] & 0xC0 == 0x80:
            head = head[:-1]  # do not split a character
        raw = head
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        stats.undecodable += 1
        text = raw.decode("utf-8", "replace")
    if len(text) > MAX_LINE_CHARS:
        stats.cut_lines += count_cut
        text = text[:MAX_LINE_CHARS]
    return text


def reference_scan(data: bytes) -> tuple[list[Event], ScanStats]:
    stats = ScanStats(bytes=len(data))
    lines = data.split(b"\n")
    if data.endswith(b"\n") or not data:
        lines.pop()
    stats.lines = len(lines)
    events: list[Event] = []
    n = 0
    while n < len(lines):
        number = n + 1
        if not holds_marker(lines[n]):
            n += 1
            continue
        stats.candidates += 1
        line = clean_line(read_line(lines[n], stats))
        event = recognise(line, number)
        n += 1
        if (event is None or event.detail == CUT_SHORT) and cut_short(line):
            # A wrapped message: this line and the next one or two, which are then read.
            joined = line
            for taken, following in enumerate(lines[n : n + 2], 1):
                joined = f"{joined} {clean_line(read_line(following, stats, count_cut=False))}"
                whole = recognise(joined, number)
                if whole is not None and whole.detail != CUT_SHORT:
                    event = whole
                    n += taken
                    break
        if event is not None:
            stats.cut_short += event.detail == CUT_SHORT
            events.append(event)
    context = PeerContext()
    ready = context.feed(events) + context.flush()
    stats.events = len(ready)
    return ready, stats
