"""The /spi slash command, answered inside its acknowledgement (Slack's 3 seconds: its lock
waits are SLACK_BUSY_MS at most). What each form does is bot/spi_command.py, shared with the
console. The answer is ephemeral; a paste's answer carries "Share in channel"
(bot/listeners/share.py), and its buttons work there too (bot/listeners/ephemeral.py)."""

from __future__ import annotations

from bot import blocks, spi_command
from bot.listeners import share
from bot.listeners.deps import Deps
from kb.store import StoreError


def on_spi(ack, command: dict, context, deps: Deps) -> None:
    try:
        store, state = deps.stores.get(context)
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
    shown = reply.blocks
    if reply.diagnosis is not None:
        channel, user = command.get("channel_id"), command.get("user_id")
        pasted = command.get("text") or ""
        shown = share.offer(shown, reply.diagnosis, pasted, state, channel, user)
    said = blocks.notification(reply.diagnosis) if reply.diagnosis is not None else None
    ack(
        response_type="ephemeral",
        text=said or blocks.clip(blocks.esc(reply.text)),
        blocks=[b.to_dict() for b in shown],
    )
