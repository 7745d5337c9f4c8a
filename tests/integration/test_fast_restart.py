"""Issue 13: a stage killed and restarted works again within seconds, not after a rebalance.

``raqib run enrichment`` runs as a process with a static membership id
(``RAQIB_KAFKA_INSTANCE_ID``), is killed with SIGKILL after its first record, and is started
again: the record published then comes out enriched within ``STATIC_BOUND_S`` of the restart,
process start included. The control: with dynamic membership the same restart waits for the
dead member's session to expire first (a short one here, ``CONTROL_SESSION_S``), which is what
the static id saves.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.common.kafka import (
    ARTICLES_ENRICHED,
    ARTICLES_RAW,
    ensure_topics,
    standalone_producer,
)
from services.common.settings import KafkaSettings
from tests.conftest import kafka_env, start_service, stop_service
from tests.integration.test_kafka_faults import raw_article

pytestmark = pytest.mark.integration

# Short, to keep the control quick; the static test keeps the default (10 s).
CONTROL_SESSION_S = 6.0  # the broker refuses less (group.min.session.timeout.ms)
STATIC_BOUND_S = 5.0  # restart to first output with a static membership id
TIMEOUT = 40.0  # the longest any one wait may take (a dynamic restart takes ~a session)


class Outputs:
    """Watches a topic outside any consumer group; the moment each key first arrived."""

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.arrived: dict[bytes, float] = {}

    async def watch(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers, enable_auto_commit=False, group_id=None
        )
        await consumer.start()
        try:
            partitions = consumer.partitions_for_topic(self.topic)
            while not partitions:
                await consumer._client.force_metadata_update()
                partitions = consumer.partitions_for_topic(self.topic)
            assigned = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            consumer.assign(assigned)
            await consumer.seek_to_beginning(*assigned)
            while True:
                batch = await consumer.getmany(timeout_ms=50)
                now = time.monotonic()
                for records in batch.values():
                    for record in records:
                        if record.key is not None:
                            self.arrived.setdefault(record.key, now)
        finally:
            await consumer.stop()

    async def arrival(self, key: bytes) -> float:
        deadline = time.monotonic() + TIMEOUT
        while key not in self.arrived:
            assert time.monotonic() < deadline, f"no output for {key!r} in {TIMEOUT} s"
            await asyncio.sleep(0.02)
        return self.arrived[key]


@contextlib.asynccontextmanager
async def watching(settings: KafkaSettings) -> AsyncIterator[Outputs]:
    outputs = Outputs(settings.bootstrap_servers, settings.topic(ARTICLES_ENRICHED))
    task = asyncio.create_task(outputs.watch())
    try:
        yield outputs
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def restart_to_first_output(
    tmp_path: Path,
    settings: KafkaSettings,
    instance_id: str | None,
    session_timeout_s: float | None = None,
) -> float:
    """Seconds from a killed enrichment's restart to its first output."""
    env = {**os.environ, **kafka_env(settings)}
    if instance_id is not None:
        env["RAQIB_KAFKA_INSTANCE_ID"] = instance_id
    if session_timeout_s is not None:
        env["RAQIB_KAFKA_SESSION_TIMEOUT_S"] = str(session_timeout_s)
    log = tmp_path / "enrichment.log"
    namespace = settings.prefix
    first, second = raw_article(namespace, 1), raw_article(namespace, 2)
    await ensure_topics(settings, [settings.topic(ARTICLES_RAW), settings.topic(ARTICLES_ENRICHED)])
    producer = standalone_producer(settings)
    await producer.start()
    try:
        async with watching(settings) as outputs:
            service = start_service("enrichment", env, log)
            try:
                await producer.send_and_wait(
                    settings.topic(ARTICLES_RAW),
                    first.model_dump_json().encode(),
                    key=first.id.encode(),
                )
                await outputs.arrival(first.id.encode())
            finally:
                stop_service(service, signal.SIGKILL)
            restarted_at = time.monotonic()
            service = start_service("enrichment", env, log)
            try:
                await producer.send_and_wait(
                    settings.topic(ARTICLES_RAW),
                    second.model_dump_json().encode(),
                    key=second.id.encode(),
                )
                return await outputs.arrival(second.id.encode()) - restarted_at
            finally:
                stop_service(service, signal.SIGTERM)
    finally:
        await producer.stop()


async def test_a_static_member_killed_and_restarted_works_again_within_seconds(
    tmp_path: Path, kafka_settings: KafkaSettings
) -> None:
    took = await restart_to_first_output(tmp_path, kafka_settings, "replica-1")
    print(f"static membership: restart to first output {took:.2f} s")
    assert took < STATIC_BOUND_S, (tmp_path / "enrichment.log").read_text()[-4000:]


async def test_a_dynamic_member_restarted_waits_for_the_dead_ones_session(
    tmp_path: Path, kafka_settings: KafkaSettings
) -> None:
    took = await restart_to_first_output(tmp_path, kafka_settings, None, CONTROL_SESSION_S)
    print(f"dynamic membership: restart to first output {took:.2f} s")
    assert took > CONTROL_SESSION_S * 0.8  # the partitions waited for the dead member
