"""spibot: diagnose IPsec invalid-SPI errors from router and firewall logs.

The pipeline commands (parse, diagnose, lookup, note, incidents, console, serve) and what they
share; the upkeep commands are in bot/admin.py. A little over 300 lines because click's option
declarations are most of it, and each command body is a call on kb and a renderer.
"""

from __future__ import annotations

import gc
import getpass
import importlib
import json
import os
import shutil
import stat
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, BinaryIO, ClassVar

import click
import msgspec

from bot import settings
from kb.events import Event, canonical_ip
from kb.groups import Grouper
from kb.scan import InputError, ScanStats, read_chunks, scan_batches, tee
from kb.state.reader import StateReader

if TYPE_CHECKING:
    from kb.store import Store

# What a command needs beyond reading a log (the database, the articles, the diagnosis, Slack's
# block kit for the text renderer) is imported in the command's body: `spibot parse` starts in
# half the time it took when every command's modules were loaded first (tests/test_startup.py).

DEFAULT_TOP = 5
EXIT_FOUND, EXIT_NONE, EXIT_USAGE, EXIT_NOT_TEXT, EXIT_DATABASE = 0, 1, 2, 3, 4

EXIT_CODES_HELP = """
Exit codes: 0 events were found; 1 the input was read but held no recognised line
(an empty paste included); 2 usage error or unreadable file; 3 the input is not text
(a binary file); 4 the database could not be used (read-only, locked, corrupt, disk full,
or its file removed or replaced while spibot was running).
"""


def examples(*lines: str, codes: bool = False) -> str:
    """A --help epilog: runnable examples, one a line (click's \\b keeps them unwrapped), and
    the exit codes when the command has them."""
    shown = "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines) + "\n"
    return shown + (EXIT_CODES_HELP if codes else "")


MIN_WIDTH = 20  # narrower than this a hanging indent leaves no room: fold as if 20 wide

PORT = click.IntRange(0, 65535)  # 0: the system picks a free port (tests, a second bot)
COUNT = click.IntRange(1, 1_000_000)  # beyond SQLite's reach is no count a person means


def width(stream: str = "stdout") -> int | None:
    """Columns to wrap the output to: COLUMNS when set (a request, honoured even when piped),
    else the terminal's width; None when the output goes to a pipe or a file, where one line
    per reason and per warning keeps `grep` and `awk` whole-line."""
    columns = shutil.get_terminal_size((0, 0)).columns  # COLUMNS, else standard output's
    if not columns and stream == "stderr":
        try:
            columns = os.get_terminal_size(sys.stderr.fileno()).columns
        except (OSError, ValueError):
            columns = 0
    return max(columns, MIN_WIDTH) if columns else None


def warn(warnings: list[str]) -> None:
    """Warnings on standard error, before the answer: a person sees them first, and
    `spibot diagnose --json FILE > out.json` keeps standard output pure JSON."""
    if warnings:
        from bot import text

        click.echo(text.wrapped(text.warning_lines(warnings), width("stderr")), err=True)


class _Commands(click.Group):
    """spibot's commands. Those declared in other modules are imported when named (or listed by
    --help), so one command does not load every other command's code."""

    ELSEWHERE: ClassVar[dict[str, str]] = {
        "kb": "bot.admin",
        "backup": "bot.admin",
        "export": "bot.admin",
        "import": "bot.admin",
        "doctor": "bot.admin",
        "eval": "bot.evaluate",
        "listen": "bot.feed.listen",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.ELSEWHERE})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.ELSEWHERE:
            importlib.import_module(self.ELSEWHERE[cmd_name])  # registers itself on `main`
        return self.commands.get(cmd_name)


@click.group(
    cls=_Commands,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=examples(
        "spibot diagnose router.log",
        "spibot diagnose router.log hub-state.txt spoke-state.txt",
        "spibot lookup 198.51.100.7",
        "spibot diagnose --help",
    ),
)
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


def _freeze_imports() -> None:
    """For a command that reads a file and exits: what the imports made lives until the end,
    so the cycle collector need not walk it again at every collection while a big file is
    read (a twentieth of `spibot parse`'s time on a day of syslog)."""
    gc.freeze()


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


