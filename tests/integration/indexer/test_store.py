"""The Elasticsearch adapter against the local Elasticsearch-compatible server (no Kafka)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from elasticsearch import AsyncElasticsearch

from services.common.errors import TransientError
from services.common.settings import ElasticsearchSettings
from services.devstack.servers import free_port
from services.indexer.core import (
    IndexedDocument,
    alert_layout,
    article_layout,
    indexed_alert,
    indexed_article,
)
from services.indexer.store import IndexStore, make_client
from tests.unit.indexer.articles import (
    DETERRENCE,
    bashagha_article,
    deterrence_article,
    sample_alert,
)

pytestmark = pytest.mark.integration

ARTICLES, ALERTS = article_layout("raqib-articles"), alert_layout("raqib-alerts")
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.fixture
async def store(es_settings: ElasticsearchSettings) -> AsyncIterator[IndexStore]:
    indices = IndexStore(make_client(es_settings), [ARTICLES, ALERTS], clock=lambda: NOW)
    await indices.ensure_index()
    yield indices
    await indices.close()


async def index_names(client: AsyncElasticsearch) -> list[str]:
    return sorted((await client.indices.get(index="*")).body)


def dated(article_text: str, year: int, month: int) -> IndexedDocument:
    article = deterrence_article(article_text).model_copy(
        update={"published_at": datetime(year, month, 15, tzinfo=UTC)}
    )
    return indexed_article(article, ARTICLES)


def with_source(document: IndexedDocument, **changes: object) -> IndexedDocument:
    source = {**json.loads(document.source), **changes}
    doc_id = str(source["id"])
    return IndexedDocument(doc_id, document.index, json.dumps(source).encode())


async def test_set_up_creates_this_months_indices_behind_the_aliases(store: IndexStore) -> None:
    await store.ensure_index()  # a second replica starting, or a restart
    assert await index_names(store.client) == ["raqib-alerts-2026.11", "raqib-articles-2026.11"]
    aliases = (await store.client.indices.get_alias(name="raqib-articles")).body
    assert aliases == {"raqib-articles-2026.11": {"aliases": {"raqib-articles": {}}}}
    mapping = (await store.client.indices.get_mapping(index="raqib-articles")).body
    properties = mapping["raqib-articles-2026.11"]["mappings"]["properties"]
    assert properties["text"]["analyzer"] == "arabic"
    assert properties["actors"]["type"] == "keyword"


async def test_documents_go_to_the_month_of_their_date_and_read_through_the_alias(
    store: IndexStore,
) -> None:
    march, november = dated("الردع في مارس.", 2025, 3), dated("الردع في نوفمبر.", 2026, 11)
    alert = indexed_alert(sample_alert(), ALERTS)
    outcome = await store.bulk_index([march, november, alert, march])
    assert outcome.indexed == [march.id, november.id, alert.id, march.id]
    assert "raqib-articles-2025.03" in await index_names(store.client)
    await store.client.indices.refresh(index="raqib-*")
    hits = await store.client.search(index="raqib-articles", query={"term": {"actors": DETERRENCE}})
    found = sorted((h["_index"], h["_id"]) for h in hits["hits"]["hits"])
    assert found == sorted([("raqib-articles-2025.03", march.id), (november.index, november.id)])
    # The new month joined the read alias through the template.
    aliases = (await store.client.indices.get_alias(name="raqib-articles")).body
    assert set(aliases) == {"raqib-articles-2025.03", "raqib-articles-2026.11"}
    alerts = await store.client.search(index="raqib-alerts")
    assert [h["_id"] for h in alerts["hits"]["hits"]] == [alert.id]


async def test_bulk_rejects_bad_documents_and_keeps_the_rest(store: IndexStore) -> None:
    good = indexed_article(deterrence_article(), ARTICLES)
    other = indexed_article(bashagha_article(), ARTICLES)
    unknown_field = with_source(other, id="1111111111111111", sentiment="grim")
    bad_date = with_source(other, id="2222222222222222", published_at="yesterday")
    outcome = await store.bulk_index([good, unknown_field, bad_date, good])
    assert outcome.indexed == [good.id, good.id]
    assert [(r.position, r.id, r.status) for r in outcome.rejected] == [
        (1, "1111111111111111", 400),
        (2, "2222222222222222", 400),
    ]
    assert "sentiment" in outcome.rejected[0].error
    assert "published_at" in outcome.rejected[1].error
    assert outcome.transient == []
    await store.client.indices.refresh(index="raqib-articles")
    hits = await store.client.search(index="raqib-articles", query={"term": {"actors": DETERRENCE}})
    assert [h["_id"] for h in hits["hits"]["hits"]] == [good.id]  # written twice, stored once


async def test_a_deleted_month_comes_back_with_its_mappings_never_guessed(
    store: IndexStore,
) -> None:
    document = dated("الردع في يناير.", 2026, 1)
    assert (await store.bulk_index([document])).indexed == [document.id]
    await store.client.indices.delete(index=document.index)
    retry = await store.bulk_index([document])
    if retry.index_missing:  # a cluster that does not create indices on write
        retry = await store.bulk_index([document])
    assert retry.indexed == [document.id]
    mapping = (await store.client.indices.get_mapping(index=document.index)).body
    assert mapping[document.index]["mappings"]["dynamic"] == "strict"
    unknown = with_source(document, sentiment="grim")
    assert [r.id for r in (await store.bulk_index([unknown])).rejected] == [document.id]


async def test_unreachable_elasticsearch_is_transient() -> None:
    settings = ElasticsearchSettings(url=f"http://127.0.0.1:{free_port()}", request_timeout=2)
    unreachable = IndexStore(make_client(settings, max_retries=0), [ARTICLES])
    try:
        with pytest.raises(TransientError):
            await unreachable.bulk_index([indexed_article(deterrence_article(), ARTICLES)])
        with pytest.raises(TransientError):
            await unreachable.ensure_index()
    finally:
        await unreachable.close()
