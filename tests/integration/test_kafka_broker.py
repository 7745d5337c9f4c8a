"""The local Apache Kafka broker keeps its data: a restart, even after a crash, loses no topic,
no acknowledged record and no committed offset.

Why a ``kill -9`` loses nothing either: the broker writes every batch to its segment file before
it acknowledges it (``acks=all`` waits for that), and the kernel keeps what was written when the
process dies; on the next start Kafka recovers the segments it did not close. Only a crash of the
machine itself could lose acknowledged records the broker had not yet flushed to disk (Kafka's
default leaves flushing to the OS), as with any single-replica Kafka.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.devstack.servers import LocalKafka

pytestmark = pytest.mark.integration

TOPICS = {"orders": 3, "audit": 1}  # created by an admin client, with these partition counts
AUTO_TOPIC = "created-on-first-use"  # created by the broker when first produced to
GROUP = "restart-readers"
RECORDS = 300

Record = tuple[str, int, int, bytes | None, bytes | None]  # topic, partition, offset, key, value


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[LocalKafka]:
    """A broker of this test's own: the shared one must not be stopped."""
    with LocalKafka(data_dir=tmp_path / "data", log_path=tmp_path / "kafka.log") as server:
        yield server


async def _produce(producer: AIOKafkaProducer, topic: str, count: int) -> list[Record]:
    sent = [
        await producer.send(topic, b"value-%d" % i, key=b"key-%d" % (i % 17)) for i in range(count)
    ]
    records: list[Record] = []
    for i, future in enumerate(sent):
        meta = await future
        records.append((topic, meta.partition, meta.offset, b"key-%d" % (i % 17), b"value-%d" % i))
    return records


async def _read_all(bootstrap: str, topics: list[str]) -> list[Record]:
    """Every record of ``topics``, from the start, without a group."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(
                consumer.partitions_for_topic(topic) or await _partitions(consumer, topic)
            )
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[Record] = []
        async with asyncio.timeout(30):
            while await _behind(consumer, ends):
                batch = await consumer.getmany(timeout_ms=500)
                for tp_records in batch.values():
                    records += [
                        (r.topic, r.partition, r.offset, r.key, r.value) for r in tp_records
                    ]
        return sorted(records)
    finally:
        await consumer.stop()


async def _behind(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return True
    return False


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    async with asyncio.timeout(10):
        while True:
            await consumer._client.force_metadata_update()
            found = consumer.partitions_for_topic(topic)
            if found:
                return set(found)
            await asyncio.sleep(0.1)


async def _consume_and_commit(bootstrap: str) -> dict[TopicPartition, int]:
    """A group member reads all of ``orders`` and commits half of each partition."""
    consumer = AIOKafkaConsumer(
        "orders",
        bootstrap_servers=bootstrap,
        group_id=GROUP,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        seen: dict[TopicPartition, int] = {}
        async with asyncio.timeout(60):
            while sum(seen.values()) < RECORDS:
                batch = await consumer.getmany(timeout_ms=500)
                for tp, records in batch.items():
                    seen[tp] = seen.get(tp, 0) + len(records)
        committed = {tp: count // 2 for tp, count in seen.items()}
        await consumer.commit(committed)
        return committed
    finally:
        await consumer.stop()


async def _committed(bootstrap: str) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(GROUP)
        return {tp: meta.offset for tp, meta in offsets.items()}
    finally:
        await admin.close()


async def _topics(bootstrap: str) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [name for name in await admin.list_topics() if not name.startswith("__")]
        described = await admin.describe_topics(names)
        return {topic["topic"]: len(topic["partitions"]) for topic in described}
    finally:
        await admin.close()


async def _resume(bootstrap: str) -> list[Record]:
    """What a group member reads after the restart: what was not committed before it."""
    consumer = AIOKafkaConsumer(
        "orders",
        bootstrap_servers=bootstrap,
        group_id=GROUP,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        records: list[Record] = []
        async with asyncio.timeout(60):
            while not consumer.assignment() or await _behind(
                consumer, await consumer.end_offsets(list(consumer.assignment()))
            ):
                batch = await consumer.getmany(timeout_ms=500)
                for tp_records in batch.values():
                    records += [
                        (r.topic, r.partition, r.offset, r.key, r.value) for r in tp_records
                    ]
        return sorted(records)
    finally:
        await consumer.stop()


@pytest.mark.parametrize("how", ["stop", "kill"])
async def test_a_restart_keeps_every_topic_record_and_committed_offset(
    broker: LocalKafka, how: str
) -> None:
    bootstrap = broker.bootstrap_servers
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, n, 1) for name, n in TOPICS.items()])
    finally:
        await admin.close()

    # Kept open across the restart: it must find the broker again at the same address.
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    await producer.start()
    try:
        produced: list[Record] = []
        for topic in [*TOPICS, AUTO_TOPIC]:
            produced += await _produce(producer, topic, RECORDS)
        committed = await _consume_and_commit(bootstrap)
        topics_before = await _topics(bootstrap)
        assert topics_before == {**TOPICS, AUTO_TOPIC: 3}
        assert await _committed(bootstrap) == committed

        if how == "stop":
            broker.stop()
        else:
            broker.kill()
        assert broker.proc is not None and broker.proc.returncode == (143 if how == "stop" else -9)
        broker.start()
        assert broker.bootstrap_servers == bootstrap

        assert await _topics(bootstrap) == topics_before
        assert await _read_all(bootstrap, [*TOPICS, AUTO_TOPIC]) == sorted(produced)
        assert await _committed(bootstrap) == committed
        assert await _resume(bootstrap) == sorted(
            r
            for r in produced
            if r[0] == "orders" and r[2] >= committed[TopicPartition("orders", r[1])]
        )

        # The producer opened before the restart still delivers, idempotently, in order.
        after = await _produce(producer, "audit", 10)
        assert [r[2] for r in after] == list(range(RECORDS, RECORDS + 10))
    finally:
        await producer.stop()
