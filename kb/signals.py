"""The evidence signals a paste or its history can show; articles weigh them by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

Rule = TypeVar("Rule", bound=Callable)

KINDS = ("direct", "symptom", "context")
# name -> (kind, what it means), filled by the rules that emit them (@emits).
_DECLARED: dict[str, tuple[str, str]] = {}


def emits(*declared: tuple[str, str, str]) -> Callable[[Rule], Rule]:
    """Declare, on the rule that makes them, the signals it emits: (name, kind, meaning).

    kind is "direct" (a message naming a mechanism), "symptom" (what any cause looks like:
    repetition, a single line, many peers) or "context" (NAT-T in use, a flap); the
    confidence rule reads it. Adding a signal touches its rule and the articles that weigh it.
    """
    for name, kind, meaning in declared:  # all checked before any is added
        if kind not in KINDS:
            raise ValueError(f"signal {name}: kind {kind!r} is not one of {KINDS}")
        if _DECLARED.get(name, (kind, meaning)) != (kind, meaning):
            raise ValueError(f"signal {name} is declared twice, differently")
    _DECLARED.update((name, (kind, meaning)) for name, kind, meaning in declared)
    return lambda rule: rule


def declared() -> dict[str, tuple[str, str]]:
    """Every signal: name -> (kind, meaning)."""
    # The rules declare their signals when their modules load; load them before answering.
    import kb.evidence
    import kb.recall  # noqa: F401

    return _DECLARED


def signals() -> dict[str, str]:
    """Every signal's name and what it means, for articles to weigh and people to read."""
    return {name: meaning for name, (_, meaning) in declared().items()}


def of_kind(*kinds: str) -> frozenset[str]:
    return frozenset(n for n, (kind, _) in declared().items() if kind in kinds)


@dataclass(frozen=True)
class Signal:
    """One observation, phrased for the engineer, with the peer it concerns."""

    name: str
    detail: str
    peer: str | None = None
    strength: float = 1.0

    def __post_init__(self) -> None:
        if self.name not in _DECLARED and self.name not in declared():
            raise ValueError(f"unknown signal {self.name!r}")
