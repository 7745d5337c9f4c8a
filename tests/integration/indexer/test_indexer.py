"""The indexer against the real local broker and both search engines (OpenSearch and
noida-db's Elasticsearch-8 API)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY

from schemas import DeliveryStatus, EnrichedArticle, Mention
from services.common.kafka import ALERTS, ARTICLES_ENRICHED
from services.common.settings import ElasticsearchSettings, KafkaSettings
from services.devstack.opensearch_node import LocalOpenSearch
from services.devstack.servers import LocalElasticsearch
from services.devstack.topics import read_topic
from services.indexer.app import build_app
from services.indexer.engines import SearchEngine, open_engine
from services.indexer.settings import IndexerSettings
from tests.unit.indexer.articles import (
    DETERRENCE,
    bashagha_article,
    deterrence_article,
    sample_alert,
)

pytestmark = pytest.mark.integration

TIMEOUT = 30.0
STAND_IN_SAVE_INTERVAL = 2.0


def settings_for(kafka: KafkaSettings, es: ElasticsearchSettings) -> IndexerSettings:
    return IndexerSettings(kafka=kafka, elasticsearch=es, batch_size=100, batch_timeout_s=0.2)


async def publish(
    kafka: KafkaSettings,
    values: Sequence[tuple[bytes | None, bytes]],
    topic: str = ARTICLES_ENRICHED,
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for key, value in values:
            # Declared JSON, as a FastStream publisher would: FastStream's own decoding of a
            # declared-JSON batch must not trip over the record that is not JSON.
            await producer.send_and_wait(
                kafka.topic(topic), value, key=key, headers=[("content-type", b"application/json")]
            )
    finally:
        await producer.stop()


def dlq(kafka: KafkaSettings) -> str:
    return kafka.dead_letter_topic("indexer")


def encoded(articles: Sequence[EnrichedArticle]) -> list[tuple[bytes | None, bytes]]:
    return [(a.id.encode(), a.model_dump_json().encode()) for a in articles]


@dataclass
class Reader:
    """Reads what the indexer wrote, through the test's own client."""

    engine: SearchEngine
    articles: str
    alerts: str

    async def hits(self, alias: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        await self.engine.refresh(alias)
        found = await self.engine.search(alias, {"size": 100, **body})
        hits: list[dict[str, Any]] = found["hits"]["hits"]
        return hits

    async def count(self, query: dict[str, Any] | None = None, alias: str | None = None) -> int:
        await self.engine.refresh(alias or self.articles)
        return await self.engine.count(alias or self.articles, query)

    async def source(self, alias: str, doc_id: str) -> dict[str, Any]:
        (hit,) = await self.hits(alias, {"query": {"ids": {"values": [doc_id]}}})
        source: dict[str, Any] = hit["_source"]
        return source


@pytest.fixture
async def es_client(es_settings: ElasticsearchSettings) -> AsyncIterator[Reader]:
    engine = open_engine(es_settings)
    yield Reader(engine, es_settings.articles_alias, es_settings.alerts_alias)
    await engine.close()


async def eventually(check: Callable[[], Awaitable[bool]], within: float = TIMEOUT) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if await check():
                return True
        except Exception:  # the server may be restarting; keep polling
            pass
        await asyncio.sleep(0.3)
    return await check()


async def count(client: Reader, query: dict[str, Any] | None = None) -> int:
    return await client.count(query)


def deterrence_articles(n: int) -> list[EnrichedArticle]:
    return [
        deterrence_article(f"أعلن جهاز الردع في طرابلس عن عملية أمنية رقم {i} في سوق الجمعة.")
        for i in range(n)
    ]


def mapping_breaker() -> EnrichedArticle:
    """A valid EnrichedArticle the index still rejects: a mention offset beyond ``integer``."""
    article = bashagha_article()
    entity = article.entities[0]
    huge = Mention(start=2**31, end=2**31 + 6, text="باشاغا", alias="باشاغا", rule="test")
    return article.model_copy(
        update={
            "id": "0123456789abcdef",
            "entities": [entity.model_copy(update={"mentions": [huge]})],
        }
    )


async def test_indexes_dead_letters_and_never_duplicates(
    kafka_settings: KafkaSettings,
    es_settings: ElasticsearchSettings,
    es_client: Reader,
) -> None:
    deterrence = deterrence_articles(3)
    other = bashagha_article()
    broken = mapping_breaker()
    EnrichedArticle.model_validate_json(broken.model_dump_json())  # valid by the contract
    schema_violation = json.loads(other.model_dump_json())
    schema_violation["id"] = "not-an-id"
    bad_values = [b"this is not json", json.dumps(schema_violation).encode()]
    # Good and bad records go out together, before the app starts: one batch holds them all.
    await publish(
        kafka_settings,
        [
            *encoded(deterrence[:2]),
            (b"bad-1", bad_values[0]),
            *encoded([other]),
            (b"bad-2", bad_values[1]),
            *encoded([broken, deterrence[2]]),
        ],
    )
    async with build_app(settings_for(kafka_settings, es_settings)):
        assert await eventually(lambda: _count_is(es_client, 4)), "good articles not indexed"
        dead = await read_topic(
            kafka_settings.bootstrap_servers, dlq(kafka_settings), min_count=3, timeout=TIMEOUT
        )
        by_key = {record.key: record for record in dead}
        assert sorted(by_key) == sorted([b"bad-1", b"bad-2", broken.id.encode()])
        assert [by_key[b"bad-1"].value, by_key[b"bad-2"].value] == bad_values
        assert by_key[broken.id.encode()].value == broken.model_dump_json().encode()
        headers = {key: dict(record.headers) for key, record in by_key.items()}
        assert headers[b"bad-1"]["x-raqib-error-type"] == b"ValidationError"
        assert b"id" in headers[b"bad-2"]["x-raqib-error"]
        rejected = headers[broken.id.encode()]
        assert rejected["x-raqib-error-type"] == b"DocumentRejected"
        assert b"entities.mentions." in rejected["x-raqib-error"]
        assert rejected["x-raqib-source-topic"] == kafka_settings.topic(ARTICLES_ENRICHED).encode()

        # The actor filter finds exactly the Deterrence articles.
        hits = await es_client.hits(es_client.articles, {"query": {"term": {"actors": DETERRENCE}}})
        assert sorted(h["_id"] for h in hits) == sorted(a.id for a in deterrence)
        stored = await es_client.source(es_client.articles, other.id)
        assert "html" not in stored
        assert stored["actors"] == ["fathi-bashagha"]

        # Full text: "الردع" finds an article that only writes "بالردع".
        prefixed = deterrence_article("نددت الحكومة بالردع الذي مارسه الجهاز في المطار.")
        # A replay of everything already indexed, plus the new article, in one go.
        await publish(kafka_settings, encoded([*deterrence, other, prefixed]))
        assert await eventually(lambda: _count_is(es_client, 5)), "new article not indexed"
        found = await es_client.hits(es_client.articles, {"query": {"match": {"text": "الردع"}}})
        assert prefixed.id in {h["_id"] for h in found}

        # The replayed copies were processed (re-written) but not duplicated.
        assert await eventually(lambda: _version_at_least(es_client, other.id, 2))
        assert await count(es_client) == 5
        assert await count(es_client, {"term": {"actors": DETERRENCE}}) == 4
        assert len(await read_topic(kafka_settings.bootstrap_servers, dlq(kafka_settings))) == 3


async def _count_is(client: Reader, expected: int) -> bool:
    return await count(client) == expected


def retried_batches() -> float:
    return REGISTRY.get_sample_value("raqib_indexer_retried_batches_total") or 0.0


async def _retried_since(before: float) -> bool:
    return retried_batches() > before


async def _version_at_least(client: Reader, doc_id: str, version: int) -> bool:
    # Search, not GET: a read alias over several monthly indices cannot serve a GET by id.
    query = {"query": {"ids": {"values": [doc_id]}}, "version": True}
    return int((await client.hits(client.articles, query))[0]["_version"]) >= version


async def test_a_search_engine_outage_loses_nothing(
    kafka_settings: KafkaSettings,
    es_settings: ElasticsearchSettings,
    search_server: LocalOpenSearch | LocalElasticsearch,
    es_client: Reader,
) -> None:
    before, during = deterrence_articles(4), [bashagha_article(), *deterrence_articles(7)[4:]]
    async with build_app(settings_for(kafka_settings, es_settings)):
        await publish(kafka_settings, encoded(before))
        assert await eventually(lambda: _count_is(es_client, len(before)))
        # The local stand-in saves about once a second and a stop does not flush, so give it
        # time; Elasticsearch itself never loses an acknowledged write.
        await asyncio.sleep(STAND_IN_SAVE_INTERVAL)

        retried = retried_batches()
        await asyncio.to_thread(search_server.stop)
        await publish(kafka_settings, encoded(during))
        # Wait until the indexer has actually failed against the stopped server.
        assert await eventually(lambda: _retried_since(retried)), "no retry while ES was down"
        await asyncio.to_thread(search_server.start)

        expected = {a.id for a in [*before, *during]}
        indexed = await eventually(lambda: _count_is(es_client, len(expected)), within=TIMEOUT)
        assert indexed, f"{await count(es_client)} of {len(expected)} indexed"
        ids = [h["_id"] for h in await es_client.hits(es_client.articles, {})]
        assert sorted(ids) == sorted(expected)  # every article, each exactly once
    assert await read_topic(kafka_settings.bootstrap_servers, dlq(kafka_settings)) == []


async def test_alerts_are_indexed_with_their_latest_state(
    kafka_settings: KafkaSettings,
    es_settings: ElasticsearchSettings,
    es_client: Reader,
) -> None:
    pending = sample_alert()
    failed_once = sample_alert(status=DeliveryStatus.PENDING, attempts=1)
    delivered = sample_alert(status=DeliveryStatus.DELIVERED, attempts=2)
    other = sample_alert(bashagha_article(), rule="bashagha")
    not_an_alert = deterrence_article().model_dump_json().encode()
    # Each publication is the alert's latest state, keyed by alert id (one partition, in order).
    await publish(
        kafka_settings,
        [
            *[(a.id.encode(), a.model_dump_json().encode()) for a in (pending, failed_once)],
            (b"not-an-alert", not_an_alert),
            *[(a.id.encode(), a.model_dump_json().encode()) for a in (other, delivered)],
        ],
        topic=ALERTS,
    )
    async with build_app(settings_for(kafka_settings, es_settings)):
        dead = await read_topic(
            kafka_settings.bootstrap_servers, dlq(kafka_settings), min_count=1, timeout=TIMEOUT
        )
        assert [record.key for record in dead] == [b"not-an-alert"]
        assert (
            dict(dead[0].headers)["x-raqib-source-topic"] == kafka_settings.topic(ALERTS).encode()
        )

        async def both_alerts() -> bool:
            return await es_client.count(alias=es_client.alerts) == 2

        assert await eventually(both_alerts), "alerts not indexed"
        stored = await es_client.source(es_client.alerts, pending.id)
        assert stored["deliveries"][0]["status"] == "delivered"
        assert stored["deliveries"][0]["attempts"] == 2
        hits = await es_client.hits(es_client.alerts, {"query": {"term": {"entities": DETERRENCE}}})
        assert [h["_index"] for h in hits] == [f"{es_client.alerts}-2026.11"]
    assert await count(es_client) == 0  # nothing from the alerts topic reached the articles
