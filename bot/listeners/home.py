"""App Home: the counts, the open incidents and the recent peers, published on the
background pool when someone opens the tab."""

from __future__ import annotations

from slack_sdk import WebClient

from bot import blocks
from bot.listeners.deps import Deps


def on_home(event: dict, body: dict, client: WebClient, context, deps: Deps) -> None:
    deps.background.submit("home", publish_home, event, body, client, context, deps)


def publish_home(event: dict, body: dict, client: WebClient, context, deps: Deps) -> None:
    store, state = deps.paste_stores.get(context)
    if not state.first_time(f"event:{body.get('event_id')}"):
        return
    recent = store.incidents(limit=50)
    peers = list(dict.fromkeys(i.peer for i in recent if i.peer))[:10]
    open_ = [i for i in recent if i.status == "open"]
    view = blocks.home(store.counts(), open_, peers)
    client.views_publish(user_id=event["user"], view=view.to_dict())
