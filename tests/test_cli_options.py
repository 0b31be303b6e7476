"""Every command's options as a user meets them: a value that means nothing is a usage error
(exit 2) before anything is opened, and --help shows examples that run."""

from __future__ import annotations

import contextlib
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from bot.cli import main
from tests.conftest import spibot


def walk(group: click.Group, path: tuple[str, ...] = ("spibot",)):
    """(command path, command) for every command and group under `group`, as --help lists
    them (some are imported only when named)."""
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from walk(command, (*path, name))


COMMANDS = dict(walk(main))
BAD_VALUES = [
    (("diagnose", "-"), "--top", "0"),
    (("diagnose", "-"), "--top", "-3"),
    (("diagnose", "-"), "--top", "101"),
    (("diagnose", "-"), "--top", "five"),
    (("incidents",), "--limit", "0"),
    (("incidents",), "--limit", "-1"),
    (("incidents",), "--limit", "99999999999999999999999"),
    (("serve",), "--port", "-1"),
    (("serve",), "--port", "65536"),
    (("serve",), "--workers", "0"),
    (("serve",), "--workers", "-2"),
    (("eval", "."), "--min-top1", "-5"),
    (("eval", "."), "--min-top1", "101"),
]


@pytest.mark.parametrize(("args", "option", "value"), BAD_VALUES)
def test_a_meaningless_number_is_a_usage_error(
    tmp_path: Path, args: tuple[str, ...], option: str, value: str
) -> None:
    db = tmp_path / "kb.db"
    command = [args[0], option, value, *args[1:]]
    if any(p.name == "db_path" for p in COMMANDS[("spibot", args[0])].params):
        command += ["--db", str(db)]
    result = CliRunner().invoke(main, command, input="")
    assert result.exit_code == 2, result.output
    assert "Invalid value" in result.output and option in result.output
    assert not db.exists()  # refused before the database was opened, let alone created


def test_every_numeric_option_of_every_command_has_a_range() -> None:
    # A plain INT or FLOAT takes 0 and -1; a new numeric option must say what it accepts.
    unbounded = [
        f"{' '.join(path)} {param.opts[0]}"
        for path, command in COMMANDS.items()
        for param in command.params
        if isinstance(param.type, click.types.IntParamType | click.types.FloatParamType)
        and not isinstance(param.type, click.types._NumberRangeBase)
        and param.callback is None
    ]
    assert unbounded == []


def test_a_bad_number_is_refused_by_the_real_process_in_one_usage_message(tmp_path: Path) -> None:
    db = tmp_path / "kb.db"
    result = spibot("diagnose", "--top", "0", "--db", str(db), "-", stdin="")
    assert result.returncode == 2 and result.stdout == ""
    assert "Error: Invalid value for '--top': 0 is not in the range 1<=x<=100." in result.stderr
    assert "Traceback" not in result.stderr and not db.exists()


def test_port_zero_still_picks_a_free_port() -> None:
    # Documented and used by the test harness: 0 is a port number, not a mistake.
    context = COMMANDS[("spibot", "serve")].make_context("serve", ["--port", "0"])
    assert context.params["port"] == 0


# The commands defined in bot/cli.py; the upkeep commands (bot/admin.py, bot/evaluate.py) are
# listed here once they carry examples too.
WITH_EXAMPLES = [
    path for path, command in COMMANDS.items() if command.callback.__module__ == "bot.cli"
]


@pytest.mark.parametrize("path", WITH_EXAMPLES, ids=" ".join)
def test_help_shows_examples_that_parse(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path[1:], "--help"], terminal_width=60)
    assert result.exit_code == 0
    _, _, shown = result.output.partition("Examples:\n")
    examples = [line.strip() for line in shown.split("\n\n")[0].splitlines()]
    assert examples, f"{' '.join(path)} --help has no examples"
    for example in examples:
        # The spibot part of a pipeline, without a redirection or a leading COLUMNS=60.
        [run] = [part for part in example.split("|") if "spibot" in part]
        words = shlex.split(run.split(">")[0])
        words = [w for w in words if "=" not in w or w.startswith("-")]
        assert words[0] == "spibot", example
        if path != ("spibot",):
            assert tuple(words[: len(path)]) == path, example  # each shows its own command
        _parses(words)


def _parses(words: list[str]) -> None:
    """The example names a command, its options exist and its values are valid; nothing runs."""
    for n in range(len(words), 0, -1):
        command = COMMANDS.get(tuple(words[:n]))
        if command is not None and not isinstance(command, click.Group):
            with contextlib.suppress(click.exceptions.Exit):  # --help
                command.make_context(words[n - 1], words[n:])
            return
    raise AssertionError(f"no command in {words}")


def test_examples_are_shown_as_written_not_rewrapped() -> None:
    out = CliRunner().invoke(main, ["diagnose", "--help"], terminal_width=40).output
    assert "\n    spibot diagnose router.log hub-state.txt spoke-state.txt\n" in out
