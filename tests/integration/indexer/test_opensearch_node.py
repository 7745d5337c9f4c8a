"""A real OpenSearch 2.19 node (``deploy/opensearch``, Lucene underneath) against what Raqib
sends a search server: the ``arabic`` analyzer, the index templates and mappings the indexer
installs, its bulk writes, the requests ``raqib search`` builds and the aggregations the
dashboards run. Everything goes through ``opensearch-py``, as any client of OpenSearch must.

The session's node serves the module (a JVM takes seconds to start); the restart tests stop
and start that same node, which keeps its port and its data.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from opensearchpy import AsyncOpenSearch, OpenSearch
from opensearchpy.exceptions import RequestError

from schemas import EnrichedArticle, EntityType
from services.devstack.opensearch_node import LocalOpenSearch
from services.devstack.servers import StandInError
from services.indexer.core import (
    ALERT_MAPPINGS,
    ARTICLE_MAPPINGS,
    IndexedDocument,
    IndexLayout,
    alert_layout,
    article_layout,
    classify_bulk_response,
    indexed_alert,
    indexed_article,
    mapped_fields,
)
from services.indexer.search import MARK_START, read_hit, search_request
from tests.unit.indexer.articles import (
    BASHAGHA,
    DETERRENCE,
    bashagha_article,
    make_article,
    sample_alert,
)

pytestmark = pytest.mark.integration

ARTICLES, ALERTS = article_layout("raqib-articles"), alert_layout("raqib-alerts")
SDF = ("Special Deterrence Force", EntityType.ARMED_GROUP)
MAITEEQ = "ahmed-maiteeq"


def tagged(
    text: str, surface: str, published: datetime | None = None, actor: str = DETERRENCE
) -> EnrichedArticle:
    """An article the tagger tagged with ``actor`` through ``surface``."""
    who = SDF if actor == DETERRENCE else ("Ahmed Maiteeq", EntityType.PERSON)
    article = make_article(
        f"خبر: {surface}", text, actors={actor: (*who, surface)}, topics={"security": ["امن"]}
    )
    return article.model_copy(update={"published_at": published or article.published_at})


PREFIXED = tagged("نددت الحكومة بالردع الذي مارسه الجهاز في المطار.", "بالردع")
FORCE = tagged("انتشرت قوة الردع الخاصة في سوق الجمعة.", "قوة الردع الخاصة")
BARE_LAM = tagged("وجهت الحكومة انتقادا لردع طرابلس بعد الاشتباكات.", "لردع طرابلس")
OLD = tagged(
    "قال جهاز الردع إنه أنهى العملية.", "جهاز الردع", published=datetime(2024, 1, 5, tzinfo=UTC)
)
# No publication date: placed, sorted and filtered by when it was fetched.
UNDATED = tagged("أكد جهاز الردع أن الوضع هادئ.", "جهاز الردع").model_copy(
    update={"published_at": None, "fetched_at": datetime(2026, 3, 2, 8, 0, tzinfo=UTC)}
)
AIRPORT = tagged("هبطت طائرة في مطار معيتيقة الدولي.", "معيتيقة", actor=MAITEEQ)
OTHER = bashagha_article()
ALL = [PREFIXED, FORCE, BARE_LAM, OLD, UNDATED, AIRPORT, OTHER]


def bulk_body(documents: list[IndexedDocument]) -> list[Any]:
    """The indexer's bulk request (``IndexStore.bulk_index``) for opensearch-py."""
    operations: list[Any] = []
    for document in documents:
        operations.append({"index": {"_index": document.index, "_id": document.id}})
        operations.append(document.source.decode())
    return operations


def create_monthly(client: OpenSearch, layout: IndexLayout, index: str) -> None:
    """What ``IndexStore._ensure_monthly`` sends: the mappings travel with the request."""
    body = {"mappings": dict(layout.mappings), "aliases": {layout.alias: {}}}
    client.indices.create(index=index, body=body)


@pytest.fixture(scope="module")
def node(opensearch: LocalOpenSearch) -> LocalOpenSearch:
    return opensearch


@pytest.fixture(scope="module")
def client(node: LocalOpenSearch) -> Iterator[OpenSearch]:
    client = OpenSearch(hosts=[node.url], timeout=60)
    yield client
    client.close()


