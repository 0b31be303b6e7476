"""The Slack door: the Bolt app, its pools and its stores.

The listeners, one module per surface, are in bot/listeners/ and registered there; each turns
a Slack payload into a call on kb (or on the shared /spi function) and renders the answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor

from slack_bolt import App
from slack_bolt.oauth import OAuthFlow
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.oauth.installation_store.sqlite3 import SQLite3InstallationStore

from bot import delivery, listeners, metrics
from bot.background import Background
from bot.listeners import Deps, Stores
from bot.oauth_states import ExpiringOAuthStateStore
from bot.settings import BOT_SCOPES, Settings, authorize_url, busy_timeout_ms, database_path
from bot.settings import team as team_setting
from bot.slack_state import SlackState
from kb.store import Store, resolve_db_path

log = logging.getLogger("spibot.slack")


class _NotAboutOurClient(logging.Filter):
    # Bolt reads SLACK_BOT_TOKEN from the environment and then warns that our client (which
    # carries the same token and SLACK_API_URL) wins; that is the intent, not a problem.
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("As you gave `client` as well")


log.addFilter(_NotAboutOurClient())
ACK_THREADS = 16  # Bolt's listener threads: acknowledge /spi, buttons and forms
BACKGROUND_THREADS = 8  # answer pastes, reactions and App Home after their ack
# A lock wait in a path that answers inside Slack's 3-second window (/spi note, the note form,
# buttons) must end in time to answer.
SLACK_BUSY_MS = 1500


def web_client(settings: Settings) -> WebClient:
    return delivery.web_client(settings.bot_token, settings.api_url)


def feed_client(settings: Settings, db_path: str | None) -> Callable[[], WebClient]:
    """The Web API client feed alerts post with: the bot token's, or with OAuth distribution
    the install of SPIBOT_TEAM's, looked up each time (a reinstall changes the token)."""
    if not settings.oauth:
        client = web_client(settings)
        return lambda: client
    database = str(resolve_db_path(db_path))
    installations = SQLite3InstallationStore(database=database, client_id=settings.client_id)
    team = team_setting()

    def client() -> WebClient:
        bot = installations.find_bot(enterprise_id=None, team_id=team)
        if bot is None:
            raise RuntimeError(f"spibot is not installed in workspace {team} (SPIBOT_TEAM)")
        return delivery.web_client(bot.bot_token, settings.api_url)

    return client


def _oauth(settings: Settings, db_path: str | None, client: WebClient) -> dict:
    """Distribution to many workspaces: installs and install states in the same SQLite file,
    and oauth.v2.access through our client (so through SLACK_API_URL too)."""
    database = str(resolve_db_path(db_path))
    installations = SQLite3InstallationStore(database=database, client_id=settings.client_id)
    oauth_settings = OAuthSettings(
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        scopes=list(BOT_SCOPES),
        installation_store=installations,
        state_store=ExpiringOAuthStateStore(database=database, expiration_seconds=600),
        authorization_url=authorize_url(settings.api_url),
    )
    return {
        "oauth_flow": OAuthFlow(client=client, settings=oauth_settings),
        "installation_store": installations,
    }


def build_app(
    settings: Settings,
    db_path: str | None = None,
    *,
    executor: Executor | None = None,
    background_executor: Executor | None = None,
) -> App:
    """The Bolt app. `executor` runs listeners (ACK_THREADS of them unless given); pastes,
    reactions and App Home are answered on `background_executor`, so that work waiting on
    Slack's rate limits never holds the threads that acknowledge /spi, buttons and forms."""
    # Handlers that answer inside Slack's ack window wait briefly for a lock; pastes, answered
    # after their ack, wait as long as the terminal does (SPIBOT_BUSY_TIMEOUT_MS).
    db_path = database_path(db_path)
    stores = Stores(db_path, settings.oauth, busy_ms=SLACK_BUSY_MS)
    paste_stores = Stores(db_path, settings.oauth, busy_ms=busy_timeout_ms())
    executor = executor or ThreadPoolExecutor(ACK_THREADS, thread_name_prefix="spibot-ack")
    background = Background(
        background_executor
        or ThreadPoolExecutor(BACKGROUND_THREADS, thread_name_prefix="spibot-background")
    )
    with Store(db_path, busy_ms=busy_timeout_ms()) as store:
        SlackState(store).forget_old()  # delivery keys older than Slack's retry window
    client = web_client(settings)
    http = settings.signing_secret is not None
    app = App(
        client=client,
        signing_secret=settings.signing_secret or "",
        request_verification_enabled=http,
        logger=log,
        listener_executor=executor,
        **(_oauth(settings, db_path, client) if settings.oauth else {}),
    )

    listeners.register(app, Deps(stores, paste_stores, background, settings.note_reaction))

    @app.error
    def on_error(error: Exception, body: dict) -> None:
        metrics.ERRORS.labels(metrics.label_for(body.get("type"))).inc()
        log.error("handler failed: %s (%s)", error, body.get("type"), exc_info=error)

    return app
