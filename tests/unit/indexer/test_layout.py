"""Monthly routing, the alerts documents, bulk sizing and backoff; the templates against the
event contracts (drift between schemas/ and the mappings fails here, not in production)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from schemas import Alert, EnrichedArticle
from services.indexer.core import (
    ALERT_MAPPINGS,
    ARTICLE_MAPPINGS,
    IndexedDocument,
    alert_builder,
    alert_document,
    alert_layout,
    article_builder,
    article_layout,
    backoff_delay,
    chunk_documents,
    event_model_fields,
    indexed_alert,
    indexed_article,
    mapped_fields,
    parse_batch,
)
from tests.unit.indexer.articles import deterrence_article, sample_alert

ARTICLES = article_layout("raqib-articles")
ALERTS = alert_layout("raqib-alerts")

# Where an EnrichedArticle field lives in the article document: tags are flattened for
# dashboards (see services/indexer/core.py); ``html`` is deliberately not stored.
ARTICLE_DOCUMENT_PATHS = {"topics.id": "topics", "topics.evidence": "topic_evidence.evidence"}
ARTICLE_FIELDS_NOT_STORED = {"html"}


def test_every_enriched_article_schema_field_is_mapped() -> None:
    fields = event_model_fields(EnrichedArticle) - ARTICLE_FIELDS_NOT_STORED
    stored = {ARTICLE_DOCUMENT_PATHS.get(name, name) for name in fields}
    missing = sorted(stored - mapped_fields(ARTICLE_MAPPINGS))
    assert not missing, f"EnrichedArticle fields the articles template does not map: {missing}"


def test_every_alert_schema_field_is_mapped() -> None:
    missing = sorted(event_model_fields(Alert) - mapped_fields(ALERT_MAPPINGS))
    assert not missing, f"Alert fields the alerts template does not map: {missing}"


def test_schema_walk_sees_nested_and_optional_fields() -> None:
    fields = event_model_fields(Alert)
    assert {"rule.id", "article.published_at", "deliveries.status", "created_at"} <= fields
    article_fields = event_model_fields(EnrichedArticle)
    assert {"entities.mentions.start", "published_at", "topics.evidence"} <= article_fields


def test_mapped_fields_include_objects_and_multi_fields() -> None:
    fields = mapped_fields(ARTICLE_MAPPINGS)
    assert {"title", "title.exact", "entities", "entities.mentions.alias"} <= fields
    assert "title.nothing" not in fields


@pytest.mark.parametrize(
    ("when", "index"),
    [
        (datetime(2026, 11, 30, 23, 59, tzinfo=UTC), "raqib-articles-2026.11"),
        (datetime(2026, 1, 1, tzinfo=UTC), "raqib-articles-2026.01"),
        # 1 December 01:00 in Tripoli is still 30 November in UTC.
        (
            datetime(2026, 12, 1, 1, 0, tzinfo=timezone(timedelta(hours=2))),
            "raqib-articles-2026.11",
        ),
    ],
)
def test_monthly_index_is_the_utc_month(when: datetime, index: str) -> None:
    assert ARTICLES.index_for(when) == index


def test_article_goes_to_the_month_it_was_published_else_fetched() -> None:
    article = deterrence_article().model_copy(
        update={
            "published_at": datetime(2025, 3, 9, tzinfo=UTC),
            "fetched_at": datetime(2026, 11, 2, tzinfo=UTC),
        }
    )
    assert indexed_article(article, ARTICLES).index == "raqib-articles-2025.03"
    undated = article.model_copy(update={"published_at": None})
    assert indexed_article(undated, ARTICLES).index == "raqib-articles-2026.11"


def test_replay_and_update_land_on_the_same_index_and_id() -> None:
    article = deterrence_article()
    value = article.model_dump_json().encode()
    first, again = article_builder(ARTICLES)(value), article_builder(ARTICLES)(value)
    assert (first.id, first.index, first.source) == (again.id, again.index, again.source)
    assert first.id == article.id
    alert = sample_alert()
    delivered = alert.model_copy(
        update={"deliveries": [d.model_copy(update={"attempts": 2}) for d in alert.deliveries]}
    )
    a, b = indexed_alert(alert, ALERTS), indexed_alert(delivered, ALERTS)
    assert (a.id, a.index) == (b.id, b.index) == (alert.id, "raqib-alerts-2026.11")
    assert a.source != b.source


def test_alert_document_is_the_event_as_json() -> None:
    alert = sample_alert()
    document = alert_document(alert)
    assert document["rule"]["id"] == alert.rule.id
    assert document["entities"] == list(alert.entities)
    assert json.loads(indexed_alert(alert, ALERTS).source) == document
    assert Alert.model_validate(document) == alert


def test_alert_builder_rejects_an_article_and_keeps_the_batch() -> None:
    good = sample_alert().model_dump_json().encode()
    article = deterrence_article().model_dump_json().encode()
    parsed = parse_batch([article, good, b"{"], alert_builder(ALERTS))
    assert [position for position, _ in parsed.documents] == [1]
    assert [invalid.position for invalid in parsed.invalid] == [0, 2]


def test_source_bytes_are_compact_utf8_json() -> None:
    document = indexed_article(deterrence_article(), ARTICLES)
    assert "الردع".encode() in document.source  # not \\u escapes: smaller requests
    assert b'": ' not in document.source


def _docs(*sizes: int) -> list[IndexedDocument]:
    return [IndexedDocument(str(i), "i-2026.01", b"x" * size) for i, size in enumerate(sizes)]


def test_chunks_respect_document_count_and_bytes() -> None:
    assert chunk_documents(_docs(1, 1, 1, 1, 1), max_documents=2, max_bytes=100) == [
        [0, 1],
        [2, 3],
        [4],
    ]
    assert chunk_documents(_docs(40, 40, 40, 10), max_documents=10, max_bytes=100) == [
        [0, 1],
        [2, 3],
    ]


def test_an_oversized_document_goes_alone() -> None:
    assert chunk_documents(_docs(5, 500, 5), max_documents=10, max_bytes=100) == [[0], [1], [2]]
    assert chunk_documents([], max_documents=10, max_bytes=100) == []


def test_backoff_doubles_and_is_capped() -> None:
    delays = [backoff_delay(attempt, base_s=0.5, max_s=3.0) for attempt in range(1, 6)]
    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_alerts_template_is_strict_and_aliased() -> None:
    body = ALERTS.template()
    assert body["index_patterns"] == ["raqib-alerts-*"]
    assert body["template"]["aliases"] == {"raqib-alerts": {}}
    mappings = body["template"]["mappings"]
    assert mappings["dynamic"] == "strict"
    assert mappings["properties"]["created_at"] == {"type": "date"}
    assert mappings["properties"]["entities"] == {"type": "keyword"}
    assert mappings["properties"]["article"]["properties"]["title"]["analyzer"] == "arabic"
    # The two patterns never overlap, so no index gets both templates.
    assert not ALERTS.owns("raqib-articles-2026.01")
    assert not ARTICLES.owns("raqib-alerts-2026.01")
