"""What a person sees of a Block Kit message: its visible text, and where each part of it lands
on a phone screen 400 px wide (a test helper; Slack renders nothing here).

`visible_text` is the text a user reads: mrkdwn markup removed (*bold*, _italic_, ~strike~,
`code` and ``` fences), links shown as their label, &lt; &gt; &amp; as the one character they
show, button labels included (a user reads them), block ids, action ids and values left out.

`layout` estimates Slack's mobile layout of a message in a thread, top to bottom, from the top
of the message (its author line) down. The figures are estimates of the iOS/Android apps at a
400 px (CSS px, i.e. dp) wide screen, read off the apps' default text size, and deliberately
rounded towards taller, so that "above 700 px" here means above 700 px there:

- the message body starts 60 px from the left (16 px margin, 36 px avatar, 8 px gap) and ends
  16 px from the right: 324 px of text;
- body text (section text, fields) is 15 px Lato: about 8 px a character, so 40 characters a
  line, words wrapped whole; 22 px a line;
- the author line (name and time) takes 30 px before the first block;
- a code block (``` … ```) is 12 px monospace in a box with 8 px padding and a 1 px border:
  38 characters a line, 18 px a line, plus 18 px for padding and border and 4 px above and below;
- context text is 12-13 px: 48 characters a line, 18 px a line;
- section fields lie in two columns (8 px apart): 19 characters a line each; a row is as tall as
  its taller field; 4 px between rows;
- a button is 32 px tall, 8 px a character plus 24 px padding wide, 8 px between buttons; a row
  of buttons wraps at 324 px;
- a divider is 17 px (1 px and 8 px either side); a header is 26 px a line of 28 characters;
- blocks are 10 px apart.
"""

from __future__ import annotations

import html
import re
import textwrap
from dataclasses import dataclass

WIDTH_PX = 400
BODY_CHARS, BODY_LINE = 40, 22
AUTHOR_LINE = 30
CODE_CHARS, CODE_LINE, CODE_BOX, CODE_MARGIN = 38, 18, 18, 4
CONTEXT_CHARS, CONTEXT_LINE = 48, 18
FIELD_CHARS, FIELD_ROW_GAP = 19, 4
BUTTON_HEIGHT, BUTTON_CHAR, BUTTON_PADDING, BUTTON_GAP, ROW_PX = 32, 8, 24, 8, 324
DIVIDER = 17
HEADER_CHARS, HEADER_LINE = 28, 26
BLOCK_GAP = 10

_FENCE = re.compile(r"```(.*?)```", re.S)
_INLINE = re.compile(r"`([^`\n]*)`")
_LINK = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")
_MARK = re.compile(r"(?<![\w*_~])([*_~])(?=\S)(.+?)(?<=\S)\1(?![\w*_~])", re.S)


def _plain_mrkdwn(text: str) -> list[tuple[str, str]]:
    """A mrkdwn text as runs of ("text" | "code", what shows), markup removed."""
    runs: list[tuple[str, str]] = []
    at = 0
    for fence in _FENCE.finditer(text):
        if fence.start() > at:
            runs.append(("text", _unmark(text[at : fence.start()])))
        runs.append(("code", _entities(fence.group(1)).strip("\n")))
        at = fence.end()
    if at < len(text):
        runs.append(("text", _unmark(text[at:])))
    return [(kind, shown) for kind, shown in runs if shown.strip("\n")]


def _link(match: re.Match) -> str:
    target, label = match.group(1), match.group(2)
    if label is not None:
        return label
    if target.startswith(("@", "#")):
        return target  # a user or channel shows as its name: about as long as its id
    if target.startswith("!"):
        return "@" + target[1:].split("^")[0]
    return target


def _entities(text: str) -> str:
    return html.unescape(text)


def _unmark(text: str) -> str:
    # Inline code first: markup inside a code span is text.
    parts = _INLINE.split(text)
    out = []
    for n, part in enumerate(parts):
        if n % 2:
            out.append(part)
        else:
            part = _LINK.sub(_link, part)
            for _ in range(3):  # nested *_bold italic_*
                part = _MARK.sub(r"\2", part)
            out.append(part)
    return _entities("".join(out)).strip("\n")


def _text_of(obj: dict | None) -> list[tuple[str, str]]:
    if not obj:
        return []
    if obj.get("type") == "mrkdwn":
        return _plain_mrkdwn(obj.get("text", ""))
    return [("text", _entities(obj.get("text", "")))]


