"""Block Kit for Slack, built with slack-sdk's models and kept inside Slack's limits.

Everything that came from a paste, a person, an import or an article is escaped, so a pasted
<!channel> or <@U123> shows as text and never pings anyone. Free text that people wrote
(notes) is shown as plain_text, so its *, _, ` and URLs stay as typed; every mrkdwn object is
verbatim, so Slack links no bare URL or channel name on its own.
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
MAX_CONTEXT_ELEMENTS = 10
DETAILED_CAUSES = 3
NOTE_MODAL = "spi_note_modal"


def esc(text: object) -> str:
    """Slack's three control characters, escaped: no live mention, link or channel ping."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def literal(text: object) -> str:
    """A value (id, address, SPI, status) as inline code: escaped, and unable to end its span."""
    return "`" + esc(text).replace("`", "'") + "`"


def clip(text: str, limit: int = MAX_SECTION) -> str:
    if len(text) <= limit:
        return text
    note = "\n… (truncated)"
    return text[: limit - len(note)] + note


def section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(text), verbatim=True))


def context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=clip(text), verbatim=True)])


def quoted(texts: list[str], limit: int = MAX_CONTEXT_ELEMENTS) -> ContextBlock:
    """What people wrote, as plain text: no formatting, links or mentions of its own."""
    return ContextBlock(
        elements=[PlainTextObject(text=clip(esc(t)), emoji=False) for t in texts[:limit]]
    )


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
        section(
            f"*{n}. {esc(cause.title)}*  {literal(cause.id)} · score {cause.score:.1f}\n{reasons}"
        )
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


def incident_blocks(incidents: list[dict], limit: int = 5, notes: int = 2) -> list[Block]:
    """Incidents in their JSON form (Incident.to_dict, as lookups return them): a line each,
    its latest notes under it as plain text."""
    out: list[Block] = []
    for i in incidents[:limit]:
        state = f"fixed by {literal(i['fixed_by'])}" if i["fixed_by"] else esc(i["status"])
        spis = f" SPI {', '.join(literal(s) for s in i['spis'])}" if i["spis"] else ""
        when = esc(i["updated_at"][:10])
        out.append(section(f"• #{i['id']} {literal(i['peer'])}{spis}: {state}, {when}"))
        if notes and i["notes"]:
            out.append(quoted([f"note: {n['text']}" for n in i["notes"][-notes:]]))
    if len(incidents) > limit:
        out.append(context(f"… and {len(incidents) - limit} more"))
    return out


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
        blocks.append(section("*Past incidents*"))
        blocks.extend(incident_blocks([i.to_dict() for i in d.incidents]))
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
    kept.append(context(f"✅ Fixed by {literal(article)}, marked by <@{esc(user)}>").to_dict())
    return kept


def lookup(result: dict) -> list[Block]:
    out = text_reply(f"{result['kind']}: {result['query']}")
    for a in result["articles"]:
        out.append(
            section(f"• *{esc(a['title'])}* {literal(a['id'])}\n   {esc(a['summary'][:280])}")
        )
    out.extend(incident_blocks(result["incidents"], limit=len(result["incidents"])))
    if len(out) == 1:
        out.append(section("Nothing found."))
    return fit(out)


def text_reply(title: str, body: str | list[Block] = "") -> list[Block]:
    """A bold title (escaped here) over a mrkdwn body the caller escaped, or over blocks."""
    if isinstance(body, list):
        return fit([section(f"*{esc(title)}*"), *body])
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
        section("*Open incidents*" + ("" if open_incidents else "\nNone.")),
        *incident_blocks([i.to_dict() for i in open_incidents], limit=10),
        section("*Recent peers*\n" + (", ".join(literal(p) for p in peers) or "None yet.")),
        context("Paste logs in a channel I'm in, or use `/spi help`."),
    ]
    return View(type="home", blocks=fit(blocks))
