"""The diagnosis model's numbers live in one validated file, and the code reads them there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from kb import confidence, evidence, ranking, weighing
from kb.model import MODEL, MODEL_FILE, SPEC, ModelError, load_model
from tests.conftest import spibot


def test_the_bundled_model_is_valid_and_is_what_the_code_uses() -> None:
    loaded = load_model()
    assert {s: set(e) for s, e in loaded.items()} == {s: set(e) for s, e in SPEC.items()}
    assert MODEL["evidence"]["repeat_min_count"] == evidence.REPEAT_MIN_COUNT
    assert MODEL["timing"]["silence_enough"] == weighing.SILENCE_ENOUGH
    assert MODEL["confidence"]["close_margin"] == confidence.CLOSE_MARGIN
    assert MODEL["history"]["peer_fix_first"] == ranking.PEER_FIX_FIRST


def _edited(tmp_path: Path, change) -> Path:
    raw = yaml.safe_load(MODEL_FILE.read_text())
    change(raw)
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda m: m["evidence"].pop("many_spis"), "missing ['many_spis']"),
        (lambda m: m["timing"].update(extra={"value": 1, "meaning": "x"}), "unknown ['extra']"),
        (lambda m: m["history"]["not_it"].update(value=float("nan")), "history.not_it"),
        (lambda m: m["history"]["not_it"].update(value=2.0), "outside -100..0"),
        (lambda m: m["confidence"]["close_margin"].update(value="1"), "not a finite number"),
        (lambda m: m["peers"]["box_first_peers"].update(meaning=""), "says nothing"),
        (lambda m: m.pop("peers"), "sections must be"),
        (lambda m: m["evidence"]["many_spis"].update(value=2.5), "not a whole number"),
        (
            lambda m: m["timing"]["silence_some"].update(value=500.0),
            "timing.silence_some must not exceed timing.silence_enough",
        ),
    ],
)
def test_a_broken_model_is_one_line_naming_the_entry(tmp_path: Path, change, said) -> None:
    with pytest.raises(ModelError) as raised:
        load_model(_edited(tmp_path, change))
    assert said in str(raised.value) and "\n" not in str(raised.value)


def test_spibot_kb_model_shows_every_number_with_its_meaning() -> None:
    shown = spibot("kb", "model")
    assert shown.returncode == 0, shown.stderr
    for entries in SPEC.values():
        for name in entries:
            assert name in shown.stdout
    as_json = json.loads(spibot("kb", "model", "--json").stdout)
    assert as_json["history"]["peer_fix_first"]["meaning"]


def test_a_signal_is_declared_once_with_its_kind_on_the_rule_that_emits_it() -> None:
    from kb.signals import Signal, declared, emits

    assert declared()["repeating_spi"][0] == "symptom"
    with pytest.raises(ValueError, match="kind"):
        emits(("a_new_signal", "evidence", "a kind that does not exist"))
    with pytest.raises(ValueError, match="declared twice"):
        emits(("repeating_spi", "direct", "the same name, another meaning"))
    with pytest.raises(ValueError, match="unknown signal"):
        Signal("never_declared", "nothing")


def test_a_broken_model_stops_spibot_with_one_line_not_a_traceback(monkeypatch, capsys) -> None:
    import sys

    from bot import entry

    def broken(name, *args, **kwargs):
        if name == "bot.cli":
            raise ModelError("model.yaml: confidence.direct_min: 'x' is not a finite number")
        return real_import(name, *args, **kwargs)

    real_import = __builtins__["__import__"] if isinstance(__builtins__, dict) else __import__
    monkeypatch.delitem(sys.modules, "bot.cli", raising=False)
    monkeypatch.setattr("builtins.__import__", broken)
    with pytest.raises(SystemExit) as stopped:
        entry.main()
    assert stopped.value.code == 2
    assert capsys.readouterr().err == (
        "error: model.yaml: confidence.direct_min: 'x' is not a finite number\n"
    )
