"""Setting up `spibot serve`: everything that can be checked is checked before the first
event (settings, the token, the database and its Slack tables), each failure one line and an
exit code; then Socket Mode or gunicorn takes over (bot/server.py)."""

from __future__ import annotations

import os
import tempfile
from datetime import timedelta

from bot import settings

EXIT_USAGE, EXIT_DATABASE = 2, 4  # the CLI's codes (bot/cli.py EXIT_CODES_HELP)


class SetupError(Exception):
    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def share_metrics(http: bool) -> None:
    """HTTP workers add up their metrics in one directory, which prometheus-client must know
    of before it is first imported: so this runs before anything imports bot.metrics."""
    if http and not settings.raw("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="spibot-metrics-")


def prepare(http: bool, port: int | None, db_path: str | None) -> settings.Settings:
    """The settings to serve with, once the token works and the database is ready."""
    from slack_sdk.errors import SlackApiError

    from bot.slack_app import web_client

    try:
        config = settings.load(http=http, port=port)
        if not config.oauth:
            web_client(config).auth_test()  # a bad token or URL fails here, in one line
    except settings.SettingsError as exc:
        raise SetupError(str(exc), EXIT_USAGE) from exc
    except SlackApiError as exc:
        raise SetupError(
            f"Slack refused SLACK_BOT_TOKEN ({exc.response.get('error')}); check the "
            "token in your Slack app's OAuth & Permissions page",
            EXIT_USAGE,
        ) from exc
    except OSError as exc:
        reason = getattr(exc, "reason", exc)
        message = f"cannot reach SLACK_API_URL {config.api_url}: {reason}"
        raise SetupError(message, EXIT_USAGE) from exc
    _prepare_database(db_path)
    return config


def _prepare_database(db_path: str | None) -> None:
    """Create, migrate and seed before the first event, Slack's tables included: a database
    that cannot be made ready is one line here, not a worker that dies on every start."""
    from bot.slack_state import SlackState
    from kb.article import ArticleError
    from kb.store import Store, StoreError

    try:
        with Store(db_path, team=settings.team()) as store:
            SlackState(store)
    except (StoreError, ArticleError) as exc:
        raise SetupError(str(exc), EXIT_DATABASE) from exc


def feed_config(http: bool, syslog: tuple[str, ...], db_path: str | None, config):
    """Feed mode's settings, or None when it is off (no syslog address, and no ingest token
    in HTTP mode); every address is checked here, before anything starts."""
    from bot.feed.runner import FeedConfig
    from kb.store import resolve_db_path

    try:
        urls = [*settings.syslog_urls(), *syslog]
        if urls:
            from bot.feed.receivers import parse_endpoint

            for url in urls:
                parse_endpoint(url)
        if not urls and not (http and settings.ingest_token()):
            return None
        if config.oauth and not settings.team():
            raise settings.SettingsError(
                "feed mode with OAuth distribution needs SPIBOT_TEAM: the workspace whose "
                "incidents the feed opens and whose channels get the alerts"
            )
        default = settings.alert_channel()
        return FeedConfig(
            resolve_db_path(settings.database_path(db_path)),
            settings.team(),
            urls,
            settings.syslog_tls(),
            timedelta(minutes=settings.feed_quiet_minutes()),
            settings.alert_flood(),
            busy_ms=settings.busy_timeout_ms(),
            channels=lambda store: _alert_channels(store, default),
        )
    except (settings.SettingsError, ValueError) as exc:
        raise SetupError(str(exc), EXIT_USAGE) from exc


def _alert_channels(store, default: str | None) -> dict[str, bool]:
    from bot.slack_state import SlackState

    return SlackState(store).alert_channels(default)


def start_feed(feed_config, config: settings.Settings, db_path: str | None, *, wait: bool):
    """Feed mode's queue, and (when this process leads) its listeners and alerts."""
    from bot.feed.runner import Feed
    from bot.feed.slack_alerts import SlackAlerts
    from bot.slack_app import feed_client

    feed = Feed(feed_config, SlackAlerts(feed_client(config, db_path)))
    feed.start(wait_to_lead=wait)
    return feed


def run(
    config: settings.Settings,
    db_path: str | None,
    *,
    http: bool,
    host: str,
    workers: int,
    log_format: str,
    feed=None,
) -> None:
    from bot import logs, server
    from bot.slack_app import build_app

    logs.configure(log_format)
    running = []  # this process's feed, stopped on the way out: what it queued is written

    def stop_feed() -> None:
        while running:
            running.pop().stop()

    if http:

        def make_app():  # built in each worker, after the fork
            ingest = None
            if feed is not None:
                running.append(start_feed(feed, config, db_path, wait=True))
                ingest = running[-1].ingest
            return build_app(config, db_path), ingest

        server.serve_gunicorn(
            make_app, db_path, config.signing_secret, host, config.port, workers, stop_feed
        )
    else:
        if feed is not None:
            try:
                running.append(start_feed(feed, config, db_path, wait=False))
            except (OSError, RuntimeError) as exc:
                raise SystemExit(f"error: feed mode cannot start: {exc}") from exc
        try:
            server.serve_socket_mode(build_app(config, db_path), config.app_token)
        finally:
            stop_feed()
