"""Two or more alerting replicas: one active, the others hot standbys (decision 52).

The lease: every replica is a member of one consumer group on the one-partition topic
``alerting.lease``; the member assigned its partition is the active replica. A restarted
replica keeps its member id (``RAQIB_KAFKA_INSTANCE_ID``, or an id kept in its state file), so
it gets the lease back without a rebalance; a replica that dies loses it after the session
timeout. The assignor keeps the lease where it is while its holder stays in the group.

The state: the state file stays the working store, and every change to it is mirrored to the
compacted one-partition topic ``alerting.state``. On the active replica, temporary triggers
append (table, primary key, row) to ``_changes`` inside the transaction that made the change;
the shipper publishes them in order (key: table and primary key; value: the row's JSON, or a
tombstone for a delete), waits for every acknowledgement, then deletes them. The active ships
before it commits an article offset and before every send (``ShippedFirst``), so the changelog
always holds what a send or a commit relies on. Standbys apply the changelog to their own state
file as it grows; one that takes over only catches up to the end. A malformed changelog record
is logged with its offset and skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.cluster import ClusterMetadata
from aiokafka.coordinator.assignors.abstract import AbstractPartitionAssignor
from aiokafka.coordinator.protocol import (
    ConsumerProtocolMemberAssignment,
    ConsumerProtocolMemberMetadata,
)
from aiokafka.errors import TopicAlreadyExistsError
from prometheus_client import Gauge

from schemas import Alert, EnrichedArticle
from services.alerting.channels import Channel
from services.alerting.core import ChannelKind, DigestMessage
from services.common.kafka import client_options, milliseconds, standalone_producer, topic_configs
from services.common.settings import KafkaSettings

CHANGELOG = "alerting.state"
LEASE = "alerting.lease"
CHANGELOG_PARTITION = 0
# A tombstone stays readable this long after compaction: a standby whose state file applied
# the changelog longer ago than this rebuilds it from the whole topic (it may have missed a
# delete whose tombstone is gone).
DELETE_RETENTION_S = 7 * 24 * 3600.0
# Recent changes are never compacted: a replica catching up reads every step of the last hour.
MIN_COMPACTION_LAG_S = 3600.0
SHIP_CHUNK = 1000

ROLE = Gauge("raqib_alerting_active", "1 while this alerting replica is the active one, else 0.")

log = logging.getLogger("raqib.alerting")


# --- capture and apply: pure SQLite ---------------------------------------------------------

_META = """
CREATE TABLE IF NOT EXISTS _changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tbl TEXT NOT NULL,
    pk  TEXT NOT NULL,
    row TEXT
);
CREATE TABLE IF NOT EXISTS _replica (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]  # the primary key's columns, in key order
    real: frozenset[str]  # REAL columns: captured as exact text, applied as floats


@dataclass(frozen=True)
class Change:
    seq: int
    table: str
    key: bytes  # the record key: JSON [table, [primary key values]]
    row: bytes | None  # the row as JSON; None: deleted (a tombstone)


class MalformedChange(ValueError):
    """A changelog record that cannot be applied (bad JSON, unknown table or column)."""


class Changelog:
    """The replicated tables of one SQLite connection: change capture on the active replica,
    and applying changes on a standby. Tables whose name starts with ``_`` are not replicated.
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        db.executescript(_META)
        self.tables: dict[str, Table] = {}
        for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE '\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite%' ORDER BY name"
        ).fetchall():
            info = db.execute(f"PRAGMA table_info({name})").fetchall()
            key = tuple(row[1] for row in sorted(info, key=lambda r: r[5]) if row[5] > 0)
            if not key:
                raise ValueError(f"table {name} has no primary key: it cannot be replicated")
            self.tables[name] = Table(
                name,
                tuple(row[1] for row in info),
                key,
                frozenset(row[1] for row in info if str(row[2]).upper() == "REAL"),
            )

    # --- capture (the active replica) --------------------------------------------------

    def capture(self, on: bool) -> None:
        """Install (or drop) the triggers that record every change of a replicated table in
        ``_changes``, in the transaction that made it. Temporary: they live and die with this
        connection, so a standby applying the changelog records nothing."""
        for table in self.tables.values():
            for event in ("insert", "update", "delete"):
                self.db.execute(f"DROP TRIGGER IF EXISTS temp._capture_{table.name}_{event}")
        if not on:
            return
        for table in self.tables.values():
            new_key, old_key = _key_sql(table, "NEW"), _key_sql(table, "OLD")
            row = _row_sql(table, "NEW")
            insert = f"INSERT INTO _changes (tbl, pk, row) VALUES ('{table.name}'"
            self.db.executescript(
                f"""
