"""Kafka faults on the real broker: a restart mid-stream, a rebalance, partitions added to a
running topic, and the stages' idempotent producers.

Every test streams a fixed number of articles and bounds every wait, so a fault that loses or
blocks records fails the test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions
from aiokafka.errors import KafkaError
from faststream import FastStream

from schemas import EnrichedArticle, RawArticle, article_id, content_hash
from services.common.kafka import (
    ARTICLES_ENRICHED,
    ARTICLES_RAW,
    make_broker,
    standalone_producer,
)
from services.common.settings import ElasticsearchSettings, KafkaSettings
from services.devstack.opensearch_node import LocalOpenSearch
from services.devstack.servers import LocalKafka
from services.devstack.topics import group_lag, read_topic
from services.enrichment.app import build_app as build_enrichment
from services.enrichment.core import Tagger, TagResult, load_knowledge_base
from services.enrichment.settings import EnrichmentSettings
from services.indexer.app import build_app as build_indexer
from services.indexer.engines import SearchEngine, open_engine
from services.indexer.settings import IndexerSettings

pytestmark = pytest.mark.integration

STREAM_GAP_S = 0.01  # between two published articles: a steady stream, not one burst
OUTAGE_S = 3.0  # how long the broker stays down
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


class StreamPublisher:
    """Publishes one record at a time, each acknowledged by every replica. While the broker is
    away a send fails (bounded by a short request timeout); the publisher then drops its
    producer and tries again with a new one, as a client that reconnects would. A record whose
    acknowledgement was lost may so be written twice: at least once, as Kafka promises."""

    def __init__(self, bootstrap_servers: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.producer: AIOKafkaProducer | None = None
        self.failed_sends = 0
        self.acknowledged = 0

    async def send(
        self, topic: str, value: bytes, key: bytes, partition: int | None = None
    ) -> None:
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                async with asyncio.timeout(10):
                    if self.producer is None:
                        self.producer = AIOKafkaProducer(
                            bootstrap_servers=self.bootstrap_servers,
                            acks="all",
                            enable_idempotence=True,
                            request_timeout_ms=3000,
                            retry_backoff_ms=200,
                        )
                        await self.producer.start()
                    await self.producer.send_and_wait(topic, value, key=key, partition=partition)
                self.acknowledged += 1
                return
            except (KafkaError, TimeoutError, OSError):
                self.failed_sends += 1
                await self.close()
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)

    async def close(self) -> None:
        producer, self.producer = self.producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()


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


def alive(app: FastStream) -> bool:
    """Whether every subscriber of ``app`` still runs its consume loop."""
    broker = app.broker
    assert broker is not None
    subscribers = broker.subscribers
    return bool(subscribers) and all(
        sub.running and any(not task.done() for task in getattr(sub, "tasks", []))
        for sub in subscribers
    )


async def dead_letters(kafka: KafkaSettings, *stages: str) -> list[Any]:
    records: list[Any] = []
    for stage in stages:
        records += await read_topic(kafka.bootstrap_servers, kafka.dead_letter_topic(stage))
    return records


# --- 1. a broker restart in the middle of a stream --------------------------------------------

ARTICLES_THROUGH_RESTART = 200


@pytest.fixture
def own_kafka(tmp_path: Path) -> Iterator[LocalKafka]:
    """A broker of this test's own: the session's one must not be stopped."""
    with LocalKafka(data_dir=tmp_path / "kafka-data", log_path=tmp_path / "kafka.log") as server:
        yield server


@pytest.fixture
async def search(opensearch: LocalOpenSearch, namespace: str) -> AsyncIterator[SearchEngine]:
    settings = opensearch_settings(opensearch, namespace)
    engine = open_engine(settings)
    yield engine
    await engine.close()


def opensearch_settings(opensearch: LocalOpenSearch, namespace: str) -> ElasticsearchSettings:
    return ElasticsearchSettings(
        url=opensearch.url,
        articles_alias=f"{namespace}raqib-articles",
        alerts_alias=f"{namespace}raqib-alerts",
    )


async def indexed_ids(engine: SearchEngine, alias: str) -> list[str]:
    """The ``_id`` of every article document, one entry per document (duplicates kept)."""
    await engine.refresh(alias)
    found = await engine.search(
        alias, {"size": 10 * ARTICLES_THROUGH_RESTART, "_source": False, "query": {"match_all": {}}}
    )
    return [hit["_id"] for hit in found["hits"]["hits"]]


@pytest.mark.parametrize("outage", ["stop", "kill"])
async def test_a_broker_restart_mid_stream_indexes_every_article_exactly_once(
    own_kafka: LocalKafka,
    opensearch: LocalOpenSearch,
    search: SearchEngine,
    namespace: str,
    outage: str,
) -> None:
    kafka = KafkaSettings(
        bootstrap_servers=own_kafka.bootstrap_servers, partitions=3, prefix=namespace
    )
    es = opensearch_settings(opensearch, namespace)
    articles = [raw_article(namespace, n) for n in range(ARTICLES_THROUGH_RESTART)]
    expected = {a.id for a in articles}
    tagger = CountingTagger()
    enrichment = build_enrichment(EnrichmentSettings(kafka=kafka), tagger=tagger.as_tagger())
    indexer = build_indexer(
        IndexerSettings(kafka=kafka, elasticsearch=es, batch_size=100, batch_timeout_s=0.2)
    )
    publisher = StreamPublisher(kafka.bootstrap_servers)
    halfway = asyncio.Event()
    try:
        async with enrichment, indexer:
            publishing = asyncio.create_task(
                stream(
                    publisher,
                    kafka.topic(ARTICLES_RAW),
                    articles,
                    {ARTICLES_THROUGH_RESTART // 2: halfway},
                )
            )
            await reached(halfway, publishing)
            # The broker goes away under the running services and the publishing client.
            await asyncio.to_thread(own_kafka.stop if outage == "stop" else own_kafka.kill)
            assert own_kafka.proc is not None
            assert own_kafka.proc.returncode == (143 if outage == "stop" else -9)
            await asyncio.sleep(OUTAGE_S)
            await asyncio.to_thread(own_kafka.start)
            # The stream went on through the outage: part of it is published only now.
            assert publisher.acknowledged < len(articles), "the stream ended before the outage"
            await asyncio.wait_for(publishing, TIMEOUT)

            async def all_indexed() -> bool:
                return set(await indexed_ids(search, es.articles_alias)) == expected

            assert await eventually(all_indexed), (
                f"{len(set(await indexed_ids(search, es.articles_alias)))} of "
                f"{len(expected)} articles indexed"
            )

            async def all_committed() -> bool:
                enriching = await group_lag(
                    kafka.bootstrap_servers,
                    kafka.group("raqib-enrichment"),
                    kafka.topic(ARTICLES_RAW),
                )
                indexing = await group_lag(
                    kafka.bootstrap_servers,
                    kafka.group("raqib-indexer"),
                    kafka.topic(ARTICLES_ENRICHED),
                )
                return enriching == 0 and indexing == 0

            assert await eventually(all_committed), "the groups did not commit everything"
            ids = await indexed_ids(search, es.articles_alias)
            assert sorted(ids) == sorted(expected)  # each article once, nothing else
            assert await search.count(es.articles_alias) == len(expected)
            assert alive(enrichment) and alive(indexer), "a service stopped consuming"
            assert tagger.tagged >= len(expected)
        assert await dead_letters(kafka, "enrichment", "indexer") == []
    finally:
        await publisher.close()


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
