"""The commands that look after the knowledge base rather than diagnose: cause articles
(`kb sync`, `kb list`), `backup`, `export`, `import` and `doctor`. They register on the
`spibot` group of bot/cli.py."""

from __future__ import annotations

import json
import sys
from collections import Counter
from typing import NoReturn, TextIO

import click

from bot.cli import EXIT_DATABASE, EXIT_USAGE, db_option, main, open_store, print_json
from kb.article import ArticleError, load_articles
from kb.signals import signals
from kb.store import Store, StoreError


@main.group()
def kb() -> None:
    """The cause articles in the knowledge base."""


@kb.command("sync")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@db_option
def kb_sync(directory: str | None, db_path: str | None) -> None:
    """Load and validate articles from DIRECTORY (default: the bundled ones) into the database.

    Idempotent: unchanged articles are left alone. An invalid article stops the sync with an
    error naming its file and field, and nothing is written: so does anything that is not a
    regular file of at most 256 KB, front-matter with YAML aliases or nested too deep, a
    weight that is not a finite number, or an id that is not a short slug.
    """
    try:
        articles = load_articles(directory) if directory else load_articles()
    except ArticleError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    store = open_store(db_path)
    with store:
        try:
            report = store.sync_articles(articles)
        except StoreError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_DATABASE)
    click.echo(", ".join(f"{len(ids)} {what}" for what, ids in report.items()))


@kb.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the articles as JSON.")
@db_option
def kb_list(as_json: bool, db_path: str | None) -> None:
    """List the cause articles and the evidence each one weighs."""
    store = open_store(db_path)
    with store:
        articles = store.articles()
    if as_json:
        print_json(
            {
                "articles": [
                    {"id": a.id, "title": a.title, "prior": a.prior, "evidence": a.evidence}
                    for a in articles
                ]
            }
        )
        return
    for a in articles:
        click.echo(f"{a.id:<18} {a.title}")
        weights = ", ".join(f"{k} {v:+g}" for k, v in a.evidence.items())
        click.echo(f"{'':<18} prior {a.prior:g}; {weights}")
    click.echo(f"\n{len(articles)} articles; signals: {', '.join(signals())}")


def _fail(exc: StoreError) -> NoReturn:
    """One line and the exit code: 2 for the file named on the command line, 4 the database."""
    from kb.transfer import TransferError

    click.echo(f"error: {exc}", err=True)
    sys.exit(EXIT_USAGE if isinstance(exc, TransferError) else EXIT_DATABASE)


@main.command()
@click.argument("destination", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite DESTINATION if it exists.")
@db_option
def backup(destination: str, force: bool, db_path: str | None) -> None:
    """Copy the live database to DESTINATION (SQLite online backup; safe while serving).

    The copy is private to you (mode 0600). Refuses a --db that does not exist, a
    DESTINATION that is a symbolic link, and an existing one unless --force (exit 2).
    """
    from kb.transfer import backup as run_backup

    with open_store(db_path, create=False) as store:
        try:
            size = run_backup(store, destination, force=force)
        except StoreError as exc:
            _fail(exc)
    click.echo(f"Backed up {store.path} to {destination} ({size:,} bytes).")


def _write_export(store: Store, out: TextIO) -> Counter:
    from kb.transfer import export_rows

    counts: Counter[str] = Counter()
    for item in export_rows(store):
        out.write(json.dumps(item, ensure_ascii=False) + "\n")
        counts[item["table"]] += 1
    return counts


@main.command("export")
@click.argument("destination", metavar="[FILE|-]", required=False, default="-")
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@db_option
def export_(destination: str, force: bool, db_path: str | None) -> None:
    """Write incidents, SPIs, notes and feedback of every workspace as JSON Lines.

    To standard output by default; a FILE is private to you (mode 0600). Refuses a --db that
    does not exist, a FILE that is a symbolic link, and an existing one unless --force.
    """
    from kb.transfer import new_file

    with open_store(db_path, create=False) as store:
        try:
            if destination == "-":
                counts = _write_export(store, click.get_text_stream("stdout"))
            else:
                with (
                    new_file(destination, force=force) as partial,
                    partial.open("w", encoding="utf-8") as out,
                ):
                    counts = _write_export(store, out)
        except StoreError as exc:
            _fail(exc)
    summary = ", ".join(f"{n} {table}" for table, n in counts.items()) or "nothing"
    click.echo(f"Exported {summary}.", err=True)


@main.command("import")
@click.argument("source", metavar="FILE|-")
@db_option
def import_(source: str, db_path: str | None) -> None:
    """Load a `spibot export` file: rows keep their ids; existing ones are updated.

    All or nothing: a malformed line (not UTF-8, not JSON, a wrong type, a number beyond 64
    bits, a note filed under another workspace's incident) stops the import with its line
    number (exit 2).
    """
    from kb.transfer import import_rows

    try:
        lines = click.open_file(source, "rb")
    except OSError as exc:
        click.echo(f"error: cannot read {source}: {exc.strerror}", err=True)
        sys.exit(EXIT_USAGE)
    with open_store(db_path) as store, lines:
        try:
            counts = import_rows(store, lines)
        except StoreError as exc:
            _fail(exc)
    summary = ", ".join(f"{n} {table}" for table, n in counts.items()) or "nothing"
    click.echo(f"Imported {summary}.")


@main.command()
@db_option
def doctor(db_path: str | None) -> None:
    """Check settings, the database, the articles and (with a token) the token's scopes.

    Exit code 0 when nothing failed, 1 otherwise.
    """
    from bot import doctor as checks

    results = checks.run(db_path)
    for check in results:
        click.echo(f"{check.status:<5} {check.name}: {check.detail}")
    sys.exit(1 if any(c.status == "FAIL" for c in results) else 0)


@kb.command("model")
@click.option("--json", "as_json", is_flag=True, help="Print the model as JSON.")
def kb_model(as_json: bool) -> None:
    """Show the diagnosis model's numbers (kb/model.yaml): thresholds, timing, confidence
    margins and history points, each with what it means."""
    from kb.model import MODEL_FILE, ModelError, load_model

    try:
        model = load_model()
    except ModelError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    if as_json:
        print_json(model)
        return
    for section, entries in model.items():
        click.echo(f"{section}:")
        for name, entry in entries.items():
            click.echo(f"  {name:<28} {entry['value']:>8g}  {entry['meaning']}")
    click.echo(f"\n{MODEL_FILE}; `spibot eval tests/cases` measures an edit.")