def _chunks_of(
    opened: list[tuple[str, BinaryIO]],
    failed: list[str],
    reader: StateReader,
    progress: click.progressbar | None = None,
) -> Iterator[bytes]:
    """The files as one stream, each starting on a new line (a log and the device state of
    each end are one case), the state reader told where each starts; `failed` names the file
    being read, for the error message. `progress` is moved on by the bytes read."""
    for source, stream in opened:
        failed[:] = [source]
        reader.next_input()
        last = b"\n"
        read = 0
        with stream:
            for chunk in read_chunks(stream):
                if progress is not None:
                    at = stream.tell()
                    progress.update(at - read)
                    read = at
                if chunk:
                    last = chunk[-1:]
                    yield chunk
        if last != b"\n":
            yield b"\n"


# A bar is worth showing from about this much input: a few seconds of reading.
PROGRESS_MIN_BYTES = 20 << 20


def _input_bytes(opened: list[tuple[str, BinaryIO]]) -> int | None:
    """The size of the input when every part is a regular file (a pipe has none)."""
    total = 0
    for _, stream in opened:
        try:
            info = os.fstat(stream.fileno())
        except (OSError, ValueError):
            return None
        if not stat.S_ISREG(info.st_mode):
            return None
        total += info.st_size
    return total


@contextmanager
def progress_bar(opened: list[tuple[str, BinaryIO]], quiet: bool) -> Iterator[click.progressbar]:
    """A progress bar on standard error while a big input is read, when a person watches it:
    standard error is a terminal, the input is files of PROGRESS_MIN_BYTES or more, and no
    --quiet. Otherwise None. The bar ends its line before anything else is written."""
    total = None if quiet or not _isatty(sys.stderr) else _input_bytes(opened)
    if total is None or total < PROGRESS_MIN_BYTES:
        yield None
        return
    with click.progressbar(length=total, label="Reading", file=sys.stderr, width=30) as bar:
        yield bar


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


quiet_option = click.option(
    "--quiet", "-q", is_flag=True, help="No progress bar (shown on a terminal for a big file)."
)


def _name(source: str) -> str:
    return "standard input" if source == "-" else source


def _undecodable(stats: ScanStats) -> list[str]:
    if not stats.undecodable:
        return []
    return [
        f"{stats.undecodable} log line(s) were not valid UTF-8; "
        "the undecodable bytes were replaced with U+FFFD"
    ]


@main.command(
    epilog=examples(
        "spibot parse router.log",
        "spibot parse router.log hub-state.txt",
        "spibot parse --json router.log > events.json",
        "grep -h INV_SPI /var/log/network/*.log | spibot parse",
        codes=True,
    )
)
@click.argument("sources", metavar="[FILE|-]...", nargs=-1)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Print JSON: {"events": [...], "groups": [...], "state": [...]}.',
)
@quiet_option
def parse(sources: tuple[str, ...], as_json: bool, quiet: bool) -> None:
    """Recognise every invalid-SPI and companion line, and the device state (`show crypto
    ipsec sa` and friends), in each FILE (or standard input), read as one paste.

    Reads any size of input as a stream. Prints one row per recognised line, the invalid-SPI
    lines grouped per peer and SPI, and one line per device-state output; --json prints
    events, groups and state as JSON.
    """
    _freeze_imports()
    opened = _open_inputs(sources)
    stats = ScanStats()
    grouper = Grouper()
    reader = StateReader()
    failed: list[str] = []
    write = _write_json if as_json else _write_table
    try:
        with progress_bar(opened, quiet) as progress:
            chunks = tee(_chunks_of(opened, failed, reader, progress), reader)
            finish = write(scan_batches(chunks, stats), grouper)
    except InputError as exc:
        click.echo(f"error: {_name(failed[0])}: {exc}", err=True)
        sys.exit(EXIT_NOT_TEXT)
    state = reader.blocks()
    finish(stats, grouper.groups(), state)
    # The table streams (any size of input in flat memory): its warnings are known only at
    # the end. They go to standard error, so --json output stays pure JSON.
    warnings = _undecodable(stats) + stats.warnings()
    if reader.dropped:
        warnings.append(
            f"{reader.dropped} device-state output(s) after the first {len(state)} were not read"
        )
    warn(warnings)
    sys.exit(EXIT_FOUND if stats.events or any(b.parsed for b in state) else EXIT_NONE)


_encode = msgspec.json.Encoder().encode  # writes an Event's fields as Event.to_dict() has them


