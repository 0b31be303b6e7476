"""The brain's boundaries: kb receives its settings as arguments from the doors."""

from __future__ import annotations

import re

from tests.conftest import ROOT

READS_ENVIRONMENT = re.compile(r"\b(environ|getenv|environb|putenv|load_dotenv)\b")


def test_kb_reads_no_environment() -> None:
    # SPIBOT_DB, SPIBOT_BUSY_TIMEOUT_MS and the rest are read by bot/ and passed in.
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / "kb").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if READS_ENVIRONMENT.search(line)
    ]
    assert offenders == []
