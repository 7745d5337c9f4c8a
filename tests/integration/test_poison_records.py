"""Poison records against the real broker (issue 13): a record too large to be published again,
or one a stage fails on every time, is dead-lettered on its own; the rest of its batch is
handled once and committed, and the stage keeps running.

Kafka refuses a record over ``max.message.bytes`` (1 MiB by default, and on every topic Raqib
creates): a 5 MB raw record gets in only through a topic made with a larger limit by someone
else, which is how these tests put it there.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter
from collections.abc import Sequence

import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import MessageSizeTooLargeError

import services.indexer.app as indexer_app
from schemas import EnrichedArticle, RawArticle
from services.common.kafka import (
    ARTICLES_ENRICHED,
    ARTICLES_RAW,
    DEAD_LETTER_HEAD_BYTES,
    ensure_topics,
)
from services.common.settings import ElasticsearchSettings, KafkaSettings
from services.devstack.servers import LocalElasticsearch
from services.devstack.topics import group_lag, read_topic
from services.enrichment.app import build_app as build_enrichment
from services.enrichment.settings import EnrichmentSettings
from services.indexer.core import DocumentBuilder, IndexedDocument, IndexLayout, article_builder
from services.indexer.engines import open_engine
from services.indexer.settings import IndexerSettings
from tests.integration.enrichment.test_enrichment_service import _article as raw_article
from tests.unit.indexer.articles import deterrence_article

pytestmark = pytest.mark.integration

MB = 1_000_000
LARGE_TOPIC_BYTES = 8 * 1024 * 1024
SENTENCE = "التقى فتحي باشاغا بوفد من قوة الردع في طرابلس لبحث الأوضاع الأمنية. "
DRAIN_S = 60.0  # the longest any of these waits for the stage


def _article(n: int) -> RawArticle:
    return raw_article(n, f"اجتماع رقم {n} في طرابلس بحضور فتحي باشاغا.")


def _huge(n: int, size: int) -> bytes:
    """A valid raw article of ``size`` bytes whose enriched form is several times larger."""
    repeats = size // len(SENTENCE.encode()) + 1
    value = raw_article(n, SENTENCE * repeats).model_dump_json().encode()
    assert len(value) >= size
    return value


async def _create_large_raw_topic(kafka: KafkaSettings) -> None:
    """``articles.raw`` as another tool might have made it: records up to 8 MiB."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await admin.start()
    try:
        topic = NewTopic(
            kafka.topic(ARTICLES_RAW),
            kafka.partitions,
            1,
            topic_configs={"max.message.bytes": str(LARGE_TOPIC_BYTES)},
        )
        await admin.create_topics([topic])
    finally:
        await admin.close()


async def _produce(
    kafka: KafkaSettings, topic: str, records: Sequence[tuple[bytes, bytes]]
) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap_servers, max_request_size=LARGE_TOPIC_BYTES
    )
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(kafka.topic(topic), value, key=key)
    finally:
        await producer.stop()


async def _read(
    kafka: KafkaSettings, topic: str, min_count: int, timeout: float = DRAIN_S
) -> list[ConsumerRecord[bytes, bytes]]:
    """The records of ``topic`` (its cluster name), once at least ``min_count`` are there."""
    return await read_topic(kafka.bootstrap_servers, topic, min_count=min_count, timeout=timeout)


def _headers(record: ConsumerRecord[bytes, bytes]) -> dict[str, str]:
    return {name: value.decode() for name, value in record.headers}


def _assert_head_of(
    record: ConsumerRecord[bytes, bytes], value: bytes, kafka: KafkaSettings
) -> None:
    """``record`` is the dead letter of ``value``, too large to go whole: head, size, hash."""
    headers = _headers(record)
    assert record.value == value[:DEAD_LETTER_HEAD_BYTES]
    assert headers["x-raqib-value-truncated"] == "true"
    assert headers["x-raqib-value-bytes"] == str(len(value))
    assert headers["x-raqib-value-sha256"] == hashlib.sha256(value).hexdigest()
    assert headers["x-raqib-error-type"] == "MessageSizeTooLargeError"
    assert headers["x-raqib-source-topic"] == kafka.topic(ARTICLES_RAW)


