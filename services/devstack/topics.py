"""Read a topic from the beginning without joining a consumer group (for dev and tests)."""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition


async def read_topic(
    bootstrap_servers: str, topic: str, *, min_count: int = 0, timeout: float = 10.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topic`` so far; waits up to ``timeout`` for ``min_count`` of them."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout
        partitions: set[int] | None = None
        while not partitions and time.monotonic() < deadline:
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                await consumer._client.force_metadata_update()
                await asyncio.sleep(0.1)
        if not partitions:
            return []
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        records: list[ConsumerRecord[bytes, bytes]] = []
        while True:
            remaining = deadline - time.monotonic()
            batch = await consumer.getmany(timeout_ms=200)
            for part in batch.values():
                records.extend(part)
            if remaining <= 0 or (min_count and len(records) >= min_count and not batch):
                break
            if not min_count and not batch:
                break
        return records
    finally:
        await consumer.stop()


async def end_offsets(bootstrap_servers: str, topic: str) -> dict[int, int]:
    """Partition -> offset after its last record."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not assigned:
            return {}
        reported = await consumer.end_offsets(assigned)
        return {tp.partition: reported[tp] for tp in assigned}
    finally:
        await consumer.stop()


async def group_lag(bootstrap_servers: str, group_id: str, topic: str) -> int:
    """Messages of ``topic`` that ``group_id`` has not committed yet (all, if it never did).

    Asks the group coordinator for committed offsets without joining the group, so it
    does not disturb the running consumers.
    """
    ends = await end_offsets(bootstrap_servers, topic)
    if not ends:
        return 0
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, group_id=group_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        lag = 0
        for partition, end in ends.items():
            committed = await consumer.committed(TopicPartition(topic, partition))
            lag += end - (committed or 0)
        return lag
    finally:
        await consumer.stop()
