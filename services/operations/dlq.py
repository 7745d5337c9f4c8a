"""``raqib dlq``: read the stages' dead-letter topics, and replay them exactly once.

Reading (``list``, ``show``) joins no consumer group: it reads each partition from its start to
the end it had when the command started, with ``read_committed`` so an aborted replay is never
counted.

Replaying publishes each selected dead letter's original bytes back to its source topic with its
key, in Kafka transactions of ``batch_size`` records. What was replayed is recorded in the same
transaction as consumer-group offsets on the dead-letter topic (``send_offsets_to_transaction``),
so a replay that is interrupted (Ctrl-C, a crash, a lost broker) and run again neither skips
nor repeats a record: the records of a transaction that did not commit are invisible to every
``read_committed`` reader and its offsets were not recorded, so the next run replays them.

Offsets are kept per error type (group ``raqib-dlq-replay.<stage>.<error type>``): the offset
of a type's group says every dead letter of that type below it was replayed or passed over.
So ``--error-type`` replays one kind and leaves the others pending. A replay of every type also
moves group ``raqib-dlq-replay.<stage>``, below which nothing is pending, where the next one
starts reading. ``--since`` passes over older dead letters for good (their type's offset moves
past them); ``raqib dlq show`` still shows them. One transactional id per stage fences off a
second replay of the same stage running at the same time.

A replay reads only up to the end the topic had when it started: records that fail again land
in the dead-letter topic again (the stage puts them there, with the new error) and wait for the
next replay instead of looping.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.common.kafka import client_options
from services.common.progress import Progress
from services.common.settings import KafkaSettings
from services.operations.core import (
    DeadLetterRecord,
    Decision,
    check_stage,
    decide,
    replay_headers,
    replay_refusal,
)

log = logging.getLogger("raqib.dlq")

REPLAY_GROUP = "raqib-dlq-replay"


def replay_group(settings: KafkaSettings, stage: str, error_type: str | None = None) -> str:
    """The consumer group recording what was replayed: of one error type, or of all."""
    name = (
        f"{REPLAY_GROUP}.{stage}" if error_type is None else f"{REPLAY_GROUP}.{stage}.{error_type}"
    )
    return settings.group(name)


def transactional_id(settings: KafkaSettings, stage: str) -> str:
    return settings.group(f"{REPLAY_GROUP}.{stage}")


def _record(consumed: Any) -> DeadLetterRecord:
    return DeadLetterRecord.of(
        consumed.topic,
        consumed.partition,
        consumed.offset,
        consumed.timestamp,
        consumed.key,
        consumed.value,
        consumed.headers,
    )


@contextlib.asynccontextmanager
async def _reader(settings: KafkaSettings) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        max_partition_fetch_bytes=max(1024 * 1024, settings.max_record_bytes),
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(topic) or set()
    return [TopicPartition(topic, p) for p in sorted(partitions)]


async def _read_range(
    consumer: AIOKafkaConsumer,
    starts: dict[TopicPartition, int],
    ends: dict[TopicPartition, int],
    batch_size: int,
) -> AsyncIterator[list[DeadLetterRecord]]:
    """The records from ``starts`` to ``ends`` (exclusive), in batches of records in order per
    partition."""
    pending = [tp for tp in starts if starts[tp] < ends[tp]]
    if not pending:
        return
    consumer.assign(pending)
    for tp in pending:
        consumer.seek(tp, starts[tp])
    while pending:
        fetched = await consumer.getmany(*pending, timeout_ms=1000, max_records=batch_size)
        batch: list[DeadLetterRecord] = []
        for tp, records in fetched.items():
            batch += [_record(r) for r in records if r.offset < ends[tp]]
        # A transaction's marker takes an offset no record has: the position tells the end.
        pending = [tp for tp in pending if await consumer.position(tp) < ends[tp]]
        if batch:
            yield batch


async def read_dead_letters(
    settings: KafkaSettings, stage: str, *, batch_size: int = 500
) -> list[DeadLetterRecord]:
    """Every record of ``stage``'s dead-letter topic (none when the topic does not exist)."""
    topic = settings.dead_letter_topic(check_stage(stage))
    async with _reader(settings) as consumer:
        partitions = await _partitions(consumer, topic)
        if not partitions:
            return []
        starts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[DeadLetterRecord] = []
        async for batch in _read_range(consumer, starts, ends, batch_size):
            records += batch
        return sorted(records, key=lambda r: (r.partition, r.offset))


