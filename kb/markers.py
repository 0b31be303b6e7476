"""Which lines of a buffer the scanner reads: the marker patterns, and the engine that finds them.

A line is worth reading when it holds a marker (kb/formats.py: a tag of the families spibot
reads, SPI or ESP in upper case, a literal of a tagless format). Two families are most of a
busy firewall's log and almost never matter: ASA/FTD/PIX messages and IOS ACL log lines. A
line of theirs is read only when it could make an event, which on a line of printable ASCII
(what clean_line leaves alone but for the spaces around "=") is decidable from the bytes:

- its tag, or another tag in the line, has a mnemonic spibot reads (an ACL tag only when the
  deny is of ESP, AH, or UDP to or from port 500 or 4500);
- its %ASA tag is malformed and the line names a phrase of a tagless format (with no tag,
  recognise() looks for those);
- or it holds anything clean_line rewrites (a byte outside printable ASCII, "&", "<", "`", a
  carriage return inside the line), so the bytes cannot tell: read it.

Every other marker makes its line read as before. tests/test_scan_parity.py checks that this
finds every event a line-by-line reading finds.

Three engines find these lines, the same lines (tests/test_scan_parity.py), the fastest one
built here is used. kb/_lines.c, compiled at install where a C compiler is found, finds them
in one pass over the buffer, numbers them as it goes and reads the commonest invalid-SPI lines
whole (kb.formats.fast_line's grammar); the noisy families' lines it cannot rule out are left to
line_is_read. Hyperscan (x86-64 wheels) finds them in one pass and reports each line once (one
pattern, anchored at the end of its line). Python's re finds the markers in several passes and
checks the same rules per line: several times slower.
"""

from __future__ import annotations

import importlib.util
import os
import re
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path

from kb.events import Event
from kb.formats import FAST_WORDS, MARKER_LITERALS, MARKER_WORDS, MNEMONICS, UNTAGGED_PHRASES

# Hyperscan is loaded when first used (_Hyperscan): where kb/_lines.c is built, it never is.
_HAS_HYPERSCAN = importlib.util.find_spec("hyperscan") is not None
hyperscan = None
try:
    from kb import _lines  # kb/_lines.c, built at install where a C compiler is found
except ImportError:  # pragma: no cover - exercised where it was not built
    _lines = None


def _alternation(parts: list[bytes]) -> bytes:
    return b"(?:" + b"|".join(parts) + b")"


# The families that are noise unless shown otherwise, and the ones read whenever they appear.
_ASA_FAMILIES = (b"ASA", b"FTD", b"PIX")
_ASA = b"%" + _alternation(list(_ASA_FAMILIES))
_IOS_ACL_TAG = b"%SEC-6-IPACCESSLOG"
_IOS_ACL = _IOS_ACL_TAG + rb"[A-Z]*: list \S+ denied"
NOISY = _alternation([_ASA, _IOS_ACL])
# Tags read whenever they appear ("#": any digit).
SURE_TAGS = (
    b"%CRYPTO",
    b"%HSRP",
    b"%VRRP",
    *(b"%SYS-#-" + m for m in (b"RESTART", b"RELOAD", b"MALLOCFAIL", b"CPUHOG")),
    b"%IOSXE_QFP-#-LOAD_EXCEED",
)
ALWAYS = [
    _alternation([re.escape(tag).replace(b"\\#", b"[0-9]") for tag in SURE_TAGS]),
    *(re.escape(literal) for literal in (*MARKER_WORDS, *MARKER_LITERALS)),
]

