"""Workspace scoping by construction: every statement on incidents, notes and feedback is
built here, and each one filters on (or writes) the workspace's team_id.

Callers give the rest of the WHERE clause and named parameters; the workspace filter and its
`:team` parameter are added here, and a caller's own `team` parameter is refused, so a query
that forgets the workspace cannot be written through this class. The filter is
`+team_id = :team` by default: the unary plus keeps SQLite from choosing a team_id index, so
the peer, local, device and SPI indexes drive the query (a workspace has many rows).
`team_index=True` is for the few queries the (team_id, ...) indexes serve best.

incident_spis has no team_id: its rows are reached only through an incident id that a query
here returned (a join or sub-select inside a scoped query, or an id it handed back).
tests/test_workspace_scoping.py checks every statement the Store runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import sqlite_utils

SCOPED_TABLES = frozenset({"incidents", "notes", "feedback", "feed_lines", "alerts"})
_FILTER = "+team_id = :team"
_FILTER_BY_INDEX = "team_id = :team"


def one_of(column: str, name: str) -> str:
    """`column` in the JSON list bound to `:name` (see `listed`). One parameter, however long
    the list: a paste with 50,000 distinct SPIs cannot exceed SQLITE_MAX_VARIABLE_NUMBER (999
    on older builds), and SQLite still searches the column's index."""
    return f"{column} in (select value from json_each(:{name}))"


def listed(values: Iterable) -> str:
    """The value of a `one_of` parameter: distinct values, sorted, as a JSON list."""
    return json.dumps(sorted(set(values)))


def placeholders(names: Iterable[str]) -> str:
    """`:a, :b, ...`, the named parameters for a row's columns (one idiom, used everywhere)."""
    return ", ".join(f":{name}" for name in names)


class Workspace:
    """One workspace's rows of incidents, notes and feedback ('' = this install's own)."""

    def __init__(self, db: sqlite_utils.Database, team: str) -> None:
        self.db = db
        self.team = team or ""

    def select(
        self,
        table: str,
        where: str = "1 = 1",
        args: dict | None = None,
        *,
        columns: str = "*",
        order: str | None = None,
        limit: int | None = None,
        team_index: bool = False,
    ) -> list[dict]:
        sql = (
            f"select {columns} from {_scoped(table)} where {self._filter(team_index)} and ({where})"
        )
        if order:
            sql += f" order by {order}"
        if limit:
            sql += f" limit {int(limit)}"
        return list(self.db.query(sql, self._params(args)))

    def first(self, table: str, where: str, args: dict | None = None, **options) -> dict | None:
        found = self.select(table, where, args, limit=1, **options)
        return found[0] if found else None

    def count(self, table: str, where: str = "1 = 1", args: dict | None = None) -> int:
        sql = f"select count(*) from {_scoped(table)} where {_FILTER_BY_INDEX} and ({where})"
        return self.db.execute(sql, self._params(args)).fetchone()[0]

    def insert(self, table: str, row: dict, *, on_conflict: str = "") -> tuple[int, int]:
        """Insert `row` into this workspace: (lastrowid, rowcount). `on_conflict` is a clause
        such as "on conflict (a, b) do nothing"."""
        if "team_id" in row:
            raise ValueError("the workspace sets team_id itself")
        names = ["team_id", *row]
        sql = (
            f"insert into {_scoped(table)} ({', '.join(names)}) "
            f"values ({placeholders(['team', *row])}) {on_conflict}"
        )
        cursor = self.db.execute(sql, self._params(row))
        return cursor.lastrowid, cursor.rowcount

    def update(
        self, table: str, values: dict, where: str, args: dict | None = None, *, keep=()
    ) -> int:
        """Set `values` on this workspace's rows matching `where`; the number of rows changed.
        A column named in `keep` keeps its value where the new one is None."""
        assignments = ", ".join(
            f"{column} = coalesce(:set_{column}, {column})"
            if column in keep
            else f"{column} = :set_{column}"
            for column in values
        )
        sql = f"update {_scoped(table)} set {assignments} where {_FILTER} and ({where})"
        params = {f"set_{column}": value for column, value in values.items()}
        return self.db.execute(sql, self._params({**(args or {}), **params})).rowcount

    def delete(self, table: str, where: str, args: dict | None = None) -> int:
        """Delete this workspace's rows matching `where`; how many."""
        sql = f"delete from {_scoped(table)} where {_FILTER} and ({where})"
        return self.db.execute(sql, self._params(args)).rowcount

    def search(self, table: str, expression: str, columns: list[str], limit: int) -> list[dict]:
        """Full-text matches for an FTS `expression` (already quoted) among this workspace's
        rows, best first."""
        sql = self.db[_scoped(table)].search_sql(
            columns=columns, limit=limit, include_rank=True, where=_FILTER
        )
        return [dict(r) for r in self.db.query(sql, self._params({"query": expression}))]

    def _filter(self, team_index: bool) -> str:
        return _FILTER_BY_INDEX if team_index else _FILTER

    def _params(self, args: dict | None) -> dict:
        if args and "team" in args:
            raise ValueError("'team' is the workspace's own parameter")
        return {**(args or {}), "team": self.team}


def _scoped(table: str) -> str:
    if table not in SCOPED_TABLES:
        raise ValueError(f"{table} is not a workspace-scoped table")
    return table
