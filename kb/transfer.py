"""Moving a knowledge base between hosts: online backup, and JSON Lines export/import.

Export and import cover what people wrote and what the bot learned (incidents with their
SPIs, notes, feedback) for every workspace; articles come from kb/articles on each host.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from kb.store import Store, StoreError

TABLES = ("incidents", "incident_spis", "notes", "feedback")
_KEYS = {"incidents": ("id",), "incident_spis": ("incident_id", "spi"), "notes": ("id",)}
_KEYS["feedback"] = ("id",)


def backup(store: Store, destination: Path | str) -> int:
    """A consistent copy of the live database (SQLite's online backup); returns its size."""
    destination = Path(destination)
    target = sqlite3.connect(destination)
    try:
        store.db.conn.backup(target)
    finally:
        target.close()
    return destination.stat().st_size


def export_rows(store: Store) -> Iterator[dict]:
    for table in TABLES:
        order = ", ".join(_KEYS[table])
        for row in store.db.query(f"select * from {table} order by {order}"):
            yield {"table": table, "row": row}


def import_rows(store: Store, lines: Iterable[str]) -> Counter:
    """Insert or update every row, keeping ids; all of it in one transaction, or none."""
    counts: Counter[str] = Counter()
    with store.writing("import") as db:
        columns = {t: set(db[t].columns_dict) for t in TABLES}
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                table, row = item["table"], item["row"]
            except (ValueError, KeyError, TypeError) as exc:
                raise StoreError(f"line {number}: not an export record ({exc})") from exc
            if table not in TABLES or not isinstance(row, dict):
                raise StoreError(f"line {number}: unknown table {table!r}")
            unknown = set(row) - columns[table]
            if unknown:
                raise StoreError(f"line {number}: {table} has no column(s) {sorted(unknown)}")
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
                    f"values ({', '.join('?' * len(names))}) "
                    f"on conflict({', '.join(keys)}) {conflict}",
                    [row[n] for n in names],
                )
            except sqlite3.IntegrityError as exc:
                raise StoreError(f"line {number}: {table} row refused ({exc})") from exc
            counts[table] += 1
    return counts
