"""Find pasted device state in any input and hand each command's output to its parser.

An output starts at a prompt that typed a command spibot reads (`hub#sh cry ips sa peer X`,
`FGT-HQ (root) # diagnose vpn tunnel list`, `admin@PA-VM> show vpn ipsec-sa`, FTD's bare
`> show ...`), or, when pasted without its prompt, at a line that only that output starts
with (the parser's anchors). It ends at the next prompt, at another output's anchor, or after
MAX_BLOCK_LINES lines. Everything between is the parser's; it ignores what it does not read.

Most pastes and files hold no state at all, so the reader runs no Python per line unless a
chunk of input holds one of the parsers' markers (a C-speed search), or an output is open.
"""

from __future__ import annotations

import pkgutil
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import import_module

import kb.state
from kb.markers import count_lines, first_finder
from kb.state.commands import COMMANDS, Command
from kb.state.config import join_fortigate
from kb.state.lines import clean
from kb.state.model import Line, StateBlock

# Every module of kb/state/ is imported: a parser module registers its commands when it is,
# so adding a parser is adding its file. The confirm engine's modules register none, and would
# pull the ranking in (a fifth of `spibot parse`'s start): they are left to who uses them.
CONFIRM_ENGINE = ("ask", "confirm", "findings")
for _module in pkgutil.iter_modules(kb.state.__path__):
    if _module.name not in CONFIRM_ENGINE:
        import_module(f"kb.state.{_module.name}")

MAX_BLOCK_LINES = (
    20_000  # a hub with a thousand peers prints about this much `show crypto ipsec sa`
)
MAX_BLOCKS = 200
MAX_LINE_CHARS = 4096  # as the log scanner: a longer line is read up to here
_MAX_LINE_BYTES = 4 * MAX_LINE_CHARS + 4
# Lines read before the first marker: an output's prompt and first lines come before its marker
# (`show crypto ipsec sa` prints its `current outbound spi` about 25 lines into a peer).
TAIL_LINES = 64
_MAX_PROMPT_CHARS = 512

# hub#cmd, hub(config)#do cmd, asa/pri/act# cmd, FGT-HQ (root) # cmd, admin@PA-VM> cmd, > cmd.
# Each part is a possessive run of a class the next part does not start with: linear.
_PROMPT = re.compile(
    r"(?P<host>[A-Za-z0-9][\w.\-/@:]{0,63}+)?(?: ?\([\w\-]{1,32}+\))? ?(?P<sign>[#>$]) ?+"
    r"(?P<typed>\S.*+)?"
)
# The words a prompt's command starts with when it is a command at all (so "a > b" in a log
# line is no prompt): prefixes of these, two letters at least.
_VERBS = (
    "show",
    "diagnose",
    "get",
    "clear",
    "debug",
    "ping",
    "terminal",
    "configure",
    "exit",
    "more",
    "display",
    "execute",
    "traceroute",
    "write",
    "copy",
    "reload",
    "test",
    "undebug",
)
# Typed commands spibot does not read, but which are about IPsec: their output is reported as
# not read, never silently dropped.
_TOPICAL = ("crypto", "cry", "vpn", "ipsec", "isakmp", "ikev", "ike", "tunnel", "asp")


def _markers() -> tuple[bytes, ...]:
    found = {m.encode() for c in COMMANDS for m in c.markers}
    # A prompt typing a command whose output holds no marker (ASA "There are no ipsec sas").
    found |= {b"sh cry", b"show cry", b"show vpn", b"diag vpn"}
    return tuple(sorted(found))


MARKERS = _markers()
# Device state is looked for in the first this-many bytes of each input (an output already
# open there is read to its end): state comes as a paste or a file of its own, and every
# marker costs a pass over the bytes, which a day of syslog should not pay.
STATE_WINDOW_BYTES = 8 << 20


_AT_LINE_START = tuple(m[1:] for m in MARKERS if m.startswith(b"\n"))
_first_of = first_finder(MARKERS)


def _first_marker(data: bytes, start: int = 0, end: int | None = None) -> int:
    """Where the first marker of any output is in data[start:end] (whose start begins a
    line), or -1: one pass over the bytes (kb/markers.py), no copy of the data."""
    end = len(data) if end is None else end
    if data.startswith(_AT_LINE_START, start, end):
        return start
    return _first_of(data, start, end)


def may_hold_state(text: str) -> bool:
    """Whether text may hold device state: one pass for the markers, nothing parsed."""
    return _first_marker(text.encode("utf-8", "surrogatepass")) != -1


def _squeeze(text: str) -> str:
    """Lower case, indentation gone, runs of spaces one space: what anchors are compared with."""
    return " ".join(text.lower().split())


def _is_prefix(typed: str, word: str) -> bool:
    return bool(typed) and word.startswith(typed)