def _write_json(batches: Iterator[list[Event]], grouper: Grouper):
    """Stream the events as JSON, each once encoded straight from its fields (no dictionary
    per event), a batch (a chunk's events) per write; returns what writes the groups and the
    state when the input is read."""
    out = click.get_binary_stream("stdout")
    out.write(b'{"events": [')
    separator = b"\n  "
    for batch in batches:
        grouper.add_all(batch)
        out.write(separator + b",\n  ".join(map(_encode, batch)))
        separator = b",\n  "

    def finish(stats: ScanStats, groups: list, state: list) -> None:
        out.write(b'\n],\n"groups": ' + _encode([g.to_dict() for g in groups]))
        out.write(b',\n"state": ' + _encode([b.to_dict() for b in state]) + b"}\n")
        out.flush()

    return finish


def _write_table(batches: Iterator[list[Event]], grouper: Grouper):
    """Stream one row per event; returns what writes the summary, the groups and the state."""
    from bot import text

    out = click.get_text_stream("stdout")
    columns = width()
    kinds: Counter[str] = Counter()
    out.write(text.event_header() + "\n")
    for batch in batches:
        grouper.add_all(batch)
        for event in batch:
            kinds[event.kind] += 1
            out.write(text.event_row(event, columns) + "\n")

    def finish(stats: ScanStats, groups: list, state: list) -> None:
        summary = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
        out.write(f"\n{stats.events} event(s) in {stats.lines} line(s)")
        out.write(f" ({summary})\n" if summary else "\n")
        if groups:
            out.write("\nInvalid SPI, per peer and SPI:\n")
            lines = (f"  {text.group_line(group)}" for group in groups)
            out.write(text.wrapped(lines, columns) + "\n")
        if state:
            out.write("\nDevice state:\n")
            lines = (f"  {text.state_line(block)}" for block in state)
            out.write(text.wrapped(lines, columns) + "\n")
        out.flush()

    return finish


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
    from kb.article import ArticleError
    from kb.store import MissingDatabaseError, Store, StoreError

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


