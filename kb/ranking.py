"""Score every cause article against a paste's signals and its peers' history.

Pure and explainable: the same inputs give the same order, and every point of every score
comes with the sentence that earned it.

    score = article prior (how common the cause is)
          + for each signal the article weighs: weight x the signal's strength   (once per
            signal name, however many peers show it)
          + history: +4 for the first past fix on the same peer, +1 per further fix (cap +6),
                     -2 per "not it" on the same peer (cap -4),
                     +1.5 per fix on an incident with the same local address, SPI or device,
                     +1 per fix on a similarly named device, +0.5 per fix on an incident
                     with similar evidence (cap +1.5), +1 when a note on the peer names the cause

`rank` is given one peer's signals and history (kb/diagnose.py ranks each peer on its own;
kb/weighing.py sets how much each signal counts), and each cause's confidence comes from
kb/confidence.py once all are ranked.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process, utils

from kb.article import Article
from kb.confidence import assess
from kb.incidents import Incident
from kb.model import MODEL
from kb.signals import Signal

_H = MODEL["history"]  # the numbers and what they mean: kb/model.yaml
PEER_FIX_FIRST, PEER_FIX_MORE = _H["peer_fix_first"], _H["peer_fix_more"]
PEER_FIX_CAP = _H["peer_fix_cap"]
NOT_IT, NOT_IT_CAP = _H["not_it"], _H["not_it_cap"]
RELATED_FIX = _H["related_fix"]
SIMILAR_DEVICE_FIX = _H["similar_device_fix"]
SIMILAR_EVIDENCE_FIX = _H["similar_evidence_fix"]
SIMILAR_EVIDENCE_CAP = _H["similar_evidence_cap"]
NOTE_MENTION = _H["note_mention"]
NOTE_MATCH_CUTOFF = _H["note_match_cutoff"]


@dataclass
class Cause:
    id: str
    title: str
    summary: str
    score: float
    reasons: list[str]
    verify: list[str] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    # verify and fix as data: where, mode, path, command, placeholders... (kb/commands.py)
    commands: list[dict] = field(default_factory=list)
    # verify and fixes again, in runs by where they run: [(place in words, lines)]
    verify_where: list[tuple[str, list[str]]] = field(default_factory=list)
    fixes_where: list[tuple[str, list[str]]] = field(default_factory=list)
    # What earned each point beyond the base rate: (signal name, or "history:<kind>", points).
    # kb/confidence.py reads it to tell direct evidence from symptoms.
    points: list[tuple[str, float]] = field(default_factory=list)
    confidence: str = ""  # set by kb.confidence.assess once every cause is ranked
    # The lines of pasted device state that prove it (kb/state/confirm.py), when confirmed.
    proof: list[str] = field(default_factory=list)
    # The article's words for the answer (kb/answer.py fills in {peer} and {local}); the key
    # caveat is the platform's, and also first in `caveats`.
    short: str = ""
    action: str = ""
    key_caveat: str | None = None

    @property
    def has_evidence(self) -> bool:
        """Whether anything beyond the base rate speaks for this cause (a reason against it
        points elsewhere)."""
        return any(p > 0 for _, p in self.points)

    def worth_detailing(self, rank: int, detailed: int = 3) -> bool:
        """Commands for the top cause, and for the next ones only if evidence points there:
        a page of commands for a cause nothing suggests is noise."""
        return rank == 1 or (rank <= detailed and self.has_evidence)

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "score": round(self.score, 2),
            "confidence": self.confidence,
            "reasons": self.reasons,
            "summary": self.summary,
            "verify": self.verify,
            "fixes": self.fixes,
            "caveats": self.caveats,
            "sources": self.sources,
            "commands": self.commands,
            "proof": self.proof,
        }


@dataclass
class History:
    """What the knowledge base remembers that bears on this paste."""

    same_peer: list[Incident] = field(default_factory=list)
    related: list[tuple[Incident, str]] = field(default_factory=list)  # (incident, shared what)
    similar_device: list[tuple[Incident, str]] = field(default_factory=list)
    similar_evidence: list[tuple[Incident, float]] = field(default_factory=list)


def _fmt(points: float) -> str:
    return f"{points:+.1f}"


def _note_excerpt(incident: Incident) -> str:
    if not incident.notes:
        return ""
    note = incident.notes[-1]
    who, when = note.author or "someone", (note.created_at or "")[:10]
    return f': note by {who}, {when}: "{note.text[:120]}{"…" if len(note.text) > 120 else ""}"'


def _history_points(article: Article, history: History) -> list[tuple[str, float, str]]:
    """(kind, points, why) for every point history gives this article."""
    return [
        *(("history:peer-fix", p, why) for p, why in _peer_fix_points(article, history)),
        *(("history:not-it", p, why) for p, why in _not_it_points(article, history)),
        *(("history:related", p, why) for p, why in _related_fix_points(article, history)),
        *(("history:note", p, why) for p, why in _note_points(article, history)),
    ]


def _peer_fix_points(article: Article, history: History) -> list[tuple[float, str]]:
    points: list[tuple[float, str]] = []
    fixes = [i for i in history.same_peer if i.fixed_by == article.id]
    total = 0.0
    for n, incident in enumerate(sorted(fixes, key=lambda i: i.id)):
        step = PEER_FIX_FIRST if n == 0 else PEER_FIX_MORE
        step = min(step, PEER_FIX_CAP - total)
        if step <= 0:
            break
        total += step
        points.append(
            (
                step,
                f"fixed incident #{incident.id} for this peer {incident.peer} "
                f"({(incident.resolved_at or incident.updated_at)[:10]}){_note_excerpt(incident)}",
            )
        )
    return points


def _not_it_points(article: Article, history: History) -> list[tuple[float, str]]:
    points: list[tuple[float, str]] = []
    denied = 0.0
    for incident in history.same_peer:
        for _ in range(incident.not_it.count(article.id)):
            step = max(NOT_IT, NOT_IT_CAP - denied)
            if step >= 0:
                break
            denied += step
            points.append((step, f"marked 'not it' on incident #{incident.id} for {incident.peer}"))
    return points


def _related_fix_points(article: Article, history: History) -> list[tuple[float, str]]:
    """Fixes of other peers' incidents that share something with this paste."""
    points: list[tuple[float, str]] = []
    for incident, shared in history.related:
        if incident.fixed_by == article.id:
            points.append(
                (
                    RELATED_FIX,
                    f"fixed incident #{incident.id} ({incident.peer}) with the same {shared}",
                )
            )
    for incident, device in history.similar_device:
        if incident.fixed_by == article.id:
            points.append(
                (
                    SIMILAR_DEVICE_FIX,
                    f"fixed incident #{incident.id} on {incident.device}, "
                    f"a device named like {device}",
                )
            )
    similar = 0.0
    for incident, overlap in history.similar_evidence:
        if incident.fixed_by == article.id and similar < SIMILAR_EVIDENCE_CAP:
            similar += SIMILAR_EVIDENCE_FIX
            points.append(
                (
                    SIMILAR_EVIDENCE_FIX,
                    f"fixed incident #{incident.id} ({incident.peer}) whose evidence was "
                    f"{overlap:.0%} the same",
                )
            )
    return points


