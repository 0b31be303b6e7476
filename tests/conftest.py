from __future__ import annotations

import json
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def corpus() -> list[dict]:
    with (FIXTURES / "real-lines.jsonl").open() as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES
