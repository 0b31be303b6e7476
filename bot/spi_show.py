"""`/spi show <cause> [platform]`: a cause's article, as Slack blocks and as text.

What the cause is, its key caveat, and the commands to check and fix it for every platform
that has them (or the one asked for), each run under where it runs. The addresses are
placeholders (`<peer-address>`): a pasted log fills them in, an article on its own cannot.
"""

from __future__ import annotations

from slack_sdk.models.blocks import Block

from bot import blocks
from kb.article import Article
from kb.commands import PLATFORMS
from kb.confidence import PLATFORM_NAMES

CAVEATS_SHOWN = 2


def platform_of(word: str) -> str | None:
    """A platform key from what someone typed: `asa`, `ASA`, `pan-os`, `FortiGate`."""
    typed = word.strip().lower()
    for key in PLATFORMS:
        if typed in (key, PLATFORM_NAMES.get(key, key).lower()):
            return key
    return None


def _platforms(article: Article, platform: str | None) -> list[str]:
    if platform is not None:
        return [platform]
    return [p for p in PLATFORMS if article.verify.get(p) or article.fix.get(p)]


def _runs(article: Article, platform: str) -> list[tuple[str, str, list[str]]]:
    """(Check|Fix, where, lines) for one platform."""
    return [
        (title, where, lines)
        for title, kind in (("Check", "verify"), ("Fix", "fix"))
        for where, lines in article.commands_by_where(kind, platform, None, None)
    ]


def _platform_sections(article: Article, platform: str) -> list[Block]:
    name = f"*{blocks.esc(PLATFORM_NAMES.get(platform, platform))}*"
    parts = [
        f"{title}, {blocks.esc(where)}\n{blocks.code(lines)}"
        if where
        else f"{title}\n{blocks.code(lines)}"
        for title, where, lines in _runs(article, platform)
    ]
    whole = "\n".join([name, *parts])
    if len(whole) <= blocks.MAX_SECTION:
        return [blocks.section(whole)]
    # One section per run: clip() must never cut inside a code block.
    return [blocks.section(name), *(blocks.section(part) for part in parts)]


def article_blocks(article: Article, platform: str | None) -> list[Block]:
    out: list[Block] = [
        blocks.section(
            f"*{blocks.esc(article.title)}*  {blocks.literal(article.id)}\n"
            f"{blocks.esc(article.summary)}"
        )
    ]
    caveats = article.caveats_for(platform)[:CAVEATS_SHOWN]
    if caveats:
        out.append(blocks.context("\n".join(f"⚠️ {blocks.esc(c)}" for c in caveats)))
    shown = _platforms(article, platform)
    for key in shown:
        out.extend(_platform_sections(article, key))
    missing = [PLATFORM_NAMES.get(p, p) for p in PLATFORMS if p not in shown]
    if platform is None:
        tip = f"One platform only: `/spi show {blocks.esc(article.id)} asa`."
        if missing:
            tip = f"No commands known for {blocks.esc(', '.join(missing))}. {tip}"
        out.append(blocks.context(tip))
    return blocks.fit(out)


def article_text(article: Article, platform: str | None) -> str:
    lines = [f"{article.title} ({article.id})", article.summary]
    lines += [f"! {c}" for c in article.caveats_for(platform)[:CAVEATS_SHOWN]]
    for key in _platforms(article, platform):
        lines += ["", PLATFORM_NAMES.get(key, key)]
        for title, where, commands in _runs(article, key):
            lines.append(f"  {title}, {where}:" if where else f"  {title}:")
            lines += [f"    {c}" for c in commands]
    return "\n".join(lines)