def _note_points(article: Article, history: History) -> list[tuple[float, str]]:
    """The first note on this peer's incidents that names the article (once at most)."""
    names = [article.title, *article.aliases]
    for incident in history.same_peer:
        for note in incident.notes:
            match = process.extractOne(
                note.text,
                names,
                scorer=fuzz.token_set_ratio,
                processor=utils.default_process,
                score_cutoff=NOTE_MATCH_CUTOFF,
            )
            if match is not None:
                said = f'a note on incident #{incident.id} says "{note.text[:80]}"'
                return [(NOTE_MENTION, f"{said} (matches '{match[0]}')")]
    return []


def rank(
    articles: Sequence[Article],
    signals: Sequence[Signal],
    history: History | None = None,
    *,
    platform: str | None = None,
    peer: str | None = None,
    local: str | None = None,
) -> list[Cause]:
    """Every article as a cause, best first, each score with its reasons."""
    history = history or History()
    by_name: dict[str, list[Signal]] = defaultdict(list)
    for signal in signals:
        by_name[signal.name].append(signal)
    causes = []
    for article in articles:
        score = article.prior
        reasons: list[str] = [f"{_fmt(article.prior)} base rate of this cause"]
        earned: list[tuple[str, float]] = []
        for name, weight in article.evidence.items():
            found = by_name.get(name)
            if not found:
                continue
            # A signal counts once however many peers show it: five single lines from five
            # peers are not five times the evidence for a rekey race.
            strongest = max(found, key=lambda s: s.strength)
            points = weight * strongest.strength
            score += points
            if points:  # a signal of strength 0 is still said, with why it proves nothing
                earned.append((name, points))
            against = "against: " if points < 0 else ""
            more = f" (and {len(found) - 1} more like it)" if len(found) > 1 else ""
            reasons.append(f"{_fmt(points)} {against}{strongest.detail}{more}")
        for kind, points, why in _history_points(article, history):
            score += points
            earned.append((kind, points))
            reasons.append(f"{_fmt(points)} history: {why}")
        if len(reasons) == 1:
            reasons[0] += ": nothing in the paste or its history points here"
        causes.append(
            Cause(
                id=article.id,
                title=article.title,
                summary=article.summary,
                score=round(score, 6),
                reasons=reasons,
                verify=article.commands("verify", platform, peer, local),
                fixes=article.commands("fix", platform, peer, local),
                commands=article.command_items(platform, peer, local),
                verify_where=article.commands_by_where("verify", platform, peer, local),
                fixes_where=article.commands_by_where("fix", platform, peer, local),
                caveats=article.caveats_for(platform),
                sources=list(article.sources),
                points=earned,
                short=article.short,
                action=article.action,
                key_caveat=article.key_caveat_for(platform),
            )
        )
    prior = {a.id: a.prior for a in articles}
    causes.sort(key=lambda c: (-c.score, -prior[c.id], c.id))
    assess(causes)
    return causes
