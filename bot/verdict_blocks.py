"""A posted answer after a verdict: "Fixed" at its top with an Undo, a reopened answer with its
buttons back, and each "Not it" struck out for everyone with who said it.

These work on the message's blocks as Slack sends them back (dicts), whatever the layout of
the answer: buttons are found by action id, causes and incidents by the buttons' values, never
by position. Everything a person typed (notes) is plain text, escaped; people are mentions.
"""

from __future__ import annotations

import json
import re
from datetime import datetime

from slack_sdk.models.blocks import (
    ButtonElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    OptionGroup,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.blocks import MAX_BUTTON_VALUE, MAX_CONTEXT_ELEMENTS, clip, esc, literal, value

FIXED = "spi_fixed"
NOT_IT = "spi_not_it"
ADD_NOTE = "spi_add_note"
REOPEN = "spi_reopen"
UNDO_NOT_IT = "spi_undo_not_it"
FIXED_MODAL = "spi_fixed_modal"
# The buttons a verdict replaces; any other (Details) stays under a resolved answer.
VERDICT_BUTTONS = (FIXED, NOT_IT, ADD_NOTE)
MAX_NOTE = 3000
MAX_OPTION = 75  # Slack's limit on an option's text
_SLACK_USER = re.compile(r"[UW][A-Z0-9]+")


def who(author: str | None) -> str:
    """A person as Slack shows them: a mention for a Slack user id, else their name escaped."""
    if not author:
        return "someone"
    return f"<@{author}>" if _SLACK_USER.fullmatch(author) else esc(author)


def when(stamp: str) -> str:
    """A stored UTC time (ISO 8601) as a date in each reader's own time zone, with the UTC
    date and time as the fallback for clients that cannot."""
    try:
        moment = datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return esc(stamp)
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def notes_context(notes: list[dict], block_id: str | None = None) -> ContextBlock:
    """Notes (Note.to_dict) with their author and date: who and when as mrkdwn, what they
    wrote as plain text (its *, _ and links stay as typed; nothing in it pings anyone). One
    context block holds five notes, the latest ones."""
    elements: list = []
    for note in notes[-(MAX_CONTEXT_ELEMENTS // 2) :]:
        byline = f"📝 {who(note.get('author'))}, {when(note.get('created_at') or '')}"
        text = clip(esc(note.get("text") or ""), MAX_NOTE)
        elements.append(MarkdownTextObject(text=byline, verbatim=True))
        elements.append(PlainTextObject(text=text, emoji=False))
    return ContextBlock(block_id=block_id, elements=elements)


def note_context(note: dict, block_id: str | None = None) -> ContextBlock:
    return notes_context([note], block_id)


def _value(element: dict) -> dict:
    try:
        found = json.loads(element.get("value") or "{}")
    except (TypeError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _buttons(blocks: list[dict]):
    """(block, element, value) for every button in an actions block."""
    for block in blocks:
        if block.get("type") == "actions":
            for element in block.get("elements") or []:
                if element.get("type") == "button":
                    yield block, element, _value(element)


def causes_on(blocks: list[dict], incident: int) -> list[str]:
    """The cause ids the answer offers for an incident, in the order shown."""
    found = [
        v.get("article")
        for _, e, v in _buttons(blocks)
        if e.get("action_id") in (FIXED, NOT_IT) and v.get("incident") == incident
    ]
    return list(dict.fromkeys(c for c in found if isinstance(c, str)))


def fixed_modal(
    shown: list[tuple[str, str]], others: list[tuple[str, str]], picked: str, metadata: dict
) -> View:
    """The "Fixed it" form: the cause (the clicked one preselected; the answer's causes first,
    every other cause after them) and an optional note."""

    def option(cause: str, title: str) -> Option:
        return Option(value=cause, text=clip(title, MAX_OPTION - 1).replace("\n… (truncated)", "…"))

    groups = [
        OptionGroup(label=label, options=[option(c, t) for c, t in causes])
        for label, causes in (("In this answer", shown), ("Other causes", others))
        if causes
    ]
    every = dict(shown + others)
    initial = option(picked, every[picked]) if picked in every else None
    peer = metadata.get("peer")
    about = f"Marks incident #{metadata.get('incident')}"
    about += f" for {literal(peer)}" if peer else ""
    return View(
        type="modal",
        callback_id=FIXED_MODAL,
        title=PlainTextObject(text="Fixed it"),
        submit=PlainTextObject(text="Mark fixed"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=json.dumps(metadata)[:3000],
        blocks=[
            SectionBlock(
                text=MarkdownTextObject(text=f"{about} as fixed.", verbatim=True),
            ),
            InputBlock(
                block_id="cause",
                label="What fixed it",
                element=StaticSelectElement(
                    action_id="value", option_groups=groups, initial_option=initial
                ),
            ),
            InputBlock(
                block_id="note",
                label="Note (optional)",
                optional=True,
                hint="What you did, for whoever sees this peer next.",
                element=PlainTextInputElement(action_id="value", multiline=True, max_length=3000),
            ),
        ],
    )


def _with_ids(blocks: list[dict]) -> list[dict]:
    """Every block with a block id (Slack gives posted blocks one; these keep their place)."""
    taken = {b.get("block_id") for b in blocks}
    out, n = [], 0
    for block in blocks:
        if not block.get("block_id"):
            n += 1
            while f"spi_{n}" in taken:
                n += 1
            block = {**block, "block_id": f"spi_{n}"}
        out.append(block)
    return out


def _verdict_ids(incident: int) -> set[str]:
    return {f"verdict_{incident}", f"verdict_{incident}_note", f"reopened_{incident}"}


def _neighbours(blocks: list[dict], i: int) -> list[str | None]:
    before = blocks[i - 1].get("block_id") if i > 0 else None
    after = blocks[i + 1].get("block_id") if i + 1 < len(blocks) else None
    return [before, after]


def _strip(blocks: list[dict], incident: int) -> tuple[list[dict], list]:
    """The blocks without the incident's verdict buttons, and what Undo needs to put them
    back: per block, its id, its neighbours' ids, and its elements (a kept one by its id)."""
    out, taken = [], []
    for i, block in enumerate(blocks):
        elements = block.get("elements") or [] if block.get("type") == "actions" else []
        gone = [
            e
            for e in elements
            if e.get("action_id") in VERDICT_BUTTONS and _value(e).get("incident") == incident
        ]
        if not gone:
            out.append(block)
            continue
        record = []
        for e in elements:
            if e in gone:
                v = {k: x for k, x in _value(e).items() if k not in ("incident", "peer")}
                text = (e.get("text") or {}).get("text") or ""
                record.append([e["action_id"], text, e.get("style") or "", v])
            else:
                record.append(["", e.get("action_id")])
        taken.append([block["block_id"], _neighbours(blocks, i), record])
        kept = [e for e in elements if e not in gone]
        if kept:
            out.append({**block, "elements": kept})
    return out, taken


def _undo_value(incident: int, cause: str, peer: str | None, taken: list) -> str:
    try:
        return value(incident=incident, article=cause, peer=peer, restore=taken)
    except ValueError:
        # Too much to carry: Undo then brings back the verdict buttons in one row.
        return value(incident=incident, article=cause, peer=peer)


def with_verdict(
    blocks: list[dict],
    *,
    incident: int,
    cause: str,
    title: str,
    user: str,
    at: str,
    note: dict | None = None,
    peer: str | None = None,
) -> list[dict]:
    """The answer with "✅ Fixed by <cause> — @user, <date>" (and the note) at its top, an
    Undo beside it, and that incident's Fixed/Not it/Add note buttons gone; other peers'
    buttons and the Details button stay."""
    blocks = [b for b in _with_ids(blocks) if b.get("block_id") not in _verdict_ids(incident)]
    # "for <peer>" only where the answer holds more than one peer's incident.
    accessories = [b["accessory"] for b in blocks if isinstance(b.get("accessory"), dict)]
    others = {v.get("incident") for _, _, v in _buttons(blocks)}
    others |= {_value(a).get("incident") for a in accessories}
    others -= {incident, None}
    kept, taken = _strip(blocks, incident)
    whose = f" for {literal(peer)}" if peer and others else ""
    said = f"✅ *Fixed by {esc(title)}*{whose} — {who(user)}, {when(at)}"
    undo = ButtonElement(
        text="Undo", action_id=REOPEN, value=_undo_value(incident, cause, peer, taken)
    )
    top = [
        SectionBlock(
            block_id=f"verdict_{incident}",
            text=MarkdownTextObject(text=said, verbatim=True),
            accessory=undo,
        ).to_dict()
    ]
    if note is not None:
        top.append(note_context(note, f"verdict_{incident}_note").to_dict())
    return [*top, *kept]


def _button(incident: int, peer: str | None, entry: list) -> dict | None:
    try:
        action_id, text, style, fields = entry
        button = ButtonElement(
            text=str(text)[:MAX_OPTION] or "…",
            action_id=str(action_id),
            style=style if style in ("primary", "danger") else None,
            value=value(incident=incident, **dict(fields), peer=peer)[:MAX_BUTTON_VALUE],
        )
    except (TypeError, ValueError):
        return None
    return button.to_dict()


def _put_back(blocks: list[dict], incident: int, peer: str | None, record: list) -> list[dict]:
    block_id, (before, after), entries = record
    ids = [b.get("block_id") for b in blocks]
    current = blocks[ids.index(block_id)] if block_id in ids else None
    present = {e.get("action_id"): e for e in (current or {}).get("elements") or []}
    elements = []
    for entry in entries:
        if entry and entry[0] == "":
            if entry[1] in present:
                elements.append(present.pop(entry[1]))
        elif (button := _button(incident, peer, entry)) is not None:
            elements.append(button)
    elements.extend(present.values())
    rebuilt = {"type": "actions", "block_id": block_id, "elements": elements[:25]}
    if current is not None:
        return [rebuilt if b is current else b for b in blocks]
    if before in ids:
        at = ids.index(before) + 1
    elif after in ids:
        at = ids.index(after)
    else:
        at = len(blocks)
    return [*blocks[:at], rebuilt, *blocks[at:]]


def reopened(
    blocks: list[dict],
    *,
    incident: int,
    user: str,
    at: str,
    restore: list | None = None,
    cause: str | None = None,
    peer: str | None = None,
) -> list[dict]:
    """The answer after Undo: the verdict gone, "↩️ Reopened by @user, <date>" in its place,
    and the buttons back where they were (`restore`, carried by the Undo button)."""
    blocks = _with_ids(blocks)
    ids = [b.get("block_id") for b in blocks]
    place = ids.index(f"verdict_{incident}") if f"verdict_{incident}" in ids else 0
    kept = [b for b in blocks if b.get("block_id") not in _verdict_ids(incident)]
    line = ContextBlock(
        block_id=f"reopened_{incident}",
        elements=[MarkdownTextObject(text=f"↩️ Reopened by {who(user)}, {when(at)}", verbatim=True)],
    ).to_dict()
    kept = [*kept[:place], line, *kept[place:]]
    records = restore if isinstance(restore, list) else []
    for record in records:
        try:
            kept = _put_back(kept, incident, peer, record)
        except (TypeError, ValueError):
            continue  # a record this version cannot read: the fallback row below
    ours = [e for _, e, v in _buttons(kept) if v.get("incident") == incident]
    if cause and not any(e.get("action_id") in VERDICT_BUTTONS for e in ours):
        fallback = [[FIXED, "Fixed it…", "primary", {"article": cause}]]
        fallback += [[NOT_IT, "Not it", "", {"article": cause}], [ADD_NOTE, "Add note", "", {}]]
        row = [f"verdict_{incident}_buttons", [f"reopened_{incident}", None], fallback]
        kept = _put_back(kept, incident, peer, row)
    return kept


def with_not_it(
    blocks: list[dict],
    *,
    incident: int,
    cause: str,
    title: str,
    people: list[str],
    peer: str | None = None,
) -> list[dict]:
    """The answer with "~<cause>~ not it — @a, @b" beside the cause's buttons, for everyone
    to see, and an "Undo" only those people can use; the line goes when nobody says so."""
    block_id = f"notit_{incident}_{cause}"[:255]
    blocks = _with_ids(blocks)
    ids = [b.get("block_id") for b in blocks]
    line = None
    if people:
        said = f"~{esc(title).replace('~', '-')}~ not it — {', '.join(who(p) for p in people)}"
        undo = ButtonElement(
            text="Undo not it",
            action_id=UNDO_NOT_IT,
            value=value(incident=incident, article=cause, peer=peer),
        )
        line = SectionBlock(
            block_id=block_id,
            text=MarkdownTextObject(text=clip(said), verbatim=True),
            accessory=undo,
        ).to_dict()
    if block_id in ids:
        at = ids.index(block_id)
        return [*blocks[:at], *([line] if line else []), *blocks[at + 1 :]]
    if line is None:
        return blocks
    at = next(
        (
            ids.index(b.get("block_id"))
            for b, e, v in _buttons(blocks)
            if e.get("action_id") == NOT_IT
            and v.get("incident") == incident
            and v.get("article") == cause
        ),
        len(blocks),
    )
    return [*blocks[:at], line, *blocks[at:]]


def as_recorded(blocks: list[dict], incidents: list, titles: dict[str, str]) -> list[dict]:
    """A freshly rendered answer with each incident's verdict on top again (with its Undo)
    and its "not it"s struck out again (for a listener that re-renders an answer, such as
    more log pasted in its thread, or a /spi answer shared after a verdict)."""
    for incident in incidents:
        if getattr(incident, "status", None) == "resolved" and incident.fixed_by:
            fix_notes = [n for n in incident.notes if n.created_at == incident.resolved_at]
            blocks = with_verdict(
                blocks,
                incident=incident.id,
                cause=incident.fixed_by,
                title=titles.get(incident.fixed_by, incident.fixed_by),
                user=getattr(incident, "fixed_author", None) or "someone",
                at=incident.resolved_at or "",
                note=fix_notes[-1].to_dict() if fix_notes else None,
                peer=incident.peer,
            )
        for cause, people in (getattr(incident, "not_it_by", None) or {}).items():
            blocks = with_not_it(
                blocks,
                incident=incident.id,
                cause=cause,
                title=titles.get(cause, cause),
                people=people,
                peer=incident.peer,
            )
    return blocks