CREATE TEMP TRIGGER _capture_{table.name}_insert AFTER INSERT ON main.{table.name} BEGIN
  {insert}, {new_key}, {row});
END;
CREATE TEMP TRIGGER _capture_{table.name}_update AFTER UPDATE ON main.{table.name} BEGIN
  INSERT INTO _changes (tbl, pk, row) SELECT '{table.name}', {old_key}, NULL
    WHERE {old_key} IS NOT {new_key};
  {insert}, {new_key}, {row});
END;
CREATE TEMP TRIGGER _capture_{table.name}_delete AFTER DELETE ON main.{table.name} BEGIN
  {insert}, {old_key}, NULL);
END;
"""
            )

    def pending(self, limit: int = SHIP_CHUNK) -> list[Change]:
        """The oldest changes not shipped yet, in the order they were made."""
        rows = self.db.execute(
            "SELECT seq, tbl, pk, row FROM _changes ORDER BY seq LIMIT ?", (limit,)
        ).fetchall()
        return [
            Change(
                seq,
                table,
                json.dumps([table, json.loads(pk)], ensure_ascii=False).encode(),
                None if row is None else row.encode(),
            )
            for seq, table, pk, row in rows
        ]

    def last_seq(self) -> int:
        (seq,) = self.db.execute("SELECT coalesce(max(seq), 0) FROM _changes").fetchone()
        return int(seq)

    def shipped(self, up_to: int, next_offset: int | None) -> None:
        """Forget the changes up to ``up_to``: the changelog has them, and its next record
        will be at ``next_offset`` (this replica wrote them, it need not apply them)."""
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute("DELETE FROM _changes WHERE seq <= ?", (up_to,))
        if next_offset is not None:
            self._set("offset", str(next_offset))
        self.db.execute("COMMIT")

    def discard_pending(self) -> int:
        (count,) = self.db.execute("SELECT count(*) FROM _changes").fetchone()
        self.db.execute("DELETE FROM _changes")
        return int(count)

    # --- apply (a standby) -------------------------------------------------------------

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """Apply one changelog record: the row replaces the one with its primary key; a
        tombstone deletes it. ``MalformedChange`` when the record makes no sense here."""
        try:
            table_name, key_values = json.loads(key or b"")
            row = None if value is None else json.loads(value)
        except (ValueError, TypeError) as bad:
            raise MalformedChange(f"not a changelog record: {bad}") from None
        table = self.tables.get(table_name) if isinstance(table_name, str) else None
        if table is None:
            raise MalformedChange(f"unknown table {table_name!r}")
        if not isinstance(key_values, list) or len(key_values) != len(table.key):
            raise MalformedChange(f"{table.name}: key {key_values!r} does not match {table.key}")
        if row is None:
            where = " AND ".join(f"{column} = ?" for column in table.key)
            self.db.execute(f"DELETE FROM {table.name} WHERE {where}", key_values)
            return
        if not isinstance(row, dict) or not set(row) <= set(table.columns):
            raise MalformedChange(f"{table.name}: row {str(row)[:200]} has unknown columns")
        columns = list(row)
        values = [float(v) if c in table.real and isinstance(v, str) else v for c, v in row.items()]
        try:
            self.db.execute(
                f"INSERT OR REPLACE INTO {table.name} ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' * len(columns))})",
                values,
            )
        except (sqlite3.IntegrityError, sqlite3.InterfaceError, ValueError) as bad:
            raise MalformedChange(f"{table.name}: {bad}") from None

    def wipe(self) -> None:
        """Empty every replicated table and forget the changelog position (a rebuild)."""
        for table in self.tables:
            self.db.execute(f"DELETE FROM {table}")
        self.db.execute("DELETE FROM _replica WHERE name IN ('offset', 'applied_at')")

    # --- bookkeeping -------------------------------------------------------------------

    def offset(self) -> int:
        """The changelog offset this file has applied up to (exclusive)."""
        value = self._get("offset")
        return int(value) if value is not None else 0

    def set_offset(self, offset: int) -> None:
        self._set("offset", str(offset))
        self._set("applied_at", str(time.time()))

    def applied_at(self) -> float | None:
        value = self._get("applied_at")
        return float(value) if value is not None else None

    def replica_id(self) -> str:
        """This state file's replica id, made at its first use."""
        value = self._get("replica_id")
        if value is None:
            value = f"{socket.gethostname()}-{uuid.uuid4().hex[:12]}"
            self._set("replica_id", value)
        return value

    def _get(self, name: str) -> str | None:
        row = self.db.execute("SELECT value FROM _replica WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def _set(self, name: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO _replica VALUES (?, ?)", (name, value))


