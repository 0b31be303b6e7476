"""The database file on disk: created private to its owner, known by its identity, and the
free space beside it.

The file holds OAuth bot tokens, so it is created 0600 in 0700 directories. Its identity
(st_dev, st_ino) tells a file removed or replaced under a running process from the one opened.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

MIN_FREE_BYTES = 1 << 20  # below this, the next write is likely to meet "database or disk is full"
# The file (st_dev, st_ino) each database path named when this process first opened it. Every
# Store compares against it, not against what it found itself: a thread or a forked worker
# opening after the file was replaced must refuse writes like the others, not start a new file.
_FIRST_SEEN: dict[str, tuple[int, int]] = {}


def identity(path: Path) -> tuple[int, int] | None:
    """(st_dev, st_ino) of the file now at `path`, or None when there is none."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


def first_seen(path: Path) -> tuple[int, int] | None:
    """The identity `path` had when this process first opened it (None: not opened yet)."""
    return _FIRST_SEEN.get(os.path.abspath(path))


def remember(path: Path, found: tuple[int, int]) -> tuple[int, int]:
    """Record `found` as the file at `path` unless one was recorded before; return the first."""
    return _FIRST_SEEN.setdefault(os.path.abspath(path), found)


def free_bytes(path: Path) -> int:
    try:
        return shutil.disk_usage(path.parent).free
    except OSError:
        return MIN_FREE_BYTES  # unknown is not full: the write itself will tell


def make_private_dirs(directory: Path) -> None:
    """Create `directory` and any missing parents 0700 (Path.mkdir gives parents 0777)."""
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for each in reversed(missing):
        each.mkdir(mode=0o700, exist_ok=True)


def create_private_file(path: Path) -> None:
    """An empty file 0600; OSError when it cannot be made.

    Created before SQLite opens it: SQLite gives -wal and -shm the main file's mode, so OAuth
    tokens in any of the three are for the owner only. O_NOFOLLOW: a dangling link named as the
    database is refused, not followed to wherever it points.
    """
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600))
