"""Every real line of the shared corpus gives exactly the expected fields."""

from __future__ import annotations

import pytest

from kb.scan import parse_text
from tests.conftest import corpus

CASES = corpus()


@pytest.mark.parametrize("case", CASES, ids=[c["line"][:60] for c in CASES])
def test_corpus_line(case: dict) -> None:
    events = parse_text(case["line"])
    expect = case["expect"]
    if expect["kind"] is None:
        assert events == []
        return
    assert len(events) == 1
    got = events[0].to_dict()
    assert {key: got[key] for key in expect} == expect
    assert got["line"] == 1


def test_corpus_has_both_kinds_of_case() -> None:
    # Guards the parametrisation above: an empty or truncated fixture would pass silently.
    assert sum(c["expect"]["kind"] is None for c in CASES) >= 2
    assert len(CASES) >= 19