# A tag whose mnemonic a recogniser reads (ACL tags apart); "-4-402114" is enough to say so.
# Mnemonics holding SPI or ESP are markers already.
_READ_MNEMONICS = [m.encode() for m in MNEMONICS if "SPI" not in m and "ESP" not in m]
_READ_TAG = rb"-[0-9]-" + _alternation([re.escape(m) for m in _READ_MNEMONICS]) + rb"\b"
# Denies that bear on IPsec: ESP, AH, or UDP with port 500 or 4500 (IOS: "(500)", ASA: "/500").
_IKE_ESP_AH = rb"(?i:esp|ah|50|51) "
_IOS_DENY = [rb"denied " + _IKE_ESP_AH, rb"denied (?i:udp) [^\n]*\((?:500|4500)\)"]
_ASA_DENY = [
    rb"(?i:deny (?:protocol )?(?:esp|ah|50|51) src )",
    rb"(?i:deny (?:protocol )?udp src )[^\n]*/(?:500|4500)",
]
# Anything clean_line would rewrite, or that str patterns read differently from bytes ones: a
# Slack entity (not a syslog PRI such as <189>), a character reference, a backtick, a carriage
# return inside the line, a control character or anything outside ASCII.
_REWRITTEN = (
    rb"(?:[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\xff`]|\r[^\n]|&[A-Za-z#]"
    rb"|<(?:https?:|mailto:|ftp:|tel:|[@#!]))"
)
# Phrases recognise() looks for in a line without a tag, case-insensitively ("-process=" also
# with spaces before its "=", which clean_line removes), and FortiGate's keys.
_PHRASES = [
    re.escape(p.encode()).replace(b"=", b" *=")
    for p in (*UNTAGGED_PHRASES, "logid=", "log_id=", "logdesc=")
]
_PHRASE = b"(?i:" + b"|".join(_PHRASES) + b")"
# An %ASA that does not start a well-formed tag (TAG in kb/formats.py), which leaves the line
# to the tagless formats: after the facility and its parts, anything but "[-lower]-D-MNEMONIC"
# followed by a word boundary.
_FACILITY = rb"%(?:ASA|FTD|PIX)[A-Z0-9_]*(?:-[A-Z][A-Z0-9_]*)*"
_BAD_LEVEL = rb"(?:-[0-9][^\-\n]|-[0-9]-[^A-Z0-9_\n]|-[0-9]-[A-Z0-9_]+[a-z])"
_MALFORMED_ASA = (
    _FACILITY
    + rb"(?:[^A-Z0-9_\-\n]|-[^a-zA-Z0-9\n]|"
    + _BAD_LEVEL
    + rb"|-[a-z]+(?:[^a-z\-\n]|-[^0-9\n]|"
    + _BAD_LEVEL
    + rb"))"
)
# ... or cut short by the end of its line (Hyperscan takes "$" only at the end of a pattern)
_MALFORMED_ASA_AT_END = _FACILITY + rb"(?:-[a-z]+)?(?:-(?:[0-9]-?)?)?$"


# Lines reported by these are read; their patterns are in the broad markers already.
SURE = [
    *ALWAYS,
    # an IOS ACL tag with its deny of IKE, ESP or AH: "list X denied udp P(500) -> L(500)"
    *(_IOS_ACL + b" " + deny.removeprefix(b"denied ") for deny in _IOS_DENY),
]
# Lines reported by these are read if line_is_read says so: each is rare in a log, and some
# are no marker on their own (a deny in a line without an ACL tag of the families read).
MAYBE = [_READ_TAG, *_IOS_DENY, *_ASA_DENY, _REWRITTEN, _MALFORMED_ASA, _MALFORMED_ASA_AT_END]

_NOISY_RE = re.compile(NOISY)
_ALWAYS_RE = re.compile(_alternation(SURE))
_READ_RE = re.compile(_alternation([_READ_TAG, *_IOS_DENY, *_ASA_DENY, _REWRITTEN]))
_MALFORMED_RE = re.compile(_alternation([_MALFORMED_ASA, _MALFORMED_ASA_AT_END]), re.M)
_PHRASE_RE = re.compile(_PHRASE)


def _noisy_is_read(line: bytes) -> bool:
    """Whether a line of the noisy families could make an event (see the top of the module)."""
    if _READ_RE.search(line):
        return True
    return bool(_MALFORMED_RE.search(line) and _PHRASE_RE.search(line))


def line_is_read(line: bytes) -> bool:
    """Whether the scanner reads this line (no newline in it): a marker other than the two
    noisy families, or one of theirs with what can make it an event."""
    if _ALWAYS_RE.search(line):
        return True
    return bool(_NOISY_RE.search(line)) and _noisy_is_read(line)


# Python's re finds the markers in C-speed passes: one for the tags, one per literal (each a
# fast substring search). A line found by a tag of the noisy families alone is checked with
# _noisy_is_read.
_TAGS_RE = re.compile(
    rb"%(?:CRYPTO|ASA|FTD|PIX|HSRP|VRRP|SEC-6-IPACCESSLOG|SYS-[0-9]-|IOSXE_QFP-[0-9]-)"
)
_ALWAYS_TAG_RE = re.compile(ALWAYS[0])
_LITERALS = (*MARKER_WORDS, *MARKER_LITERALS)


def _starts_re(data: bytes, end: int) -> list[int]:
    find, rfind = data.find, data.rfind
    starts: set[int] = set()
    noisy: list[int] = []
    for m in _TAGS_RE.finditer(data, 0, end):
        at = m.start()
        if _ALWAYS_TAG_RE.match(data, at):
            starts.add(rfind(b"\n", 0, at) + 1)
        else:
            noisy.append(at)
    for word in _LITERALS:
        at = find(word, 0, end)
        while at != -1:
            starts.add(rfind(b"\n", 0, at) + 1)
            stop = find(b"\n", at, end)
            if stop == -1:
                break
            at = find(word, stop + 1, end)
    checked: set[int] = set()
    for at in noisy:
        start = rfind(b"\n", 0, at) + 1
        if start in starts or start in checked:
            continue
        checked.add(start)
        stop = find(b"\n", at, end)
        line = data[start : end if stop == -1 else stop]
        if _NOISY_RE.search(line) and _noisy_is_read(line):
            starts.add(start)
    return sorted(starts)


