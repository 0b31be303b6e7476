"""`bash scripts/test` installs only when it must, and always in CI: run in a copy of the
repository layout with stand-ins for python3, pip, ruff and pytest that log their calls."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

FAKE_PYTHON3 = """#!/bin/sh
echo "python3 $*" >> "$LOG"
if [ "$1" = "-c" ]; then exec {real} "$@"; fi
# python3 -m venv [--clear] .venv
if [ "$3" = "--clear" ]; then rm -rf .venv; fi
mkdir -p .venv/bin
for tool in python ruff; do
    printf '#!/bin/sh\\necho "venv-%s $*" >> "$LOG"\\n' "$tool" > ".venv/bin/$tool"
    chmod +x ".venv/bin/$tool"
done
"""


def run_script(repo: Path, log: Path, ci: str | None = None) -> list[str]:
    """One `bash scripts/test -q`; the calls it made."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}  # this suite may run in CI
    env.update(PATH=f"{repo / 'fakebin'}{os.pathsep}{env['PATH']}", LOG=str(log))
    env["SPIBOT_TEST_INSTALL_RSYSLOG"] = "0"  # a copy of the script must not install packages
    if ci is not None:
        env["CI"] = ci
    log.write_text("")
    done = subprocess.run(
        ["bash", str(repo / "scripts" / "test"), "-q"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return log.read_text().splitlines()


def installed(calls: list[str]) -> bool:
    return "venv-python -m pip install --quiet --disable-pip-version-check -e .[test]" in calls


def test_scripts_test_reinstalls_only_when_the_build_changes_and_always_in_ci(
    tmp_path: Path,
) -> None:
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "test", tmp_path / "scripts" / "test")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "spibot"\n')
    (tmp_path / "setup.py").write_text("from setuptools import setup\n")
    (tmp_path / "kb").mkdir()
    (tmp_path / "kb" / "_lines.c").write_text("/* the C part */\n")
    (tmp_path / "fakebin").mkdir()
    python3 = tmp_path / "fakebin" / "python3"
    python3.write_text(FAKE_PYTHON3.replace("{real}", sys.executable))
    python3.chmod(0o755)
    log = tmp_path / "calls.log"

    first = run_script(tmp_path, log)
    assert "python3 -m venv .venv" in first and installed(first)
    assert first[-4:-1] == [
        "venv-ruff check .",
        "venv-ruff format --check .",
        "venv-python -m pytest -q",
    ]
    # then the accuracy ratchet on the labelled cases (its threshold moves up over time)
    assert first[-1].startswith("venv-python -m bot eval tests/cases --min-top1 ")

    again = run_script(tmp_path, log)
    assert not installed(again) and not any("venv .venv" in c for c in again)
    assert again[-2] == "venv-python -m pytest -q"

    with (tmp_path / "pyproject.toml").open("a") as f:
        f.write('dependencies = ["click"]\n')
    assert installed(run_script(tmp_path, log))
    assert not installed(run_script(tmp_path, log))
    # A change to the C part is compiled again by a reinstall (the editable install keeps the
    # module it built).
    with (tmp_path / "kb" / "_lines.c").open("a") as f:
        f.write("/* changed */\n")
    assert installed(run_script(tmp_path, log))
    assert not installed(run_script(tmp_path, log))

    for ci in ("true", "1"):
        in_ci = run_script(tmp_path, log, ci=ci)
        assert "python3 -m venv --clear .venv" in in_ci and installed(in_ci)
    assert not installed(run_script(tmp_path, log, ci="false"))

    shutil.rmtree(tmp_path / ".venv")
    assert installed(run_script(tmp_path, log))
