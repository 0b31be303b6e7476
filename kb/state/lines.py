"""Lines of pasted device output as the device printed them.

Terminal pagers, Slack and copying leave marks a parser should not see: `--More--` prompts
and the backspaces or spaces that erase them, ANSI colour codes, code fences, Slack's
entities and HTML escapes, non-breaking spaces. Indentation is kept: configuration and some
outputs nest by it.
"""

from __future__ import annotations

import re

from kb.normalise import clean_line
from kb.state.model import Line

# " --More-- ", "<--- More --->", "--more--"; then the backspaces, spaces and backspaces a
# terminal prints to erase it (the line's own indentation follows them and is kept).
# A match starts only where a run of spaces starts (the lookbehind): each run is read once.
_PAGER = re.compile(r"(?<! ) *+(?:--\s?more\s?--|<---\s?more\s?--->) ?", re.IGNORECASE)
_ERASE = re.compile(r"\x08++ *+\x08*+")
_ANSI = re.compile(r"\x1b\[[0-9;]{0,16}[A-Za-z]")
_CONTROL = str.maketrans({"\x08": None, "\x07": None})


def clean(raw: str) -> str:
    """One line of output: pager marks, colour codes and chat markup removed, indentation
    kept, trailing space dropped."""
    if "\x1b" in raw:
        raw = _ANSI.sub("", raw)
    if "more" in raw or "More" in raw or "MORE" in raw:
        raw = _PAGER.sub("", raw)
    if "\x08" in raw:
        raw = _ERASE.sub("", raw)
    raw = raw.translate(_CONTROL).replace("\t", "    ").replace("```", "")
    stripped = raw.lstrip(" \u00a0")
    indent = len(raw) - len(stripped)
    text = clean_line(stripped)
    return " " * indent + text if text else ""


def to_lines(text: str, first: int = 1) -> list[Line]:
    """Every line of `text`, cleaned and numbered from `first` (for tests and small pastes)."""
    return [Line(first + i, clean(raw)) for i, raw in enumerate(text.split("\n"))]
