"""Every setting spibot reads, in one table: the only reader of the environment and `.env`.

`kb/` reads nothing from the environment: the doors read it here and pass values in.
`.env.example` and the README's Settings table are generated from `TABLE` (see
docs/contracts.md), and a test checks that both match it exactly.
"""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass
from pathlib import Path

DEFAULT_API_URL = "https://slack.com/api/"
DEFAULT_PORT = 3000
DEFAULT_NOTE_REACTION = "pushpin"
DEFAULT_BUSY_MS = 5000
DEFAULT_THREAD_DAYS = 14
DEFAULT_REKEY_QUIET_MINUTES = 60
DEFAULT_FEED_QUIET_MINUTES = 15
DEFAULT_ALERT_FLOOD = 10
# Vector's http sink batches up to 10 MB by default; Fluent Bit and Logstash send less.
DEFAULT_INGEST_MAX_BYTES = 10 * 1024 * 1024
# The bot scopes of slack-manifest*.yaml: OAuth installs ask for them, `doctor` checks them.
BOT_SCOPES = (
    "app_mentions:read",
    "channels:history",
    "chat:write",
    "commands",
    "groups:history",
    "im:history",
    "mpim:history",
    "reactions:read",
)


@dataclass(frozen=True)
class Setting:
    name: str
    default: str  # "" when there is none
    meaning: str
    where: str  # where to get the value
    used_by: str  # the commands that read it
    example: str = ""  # what .env.example shows, when not the default

    @property
    def shown(self) -> str:
        return self.example or self.default