def _enriched_ids(records: Sequence[ConsumerRecord[bytes, bytes]]) -> Counter[str]:
    return Counter(EnrichedArticle.model_validate_json(r.value).id for r in records)


async def test_topics_raqib_creates_refuse_what_its_producers_would(
    kafka_settings: KafkaSettings,
) -> None:
    await ensure_topics(kafka_settings, [kafka_settings.topic(ARTICLES_RAW)])
    with pytest.raises(MessageSizeTooLargeError):  # the broker's answer, not the producer's
        await _produce(kafka_settings, ARTICLES_RAW, [(b"k", b"x" * (2 * 1024 * 1024))])


@pytest.mark.parametrize(
    ("size", "spread"),
    [
        # One partition: the 40 were never enriched, stuck behind the record.
        pytest.param(5 * MB, False, id="5MB-then-40-on-its-partition"),
        # Spread, published while the stage runs: batches that held the record were re-read
        # without end, re-publishing their good outputs (10,910 duplicates in 90 s).
        pytest.param(int(1.2 * MB), True, id="1.2MB-then-40-over-all-partitions"),
    ],
)
async def test_a_record_too_large_to_dead_letter_whole_does_not_jam_enrichment(
    kafka_settings: KafkaSettings, size: int, spread: bool
) -> None:
    await _create_large_raw_topic(kafka_settings)
    huge = _huge(0, size)
    good = [_article(n) for n in range(1, 41)]
    good_records = [
        (a.id.encode() if spread else b"one-partition", a.model_dump_json().encode()) for a in good
    ]
    await _produce(kafka_settings, ARTICLES_RAW, [(b"one-partition", huge)])
    if not spread:
        await _produce(kafka_settings, ARTICLES_RAW, good_records)

    settings = EnrichmentSettings(kafka=kafka_settings)
    started = time.monotonic()
    async with build_enrichment(settings):
        if spread:
            for record in good_records:
                await _produce(kafka_settings, ARTICLES_RAW, [record])
                await asyncio.sleep(0.05)
        enriched = await _read(kafka_settings, kafka_settings.topic(ARTICLES_ENRICHED), 40)
        drained_s = time.monotonic() - started
        # The stage keeps running: an article published now is enriched too.
        after = _article(41)
        await _produce(
            kafka_settings,
            ARTICLES_RAW,
            [(b"one-partition", after.model_dump_json().encode())],
        )
        enriched = await _read(kafka_settings, kafka_settings.topic(ARTICLES_ENRICHED), 41)
        dead = await _read(kafka_settings, kafka_settings.dead_letter_topic("enrichment"), 1, 10)
        lag = await group_lag(
            kafka_settings.bootstrap_servers,
            kafka_settings.group(settings.group_id),
            kafka_settings.topic(ARTICLES_RAW),
        )

    assert drained_s < DRAIN_S
    # Each good article exactly once: no duplicates on articles.enriched.
    assert _enriched_ids(enriched) == Counter({a.id: 1 for a in [*good, after]})
    (dead_letter,) = dead
    _assert_head_of(dead_letter, huge, kafka_settings)
    assert "enriched article" in _headers(dead_letter)["x-raqib-error"]
    assert lag == 0  # everything committed, the huge record included


