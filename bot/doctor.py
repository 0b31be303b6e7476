"""`spibot doctor`: is this install ready? Settings, database, articles, the log scanner, the
token's scopes."""

from __future__ import annotations

from dataclasses import dataclass

from bot import settings
from kb.article import ArticleError, load_articles
from kb.store import MIGRATIONS, Store, StoreError


@dataclass
class Check:
    status: str  # ok, warn or FAIL
    name: str
    detail: str


def _settings() -> list[Check]:
    if not settings.any_slack():
        return [Check("ok", "settings", "no Slack settings: terminal use only")]
    modes, errors = [], []
    for http, name in ((False, "Socket Mode"), (True, "HTTP mode")):
        try:
            config = settings.load(http=http)
        except settings.SettingsError as exc:
            errors.append(f"{name}: {exc}")
        else:
            modes.append(name + (" with OAuth distribution" if config.oauth else ""))
    if modes:
        return [Check("ok", "settings", "ready for " + " and ".join(modes))]
    return [Check("FAIL", "settings", "; ".join(errors))]


def _database(db_path: str | None) -> list[Check]:
    try:
        path = settings.database_path(db_path)
        with Store(path, busy_ms=settings.busy_timeout_ms()) as store:
            integrity = store.db.execute("pragma integrity_check").fetchone()[0]
            journal = store.db.execute("pragma journal_mode").fetchone()[0]
            applied = len(MIGRATIONS.applied(store.db))
            counts = store.counts()
            checks = [
                Check(
                    "ok" if integrity == "ok" else "FAIL",
                    "database",
                    f"{store.path}: integrity {integrity}, journal {journal}, {applied} migrations "
                    f"applied, {counts['incidents']} incidents, {counts['notes']} notes"
                    + (" (read-only)" if store.readonly else ""),
                )
            ]
            checks.extend(_writes(store))
            checks.extend(_articles(store))
            return checks
    except StoreError as exc:
        return [Check("FAIL", "database", str(exc))]


def _writes(store: Store) -> list[Check]:
    """Serving writes (notes, verdicts, Slack deliveries): a database it cannot write fails."""
    problem = store.write_problem()
    if problem:
        return [Check("FAIL", "writes", f"{problem}; serving needs to write")]
    mode = store.path.stat().st_mode & 0o777
    if mode & 0o077:
        return [
            Check(
                "warn",
                "permissions",
                f"{store.path} is mode {mode:o} and holds OAuth tokens: chmod 600 it "
                "(and its -wal and -shm files)",
            )
        ]
    return [Check("ok", "writes", "the database is writable and has room")]


def _articles(store: Store) -> list[Check]:
    try:
        load_articles()  # every bundled article validates
        status = store.article_status()
    except ArticleError as exc:
        return [Check("FAIL", "articles", str(exc))]
    checks = []
    if status["local"]:
        checks.append(
            Check(
                "warn",
                "articles",
                f"{len(status['local'])} articles differ from the bundled ones: kept (changed "
                f"locally): {', '.join(status['local'])}; `spibot kb sync` restores them",
            )
        )
    if status["stale"]:
        why = (
            "the database is read-only: it is served as it is"
            if store.readonly
            else "they are brought in when spibot next opens the database"
        )
        checks.append(
            Check(
                "warn",
                "articles",
                f"{len(status['stale'])} bundled articles are newer than the database's and were "
                f"not applied ({', '.join(status['stale'][:5])}): {why}",
            )
        )
    if not checks:
        total = store.counts()["articles"]
        checks.append(Check("ok", "articles", f"{total} articles, all valid and up to date"))
    return checks


def _scopes() -> list[Check]:
    token = settings.raw("SLACK_BOT_TOKEN")
    if not token:
        return []
    from slack_sdk.errors import SlackApiError

    from bot.slack_app import web_client

    try:
        config = settings.load(http=bool(settings.raw("SLACK_SIGNING_SECRET")))
    except settings.SettingsError:
        return []  # already reported under settings
    try:
        response = web_client(config).auth_test()
    except SlackApiError as exc:
        reason = exc.response.get("error")
        return [Check("FAIL", "token", f"Slack refused SLACK_BOT_TOKEN ({reason})")]
    except OSError as exc:
        return [Check("FAIL", "token", f"cannot reach {config.api_url}: {exc}")]
    headers = {k.lower(): v for k, v in response.headers.items()}
    granted = {s.strip() for s in headers.get("x-oauth-scopes", "").split(",") if s.strip()}
    missing = sorted(set(settings.BOT_SCOPES) - granted)
    team = response.get("team") or response.get("team_id")
    if missing:
        return [
            Check(
                "FAIL",
                "token",
                f"workspace {team}: missing scopes {', '.join(missing)}: add them in "
                "OAuth & Permissions (or re-create the app from the manifest), then reinstall",
            )
        ]
    return [Check("ok", "token", f"workspace {team}: every scope of the manifest is granted")]


def _scanner() -> list[Check]:
    """Which engine finds the lines to read in a log (kb/markers.py): the C one is built by pip
    where it finds a C compiler; without it big files are read several times slower."""
    from kb import markers

    if markers.ENGINE == "c":
        return [Check("ok", "scanner", "kb/_lines.c (built at install): one C pass a chunk")]
    return [
        Check(
            "warn",
            "scanner",
            f"kb/_lines.c was not built (no C compiler when spibot was installed): "
            f"{markers.ENGINE} reads big files, several times slower; install gcc and the "
            "Python headers (Debian: apt install gcc python3-dev) and reinstall spibot",
        )
    ]


def run(db_path: str | None) -> list[Check]:
    return _settings() + _database(db_path) + _scanner() + _scopes()
