"""Block Kit for Slack, built with slack-sdk's models and kept inside Slack's limits.

Everything that came from a paste or a person is escaped, so a pasted <!channel> or <@U123>
shows as text and never pings anyone.
"""

from __future__ import annotations

import json

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from kb.diagnose import Diagnosis
from kb.incidents import Incident
from kb.ranking import Cause

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_BUTTON_VALUE = 2000
DETAILED_CAUSES = 3
NOTE_MODAL = "spi_note_modal"


def esc(text: object) -> str:
    """Slack's three control characters, escaped: no live mention, link or channel ping."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int = MAX_SECTION) -> str:
    if len(text) <= limit:
        return text
    note = "\n… (truncated)"
    return text[: limit - len(note)] + note


def section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(text)))


def context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=clip(text))])


def code(lines: list[str]) -> str:
    # Inside a code block Slack still reads &, < and >; ``` in a command would end the block.
    body = "\n".join(esc(line).replace("```", "'''") for line in lines)
    return f"```{body}```"


def value(**fields) -> str:
    text = json.dumps(fields, separators=(",", ":"))
    if len(text) > MAX_BUTTON_VALUE:
        raise ValueError("button value too long")
    return text


def _cause_blocks(n: int, cause: Cause, incident_id: int | None, peer: str | None) -> list[Block]:
    reasons = "\n".join(f"• {esc(r)}" for r in cause.reasons)
    blocks: list[Block] = [
        section(f"*{n}. {esc(cause.title)}*  `{cause.id}` · score {cause.score:.1f}\n{reasons}")
    ]
    if n > DETAILED_CAUSES:
        return blocks
    if cause.worth_detailing(n, DETAILED_CAUSES):
        blocks.append(section(f"*Check*\n{code(cause.verify)}"))
        blocks.append(section(f"*Fix*\n{code(cause.fixes)}"))
        if cause.caveats:
            blocks.append(context("⚠️ " + esc(cause.caveats[0])))
    # Buttons even without evidence: "this fixed it" on a cause nothing suggested is the
    # most useful thing the knowledge base can learn.
    if incident_id is not None:
        blocks.append(
            ActionsBlock(
                block_id=f"cause_{cause.id}",
                elements=[
                    ButtonElement(
                        text="This fixed it",
                        action_id="spi_fixed",
                        style="primary",
                        value=value(incident=incident_id, article=cause.id, peer=peer),
                    ),
                    ButtonElement(
                        text="Not it",
                        action_id="spi_not_it",
                        value=value(incident=incident_id, article=cause.id, peer=peer),
                    ),
                ],
            )
        )
    return blocks


def incident_text(incidents: list[Incident], limit: int = 5, notes: int = 2) -> str:
    lines = []
    for i in incidents[:limit]:
        state = f"fixed by `{i.fixed_by}`" if i.fixed_by else i.status
        spis = f" SPI {', '.join(i.spis)}" if i.spis else ""
        lines.append(f"• #{i.id} `{esc(i.peer)}`{esc(spis)}: {state}, {i.updated_at[:10]}")
        for note in i.notes[-notes:]:
            lines.append(f"    _note:_ {esc(note.text)}")
    if len(incidents) > limit:
        lines.append(f"… and {len(incidents) - limit} more")
    return "\n".join(lines)


def diagnosis(d: Diagnosis) -> list[Block]:
    """The threaded reply to a paste."""
    incident_id = d.recorded[0] if d.recorded else None
    blocks: list[Block] = [section(f"*Invalid SPI:* {esc(d.summary())}")]
    if d.warnings:
        blocks.append(context(" · ".join(f"⚠️ {esc(w)}" for w in d.warnings)))
    for n, cause in enumerate(d.causes[: d.top], 1):
        blocks.append(DividerBlock())
        blocks.extend(_cause_blocks(n, cause, incident_id, d.peer))
    if d.incidents:
        blocks.append(DividerBlock())
        blocks.append(section("*Past incidents*\n" + incident_text(d.incidents)))
    footer = []
    if incident_id is not None:
        blocks.append(
            ActionsBlock(
                block_id="notes",
                elements=[
                    ButtonElement(
                        text="Add note",
                        action_id="spi_add_note",
                        value=value(incident=incident_id, peer=d.peer),
                    )
                ],
            )
        )
        footer.append(f"incident #{incident_id}")
    footer.append("spibot · reasons show what moved each score")
    blocks.append(context(" · ".join(footer)))
    return fit(blocks)


def fit(blocks: list[Block]) -> list[Block]:
    """At most MAX_BLOCKS blocks; the last one says that the rest was cut."""
    if len(blocks) <= MAX_BLOCKS:
        return blocks
    return [
        *blocks[: MAX_BLOCKS - 1],
        context("… more in `spibot diagnose` (Slack allows 50 blocks)"),
    ]


def resolved(blocks: list[dict], article: str, user: str) -> list[dict]:
    """The reply after "This fixed it": buttons gone, the verdict stated."""
    kept = [b for b in blocks if b.get("type") != "actions"]
    kept.append(context(f"✅ Fixed by `{esc(article)}`, marked by <@{user}>").to_dict())
    return kept


def lookup(result: dict) -> list[Block]:
    body = []
    for a in result["articles"]:
        body.append(f"• *{esc(a['title'])}* `{a['id']}`\n   {esc(a['summary'][:280])}")
    for i in result["incidents"]:
        state = f"fixed by `{i['fixed_by']}`" if i["fixed_by"] else i["status"]
        spis = ", ".join(i["spis"]) or "?"
        body.append(f"• #{i['id']} `{esc(i['peer'])}` SPI {spis}: {state}")
        body.extend(f"    _note:_ {esc(note['text'])}" for note in i["notes"][-2:])
    return fit(
        text_reply(f"{result['kind']}: {result['query']}", "\n".join(body) or "Nothing found.")
    )


def text_reply(title: str, body: str) -> list[Block]:
    return [section(f"*{esc(title)}*\n{body}" if body else f"*{esc(title)}*")]


def note_modal(text: str, peer: str | None, metadata: dict) -> View:
    return View(
        type="modal",
        callback_id=NOTE_MODAL,
        title=PlainTextObject(text="SPI incident note"),
        submit=PlainTextObject(text="Add note"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=json.dumps(metadata)[:3000],
        blocks=[
            InputBlock(
                block_id="peer",
                label="Peer IP address",
                element=PlainTextInputElement(action_id="value", initial_value=peer or ""),
            ),
            InputBlock(
                block_id="note",
                label="Note",
                element=PlainTextInputElement(
                    action_id="value", multiline=True, initial_value=text[:2900], max_length=3000
                ),
            ),
        ],
    )


def home(counts: dict[str, int], open_incidents: list[Incident], peers: list[str]) -> View:
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text="spibot: IPsec invalid SPI")),
        section(
            f"*{counts['articles']}* cause articles · *{counts['incidents']}* incidents "
            f"(*{counts['open_incidents']}* open) · *{counts['notes']}* notes"
        ),
        DividerBlock(),
        section("*Open incidents*\n" + (incident_text(open_incidents, limit=10) or "None.")),
        section("*Recent peers*\n" + (", ".join(f"`{esc(p)}`" for p in peers) or "None yet.")),
        context("Paste logs in a channel I'm in, or use `/spi help`."),
    ]
    return View(type="home", blocks=fit(blocks))