def match_command(typed: str) -> Command | None:
    """The command a typed line runs, allowing Cisco-style abbreviations; the longest match."""
    tokens = typed.lower().split()
    if tokens[:1] == ["do"]:
        tokens = tokens[1:]
    best: Command | None = None
    for command in COMMANDS:
        words = command.words
        fits = len(tokens) >= len(words) and all(map(_is_prefix, tokens, words))
        if fits and (best is None or len(words) > len(best.words)):
            best = command
    return best


@dataclass(slots=True)
class _Prompt:
    host: str | None
    typed: str | None
    command: Command | None


def _prompt(text: str) -> _Prompt | None:
    """The prompt on a line, or None when the line is not a typed command at a prompt."""
    if len(text) > _MAX_PROMPT_CHARS or not text or text[0] == " ":  # indented: output
        return None
    m = _PROMPT.fullmatch(text)
    if m is None:
        return None
    host, typed = _host(m["host"]), m["typed"]
    if host is None and m["sign"] != ">":
        # A bare "# cmd" is a Markdown heading or a comment unless it types a command spibot
        # reads (FortiGate's prompt may be pasted without its name).
        command = match_command(typed) if typed else None
        return _Prompt(None, typed.strip(), command) if command else None
    if typed is None:
        return _Prompt(host, None, None) if host else None
    first = typed.lower().split()[0]
    if first == "do" and len(typed.split()) > 1:
        first = typed.lower().split()[1]
    if len(first) < 2 or not any(v.startswith(first) for v in _VERBS):
        return None
    return _Prompt(host, typed.strip(), match_command(typed))


def _host(prompt: str | None) -> str | None:
    """The hostname in a prompt: "admin@PA-VM" -> "PA-VM", "asa/pri/act" -> "asa",
    "RP/0/RSP0/CPU0:pe1" -> "pe1"."""
    if not prompt:
        return None
    return prompt.rsplit(":", 1)[-1].rsplit("@", 1)[-1].split("/", 1)[0] or None


def _anchors() -> dict[str, list[tuple[str, Command]]]:
    """Anchors by their first word, longest first: a line is compared only with the anchors
    that start with its own first word."""
    by_word: dict[str, list[tuple[str, Command]]] = defaultdict(list)
    for command in COMMANDS:
        for anchor in command.anchors:
            by_word[anchor.split(" ", 1)[0]].append((anchor, command))
    for anchors in by_word.values():
        anchors.sort(key=lambda pair: -len(pair[0]))
    return dict(by_word)


@dataclass
class _Open:
    command: Command | None  # None: a topical command spibot does not read
    host: str | None
    typed: str | None
    first: int
    lines: list[Line] = field(default_factory=list)
    cut: bool = False  # ended at MAX_BLOCK_LINES


