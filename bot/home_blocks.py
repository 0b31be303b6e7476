"""App Home's view: a first-run card until the workspace has an incident, then "Open now"
(each open incident with its peer, top cause, age, lines, thread and buttons) and "Recently
resolved" (who fixed it and with what, or why it closed by itself).

Everything from a paste, a person or the database is escaped (bot/blocks.py's `esc` and
`literal`); a link is shown only when it is a plain http(s) URL. A Home view holds at most
100 blocks: "Open now" shows OPEN_SHOWN incidents (two blocks each) and counts the rest.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    DividerBlock,
    HeaderBlock,
    PlainTextObject,
)
from slack_sdk.models.views import View

from bot.blocks import code, context, esc, literal, section, value
from bot.verdict_blocks import who
from kb.incidents import Incident

MAX_VIEW_BLOCKS = 100  # Slack's limit for a Home tab
OPEN_SHOWN = 15
RESOLVED_SHOWN = 5
TITLE = "spibot: IPsec invalid SPI"
# A line the first-run card offers to paste; its hex and decimal SPI agree.
EXAMPLE_LINE = (
    "%CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid spi for "
    "destaddr=192.0.2.1, prot=50, spi=0x5A3D1F2C(1513955116), srcaddr=198.51.100.7"
)
_SAFE_URL = re.compile(r"https?://[^\s<>|`]+")


def ago(when: str | None, now: datetime) -> str:
    """'just now', '12 min ago', '3 h ago', '2 d ago': never negative (a clock ahead)."""
    if not when:
        return "at an unknown time"
    try:
        then = datetime.fromisoformat(when)
    except ValueError:
        return "at an unknown time"
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    minutes = int((now - then).total_seconds() // 60)
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return f"{minutes // (24 * 60)} d ago"


def link(url: str | None, label: str) -> str:
    """A mrkdwn link, or '' when `url` is not a plain http(s) URL (a note's permalink may
    have come from a person)."""
    if not url or not _SAFE_URL.fullmatch(url):
        return ""
    return f"<{url.replace('&', '&amp;')}|{esc(label)}>"


def cause_title(cause: str | None, titles: dict[str, str]) -> str:
    if not cause:
        return "cause not known yet"
    return esc(titles.get(cause, cause))


def first_run() -> list[Block]:
    """How to start, for a workspace that has no incident yet."""
    return [
        section("*Welcome. Three steps to a first answer:*"),
        section("*1. Invite me to a channel* where your team works on VPNs:\n`/invite @spibot`"),
        section(
            "*2. Paste a log line there*, this one for example:\n"
            f"{code([EXAMPLE_LINE])}\n"
            "I answer in its thread: the likely cause, where to run the one command, and "
            "buttons to record what fixed it."
        ),
        section(
            "*3. Everything else:* `/spi help`: look up a peer or an SPI, show a cause, add a note."
        ),
        context("From a terminal: `spibot diagnose FILE`, or `spibot console` to paste into."),
    ]


def _open_line(i: Incident, titles: dict[str, str], links: dict[int, str], now) -> str:
    proved = i.confirmed_cause is not None and i.confirmed_cause == i.top_cause
    confirmed = " · ✅ *confirmed*" if proved else ""
    facts = [f"opened {ago(i.opened_at, now)}", f"{i.event_count} line(s)"]
    if ago(i.updated_at, now) != ago(i.opened_at, now):
        facts.append(f"last {ago(i.updated_at, now)}")
    facts.append(link(links.get(i.id), "thread") or f"incident #{i.id}")
    head = f"*{literal(i.peer or 'unknown peer')}* · {cause_title(i.top_cause, titles)}{confirmed}"
    return f"{head}\n{' · '.join(facts)}"


def _buttons(i: Incident) -> ActionsBlock:
    # The reply's own action ids and value shape, so the same handlers serve both.
    picked = value(incident=i.id, article=i.top_cause, peer=i.peer)
    elements = []
    if i.top_cause:
        elements.append(
            ButtonElement(text="Fixed it…", action_id="spi_fixed", style="primary", value=picked)
        )
        elements.append(ButtonElement(text="Not it", action_id="spi_not_it", value=picked))
    elements.append(ButtonElement(text="Add note", action_id="spi_add_note", value=picked))
    return ActionsBlock(block_id=f"home_{i.id}", elements=elements)


def open_now(
    incidents: list[Incident], total: int, titles: dict[str, str], links: dict[int, str], now
) -> list[Block]:
    if not incidents:
        return [section("*Open now*\nNothing open. 🎉")]
    out: list[Block] = [section(f"*Open now* ({total})")]
    for i in incidents[:OPEN_SHOWN]:
        out.append(section(_open_line(i, titles, links, now)))
        out.append(_buttons(i))
    more = total - min(len(incidents), OPEN_SHOWN)
    if more > 0:
        out.append(context(f"… and {more} more open: `spibot incidents` lists them all"))
    return out


def _resolved_line(i: Incident, titles: dict[str, str], links: dict[int, str], now) -> str:
    when = ago(i.resolved_at or i.updated_at, now)
    if i.fixed_by:
        said = f"fixed by {who(i.fixed_author)}: {cause_title(i.fixed_by, titles)}"
    elif i.closed_reason:
        said = f"closed by itself ({esc(i.closed_reason.removeprefix('closed: '))})"
    else:
        said = "resolved"
    thread = link(links.get(i.id), "thread")
    return f"• {literal(i.peer or 'unknown peer')}: {said} · {when}" + (
        f" · {thread}" if thread else ""
    )


def recently_resolved(
    incidents: list[Incident], titles: dict[str, str], links: dict[int, str], now
) -> list[Block]:
    if not incidents:
        return []
    lines = [_resolved_line(i, titles, links, now) for i in incidents[:RESOLVED_SHOWN]]
    return [section("*Recently resolved*\n" + "\n".join(lines))]


def home(
    counts: dict[str, int],
    open_incidents: list[Incident],
    resolved: list[Incident],
    titles: dict[str, str],
    links: dict[int, str],
    *,
    now: datetime,
    quiet_minutes: int = 0,
) -> View:
    """The Home tab. `counts` as Store.counts gives them; `links` maps an incident id to its
    thread's permalink; `quiet_minutes` is SPIBOT_REKEY_QUIET_MINUTES (0: off)."""
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text=TITLE))]
    if not counts.get("incidents"):
        blocks.extend(first_run())
        return View(type="home", blocks=blocks)
    blocks.append(
        context(
            f"*{counts['open_incidents']}* open · *{counts['incidents']}* incidents · "
            f"*{counts['notes']}* notes · *{counts['articles']}* cause articles"
        )
    )
    blocks.append(DividerBlock())
    blocks.extend(open_now(open_incidents, counts["open_incidents"], titles, links, now))
    if resolved:
        blocks.append(DividerBlock())
        blocks.extend(recently_resolved(resolved, titles, links, now))
    footer = "Paste logs in a channel I'm in, or use `/spi help`."
    if quiet_minutes:
        footer += (
            f" A one-line rekey race closes by itself after {quiet_minutes} min with no new line"
            " from its peer."
        )
    blocks.append(context(footer))
    return View(type="home", blocks=blocks[:MAX_VIEW_BLOCKS])