class _Hyperscan:
    """SURE and MAYBE compiled once; a scratch space per thread (a scan may not share one)."""

    def __init__(self, cache: Path | None) -> None:
        global hyperscan
        import hyperscan

        # Reported per match (a pattern ending in [^\n]*$ would report a line once, but the
        # scan took twice as long): SURE as pattern 0, MAYBE as 1, the one with "$" as 2.
        self.expressions = [_alternation(SURE), _alternation(MAYBE[:-1]), MAYBE[-1]]
        self.database = self._load(cache) or self._compile(cache)
        self._local = threading.local()

    def _key(self) -> str:
        import hashlib
        import platform

        version = getattr(hyperscan, "__version__", "")
        text = repr((self.expressions, version, platform.machine(), platform.python_version()))
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def _load(self, cache: Path | None):
        """The database compiled by an earlier run (compiling takes 0.1 s, loading 1 ms)."""
        if cache is None:
            return None
        try:
            blob = (cache / f"markers-{self._key()}.hsdb").read_bytes()
            return hyperscan.loadb(blob, hyperscan.HS_MODE_BLOCK)
        except (OSError, hyperscan.error):  # none yet, unreadable, or built for another CPU
            return None

    def _compile(self, cache: Path | None):
        database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        database.compile(
            expressions=self.expressions,
            ids=[0, 1, 1],
            elements=len(self.expressions),
            flags=hyperscan.HS_FLAG_MULTILINE,
        )
        if cache is not None:
            path = cache / f"markers-{self._key()}.hsdb"
            try:
                cache.mkdir(parents=True, exist_ok=True)
                spare = path.with_suffix(f".{os.getpid()}.tmp")
                spare.write_bytes(hyperscan.dumpb(database))
                os.replace(spare, path)  # whole or not at all, whoever writes at once
            except OSError:
                pass  # a read-only home: compile each time
        return database

    def scratch(self):
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = hyperscan.Scratch(self.database)
        return scratch

    def starts(self, data: bytes, end: int) -> list[int]:
        sure: list[int] = []
        maybe: list[int] = []
        lists = (sure.append, maybe.append)

        def found(pattern: int, _from: int, to: int, _flags: int, _context: object) -> None:
            lists[pattern](to)

        self.database.scan(data, match_event_handler=found, scratch=self.scratch())
        # No match holds a newline: the last one before its end starts its line. Matches come
        # in order of their ends (sorting a sorted list costs next to nothing: to be sure).
        sure.sort()
        rfind, find = data.rfind, data.find
        starts: list[int] = []
        line_end = -1
        for to in sure:
            if to <= line_end:
                continue  # another marker of the same line
            if to > end:
                break
            starts.append(rfind(b"\n", 0, to) + 1)
            line_end = find(b"\n", to)
            if line_end == -1:
                line_end = len(data)
        if maybe:
            known = set(starts)
            for to in maybe:
                start = rfind(b"\n", 0, to) + 1
                if to > end or start in known:
                    continue
                known.add(start)
                stop = find(b"\n", to)
                if line_is_read(data[start : len(data) if stop == -1 else stop]):
                    starts.append(start)
            starts.sort()
        return starts


def _c_configure() -> None:
    """The markers for kb/_lines.c: SURE's tags and literals (kind 1), the noisy families'
    tags (kind 2), and the mnemonics a noisy line's tag may name."""
    sure = [(tag.replace(b"#", b"\x01"), 1) for tag in SURE_TAGS]
    sure += [(literal, 1) for literal in (*MARKER_WORDS, *MARKER_LITERALS)]
    noisy = [(b"%" + family, 2) for family in _ASA_FAMILIES] + [(_IOS_ACL_TAG, 2)]
    _lines.configure(sure + noisy, _READ_MNEMONICS)


if _lines is not None:
    _c_configure()


def read_whole_lines(max_line_chars: int) -> None:
    """Let the C engine read the commonest lines whole (kb.formats.fast_line's, in the same
    grammar), those of at most max_line_chars: liner("c") then gives their events. Once."""
    if _lines is not None:
        _lines.configure_events(Event, FAST_WORDS, max_line_chars)
        # What it does not read whole, fast_line would not either: the scanner need not try
        # it again (the same grammar, tests/test_scan_parity.py).
        _c_lines.reads_fast_lines = True  # type: ignore[attr-defined]


