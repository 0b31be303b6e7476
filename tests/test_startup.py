"""`spibot parse` starts without the code of the commands it does not run: the database
(sqlite-utils), Slack's SDK, the diagnosis and the confirmation engine (with the ranking,
the articles, PyYAML and rapidfuzz) are imported only by the commands that use them, and the
commands of other modules are still listed by --help and run when named."""

from __future__ import annotations

import subprocess
import sys

import click
from click.testing import CliRunner

from bot.cli import DEFAULT_TOP, main
from kb import markers
from tests.conftest import ROOT

NOT_FOR_PARSE = (
    "sqlite_utils",
    "slack_sdk",
    "kb.store",
    "kb.diagnose",
    "bot.text",
    "bot.admin",
    "kb.state.confirm",
    "kb.ranking",
    "kb.article",
    "yaml",
    "rapidfuzz",
)
# Hyperscan only where it is the engine; python-dotenv only with a .env file to read.
NOT_FOR_PARSE += ("hyperscan",) if markers.ENGINE == "c" else ()
NOT_FOR_PARSE += () if any((d / ".env").exists() for d in (ROOT, *ROOT.parents)) else ("dotenv",)


def test_parse_json_loads_neither_the_database_nor_slack(tmp_path) -> None:
    log = tmp_path / "router.log"
    log.write_text(
        "Mar  3 09:00:00: %CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid "
        "spi for destaddr=192.0.2.1, prot=50, spi=0x0000000A(10), srcaddr=198.51.100.1\n"
    )
    code = (
        "import sys\n"
        "from bot.entry import main\n"
        f"sys.argv = ['spibot', 'parse', '--json', {str(log)!r}]\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\n"
        f"loaded = [m for m in {NOT_FOR_PARSE!r} if m in sys.modules]\n"
        "print(code, loaded, file=sys.stderr)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert '"spi":"0x0000000A"' in run.stdout
    assert run.stderr.strip().splitlines()[-1] == "0 []"


def test_every_command_is_listed_and_runs_when_named() -> None:
    context = click.Context(main)
    listed = main.list_commands(context)
    for name in listed:
        command = main.get_command(context, name)
        assert command is not None, name
        assert CliRunner().invoke(main, [name, "--help"]).exit_code == 0, name
    # Once every module is loaded, nothing registered is missing from the listing.
    assert set(main.commands) == set(listed)
    assert {"kb", "doctor", "eval", "listen", "parse", "diagnose"} <= set(listed)
    help_text = CliRunner().invoke(main, ["--help"]).output
    assert all(f"  {name} " in help_text for name in listed)


def test_the_default_top_is_the_diagnosis_default() -> None:
    from kb.diagnose import DEFAULT_TOP as diagnosis_default

    assert diagnosis_default == DEFAULT_TOP