@pytest.fixture(scope="module")
def indexed(client: OpenSearch) -> dict[str, Any]:
    """The indexer's set-up (templates, this month's indices) and one bulk of articles and an
    alert, refreshed; returns the bulk response."""
    for layout in (ARTICLES, ALERTS):
        assert client.indices.put_index_template(name=layout.alias, body=layout.template()) == {
            "acknowledged": True
        }
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    for layout in (ARTICLES, ALERTS):
        create_monthly(client, layout, layout.index_for(now))
    documents = [indexed_article(article, ARTICLES) for article in ALL]
    documents.append(indexed_alert(sample_alert(PREFIXED), ALERTS))
    response: dict[str, Any] = client.bulk(body=bulk_body(documents), refresh="true")
    return response


def analyzed(client: OpenSearch, text: str, analyzer: str = "arabic") -> list[str]:
    answer = client.indices.analyze(body={"analyzer": analyzer, "text": text})
    return [str(token["token"]) for token in answer["tokens"]]


def found(client: OpenSearch, request: dict[str, Any]) -> list[str]:
    answer = client.search(index=ARTICLES.alias, body=request)
    return [str(hit["_id"]) for hit in answer["hits"]["hits"]]


# --- the node ------------------------------------------------------------------------------


def test_the_node_is_opensearch_2_19_on_lucene(node: LocalOpenSearch, client: OpenSearch) -> None:
    info = client.info()
    assert node.version.startswith("2.19.")
    assert info["version"]["number"] == node.version
    assert info["version"]["distribution"] == "opensearch"
    assert info["version"]["lucene_version"].startswith("9.")
    # Every primary placed (an index another test made may ask for a replica a single node
    # cannot place, which is yellow, not red).
    assert client.cluster.health()["status"] in {"green", "yellow"}
    plugins = {row["component"] for row in client.cat.plugins(format="json")}
    assert plugins == {
        "org.opensearch.analysis.common.CommonAnalysisPlugin",
        "org.opensearch.index.mapper.MapperExtrasPlugin",
        "org.opensearch.painless.PainlessPlugin",
        "org.opensearch.transport.Netty4Plugin",
    }


def test_the_elasticsearch_client_refuses_it(node: LocalOpenSearch) -> None:
    from elasticsearch import Elasticsearch, UnsupportedProductError

    with (
        Elasticsearch(node.url) as elasticsearch,
        pytest.raises(UnsupportedProductError, match="not Elasticsearch"),
    ):
        elasticsearch.info()


# --- the arabic analyzer -------------------------------------------------------------------

# What OpenSearch 2.19's built-in ``arabic`` analyzer (Lucene 9.12: lowercase, decimal digit,
# stop words, arabic_normalization, arabic_stem) makes of each text, as observed.
ARABIC_TOKENS = {
    "والقوات": ["قو"],
    "القوات": ["قو"],
    "بالردع": ["ردع"],
    "الردع": ["ردع"],
    "والردع": ["ردع"],
    "كالردع": ["ردع"],
    "فالردع": ["ردع"],
    "للردع": ["ردع"],
    "وردع": ["ردع"],
    "لردع": ["لردع"],
    "بردع": ["بردع"],
    "كردع": ["كردع"],
    "فردع": ["فردع"],
    "بحفتر": ["بحفتر"],
    "بطرابلس": ["بطرابلس"],
    "وطرابلس": ["طرابلس"],
    "معيتيقة": ["معيتيق"],
    "معيتيق": ["معيتيق"],
    "امعيتيق": ["امعيتيق"],
    "وزارة الداخلية": ["زار", "داخل"],
    "زار": ["زار"],
    "ليبيا": ["ليبيا"],
    "لليبيا": ["يبيا"],
    "الليبية": ["ليب"],
    "الدبيبة": ["دبيب"],
    "للدبيبة": ["دبيب"],
    "جهاز الردع": ["جهاز", "ردع"],
    "إعلان": ["اعل"],
    "٢٠٢٦": ["2026"],
}


@pytest.mark.parametrize(("text", "tokens"), ARABIC_TOKENS.items())
def test_the_arabic_analyzer(client: OpenSearch, text: str, tokens: list[str]) -> None:
    assert analyzed(client, text) == tokens


def test_what_the_readme_says_of_the_arabic_analyzer(client: OpenSearch) -> None:
    # It strips ال، وال، بال، كال، فال، لل and و ...
    for prefix in ("ال", "وال", "بال", "كال", "فال", "لل", "و"):
        assert analyzed(client, prefix + "ردع") == ["ردع"], prefix
    # ... not a bare ب ل ك ف ...
    for prefix in "بلكف":
        assert analyzed(client, prefix + "ردع") == [prefix + "ردع"], prefix
    # ... and folds the airport into the politician.
    assert analyzed(client, "معيتيقة") == analyzed(client, "معيتيق")


# --- templates, mappings, bulk -------------------------------------------------------------