async def test_a_batch_with_bytes_that_are_not_utf8_is_dead_lettered_record_by_record(
    kafka_settings: KafkaSettings,
) -> None:
    await _create_large_raw_topic(kafka_settings)
    first, last = _article(1), _article(2)
    not_utf8 = b'{"id": "\xff\xfe\xfd", "title": "\xc3\x28"}'
    huge = _huge(3, int(1.2 * MB))
    values = [first.model_dump_json().encode(), not_utf8, huge, last.model_dump_json().encode()]
    await _produce(kafka_settings, ARTICLES_RAW, [(b"one-partition", v) for v in values])

    async with build_enrichment(EnrichmentSettings(kafka=kafka_settings)):
        enriched = await _read(kafka_settings, kafka_settings.topic(ARTICLES_ENRICHED), 2)
        dead = await _read(kafka_settings, kafka_settings.dead_letter_topic("enrichment"), 2)

    assert _enriched_ids(enriched) == Counter({first.id: 1, last.id: 1})
    invalid, too_large = dead
    assert invalid.value == not_utf8  # the bytes as they came
    assert _headers(invalid)["x-raqib-error-type"] == "ValidationError"
    assert "x-raqib-value-truncated" not in _headers(invalid)
    _assert_head_of(too_large, huge, kafka_settings)


async def test_the_indexer_isolates_a_record_it_fails_on_and_indexes_the_rest(
    kafka_settings: KafkaSettings,
    elasticsearch: LocalElasticsearch,
    namespace: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same mechanism in another stage: a bug one record triggers fails the indexer's
    whole batch; the batch is split, that record alone is dead-lettered, the rest (a record
    that is not UTF-8, dead-lettered whole, among them) is handled once."""

    def buggy_builder(layout: IndexLayout) -> DocumentBuilder:
        build = article_builder(layout)

        def buggy(value: bytes) -> IndexedDocument:
            if b"POISON" in value:
                raise RuntimeError("indexer bug")
            return build(value)

        return buggy

    monkeypatch.setattr(indexer_app, "article_builder", buggy_builder)
    articles = [
        deterrence_article(f"أعلن جهاز الردع في طرابلس عن عملية أمنية رقم {i}.") for i in range(20)
    ]
    articles[5] = articles[5].model_copy(update={"truncated": True})  # the flag is indexed too
    poison = deterrence_article("POISON أعلن جهاز الردع عن عملية.")
    not_utf8 = b"\xff\xfe not an article"
    values = [(a.id.encode(), a.model_dump_json().encode()) for a in articles]
    values[7:7] = [(poison.id.encode(), poison.model_dump_json().encode())]
    values[15:15] = [(b"bad", not_utf8)]
    # One partition, published before the stage starts: one batch holds them all.
    await _produce(
        kafka_settings, ARTICLES_ENRICHED, [(b"one-partition", value) for _, value in values]
    )

    es = ElasticsearchSettings(
        url=elasticsearch.url,
        articles_alias=f"{namespace}raqib-articles",
        alerts_alias=f"{namespace}raqib-alerts",
    )
    settings = IndexerSettings(kafka=kafka_settings, elasticsearch=es, batch_size=100)
    engine = open_engine(es)
    try:
        async with indexer_app.build_app(settings):
            dead = await _read(kafka_settings, kafka_settings.dead_letter_topic("indexer"), 2)
            deadline = time.monotonic() + DRAIN_S
            while time.monotonic() < deadline:
                await engine.refresh(es.articles_alias)
                if await engine.count(es.articles_alias, None) >= len(articles):
                    break
                await asyncio.sleep(0.3)
            lag = await group_lag(
                kafka_settings.bootstrap_servers,
                kafka_settings.group(settings.group_id),
                kafka_settings.topic(ARTICLES_ENRICHED),
            )
        await engine.refresh(es.articles_alias)
        indexed = await engine.count(es.articles_alias, None)
        truncated = await engine.count(es.articles_alias, {"term": {"truncated": True}})
    finally:
        await engine.close()

    assert indexed == len(articles) and truncated == 1
    by_value = {record.value: _headers(record) for record in dead}
    assert len(dead) == 2 and set(by_value) == {not_utf8, poison.model_dump_json().encode()}
    assert by_value[not_utf8]["x-raqib-error-type"] == "ValidationError"
    isolated = by_value[poison.model_dump_json().encode()]
    assert isolated["x-raqib-error-type"] == "RuntimeError"
    assert "indexer bug" in isolated["x-raqib-error"]
    assert "on its own (it came in a batch of " in isolated["x-raqib-error"]
    assert lag == 0
