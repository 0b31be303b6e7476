"""Moving a knowledge base between hosts: online backup, and JSON Lines export/import.

Export and import cover what people wrote and what the bot learned (incidents with their
SPIs, notes, feedback) for every workspace; articles come from kb/articles on each host.
Backups and exports hold what the database holds, so they are written private to their owner
(0600), never through a symbolic link, never over an existing file unless asked.

Every workspace at once, deliberately: this is the one place in kb that reads and writes
incidents, notes and feedback without kb.workspace (which scopes them to one workspace).
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from kb.store import Store, StoreError
from kb.workspace import placeholders

TABLES = ("incidents", "incident_spis", "notes", "feedback")
_KEYS = {"incidents": ("id",), "incident_spis": ("incident_id", "spi"), "notes": ("id",)}
_KEYS["feedback"] = ("id",)
_INT64 = (-(2**63), 2**63 - 1)
# A note or verdict lives in its incident's workspace; an import must not move one across.
_OTHER_WORKSPACE = {
    "notes": "select 1 from notes t join incidents i on i.id = t.incident_id "
    "where t.id = ?1 and t.team_id != i.team_id",
    "feedback": "select 1 from feedback t join incidents i on i.id = t.incident_id "
    "where t.id = ?1 and t.team_id != i.team_id",
    "incidents": "select 1 from incidents i join notes t on t.incident_id = i.id "
    "where i.id = ?1 and t.team_id != i.team_id union all "
    "select 1 from incidents i join feedback t on t.incident_id = i.id "
    "where i.id = ?1 and t.team_id != i.team_id",
}


class TransferError(StoreError):
    """The file to write or read is not acceptable; nothing was written."""


@contextmanager
def new_file(destination: Path | str, *, force: bool = False) -> Iterator[Path]:
    """A private temporary file beside DESTINATION, moved into place once it is complete.

    A symbolic link is refused (dangling or not: never write where a link points), and so is
    anything already there unless `force`; a failure leaves DESTINATION as it was.
    """
    destination = Path(destination)
    _check_destination(destination, force)
    try:  # mkstemp creates the file 0600
        handle, name = tempfile.mkstemp(
            dir=destination.parent, prefix=f".{destination.name}.", suffix=".partial"
        )
    except OSError as exc:
        raise TransferError(f"cannot write {destination}: {exc.strerror}") from exc
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        _sync(temporary)
        os.replace(temporary, destination)
    finally:
        temporary.unlink(missing_ok=True)


def _check_destination(destination: Path, force: bool) -> None:
    if destination.is_symlink():
        raise TransferError(f"{destination} is a symbolic link: give the path of the file itself")
    if destination.exists() and not destination.is_file():
        raise TransferError(f"{destination} exists and is not a regular file")
    if destination.exists() and not force:
        raise TransferError(f"{destination} exists; add --force to overwrite it")
    if not destination.parent.is_dir():
        raise TransferError(f"cannot write {destination}: no such directory")


def _sync(path: Path) -> None:
    # On disk before it takes the destination's name: a crash leaves the old file, or the new.
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def backup(store: Store, destination: Path | str, *, force: bool = False) -> int:
    """A consistent copy of the live database (SQLite's online backup); returns its size."""
    with new_file(destination, force=force) as temporary:
        target = sqlite3.connect(temporary)
        try:
            store.db.conn.backup(target)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write the backup {destination}: {exc}") from exc
        finally:
            target.close()
    return Path(destination).stat().st_size


def export_rows(store: Store) -> Iterator[dict]:
    for table in TABLES:
        order = ", ".join(_KEYS[table])
        for row in store.db.query(f"select * from {table} order by {order}"):
            yield {"table": table, "row": row}


def import_rows(store: Store, lines: Iterable[bytes | str]) -> Counter:
    """Insert or update every row, keeping ids; all of it in one transaction, or none.

    A line that is not an acceptable export record raises TransferError naming it.
    """
    counts: Counter[str] = Counter()
    with store.writing("import") as db:
        columns = {t: db[t].columns_dict for t in TABLES}
        for number, line in enumerate(lines, 1):
            record = _record(number, line)
            if record is None:
                continue
            table, row = record
            _check_row(number, table, row, columns[table])
            _upsert(db, number, table, row)
            _check_workspace(db, number, table, row)
            counts[table] += 1
    return counts


def _record(number: int, line: bytes | str) -> tuple[str, dict] | None:
    try:
        text = line.decode("utf-8") if isinstance(line, bytes) else line
    except UnicodeDecodeError as exc:
        raise TransferError(f"line {number}: not UTF-8 text ({exc.reason})") from exc
    if not text.strip():
        return None
    try:
        item = json.loads(text)
        table, row = item["table"], item["row"]
    except (ValueError, KeyError, TypeError) as exc:
        raise TransferError(f"line {number}: not an export record ({exc})") from exc
    if table not in TABLES or not isinstance(row, dict):
        raise TransferError(f"line {number}: unknown table {table!r}")
    return table, row


def _check_row(number: int, table: str, row: dict, columns: dict[str, type]) -> None:
    unknown = set(row) - set(columns)
    if unknown:
        raise TransferError(f"line {number}: {table} has no column(s) {sorted(unknown)}")
    missing = [k for k in _KEYS[table] if row.get(k) is None]
    if missing:
        raise TransferError(f"line {number}: {table} row has no {', '.join(missing)}")
    for name, value in row.items():
        problem = _value_problem(value, columns[name])
        if problem:
            raise TransferError(f"line {number}: {table}.{name} {problem}")


def _value_problem(value: object, kind: type) -> str | None:
    """Why SQLite would choke on `value` in a column of `kind`, or None."""
    if value is None:
        return None
    if kind is int:
        if not isinstance(value, int) or isinstance(value, bool):
            return f"must be a whole number, not {type(value).__name__}"
        if not _INT64[0] <= value <= _INT64[1]:
            return "is out of range (more than 64 bits)"
        return None
    if kind is not str:
        return None
    if not isinstance(value, str):
        return f"must be text, not {type(value).__name__}"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode text (a lone surrogate)"
    return None


def _check_workspace(db, number: int, table: str, row: dict) -> None:
    query = _OTHER_WORKSPACE.get(table)
    if query and db.execute(query, [row["id"]]).fetchone():
        raise TransferError(
            f"line {number}: {table} row and its incident belong to different workspaces"
        )


# A verdict counts once per incident and cause (migration 0004_once): an export from before
# that rule may hold a double click, whose second row is skipped, as the migration did.
_ONCE = {"feedback": ("incident_id", "article_id", "verdict")}


def _held_by_another(db, table: str, row: dict) -> bool:
    columns = _ONCE.get(table)
    if columns is None or any(c not in row for c in columns):
        return False
    where = " and ".join(f"{c} = ?" for c in columns)
    found = db.execute(
        f"select 1 from {table} where {where} and id != ?",
        [*(row[c] for c in columns), row.get("id")],
    ).fetchone()
    return found is not None


def _upsert(db, number: int, table: str, row: dict) -> None:
    if _held_by_another(db, table, row):
        return
    names = list(row)
    keys = _KEYS[table]
    updates = [n for n in names if n not in keys]
    # An upsert, not INSERT OR REPLACE: the update keeps the full-text index in step.
    conflict = (
        f"do update set {', '.join(f'{n} = excluded.{n}' for n in updates)}"
        if updates
        else "do nothing"
    )
    try:
        db.execute(
            f"insert into {table} ({', '.join(names)}) "
            f"values ({placeholders(names)}) "
            f"on conflict({', '.join(keys)}) {conflict}",
            row,
        )
    except sqlite3.IntegrityError as exc:
        raise TransferError(f"line {number}: {table} row refused ({exc})") from exc
