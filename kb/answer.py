"""The answer first: one sentence that says what is wrong and what to do, and the one command
to run first, for an engineer reading a phone notification at 3 a.m.

Pure: a peer's diagnosis (kb/peers.py) in, plain text out. The sentence is a reply's
notification text and the first line of the terminal output; escaping it for Slack or a
terminal is the renderer's job. The words are the articles' (`short`, `action`, `key_caveat`
in their front-matter), the confidence is kb/confidence.py's, and never a score.

    headline      "Likely SAs out of sync on 198.51.100.7: clear its SAs toward 192.0.2.1
                   (6 lines in 5 min)"
    first_action  the one command to run now, where to run it, why, and the caveat that must
                  be seen with it
    paste_headline  the sentence for a whole paste: one peer, several, or no invalid-SPI line
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kb.confidence import CONFIRMED, LIKELY, PLATFORM_NAMES, POSSIBLE, STRONG

if TYPE_CHECKING:
    from kb.diagnose import Diagnosis
    from kb.groups import Group
    from kb.peers import PeerDiagnosis
    from kb.ranking import Cause

LEAD = {CONFIRMED: "Confirmed:", STRONG: "Very likely", LIKELY: "Likely", POSSIBLE: "Possibly"}
MAX_PEERS_CHARS = 200  # a paste with many peers: the sentence stops here and says how many more
MAX_WHY_CHARS = 110  # each of the two lines of why: a phone shows about this much in two lines
UNKNOWN_PEER = "an unknown peer"
_POINTS = re.compile(r"^([+-]\d+(?:\.\d+)?) ")


def _fill(text: str, peer: str | None, local: str | None) -> str:
    return text.replace("{peer}", peer or UNKNOWN_PEER).replace("{local}", local or "this box")


def _ago(seconds: float) -> str:
    """A span in the unit a person would say it in: 40 s, 5 min, 3 h, 2 days."""
    if seconds < 90:
        return f"{round(seconds)} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    if seconds < 48 * 3600:
        return f"{round(seconds / 3600)} h"
    return f"{round(seconds / 86400)} days"


def count_phrase(groups: Sequence[Group]) -> str:
    """ "6 lines in 5 min", "1 line", or "6 lines" when the paste has no times."""
    lines = sum(g.count for g in groups)
    said = f"{lines} line{'s' if lines != 1 else ''}"
    firsts = [g.first_seconds for g in groups if g.first_seconds is not None]
    lasts = [g.last_seconds for g in groups if g.last_seconds is not None]
    if lines > 1 and firsts and lasts and max(lasts) - min(firsts) >= 1:
        said += f" in {_ago(max(lasts) - min(firsts))}"
    return said


def _short(cause: Cause, peer: str | None, local: str | None) -> str:
    """The cause in a few words for this peer; an article without `short` gives its title."""
    if cause.short:
        return _fill(cause.short, peer, local)
    title = cause.title[:1].lower() + cause.title[1:] if cause.title[1:2].islower() else cause.title
    return f"{title} ({peer or UNKNOWN_PEER})"


def _paste_next(peer: PeerDiagnosis) -> str:
    if peer.ask:
        ask = peer.ask[0]
        return f'paste the output of "{ask.command}" {ask.where}'
    return "paste more of the log: a few minutes after the last line, with its IKE messages"


def headline(peer: PeerDiagnosis, platform: str | None = None) -> str:
    """The one sentence for one peer: confidence, cause, action, how many lines over how long.

    `platform` is accepted for symmetry with first_action; the words do not depend on it."""
    count = count_phrase(peer.groups)
    who = peer.peer or UNKNOWN_PEER
    top = peer.causes[0] if peer.causes else None
    if top is None or top.confidence not in LEAD:
        return f"Can't tell yet what is wrong with {who} ({count}): {_paste_next(peer)}"
    short = _short(top, peer.peer, peer.local)
    action = _fill(top.action, peer.peer, peer.local) if top.action else "see what to do first"
    if top.confidence == CONFIRMED:
        return f"Confirmed: {short} — {action} ({count})"
    return f"{LEAD[top.confidence]} {short}: {action} ({count})"


MAX_NAMED = 4  # addresses named in one phrase of the sentence for several peers


def _and(items: Sequence[str]) -> str:
    if len(items) > MAX_NAMED:
        return f"{', '.join(items[:MAX_NAMED])} and {len(items) - MAX_NAMED} more"
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _peer_phrases(peers: Sequence[PeerDiagnosis]) -> list[tuple[str, int]]:
    """(phrase, peers it covers), busiest first; peers with the same cause at the same
    confidence share one: "very likely SAs out of sync on 198.51.100.11 and 198.51.100.12"."""
    same: dict[tuple[str, str], list[PeerDiagnosis]] = {}
    for peer in peers:
        top = peer.causes[0] if peer.causes else None
        key = (top.confidence, top.id) if top and top.confidence in LEAD else ("", "")
        same.setdefault(key, []).append(peer)
    phrases = []
    for (confidence, _), them in same.items():
        who = _and([p.peer or UNKNOWN_PEER for p in them])
        if not confidence:
            phrases.append((f"can't tell yet for {who}", len(them)))
            continue
        lead = "confirmed" if confidence == CONFIRMED else LEAD[confidence].lower()
        top = them[0].causes[0]
        short = _short(top, "{peer}", None).replace("{peer}", who)
        phrases.append((f"{lead} {short}", len(them)))
    return phrases


def peers_headline(peers: Sequence[PeerDiagnosis], box_first: str | None = None) -> str:
    """The sentence for a paste with several peers, busiest first, at most MAX_PEERS_CHARS
    before "and N more"."""
    opening = f"{len(peers)} peers"
    if box_first:
        opening += " at once, look at this box first"
    said = f"{opening}: "
    parts: list[str] = []
    left = len(peers)
    for phrase, covers in _peer_phrases(peers):
        tail = f"; and {left - covers} more" if left > covers else ""
        if parts and len(said + "; ".join([*parts, phrase]) + tail) > MAX_PEERS_CHARS:
            return said + "; ".join(parts) + f"; and {left} more"
        parts.append(phrase)
        left -= covers
    return said + "; ".join(parts)


def no_invalid_spi(recognised: int) -> str:
    """The sentence for a paste without an invalid-SPI line."""
    seen = f" ({recognised} related line{'s' if recognised != 1 else ''} recognised)"
    return (
        f"No invalid-SPI line in this paste{seen if recognised else ''}: paste the log lines "
        "that say invalid SPI, with a few minutes around them"
    )


def paste_headline(diagnosis: Diagnosis) -> str:
    """The notification text of a reply to a whole paste."""
    peers = diagnosis.peers
    if not diagnosis.found or not peers:
        return no_invalid_spi(diagnosis.stats.events)
    if len(peers) == 1:
        return headline(peers[0])
    return peers_headline(peers, diagnosis.box_first)


# -- the one command to run first ------------------------------------------------------------
@dataclass(frozen=True)
class Action:
    """The one command to run first, filled in, and what must be read with it."""

    cause: str  # the article id it serves
    kind: str  # fix | verify | ask (paste its output to tell the causes apart)
    platform: str | None
    where: str  # local | peer | both | fmc | fdm
    where_text: str  # "on the peer 198.51.100.7, not on this box"
    command: str  # one runnable line; placeholders such as <phase1-name> are named
    placeholders: tuple[str, ...]
    why: tuple[str, ...]  # at most two short lines
    caveat: str | None  # the cause's key caveat for this platform

    def to_dict(self) -> dict:
        return {
            "cause": self.cause,
            "kind": self.kind,
            "platform": self.platform,
            "where": self.where,
            "where_text": self.where_text,
            "command": self.command,
            "placeholders": list(self.placeholders),
            "why": list(self.why),
            "caveat": self.caveat,
        }


def where_text(where: str, peer: str | None, local: str | None, platform: str | None = None) -> str:
    """Where to run it, said so that nobody runs it on the wrong box; a command for the peer
    says whose syntax it is written in (the peer's vendor is not in this box's log)."""
    said = _where(where, peer, local)
    if where in ("peer", "both") and platform in PLATFORM_NAMES:
        said += f" ({PLATFORM_NAMES[platform]} syntax; on another vendor, its own)"
    return said


def _where(where: str, peer: str | None, local: str | None) -> str:
    return {
        "peer": f"on the peer {peer}, not on this box" if peer else "on the peer, not on this box",
        "local": f"on this box ({local}), the one that logged the lines"
        if local
        else "on this box, the one that logged the lines",
        "both": f"on both ends ({local or 'this box'} and {peer or 'the peer'})",
        "fmc": "in FMC (Firepower Management Center), then deploy",
        "fdm": "in FDM (Firepower Device Manager), then deploy",
    }[where]


def _cut(text: str, limit: int = MAX_WHY_CHARS) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    for mark in (" (", "; ", ", "):
        end = text.rfind(mark, 0, limit)
        if end > limit // 2:
            return text[:end]
    return text[: limit - 1].rstrip() + "…"


def _evidence(cause: Cause) -> str | None:
    """The reason that earned the most points, without its points: what points here."""
    best, said = 0.0, None
    for reason in cause.reasons:
        match = _POINTS.match(reason)
        if match and float(match.group(1)) > best and "base rate" not in reason:
            best, said = float(match.group(1)), reason[match.end() :]
    return said


def _why(cause: Cause, note: str | None) -> tuple[str, ...]:
    lines = [_cut(note)] if note else []
    if cause.confidence == CONFIRMED:
        lines.append("the pasted device state proves it")
    else:
        evidence = _evidence(cause)
        if evidence:
            lines.append(_cut(f"seen: {evidence}"))
    return tuple(lines[:2])


def first_action(peer: PeerDiagnosis, platform: str | None = None) -> Action | None:
    """The one command to run now (`exec`) for a peer: until something points anywhere, the
    paste that would tell; otherwise the top cause's first fix to run now, else its first
    check. None when the platform has no such command."""
    platform = platform or peer.platform
    top = peer.causes[0] if peer.causes else None
    if top is None:
        return None
    if top.confidence not in LEAD and peer.ask:
        ask = peer.ask[0]
        where = "local" if ask.where.startswith("on this box") else "peer"
        return Action(
            cause=top.id,
            kind="ask",
            platform=platform,
            where=where,
            where_text=where_text(where, peer.peer, peer.local, platform),
            command=ask.command,
            placeholders=tuple(sorted(set(re.findall(r"<[a-z][a-z0-9-]*>", ask.command)))),
            why=(_cut(f"its output shows {ask.why}"),),
            caveat=None,
        )
    now = [c for c in top.commands if c["mode"] == "exec" and c["platform"] == platform]
    for kind in ("fix", "verify") if top.confidence in LEAD else ("verify", "fix"):
        chosen = next((c for c in now if c["kind"] == kind), None)
        if chosen is not None:
            return Action(
                cause=top.id,
                kind=kind,
                platform=platform,
                where=chosen["where"],
                where_text=where_text(chosen["where"], peer.peer, peer.local, platform),
                command=chosen["command"],
                placeholders=tuple(chosen["placeholders"]),
                why=_why(top, chosen["note"]),
                caveat=top.key_caveat,
            )
    return None
