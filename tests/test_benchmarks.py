"""Every benchmark of benchmarks/ still runs: each, at its smallest, exits 0 and prints its table.

The README gives the command that reproduces each figure; a benchmark broken by a change
elsewhere (as benchmarks/ingest.py's stages once were, by two signatures that changed in
bot/feed) would make those figures impossible to check again. These run them tiny: they time
nothing and assert no speed (speed is measured by the benchmarks themselves, not by tests).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

RUNS = {
    "parse_throughput": (["--lines", "3000", "--repeat", "1", "--one-core"], "inner scan"),
    "ingest": (["--phases", "stages", "--stage-seconds", "0.05"], "| stage | CPU s |"),
    "regex_scaling": (["--largest", "4096", "--family", "decaps"], "decaps"),
    "state_parse": (["--peers", "3", "--log-lines", "20", "--runs", "1"], "read_state"),
    "diagnose_latency": (["--incidents", "200", "--peers", "20", "--runs", "2"], "diagnose"),
    "slack_http_load": (["--seconds", "0.05", "--concurrency", "1"], "duplicate replies: 0"),
}


@pytest.mark.slow  # each starts Python and builds its data
@pytest.mark.parametrize("name", sorted(RUNS))
def test_each_benchmark_runs_at_its_smallest(name: str, tmp_path) -> None:
    args, printed = RUNS[name]
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert printed in done.stdout, done.stdout[-2000:]


@pytest.mark.slow
def test_the_engine_comparison_runs_on_a_small_file(tmp_path) -> None:
    log = tmp_path / "small.log"
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from parse_throughput import build
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    build(log, 2000, "mixed")
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "engines.py"), str(log), "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "kb/_lines.c" in done.stdout or "re, narrower rules" in done.stdout
    assert "msgspec encode(event)" in done.stdout
