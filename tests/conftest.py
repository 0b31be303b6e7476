from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parents[1]
# The example pastes ship with the package (the README's first command reads one); one copy.
PASTES = ROOT / "kb" / "examples"
SPIBOT = [sys.executable, "-m", "bot"]
# The developer's own Slack and spibot settings must not leak into a test's process.
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SPIBOT_", "PORT"))}


def spibot(
    *args: str,
    stdin: str | bytes | None = None,
    env: dict | None = None,
    cwd: Path | None = None,
    text: bool = True,
    timeout: float = 120,
) -> subprocess.CompletedProcess:
    """`spibot ARGS` as a user runs it: its own process, a clean environment plus `env`."""
    return subprocess.run(
        [*SPIBOT, *args],
        input=stdin,
        capture_output=True,
        text=text,
        timeout=timeout,
        cwd=cwd,
        env={**CLEAN_ENV, "PYTHONPATH": str(ROOT), **(env or {})},
    )


def corpus() -> list[dict]:
    with (FIXTURES / "real-lines.jsonl").open() as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES
