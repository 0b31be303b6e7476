"""One open connection to the knowledge-base file, its transactions and its errors.

WAL so readers never wait for a writer, a busy timeout so two writers queue instead of failing,
and a clear StoreError when the file is read-only, stays locked, fills the disk, or was removed
or replaced under a running process. Nothing here knows what the tables hold.

kb reads no environment: the path and the busy timeout are arguments (the doors read
SPIBOT_DB and SPIBOT_BUSY_TIMEOUT_MS); the messages name those settings for the person who
has to act on them.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import platformdirs
import sqlite_utils
from sqlite_utils.migrations import Migrations

from kb import dbfile

DEFAULT_BUSY_MS = 5000


class StoreError(Exception):
    """The database cannot do what was asked; the message says why and what to do."""


class ReadOnlyError(StoreError):
    pass


class LockedError(StoreError):
    pass


class UnknownArticleError(StoreError):
    pass


class DiskFullError(StoreError):
    pass


class ReplacedError(StoreError):
    pass


class MissingDatabaseError(StoreError):
    pass


def default_db_path() -> Path:
    return platformdirs.user_data_path("spibot", appauthor=False) / "spibot.db"


def resolve_db_path(path: str | os.PathLike | None = None) -> Path:
    """The path given (--db or SPIBOT_DB, read by the door), else the user's data directory."""
    return Path(path or default_db_path()).expanduser()


def utcnow() -> datetime:
    return datetime.now(UTC)


def stamp(when: datetime) -> str:
    """A time as the database keeps it: UTC, ISO 8601, to the second."""
    return when.astimezone(UTC).isoformat(timespec="seconds")


