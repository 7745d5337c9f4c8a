"""``raqib dlq`` against the real local broker and OpenSearch: a record the index refuses is
dead-lettered, listed, shown, fixed and replayed, once."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from typer.testing import CliRunner, Result

from schemas import EnrichedArticle
from services.cli import app
from services.common.kafka import ARTICLES_ENRICHED, ensure_topics
from services.common.settings import ElasticsearchSettings, KafkaSettings
from services.devstack.opensearch_node import LocalOpenSearch
from services.devstack.topics import read_topic
from services.indexer.app import build_app
from services.indexer.engines import open_engine
from services.indexer.settings import IndexerSettings
from services.operations.core import REPLAY_HEADER
from services.operations.dlq import replay_dead_letters
from tests.conftest import kafka_env, rest
from tests.unit.indexer.articles import bashagha_article, deterrence_article

pytestmark = pytest.mark.integration

TIMEOUT = 30.0
# Lucene refuses a keyword term longer than 32,766 bytes ("immense term"): a URL with a huge
# query string, as some trackers produce, is a valid event the index cannot take.
IMMENSE = 40_000


def long_url_article() -> EnrichedArticle:
    data = json.loads(bashagha_article().model_dump_json())
    data.update(id="00000000000000aa", url=f"https://example.org/news/1?utm={'x' * IMMENSE}")
    return EnrichedArticle.model_validate(data)


async def cli(kafka: KafkaSettings, *args: str) -> Result:
    """``raqib ARGS`` as an operator runs it, pointed at the test's broker and namespace.
    In a thread: the command runs its own event loop."""
    runner = CliRunner()
    return await asyncio.to_thread(
        runner.invoke, app, list(args), env=kafka_env(kafka), catch_exceptions=False
    )


async def eventually(check: Callable[[], Awaitable[bool]], within: float = TIMEOUT) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.3)
    return await check()


async def committed_records(kafka: KafkaSettings, topic: str) -> list[Any]:
    """Every committed record of ``topic`` (a transaction that did not commit is not there)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = [
                TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []
            ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[Any] = []
        while any([await consumer.position(tp) < ends[tp] for tp in partitions]):
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records += batch
        return records
    finally:
        await consumer.stop()


@pytest.fixture
def os_settings(opensearch: LocalOpenSearch, namespace: str) -> ElasticsearchSettings:
    return ElasticsearchSettings(
        url=opensearch.url,
        articles_alias=f"{namespace}raqib-articles",
        alerts_alias=f"{namespace}raqib-alerts",
    )


async def test_a_record_the_index_refuses_is_replayed_once_after_the_fix(
    kafka_settings: KafkaSettings, os_settings: ElasticsearchSettings
) -> None:
    broken, good = long_url_article(), deterrence_article()
    EnrichedArticle.model_validate_json(broken.model_dump_json())  # valid by the contract
    settings = IndexerSettings(
        kafka=kafka_settings, elasticsearch=os_settings, batch_size=100, batch_timeout_s=0.2
    )
    engine = open_engine(os_settings)
    alias = os_settings.articles_alias
    source_topic = kafka_settings.topic(ARTICLES_ENRICHED)

    async def indexed(article_id: str) -> int:
        await engine.refresh(alias)
        return await engine.count(alias, {"ids": {"values": [article_id]}})

    producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.bootstrap_servers, acks="all")
    await producer.start()
    try:
        async with build_app(settings):
            for article in (broken, good):
                await producer.send_and_wait(
                    source_topic, article.model_dump_json().encode(), key=article.id.encode()
                )
            assert await eventually(lambda: _positive(indexed(good.id))), "good one not indexed"
            dead = await read_topic(
                kafka_settings.bootstrap_servers,
                kafka_settings.dead_letter_topic("indexer"),
                min_count=1,
                timeout=TIMEOUT,
            )
            assert [record.key for record in dead] == [broken.id.encode()]

            # The operator sees it ...
            listed = await cli(kafka_settings, "dlq", "list", "indexer", "--json")
            assert listed.exit_code == 0, listed.output
            summary = json.loads(listed.stdout)
            assert summary["count"] == 1 and summary["pending"] == 1
            assert summary["by_error_type"] == {"DocumentRejected": 1}
            shown = await cli(kafka_settings, "dlq", "show", "indexer", "--json")
            (record,) = [json.loads(line) for line in shown.stdout.splitlines()]
            assert record["source"]["topic"] == source_topic
            assert record["error_type"] == "DocumentRejected"
            assert "url" in record["error"]
            assert record["value_text"] == broken.model_dump_json()
            text = await cli(kafka_settings, "dlq", "show", "indexer", "--max-bytes", "100")
            assert f"{source_topic}/" in text.stdout and "more bytes" in text.stdout

            # ... fixes the cause (the URL field keeps long values unindexed) ...
            rest(
                os_settings.url,
                "PUT",
                f"{alias}/_mapping",
                {"properties": {"url": {"type": "keyword", "ignore_above": 2048}}},
            )
            dry = await cli(kafka_settings, "dlq", "replay", "indexer", "--dry-run")
            assert json.loads(dry.stdout)["replay"] == 1
            assert await indexed(broken.id) == 0  # a dry run sends nothing

            # ... and replays it: it is indexed, once.
            replayed = await cli(kafka_settings, "dlq", "replay", "indexer")
            assert replayed.exit_code == 0, replayed.output
            assert json.loads(replayed.stdout)["replay"] == 1
            assert await eventually(lambda: _positive(indexed(broken.id))), "not indexed"

            # Again: nothing is published twice.
            again = await cli(kafka_settings, "dlq", "replay", "indexer")
            outcome = json.loads(again.stdout)
            assert outcome["replay"] == 0
            await asyncio.sleep(1.0)  # what a second copy would need to get indexed
            assert await indexed(broken.id) == 1
            on_source = await committed_records(kafka_settings, source_topic)
            replays = [r for r in on_source if (REPLAY_HEADER, b"true") in r.headers]
            assert len(on_source) == 3 and [r.key for r in replays] == [broken.id.encode()]
            assert replays[0].value == broken.model_dump_json().encode()
            listed = await cli(kafka_settings, "dlq", "list", "indexer", "--json")
            assert json.loads(listed.stdout)["pending"] == 0
    finally:
        await producer.stop()
        await engine.close()