TABLE = (
    Setting(
        "SPIBOT_DB",
        "",
        "the SQLite knowledge base (same as `--db`); default `spibot.db` in the user data "
        "directory (`~/.local/share/spibot/` on Linux)",
        "a path you choose",
        "every command that reads or writes the knowledge base",
    ),
    Setting(
        "SPIBOT_BUSY_TIMEOUT_MS",
        str(DEFAULT_BUSY_MS),
        "how long a writer waits for another writer's lock, in ms; past it, a clear "
        '"locked" error and exit code 4 (Slack handlers that answer within 3 s wait at most '
        "1.5 s)",
        "raise it when several processes write at once",
        "every command that writes",
    ),
    Setting(
        "SPIBOT_TEAM",
        "",
        "with OAuth distribution, the workspace (team id, `T...`) the terminal commands read "
        "and write; default: the single-workspace memory",
        "the workspace's team id (App Home > About, or the OAuth install)",
        "diagnose, lookup, note, incidents, console",
    ),
    Setting(
        "SLACK_BOT_TOKEN",
        "",
        "the bot token (`xoxb-`); not used with OAuth distribution",
        "OAuth & Permissions > Bot User OAuth Token (starts with xoxb-)",
        "serve, doctor",
        example="xoxb-",
    ),
    Setting(
        "SLACK_APP_TOKEN",
        "",
        "the app-level token (`xapp-`, scope `connections:write`) for Socket Mode",
        "Basic Information > App-Level Tokens, with the connections:write scope "
        "(starts with xapp-)",
        "serve (Socket Mode)",
        example="xapp-",
    ),
    Setting(
        "SLACK_SIGNING_SECRET",
        "",
        "the signing secret, for HTTP mode: every request's signature is checked",
        "Basic Information > App Credentials > Signing Secret",
        "serve --http",
    ),
    Setting(
        "SLACK_API_URL",
        DEFAULT_API_URL,
        "Web API base URL (GovSlack: `https://slack-gov.com/api/`; tests point it at a fake)",
        "your Slack's API address",
        "serve, doctor",
    ),
    Setting(
        "PORT",
        str(DEFAULT_PORT),
        "HTTP mode port (`--port` wins)",
        "a free TCP port",
        "serve --http",
    ),
    Setting(
        "SPIBOT_NOTE_REACTION",
        DEFAULT_NOTE_REACTION,
        "the reaction that files a message in an answered thread as an incident note",
        "an emoji name, without colons",
        "serve",
    ),
    Setting(
        "SPIBOT_THREAD_DAYS",
        str(DEFAULT_THREAD_DAYS),
        "how many days spibot keeps a Slack thread's conversation after its last paste: what "
        "was pasted there (up to 1,000,000 characters) and the causes it confirmed; later, a "
        "paste in that thread is answered on its own",
        "a whole number of days, 1 or more",
        "serve",
    ),
    Setting(
        "SPIBOT_REKEY_QUIET_MINUTES",
        str(DEFAULT_REKEY_QUIET_MINUTES),
        "how long an incident whose only evidence is one rekey-race line (no note, no verdict) "
        "stays open with no new line from its peer before it closes by itself (checked when "
        "someone opens App Home and after each paste; not counted as a fix); `0` keeps them open",
        "a whole number of minutes, 0 or more",
        "serve",
    ),
    Setting(
        "SLACK_CLIENT_ID",
        "",
        "with `SLACK_CLIENT_SECRET`, switches on OAuth distribution (HTTP mode): "
        "`/slack/install` and `/slack/oauth_redirect`, installs kept in SQLite, every incident, "
        "note and setting scoped to its workspace; `SLACK_BOT_TOKEN` is then not used",
        "Basic Information > App Credentials > Client ID",
        "serve --http, doctor",
    ),
    Setting(
        "SLACK_CLIENT_SECRET",
        "",
        "the OAuth client secret that goes with `SLACK_CLIENT_ID`",
        "Basic Information > App Credentials > Client Secret",
        "serve --http, doctor",
    ),
    Setting(
        "SPIBOT_SYSLOG",
        "",
        "feed mode: where `serve` and `listen` receive syslog, one or more of "
        "`udp://HOST:PORT`, `tcp://HOST:PORT`, `tls://HOST:PORT` separated by spaces or commas "
        "(`--syslog` adds to them)",
        "an address your routers or your log collector can reach, e.g. udp://0.0.0.0:5514",
        "serve, listen",
    ),
    Setting(
        "SPIBOT_SYSLOG_TLS_CERT",
        "",
        "the PEM certificate (with its chain) that `tls://` syslog listeners present (RFC 5425)",
        "a file from your CA, readable by spibot",
        "serve, listen",
    ),
    Setting(
        "SPIBOT_SYSLOG_TLS_KEY",
        "",
        "the PEM private key of `SPIBOT_SYSLOG_TLS_CERT`",
        "a file readable by spibot only",
        "serve, listen",
    ),
    Setting(
        "SPIBOT_INGEST_TOKEN",
        "",
        "feed mode: the bearer token `POST /ingest` requires (HTTP mode and `listen --http`); "
        "unset, the route is off",
        "a long random string you generate (`openssl rand -hex 32`), given to your collector",
        "serve --http, listen",
    ),
    Setting(
        "SPIBOT_INGEST_MAX_BYTES",
        str(DEFAULT_INGEST_MAX_BYTES),
        "the largest `POST /ingest` body, in bytes; a bigger one is refused with 413",
        "at least your collector's batch size",
        "serve --http, listen",
    ),
    Setting(
        "SPIBOT_ALERT_CHANNEL",
        "",
        "feed mode: the channel (id, `C...`) that gets one alert per incident; `/spi alerts "
        "here` adds channels, `/spi alerts off` removes one",
        "the channel's id (channel name > About, at the bottom); invite spibot there",
        "serve",
    ),
    Setting(
        "SPIBOT_FEED_QUIET_MINUTES",
        str(DEFAULT_FEED_QUIET_MINUTES),
        "feed mode: an incident with no new invalid-SPI line for this long is resolved, and its "
        "alert says so",
        "a whole number of minutes, 1 or more",
        "serve, listen",
    ),
    Setting(
        "SPIBOT_ALERT_FLOOD",
        str(DEFAULT_ALERT_FLOOD),
        "feed mode: past this many new incidents in a minute, further ones are folded into one "
        "digest message per channel instead of an alert each",
        "a whole number, 1 or more",
        "serve, listen",
    ),
    Setting(
        "PROMETHEUS_MULTIPROC_DIR",
        "",
        "where HTTP workers keep the metrics `/metrics` adds up; default: a new temporary "
        "directory per `spibot serve --http`",
        "an empty directory writable by spibot",
        "serve --http",
    ),
)
BY_NAME = {s.name: s for s in TABLE}


