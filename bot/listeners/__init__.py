"""Slack's surfaces, one module each, and the one place they are registered on the app.

    paste      message, app_mention: a paste answered in its thread, the thread conversation
    spi        the /spi slash command
    share      "Share in channel" under a /spi answer
    ephemeral  buttons on an ephemeral message answer through its response_url
    actions    the reply's buttons: "Fixed it…", "Not it" and their Undos, "Add note"
    shortcut   the "Add to SPI incident" message shortcut
    views      the note form and the "Fixed it" form submitted
    reactions  the note reaction: a message filed as a note
    home       App Home

Each listener is a plain function of the payload Bolt names (`event`, `body`, `action`,
`command`, `shortcut`, `view`), the `client`, `ack` where Slack waits for one, `context`, and
`deps` (bot/listeners/deps.py): a test calls it directly with a fake client.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from slack_bolt import App

from bot import blocks, verdict_blocks
from bot.listeners import (
    actions,
    details,
    ephemeral,
    home,
    paste,
    reactions,
    share,
    shortcut,
    spi,
    views,
)
from bot.listeners.deps import Deps, Stores

__all__ = ["Deps", "Stores", "register"]


def _bound(listener: Callable, deps: Deps) -> Callable:
    # Bolt passes what a listener's positional parameters name; `deps`, bound here as a
    # keyword, is not one of them.
    bound = partial(listener, deps=deps)
    bound.__name__ = listener.__name__  # Bolt's debug log names listeners
    return bound


def register(app: App, deps: Deps) -> None:
    app.event("message")(_bound(paste.on_message, deps))
    app.event("app_mention")(_bound(paste.on_mention, deps))
    app.middleware(ephemeral.through_response_url)
    app.command("/spi")(_bound(spi.on_spi, deps))
    app.action(share.SHARE)(_bound(share.on_share, deps))
    app.action("spi_fixed")(_bound(actions.on_fixed, deps))
    app.action("spi_not_it")(_bound(actions.on_not_it, deps))
    app.action(verdict_blocks.REOPEN)(_bound(actions.on_reopen, deps))
    app.action(verdict_blocks.UNDO_NOT_IT)(_bound(actions.on_undo_not_it, deps))
    app.action("spi_add_note")(actions.on_add_note)
    app.action(details.DETAILS)(_bound(details.on_details, deps))
    app.shortcut(shortcut.SHORTCUT)(_bound(shortcut.on_shortcut, deps))
    app.view(blocks.NOTE_MODAL)(_bound(views.on_note_submitted, deps))
    app.view(verdict_blocks.FIXED_MODAL)(_bound(views.on_fixed_submitted, deps))
    app.event("reaction_added")(_bound(reactions.on_reaction, deps))
    app.event("app_home_opened")(_bound(home.on_home, deps))
