"""Stream any amount of log text and yield the events in it.

Most lines of a real log are not about IPsec, so the scanner never runs Python per line:
it finds marker bytes in a whole chunk with C-speed searches, and only decodes, cleans and
recognises the lines those land on. With kb/_lines.c, the search of the next chunk runs on
another core while the lines of this one are read. Memory stays flat: chunks are read,
scanned, dropped, and a line longer than MAX_LINE_CHARS is cut to its head, even one that
never ends.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from kb.context import PeerContext
from kb.events import Event
from kb.formats import CUT_SHORT, cut_short, fast_line, recognise
from kb.markers import Started, finder, line_is_read, liner, read_whole_lines, starter
from kb.normalise import clean_line, is_binary

# 1 MiB: the C pass over a chunk and the reading of its lines find it still in the CPU's cache
# (a fifth faster than 4 MiB chunks on a day of syslog, benchmarks/parse_throughput.py).
CHUNK_BYTES = 1 << 20
# Real log lines are under 1 KB. Longer ones are cut to this many characters before they are
# recognised (and counted in ScanStats.cut_lines), so no line costs more than this to read.
MAX_LINE_CHARS = 4096
# A character is at most 4 bytes of UTF-8: this many bytes of a line always decode to more
# than MAX_LINE_CHARS characters, so a head kept of an over-long line is still seen as cut.
_LINE_HEAD_BYTES = 4 * MAX_LINE_CHARS + 4
# The lines to read in data[begin:end], each once, in order, and their numbers (kb/markers.py).
_lines_to_read = liner()
_start_pass = starter()
# A chunk this big has its pass started as soon as it is read, to run beside the reading of the
# chunk before (a thread costs about 50 us: a paste is searched when its lines are wanted).
_AHEAD_BYTES = 1 << 16
_candidate_starts = finder()
read_whole_lines(MAX_LINE_CHARS)
_MAX_JOINED = 2  # a line is wrapped at most twice in practice


class _Feedable(Protocol):
    def feed(self, chunk: bytes) -> object: ...


class InputError(Exception):
    """Input that is not a log at all (binary, wrong encoding): say so, do not guess."""


@dataclass(slots=True)
class ScanStats:
    lines: int = 0
    bytes: int = 0
    candidates: int = 0
    events: int = 0
    undecodable: int = 0
    cut_lines: int = 0  # lines holding a marker, longer than MAX_LINE_CHARS, cut before reading
    cut_short: int = 0  # invalid-SPI lines that end after the message head: no peer, no SPI

    def warnings(self) -> list[str]:
        """Plain sentences on what was not read whole, for the reader of the events."""
        warnings = []
        if self.cut_lines:
            lines, were = ("line", "was") if self.cut_lines == 1 else ("lines", "were")
            warnings.append(
                f"{self.cut_lines:,} {lines} longer than {MAX_LINE_CHARS:,} characters {were} "
                "cut before recognition"
            )
        if self.cut_short:
            lines, ends = ("line", "ends") if self.cut_short == 1 else ("lines", "end")
            warnings.append(
                f"{self.cut_short:,} invalid-SPI {lines} {ends} after 'has invalid spi', so the "
                "peer and the SPI are unknown: for a better answer paste the whole line (with "
                "destaddr, spi and srcaddr) and the output of `show crypto ipsec sa` on this box"
            )
        return warnings


def _decode(raw: bytes, stats: ScanStats) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        stats.undecodable += 1
        return raw.decode("utf-8", "replace")


def _char_start(data: bytes, at: int) -> int:
    """`at`, moved back to the start of the UTF-8 character it falls inside, if any."""
    for _ in range(3):
        if at >= len(data) or data[at] & 0xC0 != 0x80:
            break
        at -= 1
    return at


def _line(data: bytes, start: int, stop: int, stats: ScanStats, *, count_cut: bool = True) -> str:
    """data[start:stop] decoded, cut to MAX_LINE_CHARS characters."""
    if stop - start <= MAX_LINE_CHARS:
        return _decode(data[start:stop], stats)
    head = _decode(data[start : _char_start(data, min(stop, start + _LINE_HEAD_BYTES))], stats)
    if len(head) <= MAX_LINE_CHARS:
        return head
    if count_cut:
        stats.cut_lines += 1
    return head[:MAX_LINE_CHARS]


def _bounded(carry: bytes) -> tuple[bytes, bool]:
    """The carried bytes with their unfinished last line cut to a head, and whether it was:
    input without newlines must not be held whole while waiting for one."""
    tail = carry.rfind(b"\n") + 1
    if len(carry) - tail <= _LINE_HEAD_BYTES:
        return carry, False
    return carry[: _char_start(carry, tail + _LINE_HEAD_BYTES)], True


# A pass started over data[begin:end]: (data, begin, end, what gives its lines).
_Ahead = tuple[bytes, int, int, Started]


def _scan_buffer(
    data: bytes,
    end: int,
    final: bool,
    first_line: int,
    stats: ScanStats,
    begin: int = 0,
    ahead: _Ahead | None = None,
) -> tuple[list[Event], int, int]:
    """Events in data[begin:end] (begin: the start of a line, first_line's); returns them, the
    offset up to which data was consumed and the number of lines from begin up to there
    (counted on the way: a second count cost a pass over data). `ahead`, a pass started
    earlier, is used if it is over this very data[begin:end].

    A recognisable line that is cut short and whose continuation lies past `end` (and more
    data may come) stops the scan there, so the caller carries it into the next buffer.
    """
    events: list[Event] = []
    add = events.append
    joined_to = 0  # lines up to this number were joined to a wrapped line before them
    if ahead is not None and ahead[0] is data and ahead[1:3] == (begin, end):
        found, newlines = ahead[3](first_line)
    else:
        found, newlines = _lines_to_read(data, begin, end, first_line)
    try_fast = not getattr(_lines_to_read, "reads_fast_lines", False)
    for item in found:
        if item.__class__ is Event:  # read whole by the engine
            if item.line > joined_to:
                stats.candidates += 1
                add(item)
            continue
        start, stop, number, maybe = item
        if number <= joined_to or (maybe and not line_is_read(data[start:stop])):
            continue
        counted = stats.candidates, stats.undecodable, stats.cut_lines
        stats.candidates += 1
        if stop - start <= MAX_LINE_CHARS:  # as _line, without the call: most lines
            try:
                text = data[start:stop].decode()
            except UnicodeDecodeError:
                text = _decode(data[start:stop], stats)
            else:
                # The commonest invalid-SPI lines, read in one match before any cleaning.
                event = fast_line(text, number) if try_fast else None
                if event is not None:
                    add(event)
                    continue
        else:
            text = _line(data, start, stop, stats)
        line = clean_line(text)
        event = recognise(line, number)
        if (event is None or event.detail == CUT_SHORT) and cut_short(line):
            # A line cut short may be the first half of a wrapped one: a whole message made
            # of it and the next line or two wins; if there is none, the line stands alone.
            alone, event, joined, next_stop = event, None, line, stop
            for more in range(1, _MAX_JOINED + 1):
                if next_stop >= end:
                    if not final:
                        # This line is read again with the next buffer: count it only then.
                        stats.candidates, stats.undecodable, stats.cut_lines = counted
                        return events, start, number - first_line
                    break
                following = data.find(b"\n", next_stop + 1, end)
                if following == -1:
                    following = end
                # A continuation is counted as cut only if it is a candidate line of its own.
                rest = _line(data, next_stop + 1, following, stats, count_cut=False)
                joined = f"{joined} {clean_line(rest)}"
                next_stop = following
                whole = recognise(joined, number)
                if whole is not None and whole.detail != CUT_SHORT:
                    event, joined_to = whole, number + more
                    break
            event = event or alone
        if event is not None:
            if event.detail == CUT_SHORT:
                stats.cut_short += 1
            add(event)
    return events, end, newlines


def _cores() -> int:
    """How many CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _passes_ahead(chunks: Iterable[bytes]) -> Iterator[tuple[bytes, _Ahead | None]]:
    """The non-empty chunks, each with the pass over its whole lines started if it is big; a
    chunk is handed on once the next one is read and its pass started, so that pass runs
    while the lines of this one are read. Where a line ran on from the chunk before, the
    pass starts after it: scan reads that line on its own."""
    held: tuple[bytes, _Ahead | None] | None = None
    ends_line = True
    # On one core the thread would only take turns with this one (5% slower than none).
    big = _AHEAD_BYTES if _cores() > 1 else float("inf")
    chunks = iter(chunks)
    while True:
        try:
            chunk = next(chunks)
        except StopIteration:
            break
        except Exception:
            # The input failed after this chunk (a FILE that is binary, a read error): its
            # events still go out first, as they did before reading ran a chunk ahead.
            if held is not None:
                yield held
            raise
        if not chunk:
            continue
        ahead = None
        if len(chunk) >= big:
            begin = 0 if ends_line else chunk.find(b"\n") + 1
            end = chunk.rfind(b"\n") + 1
            if end > begin:
                ahead = (chunk, begin, end, _start_pass(chunk, begin, end))
        ends_line = chunk.endswith(b"\n")
        if held is not None:
            yield held
        held = (chunk, ahead)
    if held is not None:
        yield held


def scan(chunks: Iterable[bytes], stats: ScanStats | None = None) -> Iterator[Event]:
    """Events from a stream of byte chunks of UTF-8 log text, in input order."""
    for batch in scan_batches(chunks, stats):
        yield from batch


def scan_batches(chunks: Iterable[bytes], stats: ScanStats | None = None) -> Iterator[list[Event]]:
    """scan's events a list at a time (a chunk's, mostly; never an empty list): for a caller
    that handles many at once, with no Python step per event between the two."""
    stats = stats if stats is not None else ScanStats()
    context = PeerContext()  # peers named by other lines, for lines that print none
    carry = b""
    skipping = False  # inside an over-long line whose head is carried: drop up to its end
    line_number = 1
    for chunk, ahead in _passes_ahead(chunks):
        stats.bytes += len(chunk)
        if skipping:
            newline = chunk.find(b"\n")
            if newline == -1:
                continue
            chunk = chunk[newline:]
            skipping = False
        data, begin = chunk, 0
        newline = chunk.find(b"\n") if carry else -1
        if newline != -1:
            # The line carried over, finished by the chunk's first line, read on its own: the
            # rest of the chunk is then read in place (joining the two copied a whole chunk).
            head = carry + chunk[: newline + 1]
            events, used, lines = _scan_buffer(head, len(head), False, line_number, stats)
            line_number += lines
            stats.events += len(events)
            if ready := context.feed(events):
                yield ready
            if used < len(head):  # a line cut short, whose continuation is further on
                data = head[used:] + chunk[newline + 1 :]
            else:
                begin = newline + 1
        elif carry:
            data = carry + chunk
        end = data.rfind(b"\n") + 1
        if end <= begin:
            carry = data[begin:]
        else:
            events, used, lines = _scan_buffer(data, end, False, line_number, stats, begin, ahead)
            line_number += lines
            stats.events += len(events)
            if ready := context.feed(events):
                yield ready
            carry = data[used:]
        carry, skipping = _bounded(carry)
    if carry:
        events, _, _ = _scan_buffer(carry, len(carry), True, line_number, stats)
        stats.events += len(events)
        if ready := context.feed(events):
            yield ready
        line_number += carry.count(b"\n") + (0 if carry.endswith(b"\n") else 1)
    stats.lines = line_number - 1
    if held := context.flush():
        yield held


def tee(chunks: Iterable[bytes], reader: _Feedable) -> Iterator[bytes]:
    """The chunks as they come, each also given to a reader of its own (the device-state
    reader of kb/state/reader.py)."""
    for chunk in chunks:
        reader.feed(chunk)
        yield chunk


def read_chunks(stream: BinaryIO, size: int = CHUNK_BYTES) -> Iterator[bytes]:
    """Chunks of UTF-8 from a byte stream; UTF-16 exports are converted, binary refused."""
    first = stream.read(size)
    if first[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        decoder = codecs.getincrementaldecoder("utf-16")("replace")
        yield decoder.decode(first).encode()
        while block := stream.read(size):
            yield decoder.decode(block).encode()
        yield decoder.decode(b"", final=True).encode()
        return
    if is_binary(first[:65536]):
        raise InputError("this is a binary file, not a text log (it holds NUL bytes)")
    yield first.removeprefix(codecs.BOM_UTF8)
    while block := stream.read(size):
        yield block


def parse_text(text: str) -> list[Event]:
    """Every event in a paste (Slack message, console input): the same scanner as for files."""
    return list(scan([text.encode("utf-8", "surrogatepass")]))


def has_candidate(data: bytes) -> bool:
    """Whether any line of data carries a marker the scanner would look at: the same C-speed
    test as a full scan, without recognising anything, so a chat message or a syslog datagram
    about something else costs next to nothing."""
    return bool(_candidate_starts(data, len(data)))


def may_hold_events(text: str) -> bool:
    """has_candidate for text."""
    return has_candidate(text.encode("utf-8", "surrogatepass"))