def _button_labels(block: dict) -> list[str]:
    return [_entities(e["text"]["text"]) for e in block.get("elements") or [] if e.get("text")]


def visible_runs(block: dict) -> list[tuple[str, str]]:
    """What one block shows, as runs of ("text" | "code" | "field" | "button", text)."""
    kind = block.get("type")
    if kind in ("section", "header"):
        runs = _text_of(block.get("text"))
        for field in block.get("fields") or []:
            runs.extend(("field", t) for _, t in _text_of(field))
        return runs
    if kind == "context":
        return [r for e in block.get("elements") or [] for r in _text_of(e)]
    if kind == "actions":
        return [("button", label) for label in _button_labels(block)]
    return []


def visible_text(blocks: list[dict]) -> str:
    return "\n".join(t for b in blocks for _, t in visible_runs(b))


def visible_chars(blocks: list[dict]) -> int:
    """Characters a user sees, line breaks not counted."""
    return len(visible_text(blocks).replace("\n", ""))


def buttons(blocks: list[dict]) -> list[dict]:
    return [
        e
        for b in blocks
        if b.get("type") == "actions"
        for e in b.get("elements") or []
        if e.get("type") == "button"
    ]


# -- layout -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Box:
    block: int  # index of the block it belongs to
    kind: str  # text | code | context | fields | buttons | divider | header
    text: str
    top: int
    bottom: int


def lines_of(text: str, width: int) -> int:
    """Lines that `text` takes at `width` characters, words wrapped whole where they fit."""
    return sum(
        max(1, len(textwrap.wrap(line, width, break_on_hyphens=False))) for line in text.split("\n")
    )


def _button_rows(labels: list[str]) -> int:
    rows, used = 1, 0
    for label in labels:
        width = len(label) * BUTTON_CHAR + BUTTON_PADDING
        if used and used + BUTTON_GAP + width > ROW_PX:
            rows, used = rows + 1, 0
        used += width + (BUTTON_GAP if used else 0)
    return rows


def layout(blocks: list[dict]) -> list[Box]:
    """Where each part of each block lands, in px from the top of the message."""
    boxes: list[Box] = []
    y = AUTHOR_LINE
    for n, block in enumerate(blocks):
        if n:
            y += BLOCK_GAP
        kind = block.get("type")
        if kind == "divider":
            boxes.append(Box(n, "divider", "", y, y + DIVIDER))
            y += DIVIDER
            continue
        if kind == "actions":
            labels = _button_labels(block)
            rows = _button_rows(labels)
            height = rows * BUTTON_HEIGHT + (rows - 1) * BUTTON_GAP
            boxes.append(Box(n, "buttons", " | ".join(labels), y, y + height))
            y += height
            continue
        if kind == "context":
            text = "\n".join(t for _, t in visible_runs(block))
            height = lines_of(text, CONTEXT_CHARS) * CONTEXT_LINE
            boxes.append(Box(n, "context", text, y, y + height))
            y += height
            continue
        if kind == "header":
            text = "\n".join(t for _, t in visible_runs(block))
            height = lines_of(text, HEADER_CHARS) * HEADER_LINE
            boxes.append(Box(n, "header", text, y, y + height))
            y += height
            continue
        for run, text in _text_of(block.get("text")):
            if run == "code":
                top = y + CODE_MARGIN
                bottom = top + lines_of(text, CODE_CHARS) * CODE_LINE + CODE_BOX
                boxes.append(Box(n, "code", text, top, bottom))
                y = bottom + CODE_MARGIN
            else:
                height = lines_of(text, BODY_CHARS) * BODY_LINE
                boxes.append(Box(n, "text", text, y, y + height))
                y += height
        fields = [t for f in block.get("fields") or [] for _, t in _text_of(f)]
        if fields:
            top = y
            for row in range(0, len(fields), 2):
                if row:
                    y += FIELD_ROW_GAP
                pair = fields[row : row + 2]
                y += max(lines_of(t, FIELD_CHARS) for t in pair) * BODY_LINE
            boxes.append(Box(n, "fields", "\n".join(fields), top, y))
    return boxes


def bottom_of(boxes: list[Box], kind: str, containing: str) -> int | None:
    """Where the first box of `kind` holding `containing` ends, in px from the message top."""
    found = next((b for b in boxes if b.kind == kind and containing in b.text), None)
    return found.bottom if found else None
