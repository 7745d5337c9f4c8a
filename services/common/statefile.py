"""Local SQLite state files (the fetcher's and alerting's): one owning process, WAL journal."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path
from typing import Self

from services.common.errors import ConfigError


def lock_state_file(path: Path, in_use: str) -> int:
    """Take the exclusive lock beside ``path``, or stop with ``in_use`` naming the file:
    two processes writing one state file would each trust state the other is changing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(lock_fd)
        raise ConfigError(f"{path}: {in_use}") from None
    return lock_fd


def connect_state_file(path: Path | str, schema: str) -> sqlite3.Connection:
    """Open (and create) the database in autocommit mode with the WAL journal.

    ``synchronous=NORMAL``: a commit survives the process being killed, not the machine
    losing power; callers that need more sync explicitly.
    """
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(schema)
    return db


MEMORY = ":memory:"


class StateFile:
    """A state file this process owns while it is open: ``open()`` takes the lock (none for
    ``:memory:``) and connects with ``SCHEMA``; ``close()`` releases both; a context manager.
    Subclasses set ``SCHEMA`` and ``IN_USE`` (what to tell a second process)."""

    SCHEMA = ""
    IN_USE = "the state file is in use by another process"

    def __init__(self, path: Path | str) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._lock_fd: int | None = None

    def open(self) -> Self:
        if str(self.path) != MEMORY:
            self._lock_fd = lock_state_file(Path(self.path), self.IN_USE)
        self._db = connect_state_file(self.path, self.SCHEMA)
        return self

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the lock
            self._lock_fd = None

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError(f"{type(self).__name__} used before open()")
        return self._db
