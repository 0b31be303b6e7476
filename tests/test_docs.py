"""Docs are asserted, not trusted: every command is in the README, CI runs its test command."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import click

from bot.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def commands(group: click.Group, prefix: str = "spibot") -> list[str]:
    found = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found.extend(commands(command, f"{prefix} {name}"))
        else:
            found.append(f"{prefix} {name}")
    return found


def test_readme_mentions_every_command() -> None:
    names = commands(main)
    assert names, "the CLI has no commands"
    missing = [name for name in names if f"`{name}" not in README]
    assert missing == []


def test_readme_opens_with_the_two_setup_commands() -> None:
    blocks = re.findall(r"^    (\S.*)$", README, re.M)
    assert "spibot" in blocks[0] and "pip install" in blocks[0]
    assert blocks[1] == "bash scripts/test"


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/test" in ci


def test_readme_inner_loop_runs_a_registered_marker() -> None:
    blocks = re.findall(r"^    (\S.*)$", README, re.M)
    [inner] = [b for b in blocks if "pytest -m" in b]
    assert inner == '.venv/bin/python -m pytest -m "not slow"'
    pytest_options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
    markers = pytest_options["ini_options"]["markers"]
    assert [m for m in markers if m.startswith("slow:")]  # else -m "not slow" deselects nothing
    assert "--strict-markers" in pytest_options["ini_options"]["addopts"]


def test_main_command_example_is_shipped() -> None:
    first = re.findall(r"^    (\S.*)$", README, re.M)[0]
    example = first.split()[-1]
    assert (ROOT / example).is_file()


def settings_read_by_the_code() -> set[str]:
    names = set()
    for path in [*ROOT.glob("kb/**/*.py"), *ROOT.glob("bot/**/*.py")]:
        source = path.read_text()
        names |= set(re.findall(r"environ(?:\.get)?\(\s*\"([A-Z_]+)\"", source))
        names |= set(re.findall(r"environ\[\"([A-Z_]+)\"\]", source))
        names |= set(re.findall(r"envvar=\"([A-Z_]+)\"", source))
    return {n for n in names if n.startswith(("SPIBOT_", "SLACK_")) or n == "PORT"}


def test_env_example_lists_every_setting() -> None:
    example = (ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^([A-Z_]+)=", example, re.M))
    used = settings_read_by_the_code()
    assert "SPIBOT_DB" in used
    assert used - listed == set()


def test_readme_mentions_every_setting() -> None:
    missing = [name for name in settings_read_by_the_code() if name not in README]
    assert missing == []


def test_kb_never_imports_bot_or_slack() -> None:
    # The brain knows nothing of its doors: DESIGN.md's first rule.
    offenders = []
    for path in sorted((ROOT / "kb").rglob("*.py")):
        for line in path.read_text().splitlines():
            if re.match(r"\s*(from|import)\s+(bot|slack_bolt|slack_sdk)\b", line):
                offenders.append(f"{path.name}: {line.strip()}")
    assert offenders == []
