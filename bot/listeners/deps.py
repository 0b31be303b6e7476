"""What every Slack listener is given besides its payload and client: `Deps`.

A listener is a plain function `on_x(<Bolt's payload arguments>, deps)`; bot/listeners/
__init__.py binds `deps` once, and a test calls the function with a fake client and a real
Store on a temporary file.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from bot.background import Background
from bot.settings import DEFAULT_NOTE_REACTION
from bot.slack_state import SlackState
from kb.store import Store


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


@dataclass(frozen=True)
class Deps:
    # Listeners that answer inside Slack's 3 seconds (/spi, buttons, forms, watch checks)
    # use `stores`, whose lock waits are short; work on the background pool uses
    # `paste_stores`, which wait as long as the terminal does.
    stores: Stores
    paste_stores: Stores
    background: Background
    note_reaction: str = DEFAULT_NOTE_REACTION
