"""Plain-text rendering for the terminal doors (CLI and console)."""

from __future__ import annotations

from kb.events import Event
from kb.groups import Group

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


def event_header() -> str:
    return _row(title for title, _, _ in EVENT_COLUMNS)


def event_row(event: Event) -> str:
    cells = ("-" if (v := getattr(event, attr)) is None else str(v) for _, attr, _ in EVENT_COLUMNS)
    row = _row(cells)
    for problem in event.problems:
        row += f"\n       ! {problem}"
    return row


def _row(cells) -> str:
    parts = []
    for (_, _, width), cell in zip(EVENT_COLUMNS, cells, strict=True):
        parts.append(cell.ljust(width) if width else cell)
    return " ".join(parts).rstrip()


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "time unknown"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


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
    return f"{group.peer or 'unknown peer'} -> {group.local or '?'}{where}, {spi}: {times}{span}"
