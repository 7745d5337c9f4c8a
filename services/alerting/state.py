"""Alerting's durable state in one SQLite file: the outbox of raised alerts, per (alert id,
channel) the delivery status and every attempt, the window counts of threshold/spike rules,
recent firings for cooldowns, and the open digests.

An alert is written here (with its article, for rendering) before the article's offset is
committed; from then on it is delivered from here, so a crash loses nothing and a restart
resumes what was not delivered. A delivery recorded as ``delivered`` is never sent again.

Each attempt is written twice: its intent (outcome ``sending``) before the message goes out,
its outcome after. An intent with no outcome is an attempt a crash cut short: the receiver
may have its message, so the next send is marked as a possible redelivery.
One process owns a state file at a time: a second one fails at open instead of racing the
first (WAL keeps reads cheap and writes crash-safe).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Self

from schemas import Alert, DeliveryAttempt, DeliveryStatus, EnrichedArticle
from services.common.statefile import StateFile

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    alert_id     TEXT NOT NULL,
    channel      TEXT NOT NULL,
    status       TEXT NOT NULL,
    attempts     INTEGER NOT NULL,
    last_error   TEXT,
    delivered_at TEXT,
    updated_at   TEXT NOT NULL,
    since        TEXT,
    PRIMARY KEY (alert_id, channel)
);
CREATE TABLE IF NOT EXISTS attempts (
    alert_id    TEXT NOT NULL,
    channel     TEXT NOT NULL,
    number      INTEGER NOT NULL,
    at          TEXT NOT NULL,
    error       TEXT,
    status_code INTEGER,
    outcome     TEXT,
    PRIMARY KEY (alert_id, channel, number)
);
CREATE TABLE IF NOT EXISTS outbox (
    alert_id   TEXT PRIMARY KEY,
    alert      TEXT NOT NULL,
    article    TEXT NOT NULL,
    created_at TEXT NOT NULL,
    done       INTEGER NOT NULL DEFAULT 0  -- set by earlier versions; outbox_done now
);
DROP INDEX IF EXISTS outbox_open;  -- on done, which outbox_done replaced
-- Alerts that still hold their article (``drop_articles`` empties it): what it looks at.
CREATE INDEX IF NOT EXISTS outbox_with_article ON outbox (created_at) WHERE article != '';
-- Finished alerts. Not a column of outbox: updating one rewrites the whole row (the alert
-- and its article, 10 KB and more) in the file and on the changelog.
CREATE TABLE IF NOT EXISTS outbox_done (
    alert_id TEXT PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS window_events (
    rule_id    TEXT NOT NULL,
    article_id TEXT NOT NULL,
    at         REAL NOT NULL,
    PRIMARY KEY (rule_id, article_id)
);
CREATE INDEX IF NOT EXISTS window_events_at ON window_events (rule_id, at);
CREATE TABLE IF NOT EXISTS fires (
    key      TEXT NOT NULL,
    at       REAL NOT NULL,
    alert_id TEXT NOT NULL,
    PRIMARY KEY (key, alert_id)
);
CREATE INDEX IF NOT EXISTS fires_at ON fires (key, at);
CREATE TABLE IF NOT EXISTS digests (
    digest_id TEXT PRIMARY KEY,
    rule_id   TEXT NOT NULL,
    start     TEXT NOT NULL,
    end_at    REAL NOT NULL,
    sent      INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS digest_alerts (
    digest_id TEXT NOT NULL,
    alert_id  TEXT NOT NULL,
    PRIMARY KEY (digest_id, alert_id)
);
"""


# An outbox row ``o`` whose alert is finished (``done``: as earlier versions marked it).
_FINISHED = "(o.done = 1 OR EXISTS (SELECT 1 FROM outbox_done f WHERE f.alert_id = o.alert_id))"

# Added after the first release: (table, column, type); ``open`` adds what an older file lacks.
_ADDED_COLUMNS = [("deliveries", "since", "TEXT"), ("attempts", "outcome", "TEXT")]


class Outcome(StrEnum):
    """What became of one attempt, as the state file knows it."""

    SENDING = "sending"  # the intent: written before the send, replaced by its outcome
    DELIVERED = "delivered"
    FAILED = "failed"  # the receiver did not take it
    IN_DOUBT = "in-doubt"  # failed after the message may have gone out (a read timeout)
    INTERRUPTED = "interrupted"  # a crash or stop during the send; found at the next start

    @property
    def maybe_received(self) -> bool:
        return self in (Outcome.SENDING, Outcome.IN_DOUBT, Outcome.INTERRUPTED)


