"""The index store against both local engines, OpenSearch and noida-db's Elasticsearch-8 API
(no Kafka). State is checked through the plain REST API, not through the client under test."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from services.common.errors import TransientError
from services.common.settings import ElasticsearchSettings
from services.devstack.servers import free_port
from services.indexer.core import (
    IndexedDocument,
    IndexLayout,
    alert_layout,
    article_layout,
    indexed_alert,
    indexed_article,
)
from services.indexer.engines import open_engine
from services.indexer.store import IndexStore
from tests.conftest import rest
from tests.unit.indexer.articles import (
    DETERRENCE,
    bashagha_article,
    deterrence_article,
    sample_alert,
)

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.fixture
def articles(es_settings: ElasticsearchSettings) -> IndexLayout:
    return article_layout(es_settings.articles_alias)


@pytest.fixture
async def store(es_settings: ElasticsearchSettings) -> AsyncIterator[IndexStore]:
    layouts = [article_layout(es_settings.articles_alias), alert_layout(es_settings.alerts_alias)]
    indices = IndexStore(open_engine(es_settings), layouts, clock=lambda: NOW)
    await indices.ensure_index()
    yield indices
    await indices.close()


def index_names(settings: ElasticsearchSettings) -> list[str]:
    prefix = settings.articles_alias.removesuffix("raqib-articles")
    return sorted(rest(settings.url, "GET", f"{prefix}*"))


def dated(layout: IndexLayout, article_text: str, year: int, month: int) -> IndexedDocument:
    article = deterrence_article(article_text).model_copy(
        update={"published_at": datetime(year, month, 15, tzinfo=UTC)}
    )
    return indexed_article(article, layout)


def with_source(document: IndexedDocument, **changes: object) -> IndexedDocument:
    source = {**json.loads(document.source), **changes}
    doc_id = str(source["id"])
    return IndexedDocument(doc_id, document.index, json.dumps(source).encode())


async def test_set_up_creates_this_months_indices_behind_the_aliases(
    store: IndexStore, es_settings: ElasticsearchSettings
) -> None:
    await store.ensure_index()  # a second replica starting, or a restart
    articles, alerts = es_settings.articles_alias, es_settings.alerts_alias
    assert index_names(es_settings) == [f"{alerts}-2026.11", f"{articles}-2026.11"]
    aliases = rest(es_settings.url, "GET", f"_alias/{articles}")
    assert aliases == {f"{articles}-2026.11": {"aliases": {articles: {}}}}
    mapping = rest(es_settings.url, "GET", f"{articles}/_mapping")
    properties = mapping[f"{articles}-2026.11"]["mappings"]["properties"]
    assert properties["text"]["analyzer"] == "arabic"
    assert properties["actors"]["type"] == "keyword"


async def test_documents_go_to_the_month_of_their_date_and_read_through_the_alias(
    store: IndexStore, es_settings: ElasticsearchSettings, articles: IndexLayout
) -> None:
    url, alias = es_settings.url, es_settings.articles_alias
    march, november = (
        dated(articles, "الردع في مارس.", 2025, 3),
        dated(articles, "الردع في نوفمبر.", 2026, 11),
    )
    alert = indexed_alert(sample_alert(), alert_layout(es_settings.alerts_alias))
    outcome = await store.bulk_index([march, november, alert, march])
    assert outcome.indexed == [march.id, november.id, alert.id, march.id]
    assert f"{alias}-2025.03" in index_names(es_settings)
    rest(url, "POST", f"{alias},{es_settings.alerts_alias}/_refresh")
    hits = rest(url, "POST", f"{alias}/_search", {"query": {"term": {"actors": DETERRENCE}}})
    found = sorted((h["_index"], h["_id"]) for h in hits["hits"]["hits"])
    assert found == sorted([(f"{alias}-2025.03", march.id), (november.index, november.id)])
    # The new month joined the read alias through the template.
    assert set(rest(url, "GET", f"_alias/{alias}")) == {f"{alias}-2025.03", f"{alias}-2026.11"}
    alerts = rest(url, "POST", f"{es_settings.alerts_alias}/_search", {})
    assert [h["_id"] for h in alerts["hits"]["hits"]] == [alert.id]


async def test_bulk_rejects_bad_documents_and_keeps_the_rest(
    store: IndexStore, es_settings: ElasticsearchSettings, articles: IndexLayout
) -> None:
    good = indexed_article(deterrence_article(), articles)
    other = indexed_article(bashagha_article(), articles)
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
    alias = es_settings.articles_alias
    rest(es_settings.url, "POST", f"{alias}/_refresh")
    query = {"query": {"term": {"actors": DETERRENCE}}}
    hits = rest(es_settings.url, "POST", f"{alias}/_search", query)
    assert [h["_id"] for h in hits["hits"]["hits"]] == [good.id]  # written twice, stored once


async def test_a_deleted_month_comes_back_with_its_mappings_never_guessed(
    store: IndexStore, es_settings: ElasticsearchSettings, articles: IndexLayout
) -> None:
    document = dated(articles, "الردع في يناير.", 2026, 1)
    assert (await store.bulk_index([document])).indexed == [document.id]
    rest(es_settings.url, "DELETE", document.index)
    retry = await store.bulk_index([document])
    if retry.index_missing:  # a cluster that does not create indices on write
        retry = await store.bulk_index([document])
    assert retry.indexed == [document.id]
    mapping = rest(es_settings.url, "GET", f"{document.index}/_mapping")
    assert mapping[document.index]["mappings"]["dynamic"] == "strict"
    unknown = with_source(document, sentiment="grim")
    assert [r.id for r in (await store.bulk_index([unknown])).rejected] == [document.id]


@pytest.mark.parametrize("engine", ["auto", "elasticsearch", "opensearch"])
async def test_an_unreachable_engine_is_transient(engine: str) -> None:
    settings = ElasticsearchSettings(
        url=f"http://127.0.0.1:{free_port()}", request_timeout_s=2, engine=engine
    )
    layout = article_layout(settings.articles_alias)
    unreachable = IndexStore(open_engine(settings, max_retries=0), [layout])
    try:
        with pytest.raises(TransientError):
            await unreachable.bulk_index([indexed_article(deterrence_article(), layout)])
        with pytest.raises(TransientError):
            await unreachable.ensure_index()
    finally:
        await unreachable.close()


async def test_set_up_adds_new_fields_to_the_indices_an_older_release_made(
    es_settings: ElasticsearchSettings, articles: IndexLayout
) -> None:
    # This month's index as a release without the `truncated` field created it.
    old_properties = {k: v for k, v in articles.mappings["properties"].items() if k != "truncated"}
    old_mappings = {**articles.mappings, "properties": old_properties}
    index = articles.index_for(NOW)
    rest(es_settings.url, "PUT", index, {"mappings": old_mappings, "aliases": {articles.alias: {}}})
    cut = indexed_article(
        deterrence_article().model_copy(update={"truncated": True, "published_at": NOW}), articles
    )
    layouts = [articles, alert_layout(es_settings.alerts_alias)]
    store = IndexStore(open_engine(es_settings), layouts, clock=lambda: NOW)
    try:
        assert [r.id for r in (await store.bulk_index([cut])).rejected] == [cut.id]
        await store.ensure_index()  # a new release starting
        assert (await store.bulk_index([cut])).indexed == [cut.id]
    finally:
        await store.close()
    mapping = rest(es_settings.url, "GET", f"{index}/_mapping")[index]["mappings"]
    assert mapping["properties"]["truncated"] == {"type": "boolean"}
    assert mapping["dynamic"] == "strict"