# A found line: its start, its end (its newline, or the end of the data read), its number, and
# whether line_is_read must still decide (a noisy line with something that may make it read);
# or the line's Event, read whole already (the C engine's reading of fast_line's lines).
Found = tuple[int, int, int, bool] | Event
Lines = Callable[[bytes, int, int, int], tuple[list[Found], int]]


def _c_lines(data: bytes, begin: int, end: int, first_line: int) -> tuple[list[Found], int]:
    return _lines.find_lines(data, begin, end, first_line, True)


# What gives the lines of a started pass, once given the number of its first line.
Started = Callable[[int], tuple[list[Found], int]]


def _c_start(data: bytes, begin: int, end: int) -> Started:
    return _lines.Pass(data, begin, end, True).lines


def _from_starts(starts: Callable[[bytes, int], list[int]]) -> Lines:
    """lines() from an engine that gives the starts of the lines to read, each decided."""

    def lines(data: bytes, begin: int, end: int, first_line: int) -> tuple[list[Found], int]:
        found: list[Found] = []
        count, find = data.count, data.find
        number, counted = first_line, begin
        for start in starts(data, end):
            if start < begin:
                continue
            number += count(b"\n", counted, start)
            counted = start
            stop = find(b"\n", start, end)
            found.append((start, end if stop == -1 else stop, number, False))
        return found, number - first_line + count(b"\n", counted, end)

    return lines


def _c_starts(data: bytes, end: int) -> list[int]:
    found, _ = _lines.find_lines(data, 0, end, 1, False)
    return [s for s, e, _, maybe in found if not maybe or line_is_read(data[s:e])]


ENGINE = "c" if _lines is not None else "hyperscan" if _HAS_HYPERSCAN else "re"


def count_lines(data: bytes, start: int, end: int) -> int:
    """data.count(b"\\n", start, end), in C 16 bytes at a time where kb/_lines.c is built."""
    if _lines is None:
        return data.count(b"\n", start, end)
    return _lines.count_lines(data, start, end)


def first_finder(literals: tuple[bytes, ...]) -> Callable[[bytes, int, int], int]:
    """The function giving where the first of `literals` starts in data[start:end], or -1: one
    pass in C (for literals of 3 bytes or more, without the byte 0x01, which kb/_lines.c reads
    as any digit, and at most 32 distinct anchors between them), else one search per literal."""
    if _lines is not None and all(len(x) >= 3 and b"\x01" not in x for x in literals):
        try:
            return _lines.Literals(list(literals)).first
        except ValueError:  # too many of them for the C search
            pass

    def first(data: bytes, start: int, end: int) -> int:
        hits = [at for literal in literals if (at := data.find(literal, start, end)) != -1]
        return min(hits, default=-1)

    return first


def available() -> list[str]:
    """The engines this install has, fastest first (Python's re is always there)."""
    return [name for name, here in (("c", _lines), ("hyperscan", _HAS_HYPERSCAN)) if here] + ["re"]


_engine: _Hyperscan | None = None
_lock = threading.Lock()


def _hyperscan_starts(data: bytes, end: int) -> list[int]:
    global _engine
    if _engine is None:
        with _lock:
            if _engine is None:
                import platformdirs  # the compiled database is kept in the user's cache

                _engine = _Hyperscan(platformdirs.user_cache_path("spibot", appauthor=False))
    return _engine.starts(data, end)


def finder(engine: str = ENGINE) -> Callable[[bytes, int], list[int]]:
    """The function giving, for data and an end offset, the start offsets of the lines of
    data[:end] to read, each once, in order."""
    return {"c": _c_starts, "hyperscan": _hyperscan_starts, "re": _starts_re}[engine]


def liner(engine: str = ENGINE) -> Lines:
    """The function giving, for data, begin (a line's start), end and the number of the line at
    begin, the lines of data[begin:end] to read (Found) and the newlines in data[begin:end]."""
    return _c_lines if engine == "c" else _from_starts(finder(engine))


def starter(engine: str = ENGINE) -> Callable[[bytes, int, int], Started]:
    """liner(engine) in two steps: start(data, begin, end) starts the pass, and what it returns
    gives the lines once given the number of the line at begin. The C engine runs the pass in
    a thread of its own meanwhile (kb/_lines.c's Pass), so a caller can read the lines found
    in one buffer while the next is searched; the others run it when asked."""
    if engine == "c":
        return _c_start
    lines = liner(engine)
    return lambda data, begin, end: partial(lines, data, begin, end)