async def replayed_offsets(
    settings: KafkaSettings, stage: str, error_types: Iterable[str]
) -> dict[str, dict[int, int]]:
    """Per error type, the offset (per partition) below which its dead letters were replayed
    or passed over by ``raqib dlq replay``."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        offsets = _Offsets(admin, settings, stage)
        return {t: await offsets.of_type(t) for t in sorted(set(error_types))}
    finally:
        await admin.close()


@dataclass
class ReplayOutcome:
    """What a replay did (or, dry, would do), counted by ``Decision``."""

    stage: str
    dry_run: bool
    counts: dict[str, int] = field(default_factory=lambda: {d.value: 0 for d in Decision})
    replayed_to: dict[str, int] = field(default_factory=dict)  # source topic -> records

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "dry_run": self.dry_run,
            **self.counts,
            "replayed_to": self.replayed_to,
        }


# Called after a batch's records were sent and before its transaction commits (tests use it to
# stop a replay between sending and recording).
BatchHook = Callable[[int], Awaitable[None]]


class _Offsets:
    """The replay groups' committed offsets on the dead-letter topic, fetched once per group."""

    def __init__(self, admin: AIOKafkaAdminClient, settings: KafkaSettings, stage: str) -> None:
        self.admin, self.settings, self.stage = admin, settings, stage
        self._known: dict[str, dict[int, int]] = {}

    async def of(self, group: str) -> dict[int, int]:
        if group not in self._known:
            answer = await self.admin.list_consumer_group_offsets(group)
            self._known[group] = {
                tp.partition: meta.offset for tp, meta in answer.items() if meta.offset >= 0
            }
        return self._known[group]

    async def of_type(self, error_type: str) -> dict[int, int]:
        return await self.of(replay_group(self.settings, self.stage, error_type))

    def moved(self, group: str, partition: int, offset: int) -> bool:
        """Record that ``group`` is now at ``offset``; False when it was there already."""
        known = self._known.setdefault(group, {})
        if known.get(partition, -1) >= offset:
            return False
        known[partition] = offset
        return True


async def replay_dead_letters(
    settings: KafkaSettings,
    stage: str,
    *,
    error_types: Sequence[str] | None = None,
    since: datetime | None = None,
    dry_run: bool = False,
    batch_size: int = 100,
    on_record: Callable[[DeadLetterRecord, Decision], None] | None = None,
    progress: Callable[[int | None], Progress] | None = None,
    before_commit: BatchHook | None = None,
) -> ReplayOutcome:
    """Replay ``stage``'s dead letters (those of ``error_types``, failed at or after ``since``)
    to their source topics, each exactly once across runs. ``progress`` makes the command's
    ``Progress`` once the number of records to read is known."""
    topic = settings.dead_letter_topic(check_stage(stage))
    outcome = ReplayOutcome(stage, dry_run)
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        offsets = _Offsets(admin, settings, stage)
        async with _reader(settings) as consumer:
            partitions = await _partitions(consumer, topic)
            if not partitions:
                log.info("no dead-letter topic", extra={"topic": topic})
                return outcome
            firsts = await consumer.beginning_offsets(partitions)
            ends = await consumer.end_offsets(partitions)
            starts = await _starts(offsets, stage, settings, firsts, error_types)
            total = sum(max(0, ends[tp] - starts[tp]) for tp in partitions)
            bar = progress(total) if progress else None
            with bar if bar is not None else contextlib.nullcontext():
                await _replay(
                    settings,
                    stage,
                    consumer,
                    offsets,
                    starts,
                    ends,
                    outcome,
                    error_types=error_types,
                    since=since,
                    batch_size=batch_size,
                    on_record=on_record,
                    bar=bar,
                    before_commit=before_commit,
                )
    finally:
        await admin.close()
    return outcome


async def _starts(
    offsets: _Offsets,
    stage: str,
    settings: KafkaSettings,
    firsts: dict[TopicPartition, int],
    error_types: Sequence[str] | None,
) -> dict[TopicPartition, int]:
    """Where the replay starts reading each partition: where nothing below is pending."""
    done_all = await offsets.of(replay_group(settings, stage))
    starts = {tp: max(first, done_all.get(tp.partition, 0)) for tp, first in firsts.items()}
    if error_types:
        for tp in starts:
            lows = [(await offsets.of_type(t)).get(tp.partition, 0) for t in error_types]
            starts[tp] = max(starts[tp], min(lows))
    return starts


