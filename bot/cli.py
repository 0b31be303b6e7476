"""spibot: diagnose IPsec invalid-SPI errors from router and firewall logs."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections import Counter
from typing import BinaryIO, NoReturn, TextIO

import click
from dotenv import find_dotenv, load_dotenv

from bot import text
from bot.settings import busy_timeout_ms, database_path
from kb.article import ArticleError, load_articles
from kb.diagnose import DEFAULT_TOP
from kb.diagnose import diagnose as run_diagnosis
from kb.events import canonical_ip
from kb.groups import Grouper
from kb.lookup import classify
from kb.lookup import lookup as run_lookup
from kb.scan import InputError, ScanStats, read_chunks, scan
from kb.signals import SIGNALS
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
    load_dotenv(find_dotenv(usecwd=True))


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
@click.option(
    "--json", "as_json", is_flag=True, help='Print JSON: {"events": [...], "groups": [...]}.'
)
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
    for warning in stats.warnings():
        click.echo(f"warning: {warning}", err=True)
    sys.exit(EXIT_FOUND if stats.events else EXIT_NONE)


def db_option(command):
    return click.option(
        "--db",
        "db_path",
        envvar="SPIBOT_DB",
        metavar="PATH",
        help="SQLite knowledge base (env SPIBOT_DB; default: a file in your data directory).",
    )(command)


def _store(db_path: str | None) -> Store:
    # In an install distributed over OAuth each workspace has its own incidents; SPIBOT_TEAM
    # picks the one the terminal works on (default: the single-workspace memory).
    try:
        return Store(
            database_path(db_path),
            busy_ms=busy_timeout_ms(),
            team=os.environ.get("SPIBOT_TEAM", ""),
        )
    except (StoreError, ArticleError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_DATABASE)


def _dump(doc: dict) -> None:
    click.echo(json.dumps(doc, indent=2, ensure_ascii=False))


@main.command(epilog=EXIT_CODES_HELP)
@click.argument("source", metavar="[FILE|-]", required=False)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print JSON: events, groups, signals, causes, incidents.",
)
@click.option("--top", default=DEFAULT_TOP, show_default=True, help="How many causes to show.")
@click.option("--no-record", is_flag=True, help="Do not open or update incidents.")
@db_option
def diagnose(source: str | None, as_json: bool, top: int, no_record: bool, db_path: str | None):
    """Rank the likely causes of the invalid-SPI errors in FILE (or standard input).

    Shows why each cause is ranked where it is (evidence from the paste and from past
    incidents), the commands to verify and fix it with the peer's address filled in, and past
    incidents with their notes. Each peer in the paste opens an incident, or updates the one
    still open for it from the last 24 hours, unless --no-record is given.
    """
    stream = _open_input(source)
    store = _store(db_path)
    try:
        with stream:
            result = run_diagnosis(read_chunks(stream), store, record=not no_record, top=top)
    except InputError as exc:
        click.echo(f"error: {source or 'standard input'}: {exc}", err=True)
        sys.exit(EXIT_NOT_TEXT)
    finally:
        store.close()
    if as_json:
        _dump(result.to_dict())
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
    store = _store(db_path)
    with store:
        result = run_lookup(store, " ".join(query))
    if as_json:
        _dump(result)
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
@click.option("--author", envvar="USER", help="Who wrote the note (default: $USER).")
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
    store = _store(db_path)
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
    store = _store(db_path)
    with store:
        found = store.incidents(peer, limit)
    if as_json:
        _dump({"incidents": [i.to_dict() for i in found]})
        return
    if not found:
        click.echo("No incidents" + (f" for {peer}." if peer else "."))
    for line in text.incident_lines(found, notes=10):
        click.echo(line)


@main.group()
def kb() -> None:
    """The cause articles in the knowledge base."""


@kb.command("sync")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@db_option
def kb_sync(directory: str | None, db_path: str | None) -> None:
    """Load and validate articles from DIRECTORY (default: the bundled ones) into the database.

    Idempotent: unchanged articles are left alone. An invalid article stops the sync with an
    error naming its file and field, and nothing is written: so does anything that is not a
    regular file of at most 256 KB, front-matter with YAML aliases or nested too deep, a
    weight that is not a finite number, or an id that is not a short slug.
    """
    try:
        articles = load_articles(directory) if directory else load_articles()
    except ArticleError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    store = _store(db_path)
    with store:
        try:
            report = store.sync_articles(articles)
        except StoreError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_DATABASE)
    click.echo(", ".join(f"{len(ids)} {what}" for what, ids in report.items()))


@kb.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the articles as JSON.")
@db_option
def kb_list(as_json: bool, db_path: str | None) -> None:
    """List the cause articles and the evidence each one weighs."""
    store = _store(db_path)
    with store:
        articles = store.articles()
    if as_json:
        _dump(
            {
                "articles": [
                    {"id": a.id, "title": a.title, "prior": a.prior, "evidence": a.evidence}
                    for a in articles
                ]
            }
        )
        return
    for a in articles:
        click.echo(f"{a.id:<18} {a.title}")
        weights = ", ".join(f"{k} {v:+g}" for k, v in a.evidence.items())
        click.echo(f"{'':<18} prior {a.prior:g}; {weights}")
    click.echo(f"\n{len(articles)} articles; signals: {', '.join(SIGNALS)}")


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
    if http_mode and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Before prometheus-client is first imported, so every worker's counters are shared.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="spibot-metrics-")
    from slack_sdk.errors import SlackApiError

    from bot import logs, server, settings
    from bot.slack_app import build_app, web_client
    from bot.slack_state import SlackState

    if workers > 1 and not http_mode:
        raise click.BadParameter("Socket Mode runs one process; add --http", param_hint="--workers")
    try:
        config = settings.load(http=http_mode, port=port)
        if not config.oauth:
            web_client(config).auth_test()  # a bad token or URL fails here, in one line
    except settings.SettingsError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except SlackApiError as exc:
        click.echo(
            f"error: Slack refused SLACK_BOT_TOKEN ({exc.response.get('error')}); check the "
            "token in your Slack app's OAuth & Permissions page",
            err=True,
        )
        sys.exit(EXIT_USAGE)
    except OSError as exc:
        reason = getattr(exc, "reason", exc)
        click.echo(f"error: cannot reach SLACK_API_URL {config.api_url}: {reason}", err=True)
        sys.exit(EXIT_USAGE)
    # Create, migrate and seed before the first event, Slack's tables included: a database that
    # cannot be made ready is one line here, not a worker that dies on every start.
    with _store(db_path) as store:
        try:
            SlackState(store)
        except StoreError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_DATABASE)
    logs.configure(log_format)
    if http_mode:
        make_app = lambda: build_app(config, db_path)  # noqa: E731 - built in each worker
        server.serve_gunicorn(make_app, db_path, config.signing_secret, host, config.port, workers)
    else:
        server.serve_socket_mode(build_app(config, db_path), config.app_token)


@main.command()
@db_option
def console(db_path: str | None) -> None:
    """The Slack replies in the terminal: paste log lines, end with an empty line.

    Lines starting with /spi work as the Slack command does (/spi help lists them).
    Ctrl-D quits.
    """
    from bot import spi_command

    store = _store(db_path)
    interactive = sys.stdin.isatty()
    if interactive:
        click.echo(
            "spibot console: paste log lines and end with an empty line; /spi help; Ctrl-D quits."
        )
    buffer: list[str] = []

    def flush() -> None:
        pasted = "\n".join(buffer).strip()
        buffer.clear()
        if not pasted:
            return
        if pasted.startswith("/spi"):
            reply = spi_command.run(store, pasted[4:], source="console")
        else:
            reply = spi_command.run(store, pasted, source="console")
            if reply.diagnosis is None:
                reply.text = "No invalid-SPI lines recognised. Type /spi help."
        click.echo(reply.text.rstrip() + "\n")

    with store:
        for line in sys.stdin:
            line = line.rstrip("\n")
            if line.strip() == "" or (line.startswith("/spi") and not buffer):
                if line.startswith("/spi"):
                    buffer.append(line)
                flush()
                continue
            buffer.append(line)
        flush()


def _existing_store(db_path: str | None) -> Store:
    """The database as it is: backing up or exporting a mistyped --db must not create one."""
    try:
        return Store(
            database_path(db_path),
            busy_ms=busy_timeout_ms(),
            team=os.environ.get("SPIBOT_TEAM", ""),
            create=False,
        )
    except MissingDatabaseError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except (StoreError, ArticleError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_DATABASE)


def _fail(exc: StoreError) -> NoReturn:
    """One line and the exit code: 2 for the file named on the command line, 4 the database."""
    from kb.transfer import TransferError

    click.echo(f"error: {exc}", err=True)
    sys.exit(EXIT_USAGE if isinstance(exc, TransferError) else EXIT_DATABASE)


@main.command()
@click.argument("destination", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite DESTINATION if it exists.")
@db_option
def backup(destination: str, force: bool, db_path: str | None) -> None:
    """Copy the live database to DESTINATION (SQLite online backup; safe while serving).

    The copy is private to you (mode 0600). Refuses a --db that does not exist, a
    DESTINATION that is a symbolic link, and an existing one unless --force (exit 2).
    """
    from kb.transfer import backup as run_backup

    with _existing_store(db_path) as store:
        try:
            size = run_backup(store, destination, force=force)
        except StoreError as exc:
            _fail(exc)
    click.echo(f"Backed up {store.path} to {destination} ({size:,} bytes).")


def _write_export(store: Store, out: TextIO) -> Counter:
    from kb.transfer import export_rows

    counts: Counter[str] = Counter()
    for item in export_rows(store):
        out.write(json.dumps(item, ensure_ascii=False) + "\n")
        counts[item["table"]] += 1
    return counts


@main.command("export")
@click.argument("destination", metavar="[FILE|-]", required=False, default="-")
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@db_option
def export_(destination: str, force: bool, db_path: str | None) -> None:
    """Write incidents, SPIs, notes and feedback of every workspace as JSON Lines.

    To standard output by default; a FILE is private to you (mode 0600). Refuses a --db that
    does not exist, a FILE that is a symbolic link, and an existing one unless --force.
    """
    from kb.transfer import new_file

    with _existing_store(db_path) as store:
        try:
            if destination == "-":
                counts = _write_export(store, click.get_text_stream("stdout"))
            else:
                with (
                    new_file(destination, force=force) as partial,
                    partial.open("w", encoding="utf-8") as out,
                ):
                    counts = _write_export(store, out)
        except StoreError as exc:
            _fail(exc)
    summary = ", ".join(f"{n} {table}" for table, n in counts.items()) or "nothing"
    click.echo(f"Exported {summary}.", err=True)


@main.command("import")
@click.argument("source", metavar="FILE|-")
@db_option
def import_(source: str, db_path: str | None) -> None:
    """Load a `spibot export` file: rows keep their ids; existing ones are updated.

    All or nothing: a malformed line (not UTF-8, not JSON, a wrong type, a number beyond 64
    bits, a note filed under another workspace's incident) stops the import with its line
    number (exit 2).
    """
    from kb.transfer import import_rows

    try:
        lines = click.open_file(source, "rb")
    except OSError as exc:
        click.echo(f"error: cannot read {source}: {exc.strerror}", err=True)
        sys.exit(EXIT_USAGE)
    with _store(db_path) as store, lines:
        try:
            counts = import_rows(store, lines)
        except StoreError as exc:
            _fail(exc)
    summary = ", ".join(f"{n} {table}" for table, n in counts.items()) or "nothing"
    click.echo(f"Imported {summary}.")


@main.command()
@db_option
def doctor(db_path: str | None) -> None:
    """Check settings, the database, the articles and (with a token) the token's scopes.

    Exit code 0 when nothing failed, 1 otherwise.
    """
    from bot import doctor as checks

    results = checks.run(db_path)
    for check in results:
        click.echo(f"{check.status:<5} {check.name}: {check.detail}")
    sys.exit(1 if any(c.status == "FAIL" for c in results) else 0)
