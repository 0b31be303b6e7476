"""Syslog framing in front of a message tag: when it was logged and by which device."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from functools import lru_cache

_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_MON = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
# Every run below is possessive (`*+`, `++`): the character after a run never belongs to it,
# so giving characters back could never help a match, and forbidding it keeps every pattern
# linear. Greedy runs next to optional parts made the framing backtrack cubically on a
# timestamp, a run of spaces and one stray character.
_STAMP = (
    rf"(?P<mon>{_MON})\s++(?P<day>\d{{1,2}})\s++(?:(?P<year>\d{{4}})\s++)?"
    r"(?P<hms>\d\d:\d\d:\d\d)(?P<frac>\.\d++)?(?:\s?(?:[A-Z]{2,5}|[+-]\d\d:?\d\d)\b)?"
)
_ISO = r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d++)?(?:Z|\s?[+-]\d\d:?\d\d)?"
_HOST = r"[A-Za-z0-9][\w.-]*+"
# The same, for kb/formats.py's one-match reading of the commonest lines.
STAMP, ISO, HOST = _STAMP, _ISO, _HOST

# Every framing seen in real logs, in the order a collector and a router stack them:
# <PRI> collector-time collector-host <PRI> seq: [origin-host:] [*.]router-time: hostname %TAG
# `logging origin-id hostname` puts the host between the sequence number and the time; it
# starts with a letter and a time follows it, so an uptime such as 00:12:34 is never a host.
_PREFIX = re.compile(
    rf"""\s*+(?:<\d{{1,3}}>\s*+)?
    (?:(?P<iso>{_ISO})\s++(?:(?P<chost>{_HOST})\s++)?)?
    (?:(?P<bsd>{_MON}\s++\d{{1,2}}\s++\d\d:\d\d:\d\d)\s++(?P<bhost>{_HOST})\s++)?
    (?:<\d{{1,3}}>\s*+)?
    (?:\d++\s*+:\s*+)?
    (?:(?P<ohost>[A-Za-z][\w.-]*+):\s++(?=[*.]?(?:{_MON}|\d)))?
    (?:[*.]?(?P<stamp>{_STAMP})|(?P<uptime>\d++y\d++w|\d++w\d++d|\d++d\d++h|\d{{1,2}}:\d\d:\d\d(?:\.\d++)?))?
    \s*+:?\s*+
    (?:(?P<host>{_HOST})\s*+:?\s*+)?
    $""",
    re.X,
)
_ANY_TIME = re.compile(rf"{_ISO}|{_STAMP}")
_STAMP_ONLY = re.compile(_STAMP)
_UPTIME = re.compile(r"(?:(\d++)y)?(?:(\d++)w)?(?:(\d++)d)?(?:(\d++)h)?")

# The framings of `logging buffered` and of a collector, tried before the full grammar.
_PLAIN = re.compile(rf"[*.]?(?P<stamp>{_STAMP}):? *+$")
_COLLECTOR = re.compile(rf"(?P<iso>{_ISO}) ++(?P<host>{_HOST}) ++$")


def read_prefix(prefix: str) -> tuple[str | None, str | None]:
    """(time text, device) from the framing before a %TAG; Nones where there is none."""
    if not prefix or prefix.isspace():
        return None, None
    m = _PLAIN.match(prefix)
    if m is not None:
        return m["stamp"], None
    m = _COLLECTOR.match(prefix)
    if m is not None:
        return m["iso"], m["host"]
    m = _PREFIX.match(prefix)
    if m is None:
        return find_time(prefix), None
    device = m["host"] or m["ohost"] or m["bhost"] or m["chost"]
    return m["stamp"] or m["uptime"] or m["iso"] or m["bsd"], device


def find_time(text: str) -> str | None:
    """The first timestamp anywhere in text, for formats with free-form framing."""
    m = _ANY_TIME.search(text)
    return m.group(0) if m is not None else None


def to_seconds(time: str | None) -> float | None:
    """Seconds on a clock comparable within one paste (a missing year is taken as 2000)."""
    if not time:
        return None
    m = _STAMP_ONLY.match(time)
    if m is not None:
        return _stamp_seconds(m)
    if time[0].isdigit() and "-" in time[:5]:
        return _iso_seconds(time)
    if _UPTIME.fullmatch(time) or ":" in time:
        return _uptime_seconds(time)
    return None


# The same, remembered: an event's and a group's times are read as seconds several times over
# (span, timing rules, the last time per platform), and a log repeats its time stamps.
seconds = lru_cache(maxsize=1 << 16)(to_seconds)


def _stamp_seconds(m: re.Match) -> float | None:
    day = _day_start(m["year"], m["mon"], m["day"])
    if day is None:
        return None
    hms = m["hms"]
    seconds = day + int(hms[:2]) * 3600 + int(hms[3:5]) * 60 + int(hms[6:8])
    return seconds + float(m["frac"]) if m["frac"] else float(seconds)


@lru_cache(maxsize=4096)
def _day_start(year: str | None, month: str, day: str) -> int | None:
    try:
        # Without a year, 2000 (a leap year) keeps Feb 29 valid; only differences matter.
        when = datetime(int(year or 2000), _MONTHS[month], int(day), tzinfo=UTC)
    except ValueError:
        return None
    return int(when.timestamp())


def _iso_seconds(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text.replace(" ", "T", 1).replace(" ", "")).timestamp()
    except ValueError:
        return None


def _uptime_seconds(text: str) -> float | None:
    try:
        if ":" in text:
            h, mi, s = text.split(":")
            return int(h) * 3600 + int(mi) * 60 + float(s)
        y, w, d, h = (int(g or 0) for g in _UPTIME.fullmatch(text).groups())
    except (ValueError, AttributeError):
        return None
    return float(((y * 365 + w * 7 + d) * 24 + h) * 3600)


UNKNOWN_TIME = "an unknown time"
BACKWARDS = "an unknown time, the timestamps going backwards"


def duration(seconds: float | None) -> str:
    """A span as an engineer says it: 45s, 5m 02s, 1h 07m; never negative.

    A span below zero is a log whose clock went backwards (a midnight rollover on a stamp
    without a date, a collector's unordered output, two boxes' clocks in one paste): it
    measures nothing, so it is unknown, and saying why keeps "-5s" or "23h 59m" off the screen.
    Under half a second backwards is the jitter of merged collectors: 0s.
    """
    if seconds is None or not math.isfinite(seconds):
        return UNKNOWN_TIME
    seconds = round(seconds)
    if seconds < 0:
        return BACKWARDS
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"
