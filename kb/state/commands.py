"""The registry of device-state parsers: which command each reads, and how to spot its
output when no prompt precedes it.

A parser module defines a function `parse(lines: list[Line], block: StateBlock) -> None` that
fills the block (tunnels, ike, counters, config, problems; and `platform` when the output
tells), and registers it with a `Command`. kb/state/reader.py finds the blocks and calls it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from kb.state.model import Line, StateBlock

Parse = Callable[[list[Line], StateBlock], None]


@dataclass(frozen=True)
class Command:
    # The command's keywords, as in "show crypto ipsec sa". At a prompt, each typed word may
    # be a prefix of its keyword (Cisco abbreviations: "sh cry ips sa"); further words are
    # arguments ("peer 192.0.2.1", "detail", "| section crypto").
    words: tuple[str, ...]
    # Platforms whose output this parser reads; the first is assumed when the output cannot tell.
    platforms: tuple[str, ...]
    parse: Parse
    # Lower-case text a line starts with (after its indentation) that begins this command's
    # output when no prompt precedes it, e.g. "interface: " for `show crypto ipsec sa`.
    # Only text no other command's output (or a log line) starts with.
    anchors: tuple[str, ...] = ()
    # Text as the device prints it (case matters) that any output of this command holds: the
    # reader's prefilter. Each marker costs one C-speed pass over every chunk of input, so
    # give one or two, shared with other commands where they can be ("\ncrypto " for a
    # configuration line; a paste's first line counts as following a newline).
    markers: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return " ".join(self.words)


COMMANDS: list[Command] = []


class LineReader(Protocol):
    def feed(self, line: Line) -> None: ...
    def finish(self, lines: list[Line]) -> None: ...


def read_each(reader: LineReader, lines: list[Line], block: StateBlock) -> None:
    """Feed every line to a line-by-line parser, then let it finish; a line it fails on is a
    problem in words and the next line is read: a parser never raises."""
    for line in lines:
        try:
            reader.feed(line)
        except Exception as error:
            block.problems.append(f"line {line.number}: not read ({type(error).__name__})")
    try:
        reader.finish(lines)
    except Exception as error:
        block.problems.append(f"the end of the output was not checked ({type(error).__name__})")


def register(command: Command) -> Command:
    COMMANDS.append(command)
    return command
