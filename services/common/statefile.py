"""Local SQLite state files (the fetcher's and alerting's): one owning process, WAL journal."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path

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
