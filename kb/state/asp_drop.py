"""ASA/FTD `show asp drop` (and `show asp drop frame invalid-spi`, `... flow REASON`): the
accelerated security path's drop counters, one Counter per counter line.

The output has a `Frame drop:` section (packets dropped before a flow, among them `Invalid
SPI (invalid-spi)`; older releases print `(np-sp-invalid-spi)`, and `IPSEC tunnel is down
(ipsec-tun-down)`) and a `Flow drop:` section, each ended by `Last clearing: WHEN [by USER]`.
A counter line is `Description (short-name)   VALUE`; long descriptions are cut by the box
(`(np-socket-lock-failu`). The name is kept as printed, description and short name together:
"Invalid SPI (invalid-spi)". Only lines inside a section, and of that shape, are counters: a log
line pasted in between is not read.

Sources: ntc-templates tests/cisco_asa/show_asp_drop/*.raw and
templates/cisco_asa_show_asp_drop.textfsm; genieparser
src/genie/libs/parser/asa/tests/ShowAspDrop/cli/equal/golden_output_output.txt; Cisco ASA
command reference (show asp drop [frame|flow [reason]]).
"""

from __future__ import annotations

from kb.state.commands import Command, register
from kb.state.model import Counter, Line, StateBlock

_SHORT_NAME = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")


def parse(lines: list[Line], block: StateBlock) -> None:
    in_section = False
    for line in lines:
        text = line.text.strip()
        low = text.lower()
        if low in ("frame drop:", "flow drop:"):
            in_section = True
        elif low.startswith("last clearing:"):
            in_section = False
        elif in_section and text:
            counter = _counter(line, text)
            if counter is not None:
                block.counters.append(counter)


def _counter(line: Line, text: str) -> Counter | None:
    """`Invalid SPI (invalid-spi)      1234`, or None when the line is not of that shape."""
    name, _, value = text.rpartition(" ")
    name = name.rstrip()
    if not value.isdigit() or len(value) > 20 or not name:
        return None
    opening = name.rfind("(")
    short = name[opening + 1 :].removesuffix(")")
    if opening <= 0 or not short or not set(short.lower()) <= _SHORT_NAME:
        return None
    return Counter(name=name, value=int(value), line=line)


COMMAND = register(
    Command(
        words=("show", "asp", "drop"),
        platforms=("asa", "ftd"),
        parse=parse,
        anchors=("frame drop:", "flow drop:"),
        markers=("frame drop:", "flow drop:", "asp drop"),
    )
)
