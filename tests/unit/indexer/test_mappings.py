"""The index templates and monthly routing; the templates against the event contracts (drift
between schemas/ and the mappings fails here, not in production)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from schemas import Alert, EnrichedArticle
from services.indexer.core import (
    ALERT_MAPPINGS,
    ARTICLE_MAPPINGS,
    alert_layout,
    article_layout,
    event_model_fields,
    mapped_fields,
)

ARTICLES = article_layout("raqib-articles")
ALERTS = alert_layout("raqib-alerts")

# Where an EnrichedArticle field lives in the article document: tags are flattened for
# dashboards (see services/indexer/core/documents.py); ``html`` is deliberately not stored.
ARTICLE_DOCUMENT_PATHS = {"topics.id": "topics", "topics.evidence": "topic_evidence.evidence"}
# Labels (Arabic and English) are the knowledge base's, for alerts: the index keeps the ids.
ARTICLE_FIELDS_NOT_STORED = {
    "html",
    "entities.type_labels.ar",
    "entities.type_labels.en",
    "topics.labels.ar",
    "topics.labels.en",
}


# --- templates -----------------------------------------------------------------------------


def test_template_is_strict_with_arabic_text_and_keyword_ids() -> None:
    body = article_layout("raqib-articles").template()
    assert body["index_patterns"] == ["raqib-articles-*"]
    mappings = body["template"]["mappings"]
    assert mappings["dynamic"] == "strict"
    props = mappings["properties"]
    for name in ("title", "text"):
        assert props[name] == {**props[name], "type": "text", "analyzer": "arabic"}
    assert props["title"]["fields"]["exact"]["type"] == "keyword"
    for name in (
        "id",
        "url",
        "source",
        "feed",
        "language",
        "content_hash",
        "actors",
        "actor_names",
        "actor_types",
        "topics",
        "knowledge_base_version",
        "tagger_version",
    ):
        assert props[name] == {"type": "keyword"}, name
    for name in ("published_at", "fetched_at", "enriched_at"):
        assert props[name] == {"type": "date"}
    assert "html" not in props
    assert props["entities"]["properties"]["id"] == {"type": "keyword"}
    # No custom analyzers: some Elasticsearch-compatible servers reject arabic_normalization.
    assert "settings" not in body["template"] or "analysis" not in body["template"]["settings"]


def test_template_follows_the_alias_name_and_joins_it() -> None:
    body = article_layout("other").template()
    assert body["index_patterns"] == ["other-*"]
    assert body["template"]["aliases"] == {"other": {}}


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


# --- mappings against the event contracts --------------------------------------------------


def test_every_enriched_article_schema_field_is_mapped() -> None:
    fields = event_model_fields(EnrichedArticle) - ARTICLE_FIELDS_NOT_STORED
    stored = {ARTICLE_DOCUMENT_PATHS.get(name, name) for name in fields}
    missing = sorted(stored - mapped_fields(ARTICLE_MAPPINGS))
    assert not missing, f"EnrichedArticle fields the articles template does not map: {missing}"


def test_every_alert_schema_field_is_mapped() -> None:
    # ``content`` is only in what the JSON webhook posts, never on the alerts topic.
    fields = {f for f in event_model_fields(Alert) if not f.startswith("content.")}
    missing = sorted(fields - mapped_fields(ALERT_MAPPINGS))
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
