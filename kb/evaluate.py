"""Score the one pipeline against a folder of labelled cases (`spibot eval DIR`).

Every case is diagnosed by `kb.diagnose.diagnose`, as `spibot diagnose FILE --no-record`
would, in a new empty in-memory database seeded with the articles under test: cases never
share history, and the articles are read back from the database as every door reads them.

What is scored, per case: whether the top cause is one the label accepts (top-1), whether one
of them is in the first three (top-3), whether the busiest peer and its SPI are the label's
(null: must be reported unknown) and the platform. A multi-peer case (`peers` in its label)
is right only if every labelled peer is: each against its own ranking when the diagnosis
ranks peers one by one (`Diagnosis.peers`, or `"peers": [{"peer", "causes"}]` in its JSON),
else each against the paste's one ranking, and the report says which.

Device state (issue 11): a label's `confirmed` is right when the top cause is one it lists and
carries confidence "confirmed" (`[]`: right when no cause does); its `findings` are right when
the diagnosis holds a finding of every kind listed. Either wrong makes the case a miss; top-1
stays the ranking's score. Diagnoses from before the confirm engine have no `findings` and no
confirmed cause: they are read with getattr, and such cases are confirmation misses.

kb returns data; the doors render it (bot/evaluate.py).

A little over 300 lines: the report's tables (per cause, per platform, confusion, misses)
are small methods of one Report, kept together so their counting rules read side by side.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kb.article import Article, load_articles
from kb.diagnose import Diagnosis, diagnose
from kb.labels import Label, LabelError, case_chunks, case_path, load_labels
from kb.scan import InputError
from kb.state.findings import FINDING_KINDS
from kb.store import Store

TOP = 3  # "top-3": an accepted cause among the first this many
CONFIRMED = "confirmed"  # a cause's confidence when device state proves it (kb/state/confirm)
STORE = "a new empty in-memory database per case, seeded with the articles; nothing recorded"


@dataclass(frozen=True)
class Ranked:
    id: str
    score: float

    def to_dict(self) -> dict:
        return {"id": self.id, "score": round(self.score, 2)}


def _first_accepted(ranking: Sequence[Ranked], accepted: Iterable[str]) -> int | None:
    """The 1-based rank of the best-placed accepted cause, or None when none is ranked."""
    accepted = set(accepted)
    return next((n for n, r in enumerate(ranking, 1) if r.id in accepted), None)


@dataclass
class PeerResult:
    """One labelled peer of a multi-peer case, against the ranking it was scored on."""

    peer: str
    expected: tuple[str, ...]
    ranking: list[Ranked]
    ranked_alone: bool  # scored on per-peer rankings (else: the paste's one ranking)

    @property
    def expected_rank(self) -> int | None:
        return _first_accepted(self.ranking, self.expected)

    @property
    def top1_hit(self) -> bool:
        return self.expected_rank == 1

    @property
    def top3_hit(self) -> bool:
        return self.expected_rank is not None and self.expected_rank <= TOP

    def to_dict(self) -> dict:
        return {
            "peer": self.peer,
            "expected": list(self.expected),
            "top3": [r.to_dict() for r in self.ranking[:TOP]],
            "expected_rank": self.expected_rank,
            "top1_hit": self.top1_hit,
            "top3_hit": self.top3_hit,
            "ranked_alone": self.ranked_alone,
        }


@dataclass
class CaseResult:
    label: Label
    found: bool  # invalid-SPI lines were recognised (else nothing is ranked: a miss)
    ranking: list[Ranked]  # the paste's ranking, best first
    peer: str | None
    spi: str | None
    platform: str | None
    peers: list[PeerResult] = field(default_factory=list)  # multi-peer cases only
    per_peer: bool | None = None  # multi-peer: scored on per-peer rankings (None: single)
    confirmed: str | None = None  # the top cause when it carries confidence "confirmed"
    any_confirmed: bool = False  # some cause, top or not, carries "confirmed"
    findings: list[str] = field(default_factory=list)  # finding kinds held, in FINDING_KINDS order

    @property
    def top1(self) -> str | None:
        return self.ranking[0].id if self.ranking else None

    @property
    def expected_rank(self) -> int | None:
        return _first_accepted(self.ranking, self.label.top1)

    @property
    def top1_hit(self) -> bool:
        if self.peers:
            return all(p.top1_hit for p in self.peers)
        return self.expected_rank == 1

    @property
    def top3_hit(self) -> bool:
        if self.peers:
            return all(p.top3_hit for p in self.peers)
        return self.expected_rank is not None and self.expected_rank <= TOP

    @property
    def peer_right(self) -> bool:
        return self.peer == self.label.peer

    @property
    def spi_right(self) -> bool:
        return self.spi == self.label.spi

    @property
    def platform_right(self) -> bool:
        return self.platform == self.label.platform

    @property
    def confirmed_right(self) -> bool | None:
        """None: the label does not score confirmation."""
        expected = self.label.confirmed
        if expected is None:
            return None
        if not expected:
            return not self.any_confirmed
        return self.confirmed in expected

    @property
    def findings_right(self) -> bool | None:
        """None: the label lists no findings."""
        if not self.label.findings:
            return None
        return set(self.label.findings) <= set(self.findings)

    @property
    def state_miss(self) -> bool:
        """The confirmation or the findings from device state are not the label's."""
        return self.confirmed_right is False or self.findings_right is False

    def subjects(self) -> list[tuple[tuple[str, ...], list[Ranked]]]:
        """(accepted causes, ranking) per thing scored: the case, or each labelled peer."""
        if self.peers:
            return [(p.expected, p.ranking) for p in self.peers]
        return [(self.label.top1, self.ranking)]

    def to_dict(self) -> dict:
        label = self.label
        return {
            "case": label.case,
            "platform": label.platform,
            "expected": list(label.top1),
            "found": self.found,
            "top3": [r.to_dict() for r in self.ranking[:TOP]],
            "expected_rank": self.expected_rank,
            "top1_hit": self.top1_hit,
            "top3_hit": self.top3_hit,
            "peer": {"expected": label.peer, "got": self.peer, "right": self.peer_right},
            "spi": {"expected": label.spi, "got": self.spi, "right": self.spi_right},
            "platform_got": self.platform,
            "platform_right": self.platform_right,
            "peers": [p.to_dict() for p in self.peers] if self.peers else None,
            "scored_per_peer": self.per_peer,
            "confirmed": {
                "expected": None if label.confirmed is None else list(label.confirmed),
                "got": self.confirmed,
                "right": self.confirmed_right,
            },
            "findings": {
                "expected": list(label.findings),
                "got": list(self.findings),
                "right": self.findings_right,
            },
            "source": label.source,
        }