async def _positive(count: Awaitable[int]) -> bool:
    return await count > 0


def dead_letter_headers(stage: str, source: str, offset: int, error_type: str) -> list[Any]:
    return [
        ("x-raqib-stage", stage.encode()),
        ("x-raqib-error-type", error_type.encode()),
        ("x-raqib-error", b"boom"),
        ("x-raqib-source-topic", source.encode()),
        ("x-raqib-source-partition", b"0"),
        ("x-raqib-source-offset", str(offset).encode()),
        ("x-raqib-failed-at", b"2026-11-24T09:15:00+00:00"),
    ]


async def test_an_interrupted_replay_resumes_without_duplicates(
    kafka_settings: KafkaSettings,
) -> None:
    """Dead letters written as the enrichment stage writes them (no stage runs here), plus
    the ones a replay must refuse: a truncated one and one without headers."""
    dlq = kafka_settings.dead_letter_topic("enrichment")
    source = kafka_settings.topic("articles.raw")
    one_partition = KafkaSettings(bootstrap_servers=kafka_settings.bootstrap_servers, partitions=1)
    await ensure_topics(one_partition, [dlq, source])
    values = [f"article {i}".encode() for i in range(5)] + [b"\xff\xfe\x00 not utf-8"]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for i, value in enumerate(values):
            await producer.send_and_wait(
                dlq,
                value,
                key=f"k{i}".encode(),
                headers=dead_letter_headers("enrichment", source, i, "ValidationError"),
            )
        truncated = [
            *dead_letter_headers("enrichment", source, 9, "RecordTooLarge"),
            ("x-raqib-value-truncated", b"true"),
            ("x-raqib-value-bytes", b"5000000"),
            ("x-raqib-value-sha256", b"ab" * 32),
        ]
        await producer.send_and_wait(dlq, b"head only", key=b"big", headers=truncated)
        await producer.send_and_wait(dlq, b"written by hand", key=b"bare")
    finally:
        await producer.stop()

    class Crash(Exception):
        pass

    async def crash_in_second_batch(number: int) -> None:
        if number == 2:
            raise Crash  # sent, not yet recorded: the transaction does not commit

    with pytest.raises(Crash):
        await replay_dead_letters(
            kafka_settings, "enrichment", batch_size=2, before_commit=crash_in_second_batch
        )
    assert len(await committed_records(kafka_settings, source)) == 2
    # The crashed batch's records did reach the topic, uncommitted (aborted).
    assert len(await read_topic(kafka_settings.bootstrap_servers, source, min_count=4)) == 4

    resumed = await cli(kafka_settings, "dlq", "replay", "enrichment", "--batch-size", "2")
    assert resumed.exit_code == 0, resumed.output
    outcome = json.loads(resumed.stdout)
    assert outcome["replay"] == 4 and outcome["cannot_replay"] == 2
    assert "cannot replay" in resumed.stderr and "5,000,000 bytes" in resumed.stderr
    assert "no x-raqib-* headers" in resumed.stderr

    replayed = await committed_records(kafka_settings, source)
    assert sorted(r.value for r in replayed) == sorted(values)  # each once, bytes as they were
    assert all(dict(r.headers)["x-raqib-replay-of-topic"] == dlq.encode() for r in replayed)
    offsets = sorted(int(dict(r.headers)["x-raqib-replay-of-offset"]) for r in replayed)
    assert offsets == list(range(6))

    again = json.loads((await cli(kafka_settings, "dlq", "replay", "enrichment")).stdout)
    assert again["replay"] == 0 and again["cannot_replay"] == 0  # nothing left to read
    assert len(await committed_records(kafka_settings, source)) == 6

    # Non-UTF-8 bytes are shown escaped, never raw.
    shown = await cli(kafka_settings, "dlq", "show", "enrichment", "--limit", "10")
    assert "binary (13 bytes): \\xff\\xfe\\x00 not utf-8" in shown.stdout
    assert "\xff" not in shown.stdout


