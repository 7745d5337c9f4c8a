"""Durable sent-state: per (alert id, channel) the delivery status and attempts, in SQLite.

A delivery recorded as ``delivered`` is never sent again, so a replay or a restart re-sends
only what had not gone out. One process owns a state file at a time: a second one fails at
open instead of racing the first (WAL keeps reads cheap and writes crash-safe).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from schemas import DeliveryStatus
from services.common.errors import ConfigError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    alert_id     TEXT NOT NULL,
    channel      TEXT NOT NULL,
    status       TEXT NOT NULL,
    attempts     INTEGER NOT NULL,
    last_error   TEXT,
    delivered_at TEXT,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (alert_id, channel)
);
CREATE TABLE IF NOT EXISTS published_alerts (
    alert_id     TEXT PRIMARY KEY,
    published_at TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class DeliveryRecord:
    alert_id: str
    channel: str
    status: DeliveryStatus
    attempts: int
    last_error: str | None = None
    delivered_at: datetime | None = None


class SentStore:
    """The state file; ``open()`` before use (the app does it at start), ``close()`` after."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._lock_fd: int | None = None

    def open(self) -> SentStore:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock_fd)
            raise ConfigError(
                f"{self.path}: alerting state file is in use by another process; "
                "give each alerting process its own RAQIB_ALERTING_STATE_FILE"
            ) from None
        self._lock_fd = lock_fd
        # Autocommit: every write is its own transaction, durable when the call returns.
        db = sqlite3.connect(self.path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(_SCHEMA)
        self._db = db
        return self

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def __enter__(self) -> SentStore:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("SentStore used before open()")
        return self._db

    def get(self, alert_id: str, channel: str) -> DeliveryRecord | None:
        row = self.db.execute(
            "SELECT status, attempts, last_error, delivered_at FROM deliveries "
            "WHERE alert_id = ? AND channel = ?",
            (alert_id, channel),
        ).fetchone()
        if row is None:
            return None
        status, attempts, last_error, delivered_at = row
        return DeliveryRecord(
            alert_id,
            channel,
            DeliveryStatus(status),
            attempts,
            last_error,
            datetime.fromisoformat(delivered_at) if delivered_at else None,
        )

    def save(self, record: DeliveryRecord, *, now: datetime) -> None:
        self.db.execute(
            "INSERT INTO deliveries VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (alert_id, channel) DO UPDATE SET status = excluded.status, "
            "attempts = excluded.attempts, last_error = excluded.last_error, "
            "delivered_at = excluded.delivered_at, updated_at = excluded.updated_at",
            (
                record.alert_id,
                record.channel,
                record.status.value,
                record.attempts,
                record.last_error,
                record.delivered_at.isoformat() if record.delivered_at else None,
                now.isoformat(),
            ),
        )

    def was_published(self, alert_id: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM published_alerts WHERE alert_id = ?", (alert_id,)
        ).fetchone()
        return row is not None

    def mark_published(self, alert_id: str, *, now: datetime) -> None:
        self.db.execute(
            "INSERT INTO published_alerts VALUES (?, ?) ON CONFLICT (alert_id) DO UPDATE "
            "SET published_at = excluded.published_at",
            (alert_id, now.isoformat()),
        )
