"""Docs are asserted, not trusted: every command is in the README, CI runs its test command."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import click
import pytest

from bot import settings
from bot.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def commands(group: click.Group, prefix: str = "spibot") -> list[str]:
    found = []
    context = click.Context(group)  # listed as --help lists them: some are imported when named
    for name in group.list_commands(context):
        command = group.get_command(context, name)
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


def _environment_reads(tree: ast.AST) -> list[int]:
    """Line numbers where a module reads the environment (writing it is allowed)."""
    found = []
    stores = {
        id(t.value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Assign)
        for t in n.targets
        if isinstance(t, ast.Subscript)
    }
    for node in ast.walk(tree):
        reads = isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv")
        if reads and id(node) not in stores:
            found.append(node.lineno)
        if isinstance(node, ast.keyword) and node.arg in ("envvar", "auto_envvar_prefix"):
            found.append(node.value.lineno)
        if isinstance(node, ast.Name | ast.Attribute) and getattr(
            node, "id", getattr(node, "attr", "")
        ) in ("load_dotenv", "dotenv_values", "putenv"):
            found.append(node.lineno)
    return found


def test_only_the_settings_table_reads_the_environment() -> None:
    offenders = []
    for path in sorted([*ROOT.glob("kb/**/*.py"), *ROOT.glob("bot/**/*.py")]):
        if path == ROOT / "bot" / "settings.py":
            continue
        lines = _environment_reads(ast.parse(path.read_text()))
        offenders += [f"{path.relative_to(ROOT)}:{n}" for n in lines]
    assert offenders == []


def test_every_setting_in_the_table_is_read_and_documented_exactly() -> None:
    code = "".join(p.read_text() for p in ROOT.glob("bot/**/*.py"))
    unread = [
        s.name
        for s in settings.TABLE
        if not re.search(rf'(raw|value|_required|_whole)\("{s.name}"[,)]', code)
    ]
    assert unread == []
    assert (ROOT / ".env.example").read_text() == settings.env_example()
    assert settings.readme_table() in README


def test_an_unknown_setting_name_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        settings.raw("SPIBOT_NO_SUCH_SETTING")


def test_kb_never_imports_bot_or_slack() -> None:
    # The brain knows nothing of its doors: docs/architecture.md's first rule.
    offenders = []
    for path in sorted((ROOT / "kb").rglob("*.py")):
        for line in path.read_text().splitlines():
            if re.match(r"\s*(from|import)\s+(bot|slack_bolt|slack_sdk)\b", line):
                offenders.append(f"{path.name}: {line.strip()}")
    assert offenders == []


def test_documents_the_code_points_to_are_in_the_repository() -> None:
    pointed = set()
    for path in [*ROOT.glob("kb/**/*.py"), *ROOT.glob("bot/**/*.py"), ROOT / "README.md"]:
        text = path.read_text()
        pointed |= set(re.findall(r"\bdocs/[\w./-]+\.md", text))
        assert "../shared" not in text and "DESIGN.md" not in text, path
    assert {"docs/architecture.md", "docs/contracts.md"} <= pointed
    assert [p for p in sorted(pointed) if not (ROOT / p).is_file()] == []


def _documented_keys(name: str) -> list[str]:
    """The keys the README's device-state section lists for one JSON shape (NAME = {...})."""
    section = README.split("## Device state", 1)[1].split("\n## ", 1)[0]
    body = section.split(f"{name} = {{", 1)[1]
    depth, end = 1, 0
    while depth and end < len(body):
        depth += {"{": 1, "}": -1}.get(body[end], 0)
        end += 1
    flat = re.sub(r"\{[^{}]*\}", "", body[: end - 1])  # nested shapes are documented on their own
    return re.findall(r'"(\w+)"', flat)


def test_readme_documents_every_key_of_the_state_json() -> None:
    from kb.state.model import Config, IkeSa, Line, Policy, Sa, StateBlock, Tunnel

    line = Line(1, "x")
    block = StateBlock("show crypto ipsec sa", "ios", 1, 1, config=Config(policies=[Policy(None)]))
    shapes = {
        "STATE": block.to_dict(),
        "TUNNEL": Tunnel(None, None, line).to_dict(),
        "SA": Sa("inbound", "esp", 1, line).to_dict(),
        "IKE": IkeSa(None, None, None, None, line).to_dict(),
        "CONFIG": block.config.to_dict(),
    }
    for name, shape in shapes.items():
        assert _documented_keys(name) == list(shape), name
