"""Plain-text rendering for the terminal doors (CLI and console).

Whatever a person, a paste or an import wrote goes through `shown`: a note holding terminal
control sequences (ESC [2J, a bell, a carriage return that hides the line) prints as text.

What pasted device state proved (kb/state/findings.py) is printed as in Slack (bot/shown.py):
"confirmed" with its proof lines, contradictions first, prevention under the fix, and, for a
log without state, the commands whose output would decide it.

Wrapping (`fold`) happens here too, at the width the CLI measured: sentences wrap at spaces
with a hanging indent, so an address, an SPI or a `backquoted command` is never cut, and a
command or a device's output line (`Code`) is shown whole however narrow the terminal: a
command split over two lines no longer pastes. Without a width nothing is wrapped (Slack's
fallback text, the console, piped output).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

from bot.shown import PEERS_SHOWN, ask_lines, findings_of, proof_lines
from kb.answer import first_action, paste_headline
from kb.diagnose import Diagnosis
from kb.events import Event
from kb.groups import Group
from kb.peers import PeerDiagnosis
from kb.ranking import Cause
from kb.stamps import duration
from kb.state.model import StateBlock

EVENT_COLUMNS = (
    ("LINE", "line", 6),
    ("KIND", "kind", 22),
    ("PLATFORM", "platform", 9),
    ("PEER", "peer", 16),
    ("LOCAL", "local", 16),
    ("SPI", "spi", 11),
    ("PROTO", "protocol", 6),
    ("TIME", "time", 0),
)


# C0 and C1 control characters and DEL, as visible stand-ins; newlines and tabs become spaces
# so that one note stays on its line.
_CONTROLS = {c: "\ufffd" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_CONTROLS |= {ord("\n"): " ", ord("\t"): " "}


def shown(text: object) -> str:
    """Text as it may be printed on a terminal."""
    return str(text).translate(_CONTROLS)


class Code(str):
    """A line shown whole however narrow the terminal: a command, a device's output line, a
    table row. The terminal folds it if it must; spibot never breaks it."""


class Kept(str):
    """A sentence holding runs that must stay on one line (a command after a colon)."""

    keep: tuple[str, ...]

    def __new__(cls, text: str, *keep: str) -> Kept:
        line = super().__new__(cls, text)
        line.keep = keep
        return line


# Where a continuation line starts: after a score ("+4.5 "), a number ("1. "), a mark ("! ",
# "== ") or a short label ("Caveat: ", "To confirm: "), so a wrapped sentence hangs under its
# own text; otherwise four columns in from the line's indent (past a command's five under a
# three-column heading).
_MARKER = re.compile(r" *+(?:[-+]\d+\.\d+ |\d+\. |! |== |[A-Za-z][A-Za-z ]{0,15}: )?")


def cells(text: str) -> int:
    """Terminal columns `text` takes: wide and full-width characters two, combining marks and
    zero-width characters none."""
    n = 0
    for c in text:
        if c.isascii():
            n += 1
        elif unicodedata.combining(c) or unicodedata.category(c) in ("Mn", "Me", "Cf"):
            continue
        else:
            n += 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1
    return n


def _words(body: str, keep: Sequence[str]) -> Iterable[tuple[str, str]]:
    """(the spaces before it, the word) for each place a line may break. A word runs to the
    next space, except that a `backquoted span` and each of `keep` are one word."""
    kept = "".join(f"{re.escape(k)}|" for k in sorted(keep, key=len, reverse=True) if k)
    for m in re.finditer(rf"( *+)((?:{kept}`[^`]*+`|[^ ])++)", body):
        yield m[1], m[2]


def fold(line: str, width: int | None, keep: Sequence[str] = ()) -> list[str]:
    """One line as the lines that fit in `width` columns: broken at spaces only, continuation
    lines hanging under the text after the line's marker. A word wider than the line is left
    whole (an address or a command is worth more than a straight edge)."""
    if width is None or isinstance(line, Code) or cells(line) <= width:
        return [line]
    keep = (*keep, *getattr(line, "keep", ()))
    marker = _MARKER.match(line).end()
    lead = len(line) - len(line.lstrip(" "))
    hang = " " * min(marker if marker > lead else lead + 4, width // 2)
    out: list[str] = []
    current, used = line[:lead], lead
    fresh = True  # nothing but indentation on the current line yet
    for spaces, word in _words(line[lead:], keep):
        size = cells(word)
        if not fresh and used + len(spaces) + size > width:
            out.append(current)
            current, used = hang + word, len(hang) + size
        else:
            gap = "" if fresh else spaces
            current, used = current + gap + word, used + len(gap) + size
        fresh = False
    out.append(current)
    return out


def wrapped(lines: Iterable[str], width: int | None) -> str:
    """Lines folded to `width`, joined into one text."""
    return "\n".join(part for line in lines for part in fold(line, width))


def event_header() -> str:
    return _row(title for title, _, _ in EVENT_COLUMNS)


def event_row(event: Event, width: int | None = None) -> str:
    """One table row (never wrapped: a row is read by its columns), its problems under it."""
    values = ("-" if (v := getattr(event, a)) is None else str(v) for _, a, _ in EVENT_COLUMNS)
    lines = [Code(shown(_row(values)))]
    lines.extend(shown(f"       ! {problem}") for problem in event.problems)
    return wrapped(lines, width)


def _row(values) -> str:
    parts = []
    for (_, _, width), cell in zip(EVENT_COLUMNS, values, strict=True):
        parts.append(cell.ljust(width) if width else cell)
    return " ".join(parts).rstrip()


def group_line(group: Group) -> str:
    where = f" on {group.device}" if group.device else ""
    spi = group.spi or "unknown SPI"
    times = "once" if group.count == 1 else f"{group.count} times"
    span = ""
    if group.count > 1:
        first, last = group.first_time or "?", group.last_time or "?"
        span = f", {first} .. {last} ({duration(group.span_seconds)})"
    elif group.first_time:
        span = f", at {group.first_time}"
    return shown(
        f"{group.peer or 'unknown peer'} -> {group.local or '?'}{where}, {spi}: {times}{span}"
    )


ASK_HERE = "paste the output here"


def _do_first(d: Diagnosis) -> list[str]:
    """The one command of a one-peer answer, where it runs and what to know before running it,
    right under the sentence that leads the answer."""
    if len(d.peers) != 1 or (action := first_action(d.peers[0])) is None:
        return []
    out = ["", shown(f"Do this first, {action.where_text}:"), Code(shown(f"    {action.command}"))]
    if action.placeholders:
        out.append(shown(f"  put your own value for {', '.join(action.placeholders)}"))
    if action.caveat:
        out.append(shown(f"! {action.caveat}"))
    out.append("")
    return out


def diagnosis(
    d: Diagnosis,
    detailed: int = 3,
    then: str = ASK_HERE,
    *,
    width: int | None = None,
    warnings: bool = True,
) -> str:
    """A diagnosis as an engineer reads it in a terminal: one peer's ranked causes, or each
    peer of a multi-peer paste with its own top cause, confidence and incident; folded to
    `width` columns. With `warnings=False` the caller shows them (the CLI, first, on
    standard error: `warning_lines`)."""
    out = [shown(paste_headline(d))]
    out.extend(_do_first(d))
    out.append(shown(d.summary()))
    if not d.groups:
        # A paste cut short may have lost its invalid-SPI lines: say so even when none is left.
        if warnings:
            out.extend(warning_lines(d.warnings))
        return wrapped(out, width) + "\n"
    if d.box_first:
        out.append(shown(f"! {d.box_first}"))
    for f in findings_of(d, "contradiction"):
        out.append(shown(f"! State contradicts the log: {f.text}"))
        out.extend(Code(shown(f"     {line}")) for line in proof_lines(f.proof))
    out.extend(shown(f"note: {f.text}") for f in findings_of(d, "note"))
    if len(d.peers) > 1:
        for p in d.peers[:PEERS_SHOWN]:
            out.extend(_peer(p, detailed))
        rest = d.peers[PEERS_SHOWN:]
        if rest:
            out.append("")
            named = ", ".join(f"{p.peer or 'unknown peer'}: {p.causes[0].id}" for p in rest)
            out.append(shown(f"... and {len(rest)} more peer(s): {named}"))
    else:
        p = d.peers[0] if d.peers else None
        holder = p if getattr(p, "findings", None) is not None else d
        for n, cause in enumerate(d.causes[: d.top], 1):
            out.extend(_cause(n, cause, detailed))
            if n == 1:
                out.extend(_prevention(holder, d.peer))
                out.extend(_decide(d.causes, d.decide))
    if d.incidents:
        out.append("")
        out.append("Past incidents:")
        out.extend(incident_lines([i.to_dict() for i in d.incidents]))
    asks = ask_lines(d)
    if asks:
        out.append("")
        out.extend(
            Kept(shown(f"To confirm: {where}: {command} — {then}"), shown(command))
            for where, command in asks
        )
    if d.recorded:
        out.append("")
        out.append("Recorded as incident " + ", ".join(f"#{i}" for i in d.recorded) + ".")
    if warnings:
        out.extend(warning_lines(d.warnings))
    return wrapped(out, width) + "\n"


def warning_lines(warnings: Iterable[str]) -> list[str]:
    return [shown(f"warning: {w}") for w in warnings]


def _prevention(holder: object, peer: str | None) -> list[str]:
    return [shown(f"   Prevent it: {f.text}") for f in findings_of(holder, "prevention", peer)]


def _cause(n: int, cause: Cause, detailed: int) -> list[str]:
    said = (
        f"{cause.id}, CONFIRMED"
        if cause.confidence == "confirmed"
        else f"{cause.id}, {cause.confidence}, score {cause.score:.1f}"
    )
    out = ["", Kept(shown(f"{n}. {cause.title}  [{said}]"), shown(f"[{said}]"))]
    out.extend(shown(f"     {reason}") for reason in cause.reasons)
    proof = getattr(cause, "proof", None) or []
    if cause.confidence == "confirmed" and proof:
        out.append("   Proof:")
        out.extend(Code(shown(f"     {line}")) for line in proof_lines(proof))
    if cause.worth_detailing(n, detailed):
        out.extend(_commands("Check", cause.verify_where))
        out.extend(_commands("Fix", cause.fixes_where))
        out.extend(shown(f"   Caveat: {c}") for c in cause.caveats[:2])
    return out


def _commands(title: str, runs: list[tuple[str, list[str]]]) -> list[str]:
    """Each run of commands under where it runs ("Fix, on the peer 198.51.100.7 ...:")."""
    out = []
    for where, lines in runs:
        out.append(shown(f"   {title}, {where}:" if where else f"   {title}:"))
        out.extend(Code(shown(f"     {line}")) for line in lines)
    return out


def _decide(causes: list[Cause], decide: str | None) -> list[str]:
    if not decide or len(causes) < 2:
        return []
    return [shown(f"   What would decide it ({causes[0].id} or {causes[1].id}): {decide}")]


def _peer(p: PeerDiagnosis, detailed: int) -> list[str]:
    spis = ", ".join(p.spis[:3]) or "unknown SPI"
    more = f" and {len(p.spis) - 3} more" if len(p.spis) > 3 else ""
    incident = f" (incident #{p.incident})" if p.incident is not None else ""
    to = f" -> {p.local}" if p.local else ""
    head = f"== Peer {p.peer or 'unknown'}{to}: {p.lines} line(s), SPI {spis}{more}{incident}"
    out = ["", shown(head)]
    out.extend(_cause(1, p.causes[0], detailed)[1:])
    out.extend(_prevention(p, p.peer))
    out.extend(_decide(p.causes, p.decide))
    nxt = [f"{i}. {c.id} ({c.confidence}, {c.score:.1f})" for i, c in enumerate(p.causes[1:3], 2)]
    out.append(shown("   Next: " + "; ".join(nxt)))
    return out


def incident_lines(incidents: list[dict], notes: int = 3) -> list[str]:
    """Incidents in their JSON form (Incident.to_dict, as lookups return them)."""
    out = []
    for i in incidents:
        state = f"fixed by {i['fixed_by']}" if i["fixed_by"] else i["status"]
        spis = f" SPI {', '.join(i['spis'])}" if i["spis"] else ""
        device = f" on {i['device']}" if i["device"] else ""
        summary = f": {i['summary']}" if i["summary"] else ""
        out.append(
            shown(
                f"  #{i['id']} {i['peer']}{device}{spis}: {state}, {i['updated_at'][:10]}{summary}"
            )
        )
        for note in i["notes"][-notes:]:
            who = f", {note['author']}" if note["author"] else ""
            out.append(shown(f"      note ({note['created_at'][:10]}{who}): {note['text']}"))
    return out


def lookup(result: dict, notes: int = 2, width: int | None = None) -> str:
    """A lookup result (kb.lookup.lookup) for the terminal and for Slack's fallback text."""
    lines = [f"{result['kind']}: {result['query']}"]
    for a in result["articles"]:
        lines.append(f"  article {a['id']}: {a['title']}")
        lines.append(f"      {a['summary'][:160]}")
    lines.extend(incident_lines(result["incidents"], notes))
    if len(lines) == 1:
        lines.append("  Nothing found.")
    return wrapped((shown(line) for line in lines), width)


def state_line(block: StateBlock) -> str:
    """One device-state output in a line: command, box, lines, what was read or why not."""
    who = f" on {shown(block.host)}" if block.host else ""
    boxes = f" ({', '.join(block.boxes)})" if block.boxes else ""
    read = [
        f"{len(items)} {name}"
        for items, name in (
            (block.tunnels, "tunnel(s)"),
            (block.ike, "IKE SA(s)"),
            (block.counters, "counter(s)"),
        )
        if items
    ] + (["configuration"] if block.config else [])
    what = ", ".join(read) if read else "nothing read"
    problems = f"; {shown(block.problems[0])}" if block.problems else ""
    return (
        f"{shown(block.command)}{who}{boxes}, lines {block.first_line}-{block.last_line}: "
        f"{what}{problems}"
    )