@dataclass
class Tally:
    n: int = 0
    top1: int = 0
    top3: int = 0

    def add(self, top1: bool, top3: bool) -> None:
        self.n += 1
        self.top1 += top1
        self.top3 += top3

    @staticmethod
    def pct(part: int, whole: int) -> float:
        return round(100.0 * part / whole, 1) if whole else 0.0

    def to_dict(self) -> dict:
        return {
            "n": self.n,
            "top1": self.top1,
            "top1_pct": self.pct(self.top1, self.n),
            "top3": self.top3,
            "top3_pct": self.pct(self.top3, self.n),
        }


@dataclass
class Report:
    directory: str
    causes: list[str]  # the article ids, in article order
    cases: list[CaseResult]

    def overall(self) -> Tally:
        tally = Tally()
        for case in self.cases:
            tally.add(case.top1_hit, case.top3_hit)
        return tally

    def peer_spi_right(self) -> int:
        return sum(c.peer_right and c.spi_right for c in self.cases)

    def platform_right(self) -> int:
        return sum(c.platform_right for c in self.cases)

    def confirmed_right(self) -> tuple[int, int]:
        """(cases labelled `confirmed`, of which right)."""
        scored = [c.confirmed_right for c in self.cases if c.confirmed_right is not None]
        return len(scored), sum(scored)

    def findings_right(self) -> tuple[int, int]:
        """(cases labelled `findings`, of which right)."""
        scored = [c.findings_right for c in self.cases if c.findings_right is not None]
        return len(scored), sum(scored)

    def multi_peer(self) -> tuple[int, int]:
        """(multi-peer cases, of which scored on per-peer rankings)."""
        multi = [c for c in self.cases if c.peers]
        return len(multi), sum(bool(c.per_peer) for c in multi)

    def per_cause(self) -> dict[str, Tally]:
        """Per accepted cause, over what was scored: a single-peer case, or each labelled peer
        of a multi-peer case. A subject accepting two causes counts under both."""
        tallies: dict[str, Tally] = {}
        for case in self.cases:
            for expected, ranking in case.subjects():
                rank = _first_accepted(ranking, expected)
                for cause in expected:
                    tally = tallies.setdefault(cause, Tally())
                    tally.add(rank == 1, rank is not None and rank <= TOP)
        order = {c: n for n, c in enumerate(self.causes)}
        return dict(sorted(tallies.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))

    def per_platform(self) -> dict[str, Tally]:
        """Per labelled platform, over cases."""
        tallies: dict[str, Tally] = {}
        for case in self.cases:
            tallies.setdefault(case.label.platform, Tally()).add(case.top1_hit, case.top3_hit)
        return dict(sorted(tallies.items()))

    def confusion(self) -> list[tuple[tuple[str, ...], str | None, int]]:
        """(accepted causes in article order, the top-1 cause given or None, how many), over
        the same subjects as per_cause; rows in article order, then most often first."""
        order = {c: n for n, c in enumerate(self.causes)}
        counts: Counter[tuple[tuple[str, ...], str | None]] = Counter()
        for case in self.cases:
            for expected, ranking in case.subjects():
                accepted = tuple(sorted(expected, key=lambda c: (order.get(c, len(order)), c)))
                counts[(accepted, ranking[0].id if ranking else None)] += 1

        def key(item):
            (expected, got), count = item
            return ([order.get(c, len(order)) for c in expected], expected, -count, got or "")

        return [
            (expected, got, count) for (expected, got), count in sorted(counts.items(), key=key)
        ]

    def misses(self) -> list[CaseResult]:
        """Cases whose top cause (for a multi-peer case: any labelled peer's) is not accepted,
        or whose confirmation or findings from device state are not the label's."""
        return [c for c in self.cases if not c.top1_hit or c.state_miss]

    def wrong_fields(self) -> list[CaseResult]:
        """Cases with the busiest peer, its SPI or the platform not the label's."""
        return [c for c in self.cases if not (c.peer_right and c.spi_right and c.platform_right)]

    def meets(self, min_top1_percent: float) -> bool:
        overall = self.overall()
        return overall.top1 * 100 >= min_top1_percent * overall.n

    def to_dict(self) -> dict:
        overall = self.overall()
        multi, per_peer = self.multi_peer()
        confirmed, findings = self.confirmed_right(), self.findings_right()
        return {
            "directory": self.directory,
            "store": STORE,
            "totals": {
                **overall.to_dict(),
                "peer_spi": self.peer_spi_right(),
                "peer_spi_pct": Tally.pct(self.peer_spi_right(), overall.n),
                "platform": self.platform_right(),
                "platform_pct": Tally.pct(self.platform_right(), overall.n),
                "multi_peer": multi,
                "multi_peer_scored_per_peer": per_peer,
                "confirmed": _share(*confirmed),
                "findings": _share(*findings),
            },
            "per_cause": {c: t.to_dict() for c, t in self.per_cause().items()},
            "per_platform": {p: t.to_dict() for p, t in self.per_platform().items()},
            "confusion": [
                {"expected": list(e), "top1": got, "count": n} for e, got, n in self.confusion()
            ],
            "cases": [c.to_dict() for c in self.cases],
            "misses": [c.to_dict() for c in self.misses()],
        }