@main.command(
    epilog=examples(
        "spibot diagnose router.log",
        "spibot diagnose router.log hub-state.txt spoke-state.txt",
        "spibot diagnose --json --no-record router.log > diagnosis.json",
        "spibot diagnose --top 5 router.log",
        "COLUMNS=60 spibot diagnose router.log | less",
        codes=True,
    )
)
@click.argument("sources", metavar="[FILE|-]...", nargs=-1)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print JSON: events, groups, signals, causes, state, findings, incidents.",
)
@click.option(
    "--top",
    type=click.IntRange(1, 100),
    default=DEFAULT_TOP,  # kb.diagnose's (tests/test_startup.py): importing it costs 0.1 s
    show_default=True,
    metavar="N",
    help="How many causes to show.",
)
@click.option("--no-record", is_flag=True, help="Do not open or update incidents.")
@quiet_option
@db_option
def diagnose(
    sources: tuple[str, ...],
    as_json: bool,
    top: int,
    no_record: bool,
    quiet: bool,
    db_path: str | None,
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
    from bot import text
    from kb.diagnose import diagnose as run_diagnosis

    _freeze_imports()
    opened = _open_inputs(sources)
    store = open_store(db_path)
    failed: list[str] = []
    try:
        reader = StateReader()
        with progress_bar(opened, quiet) as progress:
            chunks = _chunks_of(opened, failed, reader, progress)
            result = run_diagnosis(chunks, store, record=not no_record, top=top, state=reader)
    except InputError as exc:
        click.echo(f"error: {_name(failed[0])}: {exc}", err=True)
        sys.exit(EXIT_NOT_TEXT)
    finally:
        store.close()
        for _, stream in opened:
            stream.close()
    warn(_undecodable(result.stats) + result.warnings)
    if as_json:
        print_json(result.to_dict())
    else:
        click.echo(text.diagnosis(result, width=width(), warnings=False), nl=False)
    sys.exit(EXIT_FOUND if result.groups else EXIT_NONE)


@main.command(
    epilog=examples(
        "spibot lookup 198.51.100.7",
        "spibot lookup 0x5A3D1F2C",
        "spibot lookup hub-rtr1",
        "spibot lookup dead peer detection",
    )
)
@click.argument("query", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@db_option
def lookup(query: tuple[str, ...], as_json: bool, db_path: str | None) -> None:
    """Look up a peer IP, an SPI (0x1A2B3C4D or decimal), a device name or free text.

    Peers, SPIs and devices list their incidents and notes; free text finds cause articles
    and notes. Any text is safe: search syntax in it is quoted, not interpreted.
    """
    from bot import text
    from kb.lookup import lookup as run_lookup

    store = open_store(db_path)
    with store:
        result = run_lookup(store, " ".join(query))
    if as_json:
        print_json(result)
    else:
        click.echo(text.lookup(result, notes=10, width=width()))


@main.group(
    epilog=examples(
        'spibot note add --peer 198.51.100.7 "cleared the SAs on the spoke; tunnel back"',
        "spibot note add --peer 198.51.100.7 --spi 0x5A3D1F2C --fixed-by sa-out-of-sync "
        '"clear crypto sa peer 192.0.2.1 on the spoke fixed it"',
    )
)
def note() -> None:
    """Incident notes."""


def _peer(ctx: click.Context, param: click.Parameter, value: str) -> str:
    ip = canonical_ip(value)
    if ip is None:
        raise click.BadParameter(f"'{value}' is not an IP address")
    return ip


@note.command(
    "add",
    epilog=examples(
        'spibot note add --peer 198.51.100.7 "cleared the SAs on the spoke; tunnel back"',
        "spibot note add --peer 198.51.100.7 --spi 0x5A3D1F2C --fixed-by sa-out-of-sync "
        '"clear crypto sa peer 192.0.2.1 on the spoke fixed it"',
    ),
)
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
    from kb.lookup import classify
    from kb.store import StoreError, UnknownArticleError

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


@main.command(
    epilog=examples(
        "spibot incidents",
        "spibot incidents --peer 198.51.100.7 --limit 5",
        "spibot incidents --json > incidents.json",
    )
)
@click.option(
    "--peer", callback=lambda c, p, v: _peer(c, p, v) if v else None, help="Only this peer."
)
@click.option("--json", "as_json", is_flag=True, help="Print the incidents as JSON.")
@click.option(
    "--limit",
    type=COUNT,
    default=50,
    show_default=True,
    metavar="N",
    help="How many, newest first.",
)
@db_option
def incidents(peer: str | None, as_json: bool, limit: int, db_path: str | None) -> None:
    """List incidents, newest first, with their notes and what fixed them."""
    from bot import text

    store = open_store(db_path)
    with store:
        found = store.incidents(peer, limit)
    if as_json:
        print_json({"incidents": [i.to_dict() for i in found]})
        return
    if not found:
        click.echo("No incidents" + (f" for {peer}." if peer else "."))
    lines = text.incident_lines([i.to_dict() for i in found], notes=10)
    if lines:
        click.echo(text.wrapped(lines, width()))


@main.command(
    epilog=examples(
        "spibot serve",
        "spibot serve --http --port 3000",
        "spibot serve --http --host 0.0.0.0 --workers 4 --log-format json",
        "spibot serve --syslog udp://0.0.0.0:5514 --syslog tcp://0.0.0.0:5514",
    )
)
@click.option("--http", "http_mode", is_flag=True, help="Serve HTTP instead of Socket Mode.")
@click.option(
    "--port",
    type=PORT,
    metavar="PORT",
    help="HTTP port (env PORT, default 3000; 0 picks a free one).",
)
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
@click.option(
    "--syslog",
    "syslog",
    multiple=True,
    metavar="URL",
    help="Feed mode: receive syslog at udp://HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT "
    "(repeatable; added to SPIBOT_SYSLOG) and alert in SPIBOT_ALERT_CHANNEL.",
)
@db_option
def serve(http_mode, port, host, workers, log_format, syslog, db_path) -> None:
    """Run the Slack bot: Socket Mode (SLACK_APP_TOKEN) unless --http.

    HTTP mode runs on gunicorn and serves POST /slack/events (signatures checked with
    SLACK_SIGNING_SECRET), GET /healthz (checks the database) and GET /metrics (Prometheus).
    With SLACK_CLIENT_ID and SLACK_CLIENT_SECRET it also serves /slack/install and
    /slack/oauth_redirect. SLACK_API_URL points the Web API client elsewhere (GovSlack, tests).
    Feed mode (--syslog, and POST /ingest when SPIBOT_INGEST_TOKEN is set) opens incidents
    from the routers' own syslog and alerts in SPIBOT_ALERT_CHANNEL and /spi alerts channels.
    """
    from bot import serve as launch

    if workers > 1 and not http_mode:
        raise click.BadParameter("Socket Mode runs one process; add --http", param_hint="--workers")
    launch.share_metrics(http_mode)
    try:
        config = launch.prepare(http_mode, port, db_path)
        feed = launch.feed_config(http_mode, syslog, db_path, config)
    except launch.SetupError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    launch.run(
        config,
        db_path,
        http=http_mode,
        host=host,
        workers=workers,
        log_format=log_format,
        feed=feed,
    )


@main.command(epilog=examples("spibot console", "spibot console --db team.db"))
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