async def _replay(
    settings: KafkaSettings,
    stage: str,
    consumer: AIOKafkaConsumer,
    offsets: _Offsets,
    starts: dict[TopicPartition, int],
    ends: dict[TopicPartition, int],
    outcome: ReplayOutcome,
    *,
    error_types: Sequence[str] | None,
    since: datetime | None,
    batch_size: int,
    on_record: Callable[[DeadLetterRecord, Decision], None] | None,
    bar: Progress | None,
    before_commit: BatchHook | None,
) -> None:
    producer: AIOKafkaProducer | None = None
    if not outcome.dry_run:
        producer = AIOKafkaProducer(
            **client_options(settings),
            transactional_id=transactional_id(settings, stage),
            enable_idempotence=True,
            acks="all",
            max_request_size=settings.max_record_bytes,
        )
        await producer.start()  # fences off (and aborts) an earlier run that did not finish
    topic = settings.dead_letter_topic(stage)
    number = 0
    try:
        async for batch in _read_range(consumer, starts, ends, batch_size):
            number += 1
            decided = [
                (record, await _decide(offsets, record, error_types, since)) for record in batch
            ]
            if producer is None:
                _count(decided, outcome, on_record, bar)
                continue
            async with producer.transaction():
                sent = []
                now = datetime.now(UTC)
                for record, decision in decided:
                    if decision is Decision.REPLAY:
                        assert record.source_topic is not None
                        sent.append(
                            await producer.send(
                                record.source_topic,
                                record.value,
                                key=record.key,
                                headers=replay_headers(record, now),
                            )
                        )
                for future in sent:
                    await future
                for group, moved in _moves(settings, stage, offsets, decided, error_types):
                    await producer.send_offsets_to_transaction(
                        {TopicPartition(topic, p): o for p, o in moved.items()}, group
                    )
                if before_commit is not None:
                    await before_commit(number)
            _count(decided, outcome, on_record, bar)
    finally:
        if producer is not None:
            await producer.stop()


async def _decide(
    offsets: _Offsets,
    record: DeadLetterRecord,
    error_types: Sequence[str] | None,
    since: datetime | None,
) -> Decision:
    done = (await offsets.of_type(record.error_type)).get(record.partition)
    return decide(record, done_below=done, error_types=error_types, since=since)


def _moves(
    settings: KafkaSettings,
    stage: str,
    offsets: _Offsets,
    decided: Sequence[tuple[DeadLetterRecord, Decision]],
    error_types: Sequence[str] | None,
) -> list[tuple[str, dict[int, int]]]:
    """The replay groups' new offsets after ``decided``: each type's group moves past the
    records of its type read here (the selected types only, when there is a selection), and
    the group of all types past every record read, when every type is selected."""
    moves: dict[str, dict[int, int]] = {}
    for record, _ in decided:
        types = [record.error_type] if error_types is None else list(error_types)
        groups = [replay_group(settings, stage, t) for t in types]
        if error_types is None:
            groups.append(replay_group(settings, stage))
        for group in groups:
            if offsets.moved(group, record.partition, record.offset + 1):
                moves.setdefault(group, {})[record.partition] = record.offset + 1
    return sorted(moves.items())


def _count(
    decided: Sequence[tuple[DeadLetterRecord, Decision]],
    outcome: ReplayOutcome,
    on_record: Callable[[DeadLetterRecord, Decision], None] | None,
    bar: Progress | None,
) -> None:
    for record, decision in decided:
        outcome.counts[decision.value] += 1
        if decision is Decision.REPLAY and record.source_topic:
            outcome.replayed_to[record.source_topic] = (
                outcome.replayed_to.get(record.source_topic, 0) + 1
            )
        if decision is Decision.CANNOT_REPLAY:
            log.warning(
                "dead letter cannot be replayed",
                extra={"dead_letter": record.where, "reason": replay_refusal(record)},
            )
        if on_record is not None:
            on_record(record, decision)
        if bar is not None:
            if decision is not Decision.REPLAY:
                bar.count(decision.value)
            bar.advance()
