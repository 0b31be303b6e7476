"""How sure a ranking is, and the one observation that would decide it when it is not.

The rule, in one place (its numbers in kb/model.yaml; docs/architecture.md repeats it):

    support  the points the top cause earned beyond its base rate (positive ones only)
    direct   the part of them from direct evidence: a message that names the mechanism (one
             side lost its IKE SA, a failover, a deny of IKE/ESP, replay or integrity errors, a
             policy mismatch, a notify, ...) or a past fix of this same peer. Signals of the
             kinds `symptom` and `context` (declared with `@emits`) are not direct: patterns
             of the invalid-SPI lines themselves (one line, repetition, several SPIs, many
             peers, a peer that keeps coming back) and context (NAT-T in use, a tunnel flap),
             which several causes share.
    margin   the top cause's score minus the second's

    can't tell yet   support is 0: nothing but base rates speaks for the top cause
    possible         margin < CLOSE_MARGIN: the paste cannot separate the top two; or all the
                     support is `context` (NAT-T in use, a flap: the cause could happen here,
                     nothing shows that it did)
    strong           margin >= STRONG_MARGIN and direct >= DIRECT_MIN
    likely           anything else: a clear margin, from symptoms or from little direct evidence

`confirmed` is reserved for proof from device state (a later issue); no rule gives it yet.
Each cause after the first is `possible` when within CLOSE_MARGIN of the top (or `can't tell
yet` when the top is), and `unlikely` below that.

When the top two are within CLOSE_MARGIN, `decide` gives the one observation that would
separate them, with the command filled in for the platform: a table keyed by the pair of cause
ids (kb/decide.yaml, data, not prose in code), and a generic fallback for any other pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from kb.article import ID_PATTERN
from kb.commands import PLATFORMS
from kb.model import MODEL, safe_loader
from kb.signals import of_kind

if TYPE_CHECKING:
    from kb.ranking import Cause

STRONG, LIKELY, POSSIBLE, CANT_TELL = "strong", "likely", "possible", "can't tell yet"
UNLIKELY = "unlikely"  # a cause below the top by CLOSE_MARGIN or more
CONFIRMED = "confirmed"  # reserved: device-state proof, a later issue
LEVELS = (CONFIRMED, STRONG, LIKELY, POSSIBLE, CANT_TELL)

CLOSE_MARGIN = MODEL["confidence"]["close_margin"]  # numbers and their meaning: kb/model.yaml
STRONG_MARGIN = MODEL["confidence"]["strong_margin"]
DIRECT_MIN = MODEL["confidence"]["direct_min"]

# Which signals are direct evidence, symptoms or context is declared with each signal, on the
# rule that emits it (kb/signals.py: emits).
DIRECT_HISTORY = frozenset({"history:peer-fix"})

DECIDE_FILE = Path(str(resources.files("kb") / "decide.yaml"))
PLATFORM_NAMES = {
    "ios": "IOS",
    "asa": "ASA",
    "ftd": "FTD",
    "pix": "PIX",
    "fortigate": "FortiGate",
    "panos": "PAN-OS",
    "screenos": "ScreenOS",
}


def is_direct(source: str) -> bool:
    """Whether points from this source (a signal name, or "history:<kind>") are direct."""
    if source.startswith("history:"):
        return source in DIRECT_HISTORY
    return source in of_kind("direct")


def level(top: Cause, second: Cause | None) -> str:
    """The confidence of the top cause, by the rule in the module docstring."""
    support = sum(p for _, p in top.points if p > 0)
    if support <= 0:
        return CANT_TELL
    margin = top.score - second.score if second is not None else float("inf")
    if margin < CLOSE_MARGIN:
        return POSSIBLE
    context = of_kind("context")
    if not any(p > 0 and source not in context for source, p in top.points):
        return POSSIBLE
    direct = sum(p for source, p in top.points if p > 0 and is_direct(source))
    if margin >= STRONG_MARGIN and direct >= DIRECT_MIN:
        return STRONG
    return LIKELY


def close(causes: Sequence[Cause]) -> bool:
    """Whether the paste cannot separate the top two causes."""
    return len(causes) > 1 and causes[0].score - causes[1].score < CLOSE_MARGIN


def assess(causes: Sequence[Cause]) -> None:
    """Set every ranked cause's confidence (best first)."""
    if not causes:
        return
    top = causes[0]
    top.confidence = level(top, causes[1] if len(causes) > 1 else None)
    near = CANT_TELL if top.confidence == CANT_TELL else POSSIBLE
    for cause in causes[1:]:
        cause.confidence = near if top.score - cause.score < CLOSE_MARGIN else UNLIKELY


