"""The `spibot` command's entry point. The model's numbers (kb/model.yaml) and the bundled
articles are read when a command first needs them: a broken file is one line and exit 2 here,
not a traceback."""

from __future__ import annotations

import sys


def main() -> None:
    from kb.errors import ArticleError, ModelError

    try:
        from bot.cli import main as spibot

        spibot()
    except (ModelError, ArticleError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
