"""Durable fetcher state in SQLite: per-feed validators and schedule, and what was published.

``seen`` holds the ids and content hashes of published articles (and the ids of entries
skipped as copies of one), so a restart neither re-publishes nor re-fetches them; beyond
``capacity`` keys the oldest are forgotten. ``feeds`` holds, per feed name, the HTTP
validators, the consecutive failures, when it was last polled and succeeded, the last error
and the next poll time (wall clock, so it survives restarts).

Calls are small (a few rows, one transaction) and run on the event loop; WAL mode keeps a
reader such as ``raqib feeds status`` from blocking the service. One process owns a state
file at a time: a second one fails at open instead of racing the first.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from services.common.errors import ConfigError
from services.common.statefile import StateFile
from services.fetcher.http import Validators

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    name            TEXT PRIMARY KEY,
    url             TEXT NOT NULL,
    etag            TEXT,
    last_modified   TEXT,
    failures        INTEGER NOT NULL DEFAULT 0,
    last_poll_at    REAL,
    last_success_at REAL,
    next_poll_at    REAL,
    last_status     TEXT,
    last_error      TEXT,
    published       INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS seen (
    key     TEXT PRIMARY KEY,
    seen_at REAL NOT NULL
);
"""

_FEED_COLUMNS = (
    "name, url, etag, last_modified, failures, last_poll_at, last_success_at,"
    " next_poll_at, last_status, last_error, published"
)


@dataclass(frozen=True)
class FeedState:
    name: str
    url: str
    validators: Validators
    failures: int = 0
    last_poll_at: float | None = None
    last_success_at: float | None = None
    next_poll_at: float | None = None
    last_status: str | None = None  # fetched, not_modified, failed
    last_error: str | None = None
    published: int = 0  # articles published from this feed, ever


def id_key(article_id: str) -> str:
    return f"id:{article_id}"


def hash_key(content_hash: str) -> str:
    return f"hash:{content_hash}"


class FetcherStore(StateFile):
    """The state file (or ``:memory:`` for one-shot runs); use as a context manager."""

    SCHEMA = _SCHEMA
    IN_USE = "the fetcher state file is in use by another process"

    def __init__(self, path: Path | str, *, capacity: int = 1_000_000) -> None:
        super().__init__(path)
        self.capacity = capacity

    # --- what was published ------------------------------------------------------------

    def seen_keys(self, keys: Iterable[str]) -> set[str]:
        """The subset of ``keys`` already recorded."""
        wanted = list(dict.fromkeys(keys))
        found: set[str] = set()
        for start in range(0, len(wanted), 500):  # below SQLite's parameter limit
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(f"SELECT key FROM seen WHERE key IN ({marks})", chunk)
            found.update(row[0] for row in rows)
        return found

    def mark_seen(self, keys: Iterable[str], now: float) -> None:
        rows = [(key, now) for key in dict.fromkeys(keys)]
        if not rows:
            return
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR IGNORE INTO seen (key, seen_at) VALUES (?, ?)", rows)
            # rowids grow with each insert, so the lowest are the oldest keys.
            self.db.execute(
                "DELETE FROM seen WHERE rowid <= (SELECT MAX(rowid) FROM seen) - ?",
                (self.capacity,),
            )

    # --- per-feed state ------------------------------------------------------------------

    def feed_state(self, name: str) -> FeedState | None:
        row = self.db.execute(
            f"SELECT {_FEED_COLUMNS} FROM feeds WHERE name = ?", (name,)
        ).fetchone()
        return _feed_state(row) if row else None

    def save_feed_state(self, state: FeedState) -> None:
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO feeds (name, url, etag, last_modified, failures,"
                " last_poll_at, last_success_at, next_poll_at, last_status, last_error,"
                " published) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    state.name,
                    state.url,
                    state.validators.etag,
                    state.validators.last_modified,
                    state.failures,
                    state.last_poll_at,
                    state.last_success_at,
                    state.next_poll_at,
                    state.last_status,
                    state.last_error,
                    state.published,
                ),
            )


def read_feed_states(path: Path) -> list[FeedState]:
    """Every feed's state, read without taking the file from a running fetcher.

    Raises ``ConfigError`` naming the file when it is not a SQLite database.
    """
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute(f"SELECT {_FEED_COLUMNS} FROM feeds ORDER BY name").fetchall()
    except sqlite3.OperationalError:  # a file without our tables yet
        return []
    except sqlite3.DatabaseError as error:
        raise ConfigError(f"{path}: not a fetcher state file ({error})") from error
    finally:
        db.close()
    return [_feed_state(row) for row in rows]


def _feed_state(row: tuple[object, ...]) -> FeedState:
    (name, url, etag, last_modified, failures, polled, succeeded, next_at, status, error, pub) = row
    return FeedState(
        name=str(name),
        url=str(url),
        validators=Validators(
            etag=str(etag) if etag is not None else None,
            last_modified=str(last_modified) if last_modified is not None else None,
        ),
        failures=int(str(failures)),
        last_poll_at=float(str(polled)) if polled is not None else None,
        last_success_at=float(str(succeeded)) if succeeded is not None else None,
        next_poll_at=float(str(next_at)) if next_at is not None else None,
        last_status=str(status) if status is not None else None,
        last_error=str(error) if error is not None else None,
        published=int(str(pub)),
    )
