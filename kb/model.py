"""The diagnosis model's numbers, from kb/model.yaml, validated once on import.

Each module that judges evidence takes its numbers from here (`MODEL["evidence"][...]`), so a
team tunes the model in one file, sees it with `spibot kb model`, and measures an edit with
`spibot eval`. A missing, unknown or malformed entry is a ModelError naming it.
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path

from kb.errors import ModelError

MODEL_FILE = Path(str(resources.files("kb") / "model.yaml"))
# section -> entries, each with the range it must fall in.
SPEC: dict[str, dict[str, tuple[float, float]]] = {
    "evidence": {
        "repeat_min_count": (2, 100),
        "repeat_min_span": (0, 86400),
        "long_outage": (0, 86400),
        "failover_window": (0, 86400),
        "many_spis": (2, 1000),
        "many_peers_one_spi": (2, 1000),
        "many_peers": (2, 10000),
        "reload_window": (0, 86400),
        "pfkey_rekey_window": (0, 3600),
        "many_drops": (1, 10**9),
    },
    "timing": {
        "silence_some": (0, 86400),
        "silence_enough": (0, 86400),
        "single_unseen": (0, 1),
        "single_some": (0, 1),
        "single_after_clear": (0, 1),
        "at_once_seconds": (0, 3600),
        "spis_at_once": (0, 1),
        "spis_untimed": (0, 1),
        "explained_by_cause": (0, 1),
    },
    "confidence": {
        "close_margin": (0, 100),
        "strong_margin": (0, 100),
        "direct_min": (0, 100),
    },
    "peers": {"box_first_peers": (2, 1000), "box_first_window": (0, 86400)},
    "history": {
        "peer_fix_first": (0, 100),
        "peer_fix_more": (0, 100),
        "peer_fix_cap": (0, 100),
        "not_it": (-100, 0),
        "not_it_cap": (-100, 0),
        "related_fix": (0, 100),
        "similar_device_fix": (0, 100),
        "similar_evidence_fix": (0, 100),
        "similar_evidence_cap": (0, 100),
        "note_mention": (0, 100),
        "note_match_cutoff": (0, 100),
        "recurring_count": (2, 1000),
        "recurring_days": (1, 3650),
        "similar_evidence_cutoff": (0, 1),
        "similar_evidence_min_shared": (1, 100),
        "similar_device_cutoff": (0, 100),
    },
    "state": {
        "rekey_seconds": (0, 86400),
        "repeats": (1, 1000),
        "repeat_seconds": (0, 86400),
        "supports": (0, 100),
        "contradicts": (-100, 0),
    },
}


# Entries that count things (lines, peers, SPIs, days): whole numbers only.
COUNTS = frozenset(
    {
        "repeat_min_count",
        "many_spis",
        "many_peers_one_spi",
        "many_peers",
        "many_drops",
        "box_first_peers",
        "recurring_count",
        "recurring_days",
        "similar_evidence_min_shared",
        "repeats",
    }
)
# (smaller, larger) pairs in one section that must stay in that order.
ORDERED = (
    ("timing", "silence_some", "silence_enough"),
    ("timing", "single_unseen", "single_some"),
    ("history", "not_it_cap", "not_it"),
    ("history", "peer_fix_first", "peer_fix_cap"),
    ("history", "similar_evidence_fix", "similar_evidence_cap"),
    ("confidence", "close_margin", "strong_margin"),
)


def safe_loader() -> type:
    """PyYAML's safe loader: libyaml's where PyYAML has it (its wheels do), which reads the same
    documents in a tenth of the time of the Python one."""
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_model(path: Path = MODEL_FILE) -> dict[str, dict[str, dict]]:
    """{section: {name: {"value", "meaning"}}}, checked against SPEC."""
    import yaml  # here: a command that never reads the model does not load PyYAML

    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=safe_loader())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ModelError(f"{path.name}: cannot read it: {exc}") from exc
    if not isinstance(raw, dict) or set(raw) != set(SPEC):
        found = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
        raise ModelError(f"{path.name}: sections must be {sorted(SPEC)}, not {found}")
    model: dict[str, dict[str, dict]] = {}
    for section, entries in SPEC.items():
        given = raw[section]
        if not isinstance(given, dict) or set(given) != set(entries):
            missing = sorted(set(entries) - set(given or {}))
            extra = sorted(set(given or {}) - set(entries))
            raise ModelError(f"{path.name}: {section}: missing {missing}, unknown {extra}")
        model[section] = {
            name: _entry(path, section, name, given[name], entries[name]) for name in entries
        }
    for section, smaller, larger in ORDERED:
        if model[section][smaller]["value"] > model[section][larger]["value"]:
            raise ModelError(f"{path.name}: {section}.{smaller} must not exceed {section}.{larger}")
    return model


def _entry(path: Path, section: str, name: str, entry: object, bounds) -> dict:
    where = f"{path.name}: {section}.{name}"
    if not isinstance(entry, dict) or set(entry) != {"value", "meaning"}:
        raise ModelError(f'{where}: must be {{value: N, meaning: "..."}}')
    value, meaning = entry["value"], entry["meaning"]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ModelError(f"{where}: {value!r} is not a finite number")
    if name in COUNTS and value != int(value):
        raise ModelError(f"{where}: {value} is not a whole number")
    low, high = bounds
    if not low <= value <= high:
        raise ModelError(f"{where}: {value} is outside {low}..{high}")
    if not isinstance(meaning, str) or not meaning.strip():
        raise ModelError(f"{where}: says nothing of what it means")
    return {"value": value, "meaning": meaning}


def values(model: dict[str, dict[str, dict]]) -> dict[str, dict[str, float]]:
    return {s: {n: e["value"] for n, e in entries.items()} for s, entries in model.items()}


def __getattr__(name: str):
    # MODEL is read on first use, not on import, so that a door can import ModelError first and
    # turn a broken kb/model.yaml into one line instead of a traceback (bot/entry.py).
    if name == "MODEL":
        globals()["MODEL"] = values(load_model())
        return globals()["MODEL"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