@dataclass(frozen=True)
class DeliveryRecord:
    alert_id: str
    channel: str
    status: DeliveryStatus
    attempts: int
    last_error: str | None = None
    delivered_at: datetime | None = None
    attempt_log: list[DeliveryAttempt] = field(default_factory=list)
    since: datetime | None = None  # when this run of attempts began: the give-up clock
    in_doubt: bool = False  # an attempt may have reached the receiver: mark the next sends
    open_attempt: int | None = None  # an attempt with its intent and no outcome


@dataclass(frozen=True)
class OpenDigest:
    id: str
    rule_id: str
    start: datetime
    end: datetime
    alert_ids: list[str]


def _ts(at: datetime) -> float:
    return at.timestamp()


class AlertingState(StateFile):
    """The state file; ``open()`` before use (the app does it at start), ``close()`` after."""

    SCHEMA = _SCHEMA
    IN_USE = (
        "alerting state file is in use by another process; "
        "give each alerting process its own RAQIB_ALERTING_STATE_FILE"
    )

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self._group: list[tuple[Callable[[], None], asyncio.Future[None]]] = []

    async def in_group(self, write: Callable[[], None]) -> None:
        """Run ``write`` in one transaction with the other writes asked for in the same
        turn of the event loop; return once it is committed. Deliveries in flight write
        their intents and outcomes at about the same moment: one commit for all of them
        instead of one each (a commit is most of a small write's cost)."""
        future = asyncio.get_running_loop().create_future()
        self._group.append((write, future))
        if len(self._group) == 1:
            asyncio.get_running_loop().call_soon(self._commit_group)
        await future

    def _commit_group(self) -> None:
        group, self._group = self._group, []
        try:
            with self.transaction():
                for write, _ in group:
                    write()
        except Exception:
            # Each again alone, so that only the caller whose write fails sees the error.
            for write, future in group:
                try:
                    with self.transaction():
                        write()
                except Exception as error:
                    _settle(future, error)
                else:
                    _settle(future, None)
            return
        for _, future in group:
            _settle(future, None)

    @contextlib.contextmanager
    def transaction(self, *, durable: bool = False) -> Iterator[None]:
        """Everything inside commits together, or not at all. ``durable``: the commit also
        survives a power loss (an fsync) — for what a committed Kafka offset relies on."""
        if durable:
            self.db.execute("PRAGMA synchronous=FULL")
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
        finally:
            if durable:
                self.db.execute("PRAGMA synchronous=NORMAL")

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """Inside a transaction: undo only this part when it raises."""
        self.db.execute("SAVEPOINT part")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK TO part")
            self.db.execute("RELEASE part")
            raise
        self.db.execute("RELEASE part")

    # --- deliveries -------------------------------------------------------------------

    def open(self) -> Self:
        super().open()
        for table, column, kind in _ADDED_COLUMNS:
            columns = {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}
            if column not in columns:
                self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        return self

    def get(self, alert_id: str, channel: str) -> DeliveryRecord | None:
        row = self.db.execute(
            "SELECT status, attempts, last_error, delivered_at, since FROM deliveries "
            "WHERE alert_id = ? AND channel = ?",
            (alert_id, channel),
        ).fetchone()
        if row is None:
            return None
        status, attempts, last_error, delivered_at, since = row
        log: list[DeliveryAttempt] = []
        in_doubt, open_attempt = False, None
        for number, at, error, status_code, outcome in self.db.execute(
            "SELECT number, at, error, status_code, outcome FROM attempts "
            "WHERE alert_id = ? AND channel = ? ORDER BY number",
            (alert_id, channel),
        ):
            log.append(
                DeliveryAttempt(
                    number=number,
                    at=datetime.fromisoformat(at),
                    error=error,
                    status_code=status_code,
                )
            )
            if outcome is not None:  # None: written before outcomes were recorded
                in_doubt = in_doubt or Outcome(outcome).maybe_received
                if outcome == Outcome.SENDING:
                    open_attempt = number
        return DeliveryRecord(
            alert_id,
            channel,
            DeliveryStatus(status),
            attempts,
            last_error,
            datetime.fromisoformat(delivered_at) if delivered_at else None,
            log,
            datetime.fromisoformat(since) if since else None,
            in_doubt,
            open_attempt,
        )

    def save(
        self, record: DeliveryRecord, *, now: datetime, outcome: Outcome | None = None
    ) -> None:
        """The delivery's state and its newest attempt (with ``outcome``: by default,
        delivered when it has no error, else failed), in one transaction."""
        with self.transaction():
            self.write_delivery(record, now=now, outcome=outcome)

    async def save_in_group(
        self, record: DeliveryRecord, *, now: datetime, outcome: Outcome | None = None
    ) -> None:
        """``save``, committed with the other writes of this turn (``in_group``)."""
        await self.in_group(lambda: self.write_delivery(record, now=now, outcome=outcome))

    def write_delivery(
        self, record: DeliveryRecord, *, now: datetime, outcome: Outcome | None
    ) -> None:
        self.db.execute(
            "INSERT INTO deliveries (alert_id, channel, status, attempts, last_error, "
            "delivered_at, updated_at, since) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (alert_id, channel) DO UPDATE SET status = excluded.status, "
            "attempts = excluded.attempts, last_error = excluded.last_error, "
            "delivered_at = excluded.delivered_at, updated_at = excluded.updated_at, "
            "since = excluded.since",
            (
                record.alert_id,
                record.channel,
                record.status.value,
                record.attempts,
                record.last_error,
                record.delivered_at.isoformat() if record.delivered_at else None,
                now.isoformat(),
                record.since.isoformat() if record.since else None,
            ),
        )
        if record.attempt_log:
            last = record.attempt_log[-1]
            if outcome is None:
                outcome = Outcome.DELIVERED if last.error is None else Outcome.FAILED
            self.db.execute(
                "INSERT OR REPLACE INTO attempts (alert_id, channel, number, at, error, "
                "status_code, outcome) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    record.alert_id,
                    record.channel,
                    last.number,
                    last.at.isoformat(),
                    last.error,
                    last.status_code,
                    outcome.value,
                ),
            )

    def interrupt(self, alert_id: str, channel: str, number: int, error: str) -> None:
        """Mark attempt ``number``, begun and never finished, as interrupted."""
        self.db.execute(
            "UPDATE attempts SET outcome = ?, error = ? "
            "WHERE alert_id = ? AND channel = ? AND number = ?",
            (Outcome.INTERRUPTED.value, error, alert_id, channel, number),
        )

    # --- the outbox -------------------------------------------------------------------

    def add_alert(self, alert: Alert, article: EnrichedArticle) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO outbox (alert_id, alert, article, created_at) "
            "VALUES (?, ?, ?, ?)",
            (alert.id, alert.model_dump_json(), article.model_dump_json(), _iso(alert.created_at)),
        )

    def alert_exists(self, alert_id: str) -> bool:
        row = self.db.execute("SELECT 1 FROM outbox WHERE alert_id = ?", (alert_id,)).fetchone()
        return row is not None

    def stored_alert(self, alert_id: str) -> Alert | None:
        """The alert alone (its article not read): None when unknown."""
        row = self.db.execute("SELECT alert FROM outbox WHERE alert_id = ?", (alert_id,)).fetchone()
        return None if row is None else Alert.model_validate_json(row[0])

    def load_alert(self, alert_id: str) -> tuple[Alert, EnrichedArticle] | None:
        """The alert and its article; None when unknown or its article was dropped."""
        row = self.db.execute(
            "SELECT alert, article FROM outbox WHERE alert_id = ?", (alert_id,)
        ).fetchone()
        if row is None or not row[1]:
            return None
        return Alert.model_validate_json(row[0]), EnrichedArticle.model_validate_json(row[1])

    def mark_done(self, alert_id: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO outbox_done VALUES (?)", (alert_id,))

    async def mark_done_in_group(self, alert_id: str) -> None:
        await self.in_group(lambda: self.mark_done(alert_id))

    def drop_articles(self, *, raised_before: datetime, limit: int = 500) -> int:
        """Empty the article of up to ``limit`` finished alerts raised before
        ``raised_before`` with no delivery under way (a retry, a parked one); how many. The
        alert stays (its id keeps the article from raising it twice), so the file and the
        changelog stop growing by a whole article per alert; until ``restore_article``, such
        an alert can no longer be rendered, so is not delivered again."""
        with self.transaction():
            cursor = self.db.execute(
                "UPDATE outbox SET article = '' WHERE alert_id IN (SELECT o.alert_id FROM "
                "outbox o INDEXED BY outbox_with_article WHERE o.article != '' "
                f"AND o.created_at < ? AND {_FINISHED} AND NOT EXISTS (SELECT 1 FROM "
                "deliveries d WHERE d.alert_id = o.alert_id AND d.status = 'pending') "
                "ORDER BY o.created_at LIMIT ?)",
                (_iso(raised_before), limit),
            )
        return cursor.rowcount

    def restore_article(self, alert_id: str, article: EnrichedArticle) -> bool:
        """Put back the article of an alert whose article was dropped (the article came
        again, in a replay); whether it had been dropped."""
        cursor = self.db.execute(
            "UPDATE outbox SET article = ? WHERE alert_id = ? AND article = ''",
            (article.model_dump_json(), alert_id),
        )
        return cursor.rowcount > 0

    def unfinished(self, *, failed_since: datetime) -> list[str]:
        """Alerts to resume at start: never finished, or finished with a failed delivery
        (created after ``failed_since``) — a restart is how an operator retries a fixed
        channel. Digest members are left to their digest."""
        rows = self.db.execute(
            "SELECT o.alert_id FROM outbox o WHERE "
            f"(NOT {_FINISHED} "
            "OR (o.created_at >= ? AND EXISTS (SELECT 1 FROM deliveries d "
            "WHERE d.alert_id = o.alert_id AND d.status = 'failed'))) "
            "AND NOT EXISTS (SELECT 1 FROM digest_alerts g WHERE g.alert_id = o.alert_id) "
            "ORDER BY o.created_at",
            (_iso(failed_since),),
        )
        return [alert_id for (alert_id,) in rows]

    def has_failed_delivery(self, alert_id: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM deliveries WHERE alert_id = ? AND status = 'failed'", (alert_id,)
        ).fetchone()
        return row is not None

    # --- windows and cooldowns (the engine's EngineState) -------------------------------

    def record(self, rule_id: str, article_id: str, at: datetime) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO window_events VALUES (?, ?, ?)", (rule_id, article_id, _ts(at))
        )

    def articles_between(self, rule_id: str, start: datetime, end: datetime) -> list[str]:
        rows = self.db.execute(
            "SELECT article_id FROM window_events WHERE rule_id = ? AND at >= ? AND at < ? "
            "ORDER BY at, article_id",
            (rule_id, _ts(start), _ts(end)),
        )
        return [article_id for (article_id,) in rows]

    def count_between(self, rule_id: str, start: datetime, end: datetime) -> int:
        (count,) = self.db.execute(
            "SELECT count(*) FROM window_events WHERE rule_id = ? AND at >= ? AND at < ?",
            (rule_id, _ts(start), _ts(end)),
        ).fetchone()
        return int(count)

    def fired_near(self, key: str, at: datetime, within: timedelta) -> str | None:
        row = self.db.execute(
            "SELECT alert_id FROM fires WHERE key = ? AND at > ? AND at < ? ORDER BY at LIMIT 1",
            (key, _ts(at - within), _ts(at + within)),
        ).fetchone()
        return None if row is None else str(row[0])

    def record_fire(self, key: str, at: datetime, alert_id: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO fires VALUES (?, ?, ?)", (key, _ts(at), alert_id))

    def newest_event(self) -> datetime | None:
        """The newest article time recorded, by a window or a firing (a cooldown-only rule
        records no window events)."""
        (newest,) = self.db.execute(
            "SELECT max(at) FROM (SELECT max(at) AS at FROM window_events "
            "UNION ALL SELECT max(at) FROM fires)"
        ).fetchone()
        return None if newest is None else datetime.fromtimestamp(newest, UTC)

    def prune(self, *, older_than: datetime) -> None:
        """Forget window events and firings no window or cooldown can reach any more."""
        with self.transaction():
            self.db.execute("DELETE FROM window_events WHERE at < ?", (_ts(older_than),))
            self.db.execute("DELETE FROM fires WHERE at < ?", (_ts(older_than),))

    # --- digests ------------------------------------------------------------------------

    def add_to_digest(
        self, digest_id: str, rule_id: str, start: datetime, end: datetime, alert_id: str
    ) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO digests (digest_id, rule_id, start, end_at) VALUES (?, ?, ?, ?)",
            (digest_id, rule_id, _iso(start), _ts(end)),
        )
        self.db.execute("INSERT OR IGNORE INTO digest_alerts VALUES (?, ?)", (digest_id, alert_id))

    def due_digests(self, now: datetime) -> list[OpenDigest]:
        digests = []
        for digest_id, rule_id, start, end_at in self.db.execute(
            "SELECT digest_id, rule_id, start, end_at FROM digests "
            "WHERE sent = 0 AND end_at <= ? ORDER BY end_at",
            (_ts(now),),
        ).fetchall():
            members = [
                alert_id
                for (alert_id,) in self.db.execute(
                    "SELECT a.alert_id FROM digest_alerts a JOIN outbox o USING (alert_id) "
                    "WHERE a.digest_id = ? ORDER BY o.created_at, a.alert_id",
                    (digest_id,),
                )
            ]
            digests.append(
                OpenDigest(
                    digest_id,
                    rule_id,
                    datetime.fromisoformat(start),
                    datetime.fromtimestamp(end_at, UTC),
                    members,
                )
            )
        return digests

    def mark_digest_sent(self, digest_id: str) -> None:
        self.db.execute("UPDATE digests SET sent = 1 WHERE digest_id = ?", (digest_id,))


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def _settle(future: asyncio.Future[None], error: Exception | None) -> None:
    if future.done():  # its caller was cancelled meanwhile
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
