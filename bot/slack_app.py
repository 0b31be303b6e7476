"""The Slack door: thin Bolt handlers around kb.

Each handler turns a Slack payload into a call on kb (or on the shared /spi function) and
renders the answer; nothing here ranks or parses logs.
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import Executor, ThreadPoolExecutor

from slack_bolt import App
from slack_bolt.oauth import OAuthFlow
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.oauth.installation_store.sqlite3 import SQLite3InstallationStore

from bot import blocks, delivery, metrics, spi_command
from bot.oauth_states import ExpiringOAuthStateStore
from bot.settings import BOT_SCOPES, Settings, authorize_url, busy_timeout_ms, database_path
from bot.slack_state import SlackState
from kb.diagnose import diagnose_first
from kb.events import canonical_ip
from kb.scan import may_hold_events, parse_text
from kb.store import Store, StoreError, resolve_db_path

log = logging.getLogger("spibot.slack")


class _NotAboutOurClient(logging.Filter):
    # Bolt reads SLACK_BOT_TOKEN from the environment and then warns that our client (which
    # carries the same token and SLACK_API_URL) wins; that is the intent, not a problem.
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("As you gave `client` as well")


log.addFilter(_NotAboutOurClient())
SHORTCUT = "add_to_spi_incident"
PASTE_THREADS = 8
# A lock wait in a path that answers inside Slack's 3-second window (/spi note, the note form,
# buttons) must end in time to answer.
SLACK_BUSY_MS = 2000
# Messages people post; bots' messages (syslog feeds) only where /spi watch is on.
_PEOPLE_SUBTYPES = {None, "thread_broadcast", "file_share", "me_message"}


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


def _rich_text(elements: list) -> list[str]:
    out = []
    for element in elements or []:
        if element.get("type") in ("text", "link"):
            out.append(element.get("text") or element.get("url", ""))
        elif "elements" in element:
            out.extend(_rich_text(element["elements"]))
            if element.get("type") in ("rich_text_section", "rich_text_preformatted"):
                out.append("\n")
    return out


def message_texts(message: dict) -> list[str]:
    """The texts of a message that may hold log lines: its text, then its rich-text blocks
    and attachments when they say something else. Nothing is parsed here."""
    text = message.get("text") or ""
    parts = ["".join(_rich_text(b.get("elements", []))) for b in message.get("blocks") or []]
    parts += [a.get("text") or a.get("fallback") or "" for a in message.get("attachments") or []]
    rich = "\n".join(p for p in parts if p)
    return [t for t in dict.fromkeys((text, rich)) if t and may_hold_events(t)]


def _metadata(view: dict) -> dict:
    try:
        found = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _incident_for(store: Store, incident_id, peer: str) -> int | None:
    """The incident a modal was opened for, if it is still this workspace's and this peer's.

    A stale, foreign or garbled id is a StoreError the modal shows, not a 500."""
    if incident_id is None:
        return None
    try:
        number = int(incident_id)
    except (TypeError, ValueError):
        raise StoreError(f"{incident_id!r} is not an incident number") from None
    if store.incident(number).peer != peer:
        return None  # the peer was changed in the form: file it under that peer
    return number


def tell(client: WebClient, body: dict, text: str) -> None:
    """An ephemeral line to the person who clicked."""
    channel = (body.get("channel") or {}).get("id") or body.get("container", {}).get("channel_id")
    client.chat_postEphemeral(channel=channel, user=body["user"]["id"], text=text)


def build_app(
    settings: Settings,
    db_path: str | None = None,
    *,
    executor: Executor | None = None,
    paste_executor: Executor | None = None,
) -> App:
    """The Bolt app. `executor` runs listeners after the ack (Bolt's default pool if None);
    pastes are answered on `paste_executor`, so that pastes waiting on Slack's rate limits
    never hold the threads that acknowledge /spi, buttons and modals."""
    # Handlers that answer inside Slack's ack window wait briefly for a lock; pastes, answered
    # after their ack, wait as long as the terminal does (SPIBOT_BUSY_TIMEOUT_MS).
    db_path = database_path(db_path)
    stores = Stores(db_path, settings.oauth, busy_ms=SLACK_BUSY_MS)
    paste_stores = Stores(db_path, settings.oauth, busy_ms=busy_timeout_ms())
    pastes = paste_executor or ThreadPoolExecutor(PASTE_THREADS, thread_name_prefix="spibot-paste")
    with Store(db_path, busy_ms=busy_timeout_ms()) as store:
        SlackState(store).forget_old()  # delivery keys older than Slack's retry window
    client = web_client(settings)
    http = settings.signing_secret is not None
    oauth: dict = {}
    if settings.oauth:
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
        # oauth.v2.access goes to SLACK_API_URL too, through our client.
        oauth = {
            "oauth_flow": OAuthFlow(client=client, settings=oauth_settings),
            "installation_store": installations,
        }
    app = App(
        client=client,
        signing_secret=settings.signing_secret or "",
        request_verification_enabled=http,
        logger=log,
        listener_executor=executor,
        **oauth,
    )

    def first_delivery(body: dict, context) -> bool:
        """Slack retries an event it thinks we missed; act on each event_id once.

        Claimed in the listener, after the ack, so the ack never waits for the database.
        Pastes need no claim of their own: their channel + ts key already covers retries.
        """
        _, state = stores.get(context)
        return state.first_time(f"event:{body.get('event_id')}")

    def answer_paste(message: dict, channel: str, client: WebClient, edited: bool, context) -> None:
        texts = message_texts(message)
        if not texts:
            return
        ts = message["ts"]
        key = (
            f"edit:{channel}:{ts}:{message.get('edited', {}).get('ts')}"
            if edited
            else f"paste:{channel}:{ts}"
        )
        store, state = paste_stores.get(context)
        # Claimed before any parsing: a Slack retry, or the same post as a message and as an
        # app_mention, costs one insert, not another parse.
        if not state.first_time(key):
            return
        try:
            reply(message, channel, texts, client, store, state)
        except Exception:
            # Nobody will redeliver an acknowledged event: let an edit or retry try again.
            state.release(key)
            raise

    def answer_later(*args, **kwargs) -> None:
        def run() -> None:
            try:
                answer_paste(*args, **kwargs)
            except Exception as exc:
                metrics.ERRORS.labels("paste").inc()
                log.error("answering a paste failed: %s", exc, exc_info=exc)
                raise  # kept on the future too, where tests look for it

        pastes.submit(run)

    def reply(message, channel, texts, client, store, state) -> None:
        ts = message["ts"]
        prior = state.reply_for(channel, ts)
        with metrics.DIAGNOSE_SECONDS.time():
            result = diagnose_first(texts, store, record=prior is None, source=f"slack:{channel}")
        if result is None or not result.groups:
            return
        metrics.PASTES.inc()
        rendered = [b.to_dict() for b in blocks.diagnosis(result)]
        fallback = blocks.esc(result.summary())
        if prior is not None:
            client.chat_update(
                channel=channel, ts=prior["reply_ts"], text=fallback, blocks=rendered
            )
            metrics.REPLIES.labels("update").inc()
            return
        thread_ts = message.get("thread_ts") or ts
        posted = delivery.post_reply(
            client,
            channel=channel,
            thread_ts=thread_ts,
            text=fallback,
            blocks=rendered,
            unfurl_links=False,
            unfurl_media=False,
        )
        metrics.REPLIES.labels("post").inc()
        incident = result.recorded[0] if result.recorded else None
        state.remember_reply(channel, ts, thread_ts, posted["ts"], incident, result.peer)

    @app.event("message")
    def on_message(event: dict, client: WebClient, context) -> None:
        subtype = event.get("subtype")
        channel = event.get("channel")
        if subtype == "message_changed":
            message = event.get("message") or {}
            if message.get("bot_id") and message.get("bot_id") == context.bot_id:
                return
            if message.get("bot_id") and not stores.get(context)[1].watched(channel):
                return
            answer_later(message, channel, client, edited=True, context=context)
            return
        if subtype == "bot_message" or event.get("bot_id"):
            if event.get("bot_id") != context.bot_id and stores.get(context)[1].watched(channel):
                answer_later(event, channel, client, edited=False, context=context)
            return
        if subtype in _PEOPLE_SUBTYPES:
            answer_later(event, channel, client, edited=False, context=context)

    @app.event("app_mention")
    def on_mention(event: dict, client: WebClient, context) -> None:
        answer_later(event, event["channel"], client, edited=False, context=context)

    @app.command("/spi")
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

    @app.action("spi_fixed")
    def on_fixed(ack, body: dict, action: dict, client: WebClient, context) -> None:
        ack()
        store, _ = stores.get(context)
        picked = json.loads(action["value"])
        user = body["user"]["id"]
        try:
            store.resolve(int(picked["incident"]), picked["article"], author=user)
        except StoreError as exc:
            tell(client, body, blocks.esc(f"Not recorded: {exc}."))
            return
        message = body.get("message") or {}
        channel = (body.get("channel") or {}).get("id") or body["container"]["channel_id"]
        client.chat_update(
            channel=channel,
            ts=message.get("ts") or body["container"]["message_ts"],
            text=f"Fixed by {blocks.esc(picked['article'])}",
            blocks=blocks.resolved(message.get("blocks") or [], picked["article"], user),
        )

    @app.action("spi_not_it")
    def on_not_it(ack, body: dict, action: dict, client: WebClient, context) -> None:
        ack()
        store, _ = stores.get(context)
        picked = json.loads(action["value"])
        try:
            recorded = store.not_it(
                int(picked["incident"]), picked["article"], author=body["user"]["id"]
            )
        except StoreError as exc:
            tell(client, body, blocks.esc(f"Not recorded: {exc}."))
            return
        said = "Noted" if recorded else "Already noted"
        tell(
            client,
            body,
            blocks.esc(
                f"{said}: {picked['article']} will rank lower for {picked.get('peer')} from now on."
            ),
        )

    @app.action("spi_add_note")
    def on_add_note(ack, body: dict, action: dict, client: WebClient) -> None:
        ack()
        picked = json.loads(action["value"])
        message = body.get("message") or {}
        metadata = {
            "incident": picked.get("incident"),
            "channel": body["channel"]["id"],
            "thread_ts": message.get("thread_ts") or message.get("ts"),
        }
        view = blocks.note_modal("", picked.get("peer"), metadata)
        client.views_open(trigger_id=body["trigger_id"], view=view.to_dict())

    @app.shortcut(SHORTCUT)
    def on_shortcut(ack, shortcut: dict, client: WebClient, context) -> None:
        ack()
        _, state = stores.get(context)
        message = shortcut["message"]
        channel = shortcut["channel"]["id"]
        thread_ts = message.get("thread_ts") or message["ts"]
        permalink = client.chat_getPermalink(channel=channel, message_ts=message["ts"])
        reply = state.reply_in_thread(channel, thread_ts)
        texts = message_texts(message)
        events = parse_text(texts[0]) if texts else []
        peer = reply["peer"] if reply else next((e.peer for e in events if e.peer), None)
        metadata = {
            "incident": reply["incident_id"] if reply else None,
            "channel": channel,
            "thread_ts": thread_ts,
            "permalink": permalink.get("permalink"),
        }
        text = message.get("text") or ""
        if permalink.get("permalink"):
            text = f"{text}\n\n{permalink['permalink']}"
        view = blocks.note_modal(text, peer, metadata)
        client.views_open(trigger_id=shortcut["trigger_id"], view=view.to_dict())

    @app.view(blocks.NOTE_MODAL)
    def on_note_submitted(ack, body: dict, view: dict, client: WebClient, context) -> None:
        values = view["state"]["values"]
        peer_text = (values["peer"]["value"].get("value") or "").strip()
        note_text = (values["note"]["value"].get("value") or "").strip()
        peer = canonical_ip(peer_text)
        if peer is None:
            ack(response_action="errors", errors={"peer": "Enter the peer's IP address."})
            return
        if not note_text:
            ack(response_action="errors", errors={"note": "The note is empty."})
            return
        metadata = _metadata(view)
        # A form submitted twice (or resubmitted after Slack gave up waiting) is one note.
        key = f"view:{view.get('id')}" if view.get("id") else None
        try:
            store, state = stores.get(context)
            incident_id = _incident_for(store, metadata.get("incident"), peer)
            incident, _ = store.add_note(
                peer=peer,
                text=note_text,
                author=body["user"]["id"],
                source="slack:modal",
                permalink=metadata.get("permalink"),
                incident_id=incident_id,
                request_key=key,
            )
        except StoreError as exc:
            ack(response_action="errors", errors={"note": f"Not saved: {exc}"[:150]})
            return
        ack()  # only now: the note is committed
        if key is not None and not state.first_time(f"confirm:{key}"):
            return  # the first submission confirmed it already
        metrics.NOTES.labels("modal").inc()
        if metadata.get("channel") and metadata.get("thread_ts"):
            client.chat_postMessage(
                channel=metadata["channel"],
                thread_ts=metadata["thread_ts"],
                text=f"📝 Note added to incident #{incident.id} for {peer}.",
            )

    @app.event("reaction_added")
    def on_reaction(event: dict, body: dict, client: WebClient, context) -> None:
        if event.get("reaction") != settings.note_reaction or not first_delivery(body, context):
            return
        item = event.get("item") or {}
        if item.get("type") != "message":
            return
        channel, ts = item["channel"], item["ts"]
        store, state = stores.get(context)
        found = client.conversations_replies(
            channel=channel, ts=ts, latest=ts, inclusive=True, limit=1
        )
        message = next((m for m in found.get("messages", []) if m.get("ts") == ts), None)
        if message is None or message.get("bot_id") == context.bot_id:
            return
        thread_ts = message.get("thread_ts") or ts
        reply = state.reply_in_thread(channel, thread_ts)
        if reply is None:
            return  # not a thread spibot answered
        if not state.first_time(f"reaction-note:{channel}:{ts}"):
            return
        permalink = client.chat_getPermalink(channel=channel, message_ts=ts).get("permalink")
        incident, _ = store.add_note(
            peer=reply["peer"],
            text=message.get("text") or "(no text)",
            author=message.get("user") or event.get("user"),
            source="slack:reaction",
            permalink=permalink,
            incident_id=reply["incident_id"],
        )
        metrics.NOTES.labels("reaction").inc()
        client.chat_postMessage(
            channel=channel,
            thread_ts=thread_ts,
            text=f"📌 Added that message as a note to incident #{incident.id}.",
        )

    @app.event("app_home_opened")
    def on_home(event: dict, body: dict, client: WebClient, context) -> None:
        if not first_delivery(body, context):
            return
        store, _ = stores.get(context)
        recent = store.incidents(limit=50)
        peers = list(dict.fromkeys(i.peer for i in recent if i.peer))[:10]
        open_ = [i for i in recent if i.status == "open"]
        view = blocks.home(store.counts(), open_, peers)
        client.views_publish(user_id=event["user"], view=view.to_dict())

    @app.error
    def on_error(error: Exception, body: dict) -> None:
        metrics.ERRORS.labels(metrics.label_for(body.get("type"))).inc()
        log.error("handler failed: %s (%s)", error, body.get("type"), exc_info=error)

    return app
