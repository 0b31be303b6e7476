"""`spibot listen`: feed mode without Slack. Syslog (and POST /ingest) in, incidents in the
database, and one JSON line on stdout per alert, update and resolution."""

from __future__ import annotations

import signal
import sys
import threading
from datetime import timedelta

import click

from bot import settings
from bot.cli import EXIT_DATABASE, EXIT_USAGE, db_option, examples, main
from kb.store import Store, StoreError, resolve_db_path


def _host_port(ctx: click.Context, param: click.Parameter, value: str | None):
    if value is None:
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not port.isascii() or not port.isdigit() or int(port) > 65535:
        raise click.BadParameter("give HOST:PORT, e.g. 127.0.0.1:8080")
    return host.strip("[]") or "127.0.0.1", int(port)


@main.command(
    epilog=examples(
        "spibot listen --syslog udp://0.0.0.0:5514",
        "spibot listen --syslog udp://0.0.0.0:5514 --syslog tcp://0.0.0.0:5514 > alerts.jsonl",
        "SPIBOT_INGEST_TOKEN=... spibot listen --http 0.0.0.0:8080",
    )
)
@click.option(
    "--syslog",
    "endpoints",
    multiple=True,
    metavar="URL",
    help="Receive syslog at udp://HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT (repeatable; "
    "added to SPIBOT_SYSLOG).",
)
@click.option(
    "--http",
    "http",
    callback=_host_port,
    metavar="HOST:PORT",
    help="Also serve POST /ingest (needs SPIBOT_INGEST_TOKEN), GET /healthz and GET /metrics.",
)
@click.option("--every", is_flag=True, help="Alert on every incident, lone rekey races included.")
@db_option
def listen(endpoints: tuple[str, ...], http, every: bool, db_path: str | None) -> None:
    """Feed mode without Slack: receive syslog, open and close incidents, print alerts.

    Each alert, update and resolution is one JSON line on stdout; the incidents are in the
    database, where `spibot incidents` and `spibot lookup` find them. Stops on Ctrl-C or
    SIGTERM after writing what it received.
    """
    # Imported here: bot.metrics must not load before `spibot serve` sets up its directory.
    from bot.feed.alerter import JsonLines
    from bot.feed.runner import Feed, FeedConfig

    try:
        urls = [*settings.syslog_urls(), *endpoints]
        tls = settings.syslog_tls()
        quiet = timedelta(minutes=settings.feed_quiet_minutes())
        flood = settings.alert_flood()
        token = settings.ingest_token()
        max_bytes = settings.ingest_max_bytes()
    except settings.SettingsError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    if not urls and http is None:
        raise click.UsageError("give at least one --syslog address (or SPIBOT_SYSLOG), or --http")
    if http is not None and token is None:
        raise click.UsageError("--http serves POST /ingest, which needs SPIBOT_INGEST_TOKEN")
    path = resolve_db_path(settings.database_path(db_path))
    try:
        with Store(path, team=settings.team()):
            pass  # created and migrated before anything is received
    except StoreError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_DATABASE)
    config = FeedConfig(
        path,
        settings.team(),
        urls,
        tls,
        quiet,
        flood,
        busy_ms=settings.busy_timeout_ms(),
        channels=lambda store: {"stdout": every},
    )
    feed = Feed(config, JsonLines(sys.stdout))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        feed.start()
    except (OSError, ValueError, RuntimeError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    server = None
    if http is not None:
        from bot.feed.http_ingest import serve_ingest

        try:
            server = serve_ingest(http[0], http[1], feed.ingest, token, max_bytes)
        except OSError as exc:
            feed.stop()
            reason = exc.strerror or exc
            click.echo(f"error: cannot listen on http://{http[0]}:{http[1]}: {reason}", err=True)
            sys.exit(EXIT_USAGE)
    where = [f"{t}://{h}:{p}" for t, h, p in (feed.receivers.addresses if feed.receivers else [])]
    if server is not None:
        host, port = server.address[:2]
        where.append(f"http://{host}:{port}/ingest")
    click.echo(f"spibot: listening on {', '.join(where)}", err=True)
    stop.wait()
    if server is not None:
        server.stop()
    feed.stop()
