"""Undo what Slack, chat clients and hand-copying do to a log line."""

from __future__ import annotations

import html
import re

# Slack wraps links as <url|label> or <url>, users as <@U123>, broadcasts as <!here>.
# A bare syslog PRI such as <188> never matches: it has no scheme, @, # or !.
# Each try stops at the next "<", so a paste full of "<" is still read once.
_SLACK_ENTITY = re.compile(
    r"<((?:https?|mailto|ftp|tel):[^<>|\s]*+)(?:\|([^<>]*+))?>"
    r"|<([@#!][^<>|\s]*+)(?:\|([^<>]*+))?>"
)
_ENTITY_START = re.compile(r"<(?:https?:|mailto:|ftp:|tel:|[@#!])")
_TRANSLATE = str.maketrans(
    {
        "\u2019": "'",  # right single quote, as in rec’d
        "\u2018": "'",
        "\u02bc": "'",
        "`": "'",  # rec`d; code fences are removed before this
        "\u00a0": " ",
        "\u2007": " ",
        "\u202f": " ",
        "\t": " ",
        "\u200b": None,  # zero-width characters chat clients insert
        "\u200c": None,
        "\u200d": None,
        "\ufeff": None,
        "\r": None,
    }
)
_NEEDS_WORK = re.compile(r"[&<`\u2018\u2019\u02bc\u00a0\u2007\u202f\u200b-\u200d\ufeff\r\t]")
# html.unescape raises on a character reference of more than 4,300 digits (Python's limit on
# int()). Any reference of 8 digits or more is U+FFFD here: past U+10FFFF, or a real character
# written with leading zeros, which no device prints.
_HUGE_CHARREF = re.compile(r"&#[0-9]{8}[0-9]*+;?")


def _entity(match: re.Match) -> str:
    url, url_label, special, special_label = match.groups()
    if url is not None:
        if url_label:
            return url_label
        return url.removeprefix("mailto:").removeprefix("tel:")
    if special_label:
        return special_label
    # <!here>, <@U123>: keep the name, drop the markup, so nothing is a live mention.
    return special.lstrip("!")


def clean_line(line: str) -> str:
    """One line as the device printed it: entities, fences, odd quotes and spaces undone."""
    # Most lines are plain ASCII with none of &<`, tab or CR: five C-speed tests say so
    # faster than the search below.
    plain = (
        line.isascii()
        and "&" not in line
        and ("<" not in line or _ENTITY_START.search(line) is None)  # <189> is no entity
        and "`" not in line
        and "\t" not in line
        and "\r" not in line
    )
    if not plain and _NEEDS_WORK.search(line) is not None:
        if "```" in line:
            line = line.replace("```", " ")
        if "<" in line:
            line = _SLACK_ENTITY.sub(_entity, line)
        if "&" in line:
            line = html.unescape(_HUGE_CHARREF.sub("\ufffd", line))
        line = line.translate(_TRANSLATE)
    if " =" in line or "= " in line:
        # "destaddr = 10.0.0.1" and "SPI= 0x1" become key=value, in one pass over the line
        # (removing a space per pass was quadratic). The ends are stripped just below anyway.
        line = "=".join(part.strip(" ") for part in line.split("="))
    return line.strip()


def is_binary(sample: bytes) -> bool:
    """Text logs never hold NUL bytes; images, archives and core dumps nearly always do."""
    return b"\x00" in sample