def test_the_templates_apply_to_every_monthly_index(client: OpenSearch, indexed: Any) -> None:
    for layout in (ARTICLES, ALERTS):
        simulated = client.indices.simulate_index_template(name=f"{layout.alias}-2031.01")
        template = simulated["template"]
        assert template["aliases"] == {layout.alias: {}}
        assert template["mappings"]["dynamic"] == "strict"
        assert mapped_fields(template["mappings"]) == mapped_fields(layout.mappings)


@pytest.mark.parametrize(
    ("layout", "mappings"), [(ARTICLES, ARTICLE_MAPPINGS), (ALERTS, ALERT_MAPPINGS)]
)
def test_the_mappings_are_accepted_as_sent(
    client: OpenSearch, indexed: Any, layout: IndexLayout, mappings: dict[str, Any]
) -> None:
    index = layout.index_for(datetime(2026, 11, 24, tzinfo=UTC))
    stored = client.indices.get_mapping(index=index)[index]["mappings"]
    assert stored["dynamic"] == "strict"
    assert mapped_fields(stored) == mapped_fields(mappings)
    assert stored["properties"]["schema_version"] == {"type": "short"}


def test_creating_an_existing_index_fails_as_the_store_expects(
    client: OpenSearch, indexed: Any
) -> None:
    index = ARTICLES.index_for(datetime(2026, 11, 24, tzinfo=UTC))
    with pytest.raises(RequestError) as raised:
        create_monthly(client, ARTICLES, index)
    # IndexStore._ensure_monthly ignores exactly this error type.
    assert raised.value.status_code == 400
    assert raised.value.error == "resource_already_exists_exception"


def test_the_bulk_indexes_every_document_into_its_month(
    client: OpenSearch, indexed: dict[str, Any]
) -> None:
    documents = [indexed_article(article, ARTICLES) for article in ALL]
    alert = indexed_alert(sample_alert(PREFIXED), ALERTS)
    outcome = classify_bulk_response([d.id for d in [*documents, alert]], indexed)
    assert outcome.indexed == [d.id for d in [*documents, alert]]
    assert not outcome.rejected and not outcome.transient
    # Months nobody created beforehand were created on write, with the template's alias.
    aliases = client.indices.get_alias(index=f"{ARTICLES.alias}-*,{ALERTS.alias}-*")
    assert {document.index for document in [*documents, alert]} <= set(aliases)
    for index, entry in aliases.items():
        alias = ARTICLES.alias if ARTICLES.owns(index) else ALERTS.alias
        assert entry == {"aliases": {alias: {}}}
    assert client.count(index=ARTICLES.alias)["count"] == len(ALL)
    assert client.count(index=ALERTS.alias)["count"] == 1


def test_an_unknown_field_is_rejected_by_the_strict_mapping(
    client: OpenSearch, indexed: Any
) -> None:
    document = indexed_article(OTHER, ARTICLES)
    source = {**json.loads(document.source), "surprise": 1}
    odd = IndexedDocument("odd", document.index, json.dumps(source).encode())
    response = client.bulk(body=bulk_body([odd]))
    outcome = classify_bulk_response(["odd"], response)
    assert outcome.indexed == [] and outcome.transient == []
    (rejected,) = outcome.rejected
    assert rejected.status == 400
    assert rejected.kind == "strict_dynamic_mapping_exception"
    assert rejected.error == (
        "strict_dynamic_mapping_exception: mapping set to strict, dynamic introduction of "
        "[surprise] within [_doc] is not allowed"
    )


# --- raqib search --------------------------------------------------------------------------


def test_full_text_search_goes_through_the_arabic_analyzer(
    client: OpenSearch, indexed: Any
) -> None:
    hits = found(client, search_request("الردع"))
    assert set(hits) == {PREFIXED.id, FORCE.id, OLD.id, UNDATED.id}  # not لردع (bare ل)
    # The airport and the politician are one stem.
    assert found(client, search_request("معيتيق")) == [AIRPORT.id]


def test_a_hit_is_highlighted_with_raqibs_markers(client: OpenSearch, indexed: Any) -> None:
    request = search_request("بالردع", actors=[DETERRENCE])
    answer = client.search(index=ARTICLES.alias, body=request)
    hit = next(h for h in answer["hits"]["hits"] if h["_id"] == PREFIXED.id)
    assert MARK_START in hit["highlight"]["title"][0]
    shown = read_hit(hit, [DETERRENCE])
    assert ("بالردع", True) in shown.title
    assert any(("بالردع", True) in match for match in shown.matches)
    assert shown.mentions[0].actor == DETERRENCE
    assert set(hit["_source"]) <= set(search_request(None)["_source"])


