"""spibot: diagnose IPsec invalid-SPI errors from router and firewall logs.

The pipeline commands (parse, diagnose, lookup, note, incidents, console, serve) and what they
share; the upkeep commands are in bot/admin.py. A little over 300 lines because click's option
declarations are most of it, and each command body is a call on kb and a renderer.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections import Counter
from collections.abc import Iterator
from typing import BinaryIO

import click

from bot import settings, text
from kb.article import ArticleError
from kb.diagnose import DEFAULT_TOP
from kb.diagnose import diagnose as run_diagnosis
from kb.diagnose import tee as _tee
from kb.events import canonical_ip
from kb.groups import Grouper
from kb.lookup import classify
from kb.lookup import lookup as run_lookup
from kb.scan import InputError, ScanStats, read_chunks, scan
from kb.state.reader import StateReader
from kb.store import MissingDatabaseError, Store, StoreError, UnknownArticleError

EXIT_FOUND, EXIT_NONE, EXIT_USAGE, EXIT_NOT_TEXT, EXIT_DATABASE = 0, 1, 2, 3, 4

EXIT_CODES_HELP = """
Exit codes: 0 events were found; 1 the input was read but held no recognised line
(an empty paste included); 2 usage error or unreadable file; 3 the input is not text
(a binary file); 4 the database could not be used (read-only, locked, corrupt, disk full,
or its file removed or replaced while spibot was running).
"""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="spibot")
def main() -> None:
    """Diagnose IPsec invalid-SPI errors (%CRYPTO-4-RECVD_PKT_INV_SPI, ASA/FTD 402114, ...).

    Settings come from the environment and from a .env file in the current directory.
    """
    settings.read_dotenv()


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


def _open_inputs(sources: tuple[str, ...]) -> list[tuple[str, BinaryIO]]:
    """Every FILE opened before any is read (a mistyped name fails first); none: stdin."""
    if sources.count("-") > 1:
        raise click.BadParameter("standard input (-) can be read once", param_hint="FILE")
    named = sources or ("-",)
    opened: list[tuple[str, BinaryIO]] = []
    try:
        for source in named:
            opened.append((source, _open_input(source)))
    except click.BadParameter:
        for _, stream in opened:
            stream.close()
        raise
    return opened


def _chunks_of(opened: list[tuple[str, BinaryIO]], failed: list[str]) -> Iterator[bytes]:
    """The files as one stream, each starting on a new line (a log and the device state of
    each end are one case); `failed` names the file being read, for the error message."""
    for source, stream in opened:
        failed[:] = [source]
        last = b"\n"
        with stream:
            for chunk in read_chunks(stream):
                if chunk:
                    last = chunk[-1:]
                    yield chunk
        if last != b"\n":
            yield b"\n"


def _name(source: str) -> str:
    return "standard input" if source == "-" else source


def _report_undecodable(stats: ScanStats) -> None:
    if stats.undecodable:
        click.echo(
            f"warning: {stats.undecodable} log line(s) were not valid UTF-8; "
            "the undecodable bytes were replaced with U+FFFD",
            err=True,
        )


@main.command(epilog=EXIT_CODES_HELP)
@click.argument("sources", metavar="[FILE|-]...", nargs=-1)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Print JSON: {"events": [...], "groups": [...], "state": [...]}.',
)
def parse(sources: tuple[str, ...], as_json: bool) -> None:
    """Recognise every invalid-SPI and companion line, and the device state (`show crypto
    ipsec sa` and friends), in each FILE (or standard input), read as one paste.

    Reads any size of input as a stream. Prints one row per recognised line, the invalid-SPI
    lines grouped per peer and SPI, and one line per device-state output; --json prints
    events, groups and state as JSON.
    """
    opened = _open_inputs(sources)
    stats = ScanStats()
    grouper = Grouper()
    reader = StateReader()
    kinds: Counter[str] = Counter()
    out = click.get_text_stream("stdout")
    failed: list[str] = []
    try:
        events = scan(_tee(_chunks_of(opened, failed), reader), stats)
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
        click.echo(f"error: {_name(failed[0])}: {exc}", err=True)
        sys.exit(EXIT_NOT_TEXT)
    groups = grouper.groups()
    state = reader.blocks()
    if as_json:
        out.write('\n],\n"groups": ' + json.dumps([g.to_dict() for g in groups]))
        out.write(',\n"state": ' + json.dumps([b.to_dict() for b in state]) + "}\n")
    else:
        summary = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
        out.write(f"\n{stats.events} event(s) in {stats.lines} line(s)")
        out.write(f" ({summary})\n" if summary else "\n")
        if groups:
            out.write("\nInvalid SPI, per peer and SPI:\n")
            for group in groups:
                out.write(f"  {text.group_line(group)}\n")
        if state:
            out.write("\nDevice state:\n")
            for block in state:
                out.write(f"  {text.state_line(block)}\n")
    _report_undecodable(stats)
    warnings = stats.warnings()
    if reader.dropped:
        warnings.append(
            f"{reader.dropped} device-state output(s) after the first {len(state)} were not read"
        )
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    sys.exit(EXIT_FOUND if stats.events or any(b.parsed for b in state) else EXIT_NONE)


def db_option(command):
    return click.option(
        "--db",
        "db_path",
        default=settings.database_path,
        metavar="PATH",
        help="SQLite knowledge base (env SPIBOT_DB; default: a file in your data directory).",
    )(command)


def open_store(db_path: str | None, create: bool = True) -> Store:
    """The knowledge base, or one line and exit 4 (exit 2 for a missing file that must exist:
    backing up or exporting a mistyped --db must not create one)."""
    # In an install distributed over OAuth each workspace has its own incidents; SPIBOT_TEAM
    # picks the one the terminal works on (default: the single-workspace memory).
    try:
        return Store(
            settings.database_path(db_path),
            busy_ms=settings.busy_timeout_ms(),
            team=settings.team(),
            create=create,
        )
    except (StoreError, ArticleError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE if isinstance(exc, MissingDatabaseError) else EXIT_DATABASE)


def print_json(doc: dict) -> None:
    click.echo(json.dumps(doc, indent=2, ensure_ascii=False))


@main.command(epilog=EXIT_CODES_HELP)
@click.argument("sources", metavar="[FILE|-]...", nargs=-1)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print JSON: events, groups, signals, causes, state, findings, incidents.",
)
@click.option("--top", default=DEFAULT_TOP, show_default=True, help="How many causes to show.")
@click.option("--no-record", is_flag=True, help="Do not open or update incidents.")
@db_option
def diagnose(
    sources: tuple[str, ...], as_json: bool, top: int, no_record: bool, db_path: str | None
):
    """Rank the likely causes of the invalid-SPI errors in FILE (or standard input).

    Several FILEs are one case: the log, and the device state of each end (`show crypto
    ipsec sa`, `diagnose vpn tunnel list`, the crypto configuration...); what the state
    proves is shown as confirmed, with the lines that prove it. Shows why each cause is
    ranked where it is (evidence from the paste and from past incidents), the commands to
    verify and fix it with the peer's address filled in, and past incidents with their notes.
    Each peer in the paste opens an incident, or updates the one still open for it from the
    last 24 hours, unless --no-record is given.
    """
    opened = _open_inputs(sources)
    store = open_store(db_path)
    failed: list[str] = []
    try:
        chunks = _chunks_of(opened, failed)
        result = run_diagnosis(chunks, store, record=not no_record, top=top)
    except InputError as exc:
        click.echo(f"error: {_name(failed[0])}: {exc}", err=True)
        sys.exit(EXIT_NOT_TEXT)
    finally:
        store.close()
        for _, stream in opened:
            stream.close()
    if as_json:
        print_json(result.to_dict())
    else:
        click.echo(text.diagnosis(result), nl=False)
    _report_undecodable(result.stats)
    sys.exit(EXIT_FOUND if result.groups else EXIT_NONE)


@main.command()
@click.argument("query", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@db_option
def lookup(query: tuple[str, ...], as_json: bool, db_path: str | None) -> None:
    """Look up a peer IP, an SPI (0x1A2B3C4D or decimal), a device name or free text.

    Peers, SPIs and devices list their incidents and notes; free text finds cause articles
    and notes. Any text is safe: search syntax in it is quoted, not interpreted.
    """
    store = open_store(db_path)
    with store:
        result = run_lookup(store, " ".join(query))
    if as_json:
        print_json(result)
    else:
        click.echo(text.lookup(result, notes=10))


@main.group()
def note() -> None:
    """Incident notes."""


def _peer(ctx: click.Context, param: click.Parameter, value: str) -> str:
    ip = canonical_ip(value)
    if ip is None:
        raise click.BadParameter(f"'{value}' is not an IP address")
    return ip


@note.command("add")
@click.argument("text_", metavar="TEXT", nargs=-1, required=True)
@click.option("--peer", required=True, callback=_peer, help="The peer's IP address.")
@click.option("--spi", help="The SPI the note is about (0x1A2B3C4D).")
@click.option("--device", help="The device that logged the errors.")
@click.option(
    "--fixed-by", metavar="ARTICLE_ID", help="Resolve the incident: this cause's fix worked."
)
@click.option(
    "--author", default=getpass.getuser, help="Who wrote the note (default: your login name)."
)
@db_option
def note_add(text_, peer, spi, device, fixed_by, author, db_path) -> None:
    """Add a note to the peer's open incident (opening one if needed).

    With --fixed-by ARTICLE_ID the incident is resolved with that cause, and the next
    diagnosis for this peer ranks it higher. Exit code 4 if the database cannot be written.
    """
    if spi is not None:
        kind, spi = classify(spi)
        if kind != "spi":
            raise click.BadParameter("must be an SPI such as 0x1A2B3C4D", param_hint="--spi")
    store = open_store(db_path)
    with store:
        try:
            incident, note_id = store.add_note(
                peer=peer,
                text=" ".join(text_),
                spi=spi,
                device=device,
                fixed_by=fixed_by,
                author=author,
            )
        except UnknownArticleError as exc:
            raise click.BadParameter(str(exc), param_hint="--fixed-by") from exc
        except StoreError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_DATABASE)
    state = f"resolved, fixed by {incident.fixed_by}" if incident.fixed_by else incident.status
    click.echo(f"Note {note_id} added to incident #{incident.id} for {peer} ({state}).")


@main.command()
@click.option(
    "--peer", callback=lambda c, p, v: _peer(c, p, v) if v else None, help="Only this peer."
)
@click.option("--json", "as_json", is_flag=True, help="Print the incidents as JSON.")
@click.option("--limit", default=50, show_default=True, help="How many, newest first.")
@db_option
def incidents(peer: str | None, as_json: bool, limit: int, db_path: str | None) -> None:
    """List incidents, newest first, with their notes and what fixed them."""
    store = open_store(db_path)
    with store:
        found = store.incidents(peer, limit)
    if as_json:
        print_json({"incidents": [i.to_dict() for i in found]})
        return
    if not found:
        click.echo("No incidents" + (f" for {peer}." if peer else "."))
    for line in text.incident_lines([i.to_dict() for i in found], notes=10):
        click.echo(line)


@main.command()
@click.option("--http", "http_mode", is_flag=True, help="Serve HTTP instead of Socket Mode.")
@click.option("--port", type=int, help="HTTP port (env PORT, default 3000; 0 picks a free one).")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="HTTP address to bind; 0.0.0.0 for every interface (put a proxy in front, see README).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="HTTP worker processes (gunicorn, 8 threads each).",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one JSON object per log line, for log pipelines.",
)
@db_option
def serve(http_mode, port, host, workers, log_format, db_path) -> None:
    """Run the Slack bot: Socket Mode (SLACK_APP_TOKEN) unless --http.

    HTTP mode runs on gunicorn and serves POST /slack/events (signatures checked with
    SLACK_SIGNING_SECRET), GET /healthz (checks the database) and GET /metrics (Prometheus).
    With SLACK_CLIENT_ID and SLACK_CLIENT_SECRET it also serves /slack/install and
    /slack/oauth_redirect. SLACK_API_URL points the Web API client elsewhere (GovSlack, tests).
    """
    from bot import serve as launch

    if workers > 1 and not http_mode:
        raise click.BadParameter("Socket Mode runs one process; add --http", param_hint="--workers")
    launch.share_metrics(http_mode)
    try:
        config = launch.prepare(http_mode, port, db_path)
    except launch.SetupError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    launch.run(config, db_path, http=http_mode, host=host, workers=workers, log_format=log_format)


@main.command()
@db_option
def console(db_path: str | None) -> None:
    """The Slack replies in the terminal: paste log lines, end with an empty line.

    Lines starting with /spi work as the Slack command does (/spi help lists them).
    Ctrl-D quits.
    """
    from bot import console as terminal

    store = open_store(db_path)
    if sys.stdin.isatty():
        click.echo(terminal.GREETING)
    with store:
        terminal.run(store, sys.stdin, click.echo)


# The database's upkeep commands (kb, backup, export, import, doctor) register themselves on
# `main` from their own module.
from bot import admin, evaluate  # noqa: E402, F401
