"""spibot: diagnose IPsec invalid-SPI errors from router and firewall logs."""

from __future__ import annotations

import json
import sys
from collections import Counter
from typing import BinaryIO

import click

from bot import text
from kb.groups import Grouper
from kb.scan import InputError, ScanStats, read_chunks, scan

EXIT_FOUND, EXIT_NONE, EXIT_USAGE, EXIT_NOT_TEXT = 0, 1, 2, 3

EXIT_CODES_HELP = """
Exit codes: 0 events were found; 1 the input was read but held no recognised line
(an empty paste included); 2 usage error or unreadable file; 3 the input is not text
(a binary file).
"""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="spibot")
def main() -> None:
    """Diagnose IPsec invalid-SPI errors (%CRYPTO-4-RECVD_PKT_INV_SPI, ASA/FTD 402114, ...)."""


def _open_input(source: str | None) -> BinaryIO:
    if source in (None, "-"):
        if sys.stdin.isatty():
            click.echo("Reading log lines from standard input; end with Ctrl-D.", err=True)
        return sys.stdin.buffer
    try:
        return open(source, "rb")
    except OSError as exc:
        raise click.BadParameter(
            f"cannot read {source}: {exc.strerror}", param_hint="FILE"
        ) from exc


def _report_undecodable(stats: ScanStats) -> None:
    if stats.undecodable:
        click.echo(
            f"warning: {stats.undecodable} log line(s) were not valid UTF-8; "
            "the undecodable bytes were replaced with U+FFFD",
            err=True,
        )


@main.command(epilog=EXIT_CODES_HELP)
@click.argument("source", metavar="[FILE|-]", required=False)
@click.option("--json", "as_json", is_flag=True, help='Print DESIGN.md\'s JSON: {"events": [...]}.')
def parse(source: str | None, as_json: bool) -> None:
    """Recognise every invalid-SPI and companion line in FILE (or standard input).

    Reads any size of input as a stream. Prints one row per recognised line and the
    invalid-SPI lines grouped per peer and SPI; --json prints events and groups as JSON.
    """
    stream = _open_input(source)
    stats = ScanStats()
    grouper = Grouper()
    kinds: Counter[str] = Counter()
    out = click.get_text_stream("stdout")
    try:
        with stream:
            events = scan(read_chunks(stream), stats)
            if as_json:
                out.write('{"events": [')
            else:
                out.write(text.event_header() + "\n")
            for n, event in enumerate(events):
                grouper.add(event)
                kinds[event.kind] += 1
                if as_json:
                    out.write((",\n  " if n else "\n  ") + json.dumps(event.to_dict()))
                else:
                    out.write(text.event_row(event) + "\n")
    except InputError as exc:
        click.echo(f"error: {source or 'standard input'}: {exc}", err=True)
        sys.exit(EXIT_NOT_TEXT)
    groups = grouper.groups()
    if as_json:
        out.write('\n],\n"groups": ' + json.dumps([g.to_dict() for g in groups]) + "}\n")
    else:
        summary = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
        out.write(f"\n{stats.events} event(s) in {stats.lines} line(s)")
        out.write(f" ({summary})\n" if summary else "\n")
        if groups:
            out.write("\nInvalid SPI, per peer and SPI:\n")
            for group in groups:
                out.write(f"  {text.group_line(group)}\n")
    _report_undecodable(stats)
    sys.exit(EXIT_FOUND if stats.events else EXIT_NONE)