class Connection:
    """An open knowledge-base file. create=False refuses a missing file (a typo in --db must
    not back up a new empty database); read_only=True opens without writing, and a file this
    process cannot write is opened read-only too. Not shared between threads."""

    def __init__(self, path: Path, *, busy_ms: int, create: bool, read_only: bool) -> None:
        self.path = path
        self.busy_ms = busy_ms
        self.readonly = read_only
        self._identity: tuple[int, int] | None = None
        in_memory = str(path) == ":memory:"
        if not in_memory:
            self._prepare_file(create)
        try:
            with self.translating_errors("open"):
                self.db = self._open()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path} is not a spibot database: {exc}") from exc
        if not in_memory:
            found = dbfile.identity(path)
            self._identity = dbfile.remember(path, found) if found else None

    def _prepare_file(self, create: bool) -> None:
        """Decide read-only or writable, and create a missing file (private) when allowed."""
        path = self.path
        known, found = dbfile.first_seen(path), dbfile.identity(path)
        if known is not None and found != known:
            # Never a new empty file in its place; and never open a replacement while this
            # process's connections to the old file share its -wal and -shm (by name).
            raise ReplacedError(self._replaced_message())
        if found is not None:
            if self.readonly or not os.access(path, os.W_OK):
                self.readonly = True
            return
        if not create or self.readonly:
            raise MissingDatabaseError(f"database file missing: {path} (check --db or SPIBOT_DB)")
        try:
            dbfile.make_private_dirs(path.parent)
        except OSError as exc:
            raise StoreError(f"cannot create the directory for {path}: {exc.strerror}") from exc
        if not os.access(path.parent, os.W_OK):
            raise ReadOnlyError(
                f"cannot create {path}: its directory is not writable "
                "(set SPIBOT_DB or --db to a writable path)"
            )
        try:
            dbfile.create_private_file(path)
        except OSError as exc:
            raise StoreError(f"cannot create {path}: {exc.strerror}") from exc

    def _open(self) -> sqlite_utils.Database:
        if self.readonly:
            conn = _connect_read_only(self.path)
        else:
            conn = sqlite3.connect(str(self.path), check_same_thread=False)
        # Autocommit: transactions are only the ones sqlite-utils' atomic() and writing() open.
        conn.isolation_level = None
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_ms)}")
        db = sqlite_utils.Database(conn)
        try:
            if not self.readonly:
                db.enable_wal()
                conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error:
            conn.close()  # a lost race for WAL on a new file: the caller opens again
            raise
        return db

    def migrate(self, migrations: Migrations, read_optional: Collection[str] = ()) -> None:
        """Apply pending migrations; safe when several processes open a new file at once.
        A read-only file may stay without the `read_optional` ones (they add only what
        writers use): it is served as it is."""
        pending = migrations.pending(self.db)
        if not pending:
            return
        if self.readonly and all(m.name in read_optional for m in pending):
            return
        if self.readonly:
            raise ReadOnlyError(
                f"{self.path} is read-only and needs migrating "
                f"({', '.join(m.name for m in pending)}); open it once with write access"
            )
        # The write lock first, then a second look: whoever got here first has migrated.
        with self.writing("migrate"):
            if migrations.pending(self.db):
                migrations.apply(self.db)

    @contextmanager
    def translating_errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if "locked" in text or "busy" in text:
                raise LockedError(self._locked_message()) from exc
            if "readonly" in text or "read-only" in text:
                raise ReadOnlyError(f"{self.path} is read-only: cannot {action}") from exc
            # SQLITE_FULL; or an I/O error where the disk is full (growing the -shm file)
            if "disk is full" in text or ("disk I/O" in text and self._low_on_space()):
                raise DiskFullError(self._disk_full_message(action)) from exc
            raise

    @contextmanager
    def writing(self, action: str) -> Iterator[sqlite_utils.Database]:
        """One write transaction; read-only, lock, full-disk and replaced-file errors become
        clear StoreErrors, and a failed commit leaves no transaction open."""
        if self.readonly:
            raise ReadOnlyError(f"{self.path} is read-only: cannot {action}")
        if self._file_changed():
            # Writing to a file nobody will open again would lose the write.
            self._hand_back_wal()
            raise ReplacedError(self._replaced_message())
        with self.translating_errors(action):
            # IMMEDIATE takes the write lock up front, so the busy timeout applies to it.
            self.db.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
                self.db.conn.execute("COMMIT")
            except BaseException:
                if self.db.conn.in_transaction:
                    self.db.conn.execute("ROLLBACK")
                raise

    def write_problem(self) -> str | None:
        """Why a write would fail now (file replaced or removed, read-only, disk full), or None.

        Only looks, never writes: for /healthz and `spibot doctor`.
        """
        if str(self.path) == ":memory:":
            return None
        if self._file_changed():
            return self._replaced_message()
        if not os.access(self.path, os.W_OK):
            return (
                f"{self.path} is read-only: notes, verdicts and Slack deliveries cannot be recorded"
            )
        if self._low_on_space():
            return (
                f"the database could not be used: disk full ({dbfile.free_bytes(self.path):,} "
                f"bytes free where {self.path} lives); free some space"
            )
        return None

    def close(self) -> None:
        self.db.conn.close()

    def _hand_back_wal(self) -> None:
        # SQLite finds -wal and -shm by name, so the file now at our path would take our WAL
        # frames for its own when next opened: move them into our (old) file, empty the -wal.
        with contextlib.suppress(sqlite3.Error):
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _file_changed(self) -> bool:
        return self._identity is not None and dbfile.identity(self.path) != self._identity

    def _low_on_space(self) -> bool:
        return str(self.path) != ":memory:" and dbfile.free_bytes(self.path) < dbfile.MIN_FREE_BYTES

    def _locked_message(self) -> str:
        return (
            f"{self.path} is locked by another process (waited {self.busy_ms / 1000:g} s); "
            "try again, or raise SPIBOT_BUSY_TIMEOUT_MS"
        )

    def _replaced_message(self) -> str:
        return (
            f"the database file {self.path} was removed or replaced while spibot was running: "
            "restart spibot; nothing was written"
        )

    def _disk_full_message(self, action: str) -> str:
        return (
            f"the database could not be used: disk full, cannot {action} in {self.path}; "
            "free some space and try again (nothing was written)"
        )


def _connect_read_only(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    try:
        conn.execute("select count(*) from sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        # A WAL database on a read-only filesystem has no -shm file and cannot get one;
        # nobody can be writing it there, so reading it as immutable is safe.
        conn.close()
        return sqlite3.connect(
            f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False
        )