def test_actor_topic_and_date_filters(client: OpenSearch, indexed: Any) -> None:
    deterrence = {PREFIXED.id, FORCE.id, BARE_LAM.id, OLD.id, UNDATED.id}
    assert set(found(client, search_request(None, actors=[DETERRENCE], size=50))) == deterrence
    assert found(client, search_request(None, actors=[BASHAGHA])) == [OTHER.id]
    assert found(client, search_request(None, topics=["mediation"])) == [OTHER.id]
    # Since 2025: not the 2024 article; the undated one counts from when it was fetched.
    since = search_request(None, actors=[DETERRENCE], since=date(2025, 1, 1), size=50)
    assert set(found(client, since)) == deterrence - {OLD.id}
    since_march = search_request(None, actors=[DETERRENCE], since=date(2026, 3, 1))
    assert found(client, since_march) == [UNDATED.id]


def test_without_a_query_the_newest_come_first(client: OpenSearch, indexed: Any) -> None:
    hits = found(client, search_request(None, size=50))
    # ``time`` descending: the undated article by when it was fetched (the newest here).
    assert hits[0] == UNDATED.id
    assert hits[-1] == OLD.id
    assert set(hits) == {article.id for article in ALL}


def test_the_dashboards_aggregations(client: OpenSearch, indexed: Any) -> None:
    body = {
        "size": 0,
        "aggs": {
            "actors": {"terms": {"field": "actors"}},
            "topics": {"terms": {"field": "topics"}},
            "months": {"date_histogram": {"field": "published_at", "calendar_interval": "month"}},
            "times": {"date_histogram": {"field": "time", "calendar_interval": "month"}},
            "pairs": {
                "composite": {
                    "sources": [
                        {"actor": {"terms": {"field": "actors"}}},
                        {"type": {"terms": {"field": "actor_types"}}},
                    ]
                }
            },
        },
    }
    aggregations = client.search(index=ARTICLES.alias, body=body)["aggregations"]
    actors = {b["key"]: b["doc_count"] for b in aggregations["actors"]["buckets"]}
    assert actors == {DETERRENCE: 5, MAITEEQ: 1, BASHAGHA: 1}
    # The undated article has no publication month, but a time (the data views' time field).
    assert sum(b["doc_count"] for b in aggregations["months"]["buckets"]) == len(ALL) - 1
    assert sum(b["doc_count"] for b in aggregations["times"]["buckets"]) == len(ALL)
    assert {b["key"]["actor"] for b in aggregations["pairs"]["buckets"]} == set(actors)


def test_an_undated_article_is_found_by_a_time_filter(client: OpenSearch, indexed: Any) -> None:
    # What a Kibana panel sends for its time picker: a range on the data view's time field.
    body = {"query": {"range": {"time": {"gte": "2026-03-01T00:00:00Z", "lt": "2026-04-01"}}}}
    assert found(client, body) == [UNDATED.id]
    hit = client.search(index=ARTICLES.alias, body=body)["hits"]["hits"][0]
    assert hit["_source"]["time"] == "2026-03-02T08:00:00Z"


async def test_the_async_client_reads_the_same_index(node: LocalOpenSearch, indexed: Any) -> None:
    async with AsyncOpenSearch(hosts=[node.url]) as client:
        assert (await client.count(index=ARTICLES.alias))["count"] == len(ALL)


# --- restarts ------------------------------------------------------------------------------


def test_a_document_survives_a_restart(node: LocalOpenSearch, client: OpenSearch) -> None:
    client.index(index="restart-check", id="1", body={"title": "قبل الإيقاف"})
    url = node.url
    node.stop()
    assert node.proc is not None and node.proc.returncode == 143  # SIGTERM handled, not killed
    node.start()
    assert node.url == url
    assert client.get(index="restart-check", id="1")["_source"] == {"title": "قبل الإيقاف"}


def test_an_acknowledged_document_survives_a_crash(
    node: LocalOpenSearch, client: OpenSearch
) -> None:
    client.index(index="crash-check", id="1", body={"n": 1})  # no refresh, no flush
    node.kill()
    node.start()
    assert client.get(index="crash-check", id="1")["_source"] == {"n": 1}


def test_a_port_in_use_is_reported_with_the_log(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = LocalOpenSearch(port=taken.getsockname()[1], log_path=tmp_path / "os.log")
        try:
            with pytest.raises(StandInError, match=r"exited with code 1[\s\S]*BindHttpException"):
                server.start(timeout=90)
        finally:
            server.cleanup()
    assert not server.data_dir.exists()