def _key_sql(table: Table, ref: str) -> str:
    return f"json_array({', '.join(f'{ref}.{column}' for column in table.key)})"


def _row_sql(table: Table, ref: str) -> str:
    # REAL as text with 17 significant digits: SQLite's JSON keeps only 15 (not exact).
    parts = [
        f"'{column}', "
        + (
            f"CASE WHEN {ref}.{column} IS NULL THEN NULL ELSE printf('%!.17g', {ref}.{column}) END"
            if column in table.real
            else f"{ref}.{column}"
        )
        for column in table.columns
    ]
    return f"json_object({', '.join(parts)})"


# --- topics ------------------------------------------------------------------------------


async def ensure_replication_topics(settings: KafkaSettings) -> None:
    """Create the changelog (compacted) and the lease topic, one partition each, when missing."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        compacted = {
            **topic_configs(settings),
            "cleanup.policy": "compact",
            "min.compaction.lag.ms": str(milliseconds(MIN_COMPACTION_LAG_S)),
            "delete.retention.ms": str(milliseconds(DELETE_RETENTION_S)),
        }
        wanted = [
            NewTopic(
                settings.topic(CHANGELOG), 1, settings.replication_factor, topic_configs=compacted
            ),
            NewTopic(
                settings.topic(LEASE), 1, settings.replication_factor, topic_configs=compacted
            ),
        ]
        missing = [topic for topic in wanted if topic.name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
            log.info("created topics", extra={"topics": [t.name for t in missing]})
    finally:
        await admin.close()


# --- the shipper (the active replica) -------------------------------------------------------


class Shipper:
    """Publishes the captured changes in order, acknowledged by every replica of the topic,
    then forgets them. ``flush()`` returns once every change made before the call is on the
    changelog; concurrent callers share one round (one wait for the acknowledgements)."""

    def __init__(self, changelog: Changelog, producer: AIOKafkaProducer, topic: str) -> None:
        self.changelog = changelog
        self.producer = producer
        self.topic = topic
        self.shipped_seq = 0
        self._wake = asyncio.Event()
        self._progress = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self.records = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="alerting-shipper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def flush(self) -> None:
        target = self.changelog.last_seq()
        if target <= self.shipped_seq:
            return
        if self._task is None or self._task.done():
            raise RuntimeError("changes to ship, but this replica is not the active one")
        self._wake.set()
        async with self._progress:
            await self._progress.wait_for(
                lambda: self.shipped_seq >= target or self._task is None or self._task.done()
            )
        if self.shipped_seq < target:
            raise RuntimeError("the shipper stopped before shipping every change")

    async def _run(self) -> None:
        failures = 0
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._ship_all()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as error:
                failures += 1
                delay = min(10.0, 0.2 * 2 ** min(failures, 6))
                log.warning(
                    "shipping state changes failed; trying again",
                    extra={"error": f"{type(error).__name__}: {error}", "retry_in_s": delay},
                )
                await asyncio.sleep(delay)
                self._wake.set()

    async def _ship_all(self) -> None:
        while changes := self.changelog.pending():
            futures = [
                await self.producer.send(
                    self.topic, change.row, key=change.key, partition=CHANGELOG_PARTITION
                )
                for change in changes
            ]
            sent = await asyncio.gather(*futures)
            last = max(metadata.offset for metadata in sent)
            self.changelog.shipped(changes[-1].seq, last + 1)
            self.records += len(changes)
            async with self._progress:
                self.shipped_seq = max(self.shipped_seq, changes[-1].seq)
                self._progress.notify_all()
        # Nothing pending: everything up to now is shipped.
        async with self._progress:
            self.shipped_seq = max(self.shipped_seq, self.changelog.last_seq())
            self._progress.notify_all()


class ShippedFirst:
    """A channel whose every send waits until the state changes made before it (the
    attempt's intent among them) are on the changelog: a replica taking over after a crash
    then knows the message may have gone out, and marks its resend."""

    def __init__(self, channel: Channel, flush: Callable[[], Awaitable[None]]) -> None:
        self.channel = channel
        self.flush = flush

    @property
    def name(self) -> str:
        return self.channel.name

    @property
    def kind(self) -> ChannelKind:
        return self.channel.kind

    @property
    def give_up_after_s(self) -> float:
        return self.channel.give_up_after_s

    @property
    def max_concurrent(self) -> int:
        return self.channel.max_concurrent

    async def send(
        self, alert: Alert, article: EnrichedArticle, *, redelivery: bool = False
    ) -> int | None:
        await self.flush()
        return await self.channel.send(alert, article, redelivery=redelivery)

    async def send_digest(self, digest: DigestMessage, *, redelivery: bool = False) -> int | None:
        await self.flush()
        return await self.channel.send_digest(digest, redelivery=redelivery)

    async def aclose(self) -> None:
        await self.channel.aclose()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.channel, name)


# --- the lease ------------------------------------------------------------------------------


class _LeaseAssignor(AbstractPartitionAssignor):  # type: ignore[misc]
    """Gives the lease partition to the member that held it (its metadata says so), else to
    the first member by id: adding a standby does not move the lease."""

    name = "raqib-lease"
    version = 0

    @classmethod
    def holding(cls) -> bool:
        """Whether this member held the lease in the last generation (a subclass knows)."""
        return False

    @classmethod
    def assign(
        cls,
        cluster: ClusterMetadata,
        members: Mapping[str, ConsumerProtocolMemberMetadata],
    ) -> dict[str, ConsumerProtocolMemberAssignment]:
        ordered = sorted(members, key=lambda m: (members[m].user_data != b"holder", m))
        assignment: dict[str, list[tuple[str, list[int]]]] = {m: [] for m in members}
        topics = sorted({t for m in members.values() for t in m.subscription})
        for topic in topics:
            partitions = sorted(cluster.partitions_for_topic(topic) or ())
            subscribed = [m for m in ordered if topic in members[m].subscription]
            for index, partition in enumerate(partitions):
                member = subscribed[index % len(subscribed)]
                assignment[member].append((topic, [partition]))
        return {
            member: ConsumerProtocolMemberAssignment(cls.version, topics_of, b"")
            for member, topics_of in assignment.items()
        }

    @classmethod
    def metadata(cls, topics: Iterable[str]) -> ConsumerProtocolMemberMetadata:
        return ConsumerProtocolMemberMetadata(
            cls.version, sorted(topics), b"holder" if cls.holding() else b""
        )

    @classmethod
    def on_assignment(cls, assignment: ConsumerProtocolMemberAssignment) -> None:
        pass


Hook = Callable[[], Awaitable[None]]


class Replica:
    """This process's role: ``start()`` joins the lease group and follows the changelog
    until it holds the lease, then calls ``on_active``; losing the lease (or ``stop()``)
    calls ``on_standby`` and ships every change before the lease is let go."""

    def __init__(
        self,
        changelog: Changelog,
        settings: KafkaSettings,
        *,
        lease_group: str,
        instance_id: str | None,
        on_active: Hook,
        on_standby: Hook,
    ) -> None:
        self.changelog = changelog
        self.settings = settings
        self.lease_group = settings.group(lease_group)
        self.instance_id = instance_id
        self.on_active = on_active
        self.on_standby = on_standby
        self.topic = settings.topic(CHANGELOG)
        self.partition = TopicPartition(self.topic, CHANGELOG_PARTITION)
        self.producer = standalone_producer(settings)
        self.shipper = Shipper(changelog, self.producer, self.topic)
        self.active = False
        self.held = False  # held the lease in the last generation: the assignor keeps it here
        self._lock = asyncio.Lock()
        self._follower: asyncio.Task[None] | None = None
        self._lease: AIOKafkaConsumer | None = None
        self._poll: asyncio.Task[None] | None = None
        self._reader: AIOKafkaConsumer | None = None
        self._activation: asyncio.Task[None] | None = None
        self._standing: asyncio.Task[None] | None = None
        self.skipped = 0  # malformed changelog records skipped

    async def flush(self) -> None:
        """Ship every change made so far (a no-op on a standby, which makes none)."""
        if self.active:
            await self.shipper.flush()

    async def start(self) -> None:
        await self.producer.start()
        self._reader = AIOKafkaConsumer(
            **client_options(self.settings), group_id=None, enable_auto_commit=False
        )
        await self._reader.start()
        self._reader.assign([self.partition])
        replica = self

        class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
            async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
                if replica.active or replica._activation is not None:
                    await replica._to_standby("lease revoked")

            async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
                replica.held = bool(assigned)
                if assigned:
                    replica._activation = asyncio.create_task(replica._to_active())
                else:  # in a task: a catch-up must not hold up the group's rebalance
                    replica._standing = asyncio.create_task(replica._to_follower())

        class Assignor(_LeaseAssignor):
            @classmethod
            def holding(cls) -> bool:
                return replica.held

        self._lease = AIOKafkaConsumer(
            **client_options(self.settings),
            group_id=self.lease_group,
            group_instance_id=self.instance_id or self.changelog.replica_id(),
            session_timeout_ms=milliseconds(self.settings.session_timeout_s),
            heartbeat_interval_ms=milliseconds(min(3.0, self.settings.session_timeout_s / 3)),
            enable_auto_commit=False,
            partition_assignment_strategy=(Assignor,),
        )
        self._lease.subscribe([self.settings.topic(LEASE)], listener=Listener())
        await self._lease.start()
        self._poll = asyncio.create_task(self._keep_polling(self._lease), name="alerting-lease")

    async def stop(self) -> None:
        """Stand down (shipping every change), then leave. A static member keeps its place in
        the lease group for the session timeout, so a quick restart takes the lease back."""
        if self.active or self._activation is not None:
            await self._to_standby("stopping")
        await self._stop_follower()
        for task in (self._poll,):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for client in (self._lease, self._reader):
            if client is not None:
                await client.stop()
        await self.producer.stop()

    async def _keep_polling(self, consumer: AIOKafkaConsumer) -> None:
        while True:  # the lease topic holds nothing; polling keeps the membership alive
            try:
                await consumer.getmany(timeout_ms=1000)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("lease consumer failed; polling again")
                await asyncio.sleep(1)

    # --- roles ---------------------------------------------------------------------------

    async def _to_active(self) -> None:
        async with self._lock:
            started = time.monotonic()
            await self._stop_follower()
            own = self.changelog.last_seq() > 0  # changes this file made and never shipped
            applied = await self._catch_up()
            if own and applied:
                # Another replica wrote after this one's unshipped changes: they are stale.
                # Rebuild from the changelog; the articles behind them are read again.
                applied = await self._rebuild("unshipped changes overtaken by another replica")
            self.changelog.capture(True)
            self.shipper.start()
            self.active = True
            ROLE.set(1)
            await self.shipper.flush()
            log.info(
                "alerting replica is active",
                extra={
                    "role": "active",
                    "restored_records": applied,
                    "skipped_records": self.skipped,
                    "took_s": round(time.monotonic() - started, 3),
                    "changelog_offset": self.changelog.offset(),
                },
            )
        try:
            await self.on_active()
        except Exception:
            log.exception("starting the active replica's work failed")

    async def _to_standby(self, why: str) -> None:
        activation, self._activation = self._activation, None
        if activation is not None and not activation.done():
            # An activation under way finishes first: it started work that must be stopped.
            with contextlib.suppress(Exception):
                await activation
        async with self._lock:
            if not self.active:
                return
            started = time.monotonic()
            await self.on_standby()
            await self.shipper.flush()
            await self.shipper.stop()
            self.changelog.capture(False)
            self.active = False
            ROLE.set(0)
            log.info(
                "alerting replica is standing by",
                extra={
                    "role": "standby",
                    "why": why,
                    "took_s": round(time.monotonic() - started, 3),
                },
            )
        await self._to_follower()

    async def _to_follower(self) -> None:
        async with self._lock:
            if self.active or self._follower is not None:
                return
            started = time.monotonic()
            applied = 0
            if self.changelog.last_seq() > 0:
                dropped = self.changelog.discard_pending()
                applied = await self._rebuild(f"{dropped} changes of this file were never shipped")
            elif await self._stale():
                applied = await self._rebuild("the state file is older than the changelog's memory")
            else:
                applied = await self._catch_up()
            log.info(
                "alerting replica is standby",
                extra={
                    "role": "standby",
                    "restored_records": applied,
                    "skipped_records": self.skipped,
                    "took_s": round(time.monotonic() - started, 3),
                    "changelog_offset": self.changelog.offset(),
                },
            )
            ROLE.set(0)
            self._follower = asyncio.create_task(self._follow(), name="alerting-follower")

    async def _stop_follower(self) -> None:
        follower, self._follower = self._follower, None
        if follower is not None:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower

    async def _stale(self) -> bool:
        assert self._reader is not None
        start = (await self._reader.beginning_offsets([self.partition]))[self.partition]
        applied_at = self.changelog.applied_at()
        if self.changelog.offset() < start:
            return True
        return applied_at is not None and time.time() - applied_at > DELETE_RETENTION_S * 0.9

    async def _rebuild(self, why: str) -> int:
        log.warning("rebuilding the state file from the changelog", extra={"why": why})
        self.changelog.db.execute("BEGIN IMMEDIATE")
        self.changelog.wipe()
        self.changelog.db.execute("COMMIT")
        return await self._catch_up()

    async def _catch_up(self) -> int:
        """Apply the changelog up to its current end; the number of records applied."""
        assert self._reader is not None
        end = (await self._reader.end_offsets([self.partition]))[self.partition]
        self._reader.seek(self.partition, self.changelog.offset())
        applied = 0
        while self.changelog.offset() < end:
            applied += await self._apply_next(timeout_ms=1000)
        return applied

    async def _follow(self) -> None:
        while True:
            try:
                await self._apply_next(timeout_ms=1000)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("applying the changelog failed; trying again")
                await asyncio.sleep(1)
                assert self._reader is not None
                self._reader.seek(self.partition, self.changelog.offset())

    async def _apply_next(self, *, timeout_ms: int) -> int:
        assert self._reader is not None
        batches = await self._reader.getmany(
            self.partition, timeout_ms=timeout_ms, max_records=5000
        )
        records = batches.get(self.partition, [])
        if not records:
            return 0
        db = self.changelog.db
        db.execute("BEGIN IMMEDIATE")
        try:
            for record in records:
                try:
                    self.changelog.apply(record.key, record.value)
                except MalformedChange as bad:
                    self.skipped += 1
                    log.error(
                        "malformed changelog record skipped",
                        extra={"topic": record.topic, "offset": record.offset, "error": str(bad)},
                    )
            self.changelog.set_offset(records[-1].offset + 1)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return len(records)
