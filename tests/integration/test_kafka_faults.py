"""Kafka faults on the real broker: a rebalance, partitions added to a running topic, and the
stages' idempotent producers. A broker restart mid-stream is an experiment of the fault suite
(``tests/faults``), through every stage.

Every test streams a fixed number of articles and bounds every wait, so a fault that loses or
blocks records fails the test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions

from schemas import EnrichedArticle, RawArticle, article_id, content_hash
from services.common.kafka import (
    ARTICLES_ENRICHED,
    ARTICLES_RAW,
    make_broker,
    standalone_producer,
)
from services.common.settings import KafkaSettings
from services.devstack.topics import group_lag, read_topic
from services.enrichment.app import build_app as build_enrichment
from services.enrichment.core import Tagger, TagResult, load_knowledge_base
from services.enrichment.settings import EnrichmentSettings
from tests.faults.harness import StreamPublisher

pytestmark = pytest.mark.integration

STREAM_GAP_S = 0.01  # between two published articles: a steady stream, not one burst
TIMEOUT = 40.0  # the longest any one wait of these tests may take

# --- articles and taggers ---------------------------------------------------------------------


def raw_article(namespace: str, n: int) -> RawArticle:
    url = f"https://news.example/{namespace}{n}"
    text = f"التقى فتحي باشاغا بوفد من جهاز الردع في طرابلس، الاجتماع رقم {n}."
    return RawArticle(
        id=article_id(url),
        url=url,
        source="Example News",
        title=f"خبر {n}",
        text=text,
        fetched_at=datetime(2026, 11, 1, tzinfo=UTC),
        content_hash=content_hash(text),
    )


class CountingTagger:
    """A real Tagger that counts what it tagged (a compiled Tagger cannot be subclassed)."""

    def __init__(self) -> None:
        self.tagger = Tagger(load_knowledge_base())
        self.knowledge_base = self.tagger.knowledge_base
        self.tagged = 0

    def tag(self, title: str, text: str) -> TagResult:
        self.tagged += 1
        return self.tagger.tag(title, text)

    def as_tagger(self) -> Tagger:
        return cast(Tagger, self)


# --- the test's own producer ------------------------------------------------------------------


async def stream(
    publisher: StreamPublisher,
    topic: str,
    articles: Sequence[RawArticle],
    marks: dict[int, asyncio.Event] | None = None,
) -> None:
    """Publish ``articles`` in order, keyed by id; set ``marks[i]`` once ``i`` are out."""
    marks = marks or {}
    for i, article in enumerate(articles):
        if i in marks:
            marks[i].set()
        await publisher.send(topic, article.model_dump_json().encode(), article.id.encode())
        await asyncio.sleep(STREAM_GAP_S)


async def reached(mark: asyncio.Event, task: asyncio.Task[None]) -> None:
    """Wait for ``mark``; fail at once if the task that sets it failed first."""
    waiter = asyncio.ensure_future(mark.wait())
    done, _ = await asyncio.wait({waiter, task}, timeout=TIMEOUT, return_when="FIRST_COMPLETED")
    waiter.cancel()
    if task in done and not mark.is_set():
        task.result()  # raises what failed the stream
    assert mark.is_set(), "the stream did not reach its mark in time"


async def eventually(check: Callable[[], Awaitable[bool]], within: float = TIMEOUT) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # a server may be restarting
            if await check():
                return True
        await asyncio.sleep(0.3)
    return await check()


async def dead_letters(kafka: KafkaSettings, *stages: str) -> list[Any]:
    records: list[Any] = []
    for stage in stages:
        records += await read_topic(kafka.bootstrap_servers, kafka.dead_letter_topic(stage))
    return records


# --- 2. a replica joins, then another leaves, mid-stream --------------------------------------

ARTICLES_THROUGH_REBALANCE = 300


async def test_replicas_joining_and_leaving_mid_stream_miss_no_article(
    kafka_settings: KafkaSettings, namespace: str
) -> None:
    articles = [raw_article(namespace, n) for n in range(ARTICLES_THROUGH_REBALANCE)]
    settings = EnrichmentSettings(kafka=kafka_settings)
    first, second = CountingTagger(), CountingTagger()
    b_joins, a_leaves = asyncio.Event(), asyncio.Event()
    publisher = StreamPublisher(kafka_settings.bootstrap_servers)
    try:
        async with contextlib.AsyncExitStack() as replica_b:
            async with contextlib.AsyncExitStack() as replica_a:
                await replica_a.enter_async_context(
                    build_enrichment(settings, tagger=first.as_tagger())
                )
                publishing = asyncio.create_task(
                    stream(
                        publisher,
                        kafka_settings.topic(ARTICLES_RAW),
                        articles,
                        {
                            ARTICLES_THROUGH_REBALANCE // 3: b_joins,
                            2 * ARTICLES_THROUGH_REBALANCE // 3: a_leaves,
                        },
                    )
                )
                await reached(b_joins, publishing)
                tagged_by_a_alone = first.tagged
                await replica_b.enter_async_context(
                    build_enrichment(settings, tagger=second.as_tagger())
                )
                await reached(a_leaves, publishing)
            # A has left the group (its consumer said so on stop); B carries on alone.
            await asyncio.wait_for(publishing, TIMEOUT)
            enriched = await read_topic(
                kafka_settings.bootstrap_servers,
                kafka_settings.topic(ARTICLES_ENRICHED),
                min_count=len(articles),
                timeout=TIMEOUT,
            )

            async def all_committed() -> bool:
                lag = await group_lag(
                    kafka_settings.bootstrap_servers,
                    kafka_settings.group(settings.group_id),
                    kafka_settings.topic(ARTICLES_RAW),
                )
                return lag == 0

            # B, alone in the group by now, commits every offset, A's last ones included.
            assert await eventually(all_committed), "the group did not commit everything"
    finally:
        await publisher.close()

    assert {EnrichedArticle.model_validate_json(r.value).id for r in enriched} == {
        a.id for a in articles
    }
    assert await dead_letters(kafka_settings, "enrichment") == []
    assert tagged_by_a_alone > 0, "replica A did nothing before B joined"
    assert second.tagged > 0, "replica B did nothing"
    assert first.tagged + second.tagged >= len(articles)  # a rebalance may repeat, never lose


# --- 3. partitions added to a topic the stage is consuming ------------------------------------

METADATA_MAX_AGE_S = 1.0
NEW_PARTITIONS_SEEN_WITHIN_S = 20.0


async def test_partitions_added_while_running_are_consumed(
    kafka_settings: KafkaSettings, namespace: str
) -> None:
    kafka = kafka_settings.model_copy(update={"metadata_max_age_s": METADATA_MAX_AGE_S})
    topic = kafka.topic(ARTICLES_RAW)
    before = [raw_article(namespace, n) for n in range(3)]
    after = [raw_article(namespace, n) for n in range(3, 9)]
    publisher = StreamPublisher(kafka.bootstrap_servers)
    try:
        async with build_enrichment(EnrichmentSettings(kafka=kafka)):
            # The stage reads all three partitions first, so it knows the topic as it was.
            for partition, article in enumerate(before):
                value = article.model_dump_json().encode()
                await publisher.send(topic, value, article.id.encode(), partition=partition)
            warm = await read_topic(
                kafka.bootstrap_servers,
                kafka.topic(ARTICLES_ENRICHED),
                min_count=len(before),
                timeout=TIMEOUT,
            )
            assert len(warm) == len(before)

            admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
            await admin.start()
            try:
                await admin.create_partitions({topic: NewPartitions(total_count=6)})
            finally:
                await admin.close()
            await publisher.close()  # a new producer reads the topic's new metadata

            raised = time.monotonic()
            for i, article in enumerate(after):
                value = article.model_dump_json().encode()
                await publisher.send(topic, value, article.id.encode(), partition=3 + i % 3)
            enriched = await read_topic(
                kafka.bootstrap_servers,
                kafka.topic(ARTICLES_ENRICHED),
                min_count=len(before) + len(after),
                timeout=NEW_PARTITIONS_SEEN_WITHIN_S,
            )
            took = time.monotonic() - raised
    finally:
        await publisher.close()

    ids = {EnrichedArticle.model_validate_json(r.value).id for r in enriched}
    assert ids == {a.id for a in [*before, *after]}, (
        f"{len(ids & {a.id for a in after})} of {len(after)} articles on the new partitions "
        f"enriched within {NEW_PARTITIONS_SEEN_WITHIN_S:.0f}s"
    )
    assert took < NEW_PARTITIONS_SEEN_WITHIN_S
    assert await dead_letters(kafka, "enrichment") == []


# --- 4. the stages' producers are idempotent --------------------------------------------------


def aiokafka_producer(broker: Any) -> Any:
    """The aiokafka producer inside a connected FastStream broker."""
    return broker.config.broker_config.producer._producer.producer


async def test_stage_producers_are_idempotent_on_the_real_broker(
    kafka_settings: KafkaSettings,
) -> None:
    assert kafka_settings.enable_idempotence  # the default
    topic = kafka_settings.topic("idempotence-check")
    broker = make_broker(kafka_settings, stage="enrichment")
    await broker.start()
    try:
        for n in range(3):
            await broker.publish(b"stage-%d" % n, topic, key=b"one-partition")
        # The broker granted a producer id (InitProducerId): every send carries a sequence
        # number, so a retried send is never written twice.
        manager = aiokafka_producer(broker)._txn_manager
        assert manager is not None and manager.producer_id >= 0
    finally:
        await broker.stop()

    producer = standalone_producer(kafka_settings)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"standalone", key=b"one-partition")
        assert producer._txn_manager is not None and producer._txn_manager.producer_id >= 0
    finally:
        await producer.stop()

    records = await read_topic(kafka_settings.bootstrap_servers, topic, min_count=4, timeout=10)
    assert [r.value for r in records] == [b"stage-0", b"stage-1", b"stage-2", b"standalone"]
