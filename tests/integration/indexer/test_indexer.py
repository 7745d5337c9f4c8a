"""The indexer against a real local broker and Elasticsearch-compatible server."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from elasticsearch import AsyncElasticsearch
from prometheus_client import REGISTRY

from schemas import DeliveryStatus, EnrichedArticle, Mention
from services.common.kafka import ALERTS, ARTICLES_ENRICHED, dead_letter_topic
from services.common.settings import ElasticsearchSettings, KafkaSettings
from services.devstack.servers import LocalElasticsearch
from services.devstack.topics import read_topic
from services.indexer.app import build_app
from services.indexer.settings import IndexerSettings
from services.indexer.store import make_client
from tests.unit.indexer.articles import (
    DETERRENCE,
    bashagha_article,
    deterrence_article,
    sample_alert,
)

pytestmark = pytest.mark.integration

ALIAS = "raqib-articles"
DLQ = dead_letter_topic("indexer")
TIMEOUT = 30.0
STAND_IN_SAVE_INTERVAL = 2.0


def settings_for(kafka: KafkaSettings, es: ElasticsearchSettings) -> IndexerSettings:
    return IndexerSettings(kafka=kafka, elasticsearch=es, batch_size=100, batch_timeout_ms=200)


async def publish(
    bootstrap: str, values: Sequence[tuple[bytes | None, bytes]], topic: str = ARTICLES_ENRICHED
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in values:
            # Declared JSON, as a FastStream publisher would: FastStream's own decoding of a
            # declared-JSON batch must not trip over the record that is not JSON.
            await producer.send_and_wait(
                topic, value, key=key, headers=[("content-type", b"application/json")]
            )
    finally:
        await producer.stop()


def encoded(articles: Sequence[EnrichedArticle]) -> list[tuple[bytes | None, bytes]]:
    return [(a.id.encode(), a.model_dump_json().encode()) for a in articles]


@pytest.fixture
async def es_client(es_settings: ElasticsearchSettings) -> AsyncIterator[AsyncElasticsearch]:
    client = make_client(es_settings)
    yield client
    await client.close()


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


async def count(client: AsyncElasticsearch, query: dict[str, object] | None = None) -> int:
    await client.indices.refresh(index=ALIAS)
    body = await client.count(index=ALIAS, query=query or {"match_all": {}})
    return int(body["count"])


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
    es_client: AsyncElasticsearch,
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
        kafka_settings.bootstrap_servers,
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
        dead = await read_topic(kafka_settings.bootstrap_servers, DLQ, min_count=3, timeout=TIMEOUT)
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
        assert rejected["x-raqib-source-topic"] == ARTICLES_ENRICHED.encode()

        # The actor filter finds exactly the Deterrence articles.
        hits = await es_client.search(
            index=ALIAS, query={"term": {"actors": DETERRENCE}}, size=10, source=False
        )
        assert sorted(h["_id"] for h in hits["hits"]["hits"]) == sorted(a.id for a in deterrence)
        stored = await get_source(es_client, ALIAS, other.id)
        assert "html" not in stored
        assert stored["actors"] == ["fathi-bashagha"]

        # Full text: "الردع" finds an article that only writes "بالردع".
        prefixed = deterrence_article("نددت الحكومة بالردع الذي مارسه الجهاز في المطار.")
        # A replay of everything already indexed, plus the new article, in one go.
        await publish(kafka_settings.bootstrap_servers, encoded([*deterrence, other, prefixed]))
        assert await eventually(lambda: _count_is(es_client, 5)), "new article not indexed"
        found = await es_client.search(
            index=ALIAS, query={"match": {"text": "الردع"}}, size=10, source=False
        )
        assert prefixed.id in {h["_id"] for h in found["hits"]["hits"]}

        # The replayed copies were processed (re-written) but not duplicated.
        assert await eventually(lambda: _version_at_least(es_client, other.id, 2))
        assert await count(es_client) == 5
        assert await count(es_client, {"term": {"actors": DETERRENCE}}) == 4
        assert len(await read_topic(kafka_settings.bootstrap_servers, DLQ)) == 3


async def _count_is(client: AsyncElasticsearch, expected: int) -> bool:
    return await count(client) == expected


def retried_batches() -> float:
    return REGISTRY.get_sample_value("raqib_indexer_retried_batches_total") or 0.0


async def _retried_since(before: float) -> bool:
    return retried_batches() > before


async def _version_at_least(client: AsyncElasticsearch, doc_id: str, version: int) -> bool:
    # Search, not GET: a read alias over several monthly indices cannot serve a GET by id.
    found = await client.search(index=ALIAS, query={"ids": {"values": [doc_id]}}, version=True)
    return int(found["hits"]["hits"][0]["_version"]) >= version


async def get_source(client: AsyncElasticsearch, alias: str, doc_id: str) -> dict[str, Any]:
    await client.indices.refresh(index=alias)
    found = await client.search(index=alias, query={"ids": {"values": [doc_id]}})
    (hit,) = found["hits"]["hits"]
    source: dict[str, Any] = hit["_source"]
    return source


async def test_elasticsearch_outage_loses_nothing(
    kafka_settings: KafkaSettings,
    es_settings: ElasticsearchSettings,
    elasticsearch: LocalElasticsearch,
    es_client: AsyncElasticsearch,
) -> None:
    before, during = deterrence_articles(4), [bashagha_article(), *deterrence_articles(7)[4:]]
    async with build_app(settings_for(kafka_settings, es_settings)):
        await publish(kafka_settings.bootstrap_servers, encoded(before))
        assert await eventually(lambda: _count_is(es_client, len(before)))
        # The local stand-in saves about once a second and a stop does not flush, so give it
        # time; Elasticsearch itself never loses an acknowledged write.
        await asyncio.sleep(STAND_IN_SAVE_INTERVAL)

        retried = retried_batches()
        elasticsearch.stop()
        await publish(kafka_settings.bootstrap_servers, encoded(during))
        # Wait until the indexer has actually failed against the stopped server.
        assert await eventually(lambda: _retried_since(retried)), "no retry while ES was down"
        elasticsearch.start()

        expected = {a.id for a in [*before, *during]}
        indexed = await eventually(lambda: _count_is(es_client, len(expected)), within=TIMEOUT)
        assert indexed, f"{await count(es_client)} of {len(expected)} indexed"
        await es_client.indices.refresh(index=ALIAS)
        hits = await es_client.search(index=ALIAS, size=100, source=False)
        ids = [h["_id"] for h in hits["hits"]["hits"]]
        assert sorted(ids) == sorted(expected)  # every article, each exactly once
    assert await read_topic(kafka_settings.bootstrap_servers, DLQ) == []


async def test_alerts_are_indexed_with_their_latest_state(
    kafka_settings: KafkaSettings,
    es_settings: ElasticsearchSettings,
    es_client: AsyncElasticsearch,
) -> None:
    pending = sample_alert()
    failed_once = sample_alert(status=DeliveryStatus.PENDING, attempts=1)
    delivered = sample_alert(status=DeliveryStatus.DELIVERED, attempts=2)
    other = sample_alert(bashagha_article(), rule="bashagha")
    not_an_alert = deterrence_article().model_dump_json().encode()
    # Each publication is the alert's latest state, keyed by alert id (one partition, in order).
    await publish(
        kafka_settings.bootstrap_servers,
        [
            *[(a.id.encode(), a.model_dump_json().encode()) for a in (pending, failed_once)],
            (b"not-an-alert", not_an_alert),
            *[(a.id.encode(), a.model_dump_json().encode()) for a in (other, delivered)],
        ],
        topic=ALERTS,
    )
    async with build_app(settings_for(kafka_settings, es_settings)):
        dead = await read_topic(kafka_settings.bootstrap_servers, DLQ, min_count=1, timeout=TIMEOUT)
        assert [record.key for record in dead] == [b"not-an-alert"]
        assert dict(dead[0].headers)["x-raqib-source-topic"] == ALERTS.encode()

        async def both_alerts() -> bool:
            await es_client.indices.refresh(index="raqib-alerts")
            return int((await es_client.count(index="raqib-alerts"))["count"]) == 2

        assert await eventually(both_alerts), "alerts not indexed"
        stored = await get_source(es_client, "raqib-alerts", pending.id)
        assert stored["deliveries"][0]["status"] == "delivered"
        assert stored["deliveries"][0]["attempts"] == 2
        hits = await es_client.search(
            index="raqib-alerts", query={"term": {"entities": DETERRENCE}}
        )
        assert [h["_index"] for h in hits["hits"]["hits"]] == ["raqib-alerts-2026.11"]
    assert await count(es_client) == 0  # nothing from the alerts topic reached the articles