# What would decide it ------------------------------------------------------------------------


@dataclass(frozen=True)
class Decider:
    causes: frozenset[str]
    observe: str
    where: str  # "peer" (run it on the peer) or "here" (on the box that logged the lines)
    run: dict[str, str]
    then: str
    instead: str

    def sentence(self, platform: str | None, peer: str | None, local: str | None, spi) -> str:
        fill = {
            "peer": peer or "the peer",
            "local": local or "this box's address",
            "spi": spi or "the SPI in the log",
        }
        observe = self.observe.format(**fill)
        command = self.run.get(platform or "")
        if command is None:
            known = PLATFORM_NAMES.get(platform or "", platform or "this platform")
            return f"{observe}: no command known for {known}; {self.instead.format(**fill)}"
        where = fill["peer"] if self.where == "peer" else "this box"
        then = f" {self.then.format(**fill)}" if self.then else ""
        return f"{observe}: on {where} run `{command.format(**fill)}`{then}"


class DecideError(ValueError):
    """kb/decide.yaml does not validate."""


def _decider(entry: object, where: str, pair: bool) -> Decider:
    if not isinstance(entry, dict):
        raise DecideError(f"{where}: must be a mapping")
    causes = entry.get("causes", []) if pair else []
    if pair and (
        not isinstance(causes, list)
        or len(causes) != 2
        or len(set(causes)) != 2
        or not all(isinstance(c, str) and ID_PATTERN.fullmatch(c) for c in causes)
    ):
        raise DecideError(f"{where}: 'causes' must be two different cause ids")
    for name in ("observe", "instead"):
        if not isinstance(entry.get(name), str) or not entry[name].strip():
            raise DecideError(f"{where}: '{name}' must be a sentence")
    if entry.get("where") not in ("peer", "here"):
        raise DecideError(f"{where}: 'where' must be 'peer' or 'here'")
    run = entry.get("run") or {}
    if not isinstance(run, dict) or set(run) - set(PLATFORMS):
        raise DecideError(f"{where}: 'run' must map platforms {PLATFORMS} to a command")
    if not all(isinstance(c, str) and c.strip() for c in run.values()):
        raise DecideError(f"{where}: every command in 'run' must be text")
    then = entry.get("then") or ""
    if not isinstance(then, str):
        raise DecideError(f"{where}: 'then' must be text")
    return Decider(
        frozenset(causes), entry["observe"], entry["where"], dict(run), then, entry["instead"]
    )


# libyaml's where there: the Python one took 0.07 s of every `diagnose` (tests/test_peers.py
# compares the two).
_LOADER = safe_loader()


def load_deciders(
    path: Path = DECIDE_FILE, loader: type = _LOADER
) -> tuple[dict[frozenset[str], Decider], Decider]:
    """The decide table (pair of cause ids -> Decider) and its fallback, validated."""
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    if not isinstance(data, dict) or not isinstance(data.get("pairs"), list):
        raise DecideError(f"{path}: must hold 'pairs' (a list) and 'fallback'")
    table: dict[frozenset[str], Decider] = {}
    for n, entry in enumerate(data["pairs"], 1):
        decider = _decider(entry, f"{path}: pair {n}", pair=True)
        if decider.causes in table:
            raise DecideError(f"{path}: pair {n}: {sorted(decider.causes)} is listed twice")
        table[decider.causes] = decider
    return table, _decider(data.get("fallback"), f"{path}: fallback", pair=False)


@cache
def _deciders() -> tuple[dict[frozenset[str], Decider], Decider]:
    return load_deciders()


def decide(
    causes: Sequence[Cause],
    platform: str | None,
    peer: str | None,
    local: str | None,
    spi: str | None,
) -> str | None:
    """The one observation that would separate the top two causes, or None when the margin
    already does."""
    if not close(causes):
        return None
    table, fallback = _deciders()
    decider = table.get(frozenset((causes[0].id, causes[1].id)), fallback)
    return decider.sentence(platform, peer, local, spi)
