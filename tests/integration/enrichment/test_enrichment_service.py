"""The enrichment service against a real Kafka-protocol broker."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError

from schemas import EnrichedArticle, RawArticle, article_id, content_hash
from services.common.kafka import ARTICLES_ENRICHED, ARTICLES_RAW
from services.common.settings import KafkaSettings
from services.devstack.topics import read_topic
from services.enrichment.app import build_app
from services.enrichment.core import Tagger, TagResult, load_knowledge_base
from services.enrichment.settings import EnrichmentSettings

pytestmark = pytest.mark.integration


def _article(n: int, text: str) -> RawArticle:
    return RawArticle(
        id=article_id(f"https://news.example/{n}"),
        url=f"https://news.example/{n}",
        source="Example News",
        title=f"خبر {n}",
        text=text,
        fetched_at=datetime(2026, 11, 1, tzinfo=UTC),
        content_hash=content_hash(text),
    )


class WrappedTagger:
    """A real Tagger with test behaviour around it: a compiled Tagger cannot be subclassed."""

    def __init__(self) -> None:
        self.tagger = Tagger(load_knowledge_base())
        self.knowledge_base = self.tagger.knowledge_base

    def tag(self, title: str, text: str) -> TagResult:
        return self.tagger.tag(title, text)

    def as_tagger(self) -> Tagger:
        return cast(Tagger, self)


class CrashingTagger(WrappedTagger):
    """Stands for a bug in the tagger that one particular article triggers."""

    def tag(self, title: str, text: str) -> TagResult:
        if "CRASH" in text:
            raise RuntimeError("tagger bug")
        return super().tag(title, text)


async def test_tags_articles_and_dead_letters_bad_messages(kafka_settings: KafkaSettings) -> None:
    good_before = _article(1, "التقى قائد جهاز الردع عبد الرؤوف كارة بوفد تركي في طرابلس.")
    good_after = _article(2, "قال فتحي باشاغا إن الحكومة ستواصل عملها.")
    not_json = b"\x00\xffthis is not json"
    breaks_schema = b'{"id": "xyz", "title": 42}'
    crashes = _article(3, "CRASH في طرابلس").model_dump_json().encode()
    # ~600 KB in, but tens of thousands of mentions out: too large for the broker's 1 MB.
    too_large = _article(4, "قوة الردع الخاصة. " * 20_000).model_dump_json().encode()

    producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.bootstrap_servers)
    await producer.start()
    try:
        # One key, so all land on one partition and keep their order.
        for value in (
            good_before.model_dump_json().encode(),
            not_json,
            breaks_schema,
            crashes,
            too_large,
            good_after.model_dump_json().encode(),
        ):
            await producer.send_and_wait(
                kafka_settings.topic(ARTICLES_RAW), value, key=b"same-partition"
            )
    finally:
        await producer.stop()

    tagger = CrashingTagger().as_tagger()
    app = build_app(EnrichmentSettings(kafka=kafka_settings), tagger=tagger)
    async with app:
        enriched = await read_topic(
            kafka_settings.bootstrap_servers,
            kafka_settings.topic(ARTICLES_ENRICHED),
            min_count=2,
            timeout=40,
        )
        dead = await read_topic(
            kafka_settings.bootstrap_servers,
            kafka_settings.dead_letter_topic("enrichment"),
            min_count=4,
            timeout=10,
        )

    articles = {a.id: a for a in (EnrichedArticle.model_validate_json(r.value) for r in enriched)}
    assert set(articles) == {good_before.id, good_after.id}
    assert {e.id for e in articles[good_before.id].entities} >= {
        "special-deterrence-force",
        "abdul-raouf-kara",
    }
    assert "fathi-bashagha" in {e.id for e in articles[good_after.id].entities}
    assert {r.key for r in enriched} == {good_before.id.encode(), good_after.id.encode()}

    # The original bytes, untouched, in the order they came, each with its error.
    assert [r.value for r in dead] == [not_json, breaks_schema, crashes, too_large]
    headers = [{k: v.decode() for k, v in record.headers} for record in dead]
    assert [h["x-raqib-error-type"] for h in headers] == [
        "ValidationError",
        "ValidationError",
        "PermanentError",
        "MessageSizeTooLargeError",
    ]
    assert "tagger bug" in headers[2]["x-raqib-error"]
    for h in headers:
        assert h["x-raqib-stage"] == "enrichment"
        assert h["x-raqib-source-topic"] == kafka_settings.topic(ARTICLES_RAW)
        assert h["x-raqib-source-offset"].isdigit()


class CountingTagger(WrappedTagger):
    def __init__(self) -> None:
        super().__init__()
        self.tagged = 0

    def tag(self, title: str, text: str) -> TagResult:
        self.tagged += 1
        return super().tag(title, text)


async def test_two_replicas_share_the_partitions_and_miss_nothing(
    kafka_settings: KafkaSettings,
) -> None:
    articles = [_article(n, f"اجتماع رقم {n} في طرابلس بحضور فتحي باشاغا.") for n in range(30)]
    first, second = CountingTagger(), CountingTagger()
    settings = EnrichmentSettings(kafka=kafka_settings)
    async with (
        build_app(settings, tagger=first.as_tagger()),
        build_app(settings, tagger=second.as_tagger()),
    ):
        producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.bootstrap_servers)
        await producer.start()
        try:
            for article in articles:  # keyed by id: spread over the three partitions
                value = article.model_dump_json().encode()
                await producer.send_and_wait(
                    kafka_settings.topic(ARTICLES_RAW), value, key=article.id.encode()
                )
        finally:
            await producer.stop()
        enriched = await read_topic(
            kafka_settings.bootstrap_servers,
            kafka_settings.topic(ARTICLES_ENRICHED),
            min_count=30,
            timeout=60,
        )
    assert {EnrichedArticle.model_validate_json(r.value).id for r in enriched} == {
        a.id for a in articles
    }
    assert first.tagged > 0 and second.tagged > 0  # the group split the work
    assert first.tagged + second.tagged >= 30  # a rebalance may redeliver, never lose


async def test_a_batch_whose_outputs_the_broker_refused_is_not_committed_but_read_again(
    kafka_settings: KafkaSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    articles = [_article(n, f"لقاء رقم {n} مع فتحي باشاغا في طرابلس.") for n in range(20)]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.bootstrap_servers)
    await producer.start()
    try:
        for article in articles:  # one partition: the batch is the whole run, in order
            value = article.model_dump_json().encode()
            await producer.send_and_wait(
                kafka_settings.topic(ARTICLES_RAW), value, key=b"same-partition"
            )
    finally:
        await producer.stop()

    # The broker refuses the first enriched article the service publishes.
    send = AIOKafkaProducer.send
    refused: list[str] = []

    async def flaky_send(self: AIOKafkaProducer, topic: str, *args: Any, **kwargs: Any) -> Any:
        if topic == kafka_settings.topic(ARTICLES_ENRICHED) and not refused:
            refused.append(topic)
            raise KafkaConnectionError("injected: broker unreachable")
        return await send(self, topic, *args, **kwargs)

    monkeypatch.setattr(AIOKafkaProducer, "send", flaky_send)
    tagger = CountingTagger()
    settings = EnrichmentSettings(kafka=kafka_settings)
    async with build_app(settings, tagger=tagger.as_tagger()):
        enriched = await read_topic(
            kafka_settings.bootstrap_servers,
            kafka_settings.topic(ARTICLES_ENRICHED),
            min_count=20,
            timeout=40,
        )
        dead = await read_topic(
            kafka_settings.bootstrap_servers,
            kafka_settings.dead_letter_topic("enrichment"),
            timeout=2,
        )
        committed = await _committed(
            kafka_settings,
            kafka_settings.group(settings.group_id),
            kafka_settings.topic(ARTICLES_RAW),
        )

    assert refused  # the failure happened
    assert {EnrichedArticle.model_validate_json(r.value).id for r in enriched} == {
        a.id for a in articles
    }
    # The refused batch was read again and tagged again, not committed and skipped...
    assert tagger.tagged > len(articles)
    # ...nothing counted as bad input, and in the end every record is committed.
    assert dead == []
    assert committed == len(articles)


async def _committed(settings: KafkaSettings, group_id: str, topic: str) -> int:
    """The sum of a group's committed offsets over a topic's partitions."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, group_id=group_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()  # a fresh consumer knows no topic yet
        partitions = consumer.partitions_for_topic(topic) or set()
        total = 0
        for partition in partitions:
            total += await consumer.committed(TopicPartition(topic, partition)) or 0
        return total
    finally:
        await consumer.stop()
