"""Syslog framing in front of a message tag: when it was logged and by which device."""

from __future__ import annotations

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
_STAMP = (
    rf"(?P<mon>{_MON})\s+(?P<day>\d{{1,2}})\s+(?:(?P<year>\d{{4}})\s+)?"
    r"(?P<hms>\d\d:\d\d:\d\d)(?P<frac>\.\d+)?(?:\s?(?:[A-Z]{2,5}|[+-]\d\d:?\d\d)\b)?"
)
_ISO = r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|\s?[+-]\d\d:?\d\d)?"
_HOST = r"[A-Za-z0-9][\w.-]*"

# Every framing of DESIGN.md's table, in the order a collector and a router stack them:
# <PRI> collector-time collector-host <PRI> seq: [*.]router-time: hostname %TAG
_PREFIX = re.compile(
    rf"""\s*(?:<\d{{1,3}}>\s*)?
    (?:(?P<iso>{_ISO})\s+(?:(?P<chost>{_HOST})\s+)?)?
    (?:(?P<bsd>{_MON}\s+\d{{1,2}}\s+\d\d:\d\d:\d\d)\s+(?P<bhost>{_HOST})\s+)?
    (?:<\d{{1,3}}>\s*)?
    (?:\d+\s*:\s*)?
    (?:[*.]?(?P<stamp>{_STAMP})|(?P<uptime>\d+y\d+w|\d+w\d+d|\d+d\d+h|\d{{1,2}}:\d\d:\d\d(?:\.\d+)?))?
    \s*:?\s*
    (?:(?P<host>{_HOST})\s*:?\s*)?
    $""",
    re.X,
)
_ANY_TIME = re.compile(rf"(?P<iso>{_ISO})|(?P<stamp>{_STAMP})")
_UPTIME = re.compile(r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?")


# The framing of `logging buffered` and most pastes, tried before the full grammar.
_PLAIN = re.compile(rf"[*.]?(?P<stamp>{_STAMP}):? *$")


def read_prefix(prefix: str) -> tuple[str | None, str | None, float | None]:
    """(time text, device, seconds) from the framing before a %TAG; Nones if unrecognised."""
    if not prefix or prefix.isspace():
        return None, None, None
    m = _PLAIN.match(prefix)
    if m is not None:
        return m["stamp"], None, _stamp_seconds(m)
    m = _PREFIX.match(prefix)
    if m is None:
        return _fallback(prefix)
    device = m["host"] or m["bhost"] or m["chost"]
    if m["stamp"]:
        return m["stamp"], device, _stamp_seconds(m)
    if m["uptime"]:
        return m["uptime"], device, _uptime_seconds(m["uptime"])
    if m["iso"]:
        return m["iso"], device, _iso_seconds(m["iso"])
    if m["bsd"]:
        return m["bsd"], device, None
    return None, device, None


def _fallback(prefix: str) -> tuple[str | None, str | None, float | None]:
    time, seconds = find_time(prefix)
    return time, None, seconds


def find_time(text: str) -> tuple[str | None, float | None]:
    """The first timestamp anywhere in text, for formats with free-form framing."""
    m = _ANY_TIME.search(text)
    if m is None:
        return None, None
    if m["iso"]:
        return m["iso"], _iso_seconds(m["iso"])
    return m["stamp"], _stamp_seconds(m)


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
    if ":" in text:
        h, mi, s = text.split(":")
        return int(h) * 3600 + int(mi) * 60 + float(s)
    y, w, d, h = (int(g or 0) for g in _UPTIME.fullmatch(text).groups())
    return float(((y * 365 + w * 7 + d) * 24 + h) * 3600)
