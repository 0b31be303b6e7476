"""The Slack door: thin Bolt handlers around kb.

Each handler turns a Slack payload into a call on kb (or on the shared /spi function) and
renders the answer; nothing here ranks or parses logs.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Executor, ThreadPoolExecutor

from slack_bolt import App
from slack_bolt.oauth import OAuthFlow
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.oauth.installation_store.sqlite3 import SQLite3InstallationStore

from bot import blocks, delivery, metrics, slack_interactions, slack_pastes, spi_command
from bot.background import Background
from bot.oauth_states import ExpiringOAuthStateStore
from bot.settings import BOT_SCOPES, Settings, authorize_url, busy_timeout_ms, database_path
from bot.slack_state import SlackState
from kb.store import Store, StoreError, resolve_db_path

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


class Stores:
    """One connection per thread (Bolt runs listeners on a thread pool, SQLite wants a
    connection per thread), scoped per request to the workspace it came from."""

    def __init__(self, db_path: str | None, per_workspace: bool, busy_ms: int | None) -> None:
        self.db_path = db_path
        self.per_workspace = per_workspace
        self.busy_ms = busy_ms
        self._local = threading.local()

    def get(self, context) -> tuple[Store, SlackState]:
        if getattr(self._local, "store", None) is None:
            store = Store(self.db_path, busy_ms=self.busy_ms)
            self._local.store, self._local.state = store, SlackState(store)
        # A single-workspace install shares its memory with the CLI (team ''); a distributed
        # app keeps each workspace's incidents, notes and settings to itself.
        team = (context.team_id or context.enterprise_id or "?") if self.per_workspace else ""
        if team == self._local.store.team:
            return self._local.store, self._local.state
        return self._local.store.for_team(team), self._local.state.for_team(team)


def web_client(settings: Settings) -> WebClient:
    return delivery.web_client(settings.bot_token, settings.api_url)


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


def _spi_command(stores: Stores):
    """/spi, answered inside the acknowledgement (its lock waits are SLACK_BUSY_MS at most)."""

    def on_spi(ack, command: dict, context) -> None:
        try:
            store, state = stores.get(context)
        except StoreError as exc:
            ack(response_type="ephemeral", text=blocks.esc(f"Sorry: {exc}"))
            return
        trigger = command.get("trigger_id")
        reply = spi_command.run(
            store,
            command.get("text") or "",
            state=state,
            channel=command.get("channel_id"),
            user=command.get("user_id"),
            source=f"slack:{command.get('channel_id')}",
            request_key=f"command:{trigger}" if trigger else None,
        )
        ack(
            response_type="ephemeral",
            text=blocks.clip(blocks.esc(reply.text)),
            blocks=[b.to_dict() for b in reply.blocks],
        )

    return on_spi


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

    app.command("/spi")(_spi_command(stores))
    slack_pastes.Pastes(stores, paste_stores, background).register(app)
    interactions = slack_interactions.Interactions(
        stores, paste_stores, background, settings.note_reaction
    )
    interactions.register(app)

    @app.error
    def on_error(error: Exception, body: dict) -> None:
        metrics.ERRORS.labels(metrics.label_for(body.get("type"))).inc()
        log.error("handler failed: %s (%s)", error, body.get("type"), exc_info=error)

    return app