class SettingsError(Exception):
    """A missing or malformed setting; the message names it and where to get it."""


def read_dotenv() -> None:
    """Values from a .env file in the current directory (or above); the environment wins."""
    here = Path.cwd()
    if not any((folder / ".env").is_file() for folder in (here, *here.parents)):
        return  # none: python-dotenv, a tenth of a short command's start, is not loaded
    from dotenv import find_dotenv, load_dotenv

    load_dotenv(find_dotenv(usecwd=True))


def raw(name: str) -> str:
    """A setting's value as given ('' when unset). The one place that reads the environment."""
    if name not in BY_NAME:
        raise KeyError(f"{name} is not in bot.settings.TABLE")
    return os.environ.get(name, "").strip()


def value(name: str) -> str:
    """A setting's value, or its default."""
    return raw(name) or BY_NAME[name].default


# kb reads no environment: every door that opens a Store passes these two.
def database_path(given: str | None = None) -> str | None:
    """--db, else SPIBOT_DB, else None (kb's default: a file in the user's data directory)."""
    return given or raw("SPIBOT_DB") or None


def busy_timeout_ms() -> int:
    """SPIBOT_BUSY_TIMEOUT_MS; a bad value is the database's error (exit 4, /healthz 503)."""
    text = value("SPIBOT_BUSY_TIMEOUT_MS")
    if not text.isdigit():
        from kb.store import StoreError  # here: sqlite-utils is 0.1 s of every start

        raise StoreError(f"SPIBOT_BUSY_TIMEOUT_MS must be a whole number of ms, not {text!r}")
    return int(text)


def thread_days() -> int:
    """SPIBOT_THREAD_DAYS: `spibot serve` and `doctor` refuse a bad value at start."""
    return _whole("SPIBOT_THREAD_DAYS", 1, "days")


def rekey_quiet_minutes() -> int:
    """SPIBOT_REKEY_QUIET_MINUTES (0: lone rekey races stay open); `spibot serve` refuses a
    bad value at start."""
    return _whole("SPIBOT_REKEY_QUIET_MINUTES", 0, "minutes")


def _whole(name: str, least: int, unit: str) -> int:
    text = value(name)
    if not text.isascii() or not text.isdigit() or int(text) < least:
        raise SettingsError(
            f"{name} must be a whole number of {unit} ({least} or more), not {text!r}"
        )
    return int(text)


def syslog_urls() -> list[str]:
    """SPIBOT_SYSLOG as a list (spaces or commas between addresses)."""
    return [u for u in raw("SPIBOT_SYSLOG").replace(",", " ").split() if u]


def syslog_tls() -> tuple[str, str] | None:
    """(certificate, key) for tls:// listeners, None when neither is set; one alone is an error."""
    cert, key = raw("SPIBOT_SYSLOG_TLS_CERT"), raw("SPIBOT_SYSLOG_TLS_KEY")
    if bool(cert) != bool(key):
        raise SettingsError(
            "SPIBOT_SYSLOG_TLS_CERT and SPIBOT_SYSLOG_TLS_KEY go together: set both"
        )
    return (cert, key) if cert else None


def ingest_token() -> str | None:
    return raw("SPIBOT_INGEST_TOKEN") or None


def ingest_max_bytes() -> int:
    return _whole("SPIBOT_INGEST_MAX_BYTES", 1024, "bytes")


def alert_channel() -> str | None:
    return raw("SPIBOT_ALERT_CHANNEL").strip() or None


def feed_quiet_minutes() -> int:
    return _whole("SPIBOT_FEED_QUIET_MINUTES", 1, "minutes")


def alert_flood() -> int:
    return _whole("SPIBOT_ALERT_FLOOD", 1, "new incidents a minute")


def team() -> str:
    return raw("SPIBOT_TEAM")


def any_slack() -> bool:
    """Whether any Slack setting is given (else spibot is used from the terminal only)."""
    return any(raw(s.name) for s in TABLE if s.name.startswith("SLACK_"))


