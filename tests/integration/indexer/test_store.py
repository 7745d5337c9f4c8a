"""The Elasticsearch adapter against the local Elasticsearch-compatible server (no Kafka)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from elasticsearch import AsyncElasticsearch

from services.common.errors import TransientError
from services.common.settings import ElasticsearchSettings
from services.devstack.servers import free_port
from services.indexer.core import article_document, initial_index
from services.indexer.store import ArticleStore, make_client
from tests.unit.indexer.articles import DETERRENCE, bashagha_article, deterrence_article

pytestmark = pytest.mark.integration

ALIAS = "raqib-articles"


@pytest.fixture
async def store(es_settings: ElasticsearchSettings) -> AsyncIterator[ArticleStore]:
    articles = ArticleStore(make_client(es_settings), es_settings.articles_alias)
    await articles.ensure_index()
    yield articles
    await articles.close()


async def index_names(client: AsyncElasticsearch) -> list[str]:
    return sorted((await client.indices.get(index="*")).body)


async def test_ensure_index_is_idempotent_and_sets_the_write_alias(store: ArticleStore) -> None:
    await store.ensure_index()  # a second replica starting, or a restart
    aliases = (await store.client.indices.get_alias(name=ALIAS)).body
    assert aliases == {initial_index(ALIAS): {"aliases": {ALIAS: {"is_write_index": True}}}}
    mapping = (await store.client.indices.get_mapping(index=ALIAS)).body
    properties = mapping[initial_index(ALIAS)]["mappings"]["properties"]
    assert properties["text"]["analyzer"] == "arabic"
    assert properties["actors"]["type"] == "keyword"


async def test_bulk_indexes_by_article_id_and_rejects_bad_documents(store: ArticleStore) -> None:
    good, other = deterrence_article(), bashagha_article()
    unknown_field = {**article_document(other), "id": "1111111111111111", "sentiment": "grim"}
    bad_date = {**article_document(other), "id": "2222222222222222", "published_at": "yesterday"}
    outcome = await store.bulk_index(
        [article_document(good), unknown_field, bad_date, article_document(good)]
    )
    assert outcome.indexed == [good.id, good.id]
    assert [(r.position, r.id, r.status) for r in outcome.rejected] == [
        (1, "1111111111111111", 400),
        (2, "2222222222222222", 400),
    ]
    assert "sentiment" in outcome.rejected[0].error
    assert "published_at" in outcome.rejected[1].error
    assert outcome.transient == []
    await store.client.indices.refresh(index=ALIAS)
    hits = await store.client.search(index=ALIAS, query={"term": {"actors": DETERRENCE}})
    assert [h["_id"] for h in hits["hits"]["hits"]] == [good.id]  # written twice, stored once


async def test_lost_index_is_set_up_again_never_guessed(store: ArticleStore) -> None:
    await store.client.indices.delete(index=initial_index(ALIAS))
    document = article_document(deterrence_article())
    first = await store.bulk_index([document])
    assert first.indexed == []
    assert [r.kind for r in first.transient] == ["index_not_found_exception"]
    # Set up again from the template, not a dynamically mapped index named like the alias.
    assert await index_names(store.client) == [initial_index(ALIAS)]
    retry = await store.bulk_index([document])
    assert retry.indexed == [document["id"]]


async def test_unreachable_elasticsearch_is_transient() -> None:
    settings = ElasticsearchSettings(url=f"http://127.0.0.1:{free_port()}", request_timeout=2)
    unreachable = ArticleStore(make_client(settings), ALIAS)
    try:
        with pytest.raises(TransientError):
            await unreachable.bulk_index([article_document(deterrence_article())])
        with pytest.raises(TransientError):
            await unreachable.ensure_index()
    finally:
        await unreachable.close()
