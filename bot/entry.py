"""The `spibot` command's entry point. The model's numbers (kb/model.yaml) and the bundled
articles are read while kb loads, before click runs: a broken file is one line and exit 2
here, not a traceback."""

from __future__ import annotations

import sys


def main() -> None:
    from kb.article import ArticleError
    from kb.model import ModelError

    try:
        from bot.cli import main as spibot
    except (ModelError, ArticleError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    spibot()
