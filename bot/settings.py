"""Slack settings from the environment (and .env), checked with one clear line per problem."""

from __future__ import annotations

import os
from dataclasses import dataclass

from kb.store import StoreError

DEFAULT_API_URL = "https://slack.com/api/"
DEFAULT_PORT = 3000
DEFAULT_NOTE_REACTION = "pushpin"

_WHERE = {
    "SLACK_BOT_TOKEN": "OAuth & Permissions > Bot User OAuth Token (starts with xoxb-)",
    "SLACK_APP_TOKEN": "Basic Information > App-Level Tokens, with the connections:write scope "
    "(starts with xapp-)",
    "SLACK_SIGNING_SECRET": "Basic Information > App Credentials > Signing Secret",
}
_PREFIX = {"SLACK_BOT_TOKEN": "xoxb-", "SLACK_APP_TOKEN": "xapp-"}
_WHERE["SLACK_CLIENT_ID"] = "Basic Information > App Credentials > Client ID"
_WHERE["SLACK_CLIENT_SECRET"] = "Basic Information > App Credentials > Client Secret"
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


class SettingsError(Exception):
    """A missing or malformed setting; the message names it and where to get it."""


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


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name} is not set: find it in your Slack app's {_WHERE[name]}")
    prefix = _PREFIX.get(name)
    if prefix and not value.startswith(prefix):
        raise SettingsError(
            f"{name} does not start with {prefix}: use the {_WHERE[name]}, not another token"
        )
    return value


def load(http: bool, port: int | None = None) -> Settings:
    """Settings for `spibot serve`: Socket Mode needs the app token, HTTP mode the secret;
    SLACK_CLIENT_ID and SLACK_CLIENT_SECRET switch on OAuth distribution (HTTP only)."""
    oauth = bool(os.environ.get("SLACK_CLIENT_ID") or os.environ.get("SLACK_CLIENT_SECRET"))
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
    api_url = os.environ.get("SLACK_API_URL", "").strip() or DEFAULT_API_URL
    if not api_url.startswith(("https://", "http://")):
        raise SettingsError(f"SLACK_API_URL must be an http(s) URL such as {DEFAULT_API_URL}")
    if not api_url.endswith("/"):
        api_url += "/"
    if port is None:
        raw = os.environ.get("PORT", "").strip() or str(DEFAULT_PORT)
        if not raw.isdigit() or not 0 <= int(raw) < 65536:
            raise SettingsError(f"PORT must be a TCP port number (0-65535), not {raw!r}")
        port = int(raw)
    reaction = os.environ.get("SPIBOT_NOTE_REACTION", "").strip(": ") or DEFAULT_NOTE_REACTION
    return Settings(
        bot_token, app_token, signing_secret, api_url, port, reaction, client_id, client_secret
    )


def authorize_url(api_url: str) -> str:
    """Slack's OAuth authorize page beside its Web API (slack.com, slack-gov.com, a fake)."""
    base = api_url.rstrip("/").removesuffix("/api")
    return f"{base}/oauth/v2/authorize"


# The database settings, read here because kb reads no environment: every door that opens a
# Store passes database_path() and busy_timeout_ms().
def database_path(given: str | None = None) -> str | None:
    """--db, else SPIBOT_DB, else None (kb's default: a file in the user's data directory)."""
    return given or os.environ.get("SPIBOT_DB") or None


def busy_timeout_ms() -> int | None:
    """SPIBOT_BUSY_TIMEOUT_MS, or None for kb's default (DEFAULT_BUSY_MS)."""
    raw = os.environ.get("SPIBOT_BUSY_TIMEOUT_MS")
    if not raw:
        return None
    try:
        return max(0, int(raw))
    except ValueError as exc:
        raise StoreError(
            f"SPIBOT_BUSY_TIMEOUT_MS must be a whole number of ms, not {raw!r}"
        ) from exc