class StateReader:
    """Feed it the input (text, or byte chunks as they stream); `blocks()` is what it found."""

    def __init__(self) -> None:
        self._anchors = _anchors()
        self._open: _Open | None = None
        self._blocks: list[StateBlock] = []
        self._line = 1
        self._carry = b""
        self._skipping = False  # inside an over-long line whose head is carried
        # The last lines of a chunk skipped for want of a marker: the prompt of an output whose
        # first marker is in the next chunk may be among them.
        self._tail = b""
        self._seen = 0  # bytes of the current input read so far
        self.dropped = 0  # outputs past MAX_BLOCKS

    def feed_text(self, text: str) -> None:
        self.feed(text.encode("utf-8", "surrogatepass"))

    def next_input(self) -> None:
        """A new file starts: no output runs across it, and its first bytes are looked at."""
        if self._carry:
            carry, self._carry = self._carry + b"\n", b""
            self._lines(carry, 0, len(carry))
        self._skipping = False
        self._close()
        self._seen = 0
        self._tail = b""

    def feed(self, chunk: bytes) -> None:
        # Offsets into the chunk rather than slices: most chunks are only searched, not read,
        # and a 4 MiB copy per step would cost more than the searches.
        start = 0
        if self._skipping:  # the rest of an over-long line, up to its end
            start = chunk.find(b"\n")
            if start == -1:
                return
            self._skipping = False
        last = chunk.rfind(b"\n", start) + 1
        if last == 0:
            self._hold(self._carry + chunk[start:])
            return
        if self._carry or start:
            first = chunk.find(b"\n", start) + 1
            head, self._carry = self._carry + chunk[start:first], b""
            self._lines(head, 0, len(head))
            start = first
        self._lines(chunk, start, last)
        self._hold(chunk[last:])

    def _hold(self, carry: bytes) -> None:
        """Keep the unfinished last line; of one that never ends, its head is enough."""
        if len(carry) > _MAX_LINE_BYTES:
            carry, self._skipping = carry[:_MAX_LINE_BYTES], True
        self._carry = carry

    def _lines(self, data: bytes, start: int, end: int) -> None:
        """Whole lines data[start:end]: read from TAIL_LINES before the first marker, or
        skipped (counted, their last lines kept)."""
        seen, self._seen = self._seen, self._seen + end - start
        if self._open is None:
            hit = -1 if seen > STATE_WINDOW_BYTES else _first_marker(data, start, end)
            if hit == -1:
                self._line += count_lines(data, start, end)
                self._tail = _last_lines(self._tail, data, start, end)
                return
            begin = _line_start(data, hit, start)
            if begin == start and self._tail:
                tail, self._tail = self._tail, b""
                self._line -= tail.count(b"\n")
                self._read(tail)
            self._tail = b""
            self._line += data.count(b"\n", start, begin)
            start = begin
        self._read(data[start:end])

    def _read(self, data: bytes) -> None:
        for raw in data.decode("utf-8", "replace").split("\n")[:-1]:
            self._take(raw)
            self._line += 1

    def _take(self, raw: str) -> None:
        text = clean(raw[:MAX_LINE_CHARS])
        number = self._line
        prompt = _prompt(text) if text else None
        if prompt is not None:
            self._close()
            if prompt.command is not None or _topical(prompt.typed):
                self._open = _Open(prompt.command, prompt.host, prompt.typed, number)
            return
        if text:
            self._anchor(text, number)
        if self._open is not None:
            self._open.lines.append(Line(number, text))
            if len(self._open.lines) >= MAX_BLOCK_LINES:
                self._open.cut = True
                self._close()

    def _anchor(self, text: str, number: int) -> None:
        """Start a new output at a line only it starts with; the longest anchor decides, and
        an anchor of the output already open (or of one its parser also reads) continues it."""
        squeezed = _squeeze(text)
        for anchor, command in self._anchors.get(squeezed.split(" ", 1)[0], ()):
            if squeezed.startswith(anchor):
                opened = self._open
                if (
                    opened is None
                    or opened.command is None
                    or command.parse is not opened.command.parse
                ):
                    host = opened.host if opened and opened.command is None else None
                    self._close()
                    self._open = _Open(command, host, None, number)
                return

    def _close(self) -> None:
        opened, self._open = self._open, None
        if opened is None:
            return
        if len(self._blocks) >= MAX_BLOCKS:
            self.dropped += 1
            return
        self._blocks.append(_parse(opened))

    def blocks(self) -> list[StateBlock]:
        """Every output found, in input order; call once the input is fed whole."""
        if self._carry:
            carry, self._carry = self._carry + b"\n", b""
            self._lines(carry, 0, len(carry))
        self._close()
        join_fortigate(self._blocks)  # a FortiGate phase 2 whose phase 1 is another output
        return self._blocks


def _line_start(data: bytes, at: int, floor: int, before: int = TAIL_LINES) -> int:
    """Where the line `before` lines above the one holding `at` starts, not above `floor`."""
    begin = data.rfind(b"\n", floor, at) + 1 or floor
    for _ in range(before):
        if begin <= floor:
            return floor
        begin = data.rfind(b"\n", floor, begin - 1) + 1 or floor
    return begin


def _last_lines(tail: bytes, data: bytes, start: int, end: int) -> bytes:
    """The last TAIL_LINES whole lines of tail + data[start:end] (which ends with a newline)."""
    begin = _line_start(data, end - 1, start)
    if begin > start or not tail:
        return data[begin:end]
    joined = tail + data[start:end]
    return joined[_line_start(joined, len(joined) - 1, 0) :]


def _topical(typed: str | None) -> bool:
    return bool(typed) and any(w in _TOPICAL for w in typed.lower().split())


def _parse(opened: _Open) -> StateBlock:
    lines = opened.lines
    written = [ln for ln in lines if ln.text.strip()]
    last = written[-1].number if written else opened.first
    command = opened.command
    block = StateBlock(
        command=command.name if command else (opened.typed or ""),
        platform=command.platforms[0] if command else None,
        first_line=opened.first,
        last_line=last,
        host=opened.host,
        typed=opened.typed,
    )
    if command is None:
        block.problems.append(f"spibot does not read the output of `{opened.typed}`")
        return block
    if opened.cut:
        block.problems.append(
            f"output longer than {MAX_BLOCK_LINES:,} lines: read to line {last}, "
            "the rest was not read"
        )
    try:
        command.parse(lines, block)
    except Exception as exc:  # a parser bug must cost one block, never the diagnosis
        block.problems.append(f"could not read this output ({type(exc).__name__})")
    if not block.parsed and not block.problems:
        block.problems.append(f"nothing in it reads as `{command.name}` output")
    return block


def read_state(texts: Iterable[str] | str) -> list[StateBlock]:
    """The device-state outputs in one text, or in several read as one (each on a new line)."""
    reader = StateReader()
    for text in [texts] if isinstance(texts, str) else texts:
        reader.feed_text(text if text.endswith("\n") else text + "\n")
    return reader.blocks()