def _share(n: int, right: int) -> dict:
    return {"n": n, "right": right, "pct": Tally.pct(right, n)}


def evaluate(directory: Path | str, articles: Sequence[Article] | None = None) -> Report:
    """Load and check DIR/labels.json against the articles' ids (LabelError listing every
    problem), then diagnose and score every case. `articles`: the bundled ones by default."""
    articles = list(articles) if articles is not None else load_articles()
    labels = load_labels(directory, [a.id for a in articles])
    results = [evaluate_case(case_path(directory, lb.case), lb, articles) for lb in labels]
    return Report(str(directory), [a.id for a in articles], results)


def evaluate_case(path: Path, label: Label, articles: Sequence[Article]) -> CaseResult:
    """One case through the pipeline, in its own new database."""
    store = Store(":memory:", seed=False)
    try:
        store.sync_articles(articles)
        diagnosis = diagnose(case_chunks(path), store, record=False, top=len(articles))
    except InputError as exc:
        raise LabelError([f"{label.case}: {exc}"]) from exc
    finally:
        store.close()
    return score(label, diagnosis)


def score(label: Label, diagnosis: Diagnosis) -> CaseResult:
    """A diagnosis against its label."""
    found = bool(diagnosis.groups)
    ranking = [Ranked(c.id, c.score) for c in diagnosis.causes] if found else []
    spi = next((g.spi for g in diagnosis.groups if g.peer == diagnosis.peer), None)
    result = CaseResult(label, found, ranking, diagnosis.peer, spi, diagnosis.platform)
    _score_state(result, diagnosis)
    if label.peers:
        alone = peer_rankings(diagnosis) if found else None
        result.per_peer = alone is not None
        for peer, expected in label.peers.items():
            if alone is None:  # no per-peer rankings: the paste's one ranking
                result.peers.append(PeerResult(peer, expected, ranking, False))
            else:  # a peer the diagnosis did not rank on its own is a miss
                result.peers.append(PeerResult(peer, expected, alone.get(peer, []), True))
    return result


