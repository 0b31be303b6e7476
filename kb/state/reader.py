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
from kb.state.commands import COMMANDS, Command
from kb.state.lines import clean
from kb.state.model import Line, StateBlock

# Every module of kb/state/ is imported: a parser module registers its commands when it is,
# so adding a parser is adding its file.
for _module in pkgutil.iter_modules(kb.state.__path__):
    import_module(f"kb.state.{_module.name}")

MAX_BLOCK_LINES = (
    20_000  # a hub with a thousand peers prints about this much `show crypto ipsec sa`
)
MAX_BLOCKS = 200
MAX_LINE_CHARS = 4096  # as the log scanner: a longer line is read up to here
_MAX_LINE_BYTES = 4 * MAX_LINE_CHARS + 4
TAIL_LINES = 8
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
    found |= {b"show crypto", b"sh cry", b"diagnose vpn", b"diag vpn", b"show vpn", b"get vpn"}
    return tuple(sorted(found))


MARKERS = _markers()


def may_hold_state(text: str) -> bool:
    """Whether text may hold device state: one C-speed search per marker, nothing parsed."""
    lowered = text.lower().encode("utf-8", "surrogatepass")
    return any(m in lowered for m in MARKERS)


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
        self.dropped = 0  # outputs past MAX_BLOCKS

    def feed_text(self, text: str) -> None:
        self.feed(text.encode("utf-8", "surrogatepass"))

    def feed(self, chunk: bytes) -> None:
        if self._skipping:
            newline = chunk.find(b"\n")
            if newline == -1:
                return
            chunk, self._skipping = chunk[newline:], False
        data = self._carry + chunk if self._carry else chunk
        end = data.rfind(b"\n") + 1
        self._carry = data[end:]
        if len(self._carry) > _MAX_LINE_BYTES:  # a line that never ends: its head is enough
            self._carry, self._skipping = self._carry[:_MAX_LINE_BYTES], True
        if end:
            self._lines(data[:end])

    def _lines(self, data: bytes) -> None:
        if self._open is None and not any(m in data.lower() for m in MARKERS):
            self._line += data.count(b"\n")
            self._tail = _last_lines(self._tail + data, TAIL_LINES)
            return
        if self._tail:
            tail, self._tail = self._tail, b""
            count = tail.count(b"\n")
            self._line -= count
            self._read(tail)
        self._read(data)

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
            carry, self._carry = self._carry, b""
            self._lines(carry + b"\n")
        self._close()
        return self._blocks


def _last_lines(data: bytes, count: int) -> bytes:
    """The last `count` whole lines of data (which ends with a newline)."""
    at = len(data) - 1
    for _ in range(count):
        at = data.rfind(b"\n", 0, at)
        if at == -1:
            return data
    return data[at + 1 :]


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