@dataclass(frozen=True)
class Settings:
    bot_token: str
    app_token: str | None
    signing_secret: str | None
    api_url: str
    port: int
    note_reaction: str
    client_id: str | None = None
    client_secret: str | None = None

    @property
    def oauth(self) -> bool:
        """Distributed to many workspaces: tokens come from installs, not SLACK_BOT_TOKEN."""
        return self.client_id is not None


_PREFIX = {"SLACK_BOT_TOKEN": "xoxb-", "SLACK_APP_TOKEN": "xapp-"}


def _required(name: str) -> str:
    found = raw(name)
    where = BY_NAME[name].where
    if not found:
        raise SettingsError(f"{name} is not set: find it in your Slack app's {where}")
    prefix = _PREFIX.get(name)
    if prefix and not found.startswith(prefix):
        raise SettingsError(
            f"{name} does not start with {prefix}: use the {where}, not another token"
        )
    return found


def load(http: bool, port: int | None = None) -> Settings:
    """Settings for `spibot serve`: Socket Mode needs the app token, HTTP mode the secret;
    SLACK_CLIENT_ID and SLACK_CLIENT_SECRET switch on OAuth distribution (HTTP only)."""
    oauth = bool(raw("SLACK_CLIENT_ID") or raw("SLACK_CLIENT_SECRET"))
    client_id = client_secret = None
    if oauth:
        if not http:
            raise SettingsError(
                "SLACK_CLIENT_ID is set, so spibot installs into many workspaces over OAuth: "
                "that needs HTTP mode (spibot serve --http)"
            )
        client_id, client_secret = _required("SLACK_CLIENT_ID"), _required("SLACK_CLIENT_SECRET")
    bot_token = "" if oauth else _required("SLACK_BOT_TOKEN")
    app_token = None if http else _required("SLACK_APP_TOKEN")
    signing_secret = _required("SLACK_SIGNING_SECRET") if http else None
    api_url = value("SLACK_API_URL")
    if not api_url.startswith(("https://", "http://")):
        raise SettingsError(f"SLACK_API_URL must be an http(s) URL such as {DEFAULT_API_URL}")
    if not api_url.endswith("/"):
        api_url += "/"
    if port is None:
        text = value("PORT")
        if not text.isdigit() or not 0 <= int(text) < 65536:
            raise SettingsError(f"PORT must be a TCP port number (0-65535), not {text!r}")
        port = int(text)
    reaction = raw("SPIBOT_NOTE_REACTION").strip(":") or DEFAULT_NOTE_REACTION
    thread_days()  # read by bot/slack_state.py when it forgets old threads
    rekey_quiet_minutes()  # read by bot/listeners/home.py when it closes quiet rekey races
    return Settings(
        bot_token, app_token, signing_secret, api_url, port, reaction, client_id, client_secret
    )


def authorize_url(api_url: str) -> str:
    """Slack's OAuth authorize page beside its Web API (slack.com, slack-gov.com, a fake)."""
    base = api_url.rstrip("/").removesuffix("/api")
    return f"{base}/oauth/v2/authorize"


def env_example() -> str:
    """The text of .env.example."""
    out = [
        "# spibot settings. Copy to .env (read automatically from the current directory) or set",
        "# them in the environment. Generated from bot/settings.py; the README's Settings",
        "# section says the same.",
    ]
    for s in TABLE:
        said = f"{s.meaning[0].upper()}{s.meaning[1:]}. Where: {s.where}. Used by: {s.used_by}."
        said = said.replace("`", "")
        out.append("")
        out.extend(textwrap.wrap(said, 96, initial_indent="# ", subsequent_indent="# "))
        out.append(f"{s.name}={s.shown}")
    return "\n".join(out) + "\n"


def readme_table() -> str:
    """The README's Settings table."""
    rows = ["| setting | default | meaning | where to get it | used by |", "|---|---|---|---|---|"]
    for s in TABLE:
        default = f"`{s.default}`" if s.default else ""
        rows.append(f"| `{s.name}` | {default} | {s.meaning} | {s.where} | {s.used_by} |")
    return "\n".join(rows) + "\n"