def _score_state(result: CaseResult, diagnosis: Diagnosis) -> None:
    """What the diagnosis confirmed from device state, read defensively: a diagnosis from
    before the confirm engine has no findings and no confirmed cause."""
    causes = list(diagnosis.causes) if result.found else []
    confirmed = [getattr(c, "confidence", "") == CONFIRMED for c in causes]
    result.confirmed = causes[0].id if confirmed and confirmed[0] else None
    result.any_confirmed = any(confirmed)
    kinds = {_field(f, "kind") for f in getattr(diagnosis, "findings", None) or ()}
    result.findings = [k for k in FINDING_KINDS if k in kinds]


def peer_rankings(diagnosis: Diagnosis) -> dict[str, list[Ranked]] | None:
    """Each peer's own ranking when the diagnosis has them (`diagnosis.peers`, or `"peers":
    [{"peer", "causes": [{"id", "score"}]}]` in its JSON), else None."""
    found = _rankings(getattr(diagnosis, "peers", None))
    return found if found is not None else _rankings(diagnosis.to_dict().get("peers"))


def _rankings(entries: object) -> dict[str, list[Ranked]] | None:
    if not isinstance(entries, list | tuple) or not entries:
        return None
    out: dict[str, list[Ranked]] = {}
    for entry in entries:
        peer, causes = _field(entry, "peer"), _field(entry, "causes")
        if not isinstance(peer, str) or not isinstance(causes, list | tuple):
            return None
        ranking = [Ranked(_field(c, "id"), _field(c, "score")) for c in causes]
        if not all(isinstance(r.id, str) and isinstance(r.score, int | float) for r in ranking):
            return None
        out[peer] = ranking
    return out


def _field(item: object, name: str) -> object:
    return item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)