async def test_an_error_type_replay_leaves_the_others_pending(
    kafka_settings: KafkaSettings,
) -> None:
    dlq = kafka_settings.dead_letter_topic("alerting")
    source = kafka_settings.topic("articles.enriched")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for i, kind in enumerate(["A", "B", "A", "B"]):
            await producer.send_and_wait(
                dlq,
                f"{kind}{i}".encode(),
                key=b"same",  # one partition, in order
                headers=dead_letter_headers("alerting", source, i, kind),
            )
    finally:
        await producer.stop()
    only_a = json.loads(
        (await cli(kafka_settings, "dlq", "replay", "alerting", "--error-type", "A")).stdout
    )
    assert only_a["replay"] == 2 and only_a["not_selected"] == 2
    everything = json.loads((await cli(kafka_settings, "dlq", "replay", "alerting")).stdout)
    assert everything["replay"] == 2 and everything["already_replayed"] == 2
    values = sorted(r.value for r in await committed_records(kafka_settings, source))
    assert values == [b"A0", b"A2", b"B1", b"B3"]


async def test_listing_a_stage_without_dead_letters_and_an_unknown_stage(
    kafka_settings: KafkaSettings,
) -> None:
    listed = await cli(kafka_settings, "dlq", "list", "--json")
    assert listed.exit_code == 0, listed.output
    stages = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(s["stage"], s["count"]) for s in stages] == [
        ("enrichment", 0),
        ("indexer", 0),
        ("alerting", 0),
    ]
    unknown = await cli(kafka_settings, "dlq", "replay", "fetcher")
    assert unknown.exit_code == 2
    assert "unknown stage 'fetcher'" in unknown.stderr
