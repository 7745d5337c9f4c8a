"""Events as indexed documents: their source, ``_id`` and monthly index; raw Kafka values
validated one by one."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from schemas import Alert, EntityType
from services.indexer.core import (
    ARTICLE_MAPPINGS,
    alert_builder,
    alert_document,
    alert_layout,
    article_builder,
    article_document,
    article_layout,
    indexed_alert,
    indexed_article,
    parse_batch,
)
from tests.unit.indexer.articles import (
    BASHAGHA,
    DETERRENCE,
    bashagha_article,
    deterrence_article,
    make_article,
    sample_alert,
)

ARTICLES = article_layout("raqib-articles")
ALERTS = alert_layout("raqib-alerts")
BUILD = article_builder(ARTICLES)


def _leaf_fields(properties: dict[str, Any], prefix: str = "") -> set[str]:
    names: set[str] = set()
    for name, spec in properties.items():
        if "properties" in spec:
            names |= _leaf_fields(spec["properties"], f"{prefix}{name}.")
        else:
            names.add(prefix + name)
    return names


def _document_fields(value: Any, prefix: str = "") -> set[str]:
    if isinstance(value, list):
        return set().union(*(_document_fields(v, prefix) for v in value)) if value else set()
    if isinstance(value, dict):
        return set().union(*(_document_fields(v, f"{prefix}{k}.") for k, v in value.items()))
    return {prefix.rstrip(".")}


# --- article documents ---------------------------------------------------------------------


def test_document_flattens_actors_and_topics() -> None:
    text = "قال فتحي باشاغا إن جهاز الردع لم يشارك، وكرر باشاغا موقفه."
    article = make_article(
        "باشاغا والردع",
        text,
        actors={
            BASHAGHA: ("Fathi Bashagha", EntityType.PERSON, "باشاغا"),
            DETERRENCE: ("Special Deterrence Force", EntityType.ARMED_GROUP, "الردع"),
        },
        topics={"mediation": ["وساطة"], "armed-clashes": ["اشتباكات"]},
    )
    doc = article_document(article)
    assert doc["actors"] == [BASHAGHA, DETERRENCE]
    assert doc["actor_names"] == ["Fathi Bashagha", "Special Deterrence Force"]
    assert doc["actor_types"] == ["person", "armed-group"]
    assert doc["topics"] == ["mediation", "armed-clashes"]
    assert doc["topic_evidence"] == [
        {"id": "mediation", "evidence": ["وساطة"]},
        {"id": "armed-clashes", "evidence": ["اشتباكات"]},
    ]
    deterrence = doc["entities"][1]
    assert deterrence["id"] == DETERRENCE
    assert deterrence["mention_count"] == 1
    mention = deterrence["mentions"][0]
    assert text[mention["start"] : mention["end"]] == mention["text"] == "الردع"


def test_document_deduplicates_flat_lists_but_keeps_entities() -> None:
    article = deterrence_article()
    twice = article.model_copy(update={"entities": [*article.entities, *article.entities]})
    doc = article_document(twice)
    assert doc["actors"] == [DETERRENCE]
    assert doc["actor_types"] == ["armed-group"]
    assert len(doc["entities"]) == 2


def test_document_drops_html_and_has_iso_dates_and_plain_json() -> None:
    article = deterrence_article()
    assert article.html  # the fixture has html, so dropping it is tested
    doc = article_document(article)
    assert "html" not in doc
    for name in ("published_at", "fetched_at", "enriched_at"):
        value = doc[name]
        assert isinstance(value, str)
        assert datetime.fromisoformat(value) == getattr(article, name)
    assert doc["url"] == str(article.url)
    assert doc["id"] == article.id
    json.dumps(doc)  # nothing but JSON types


def test_document_without_tags_has_empty_lists() -> None:
    doc = article_document(make_article("عنوان", "نص بلا فاعلين."))
    assert doc["actors"] == doc["actor_names"] == doc["actor_types"] == doc["topics"] == []
    assert doc["entities"] == doc["topic_evidence"] == []


def test_every_document_field_is_mapped() -> None:
    # With dynamic: strict an unmapped field is a rejected document, so they must agree.
    mapped = _leaf_fields(ARTICLE_MAPPINGS["properties"])
    text = "قال فتحي باشاغا إن جهاز الردع لم يشارك."
    article = make_article(
        "عنوان",
        text,
        actors={BASHAGHA: ("Fathi Bashagha", EntityType.PERSON, "باشاغا")},
        topics={"mediation": ["وساطة"]},
    )
    assert _document_fields(article_document(article)) <= mapped


def test_source_bytes_are_compact_utf8_json() -> None:
    document = indexed_article(deterrence_article(), ARTICLES)
    assert "الردع".encode() in document.source  # not \\u escapes: smaller requests
    assert b'": ' not in document.source


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


# --- alert documents -----------------------------------------------------------------------


def test_alert_document_is_the_event_as_json() -> None:
    alert = sample_alert()
    document = alert_document(alert)
    assert document["rule"]["id"] == alert.rule.id
    assert document["entities"] == list(alert.entities)
    assert json.loads(indexed_alert(alert, ALERTS).source) == document
    assert Alert.model_validate(document) == alert


# --- parsing -------------------------------------------------------------------------------


def test_parse_batch_keeps_good_records_and_positions_of_bad_ones() -> None:
    good = deterrence_article()
    other = bashagha_article()
    missing_field = json.loads(good.model_dump_json())
    del missing_field["tagger_version"]
    values: list[bytes | None] = [
        good.model_dump_json().encode(),
        b"not json at all \xff",
        json.dumps(missing_field).encode(),
        None,
        other.model_dump_json().encode(),
    ]
    parsed = parse_batch(values, article_builder(article_layout("a")))
    assert [(position, document.id) for position, document in parsed.documents] == [
        (0, good.id),
        (4, other.id),
    ]
    assert [invalid.position for invalid in parsed.invalid] == [1, 2, 3]
    assert "json" in parsed.invalid[0].error.lower()
    assert "tagger_version" in parsed.invalid[1].error
    assert "tombstone" in parsed.invalid[2].error


def test_parse_batch_error_does_not_echo_the_input() -> None:
    bad = json.loads(deterrence_article().model_dump_json())
    bad["id"] = "SECRET-LOOKING-VALUE"
    (invalid,) = parse_batch([json.dumps(bad).encode()], BUILD).invalid
    assert "id" in invalid.error
    assert "SECRET-LOOKING-VALUE" not in invalid.error


def test_alert_builder_rejects_an_article_and_keeps_the_batch() -> None:
    good = sample_alert().model_dump_json().encode()
    article = deterrence_article().model_dump_json().encode()
    parsed = parse_batch([article, good, b"{"], alert_builder(ALERTS))
    assert [position for position, _ in parsed.documents] == [1]
    assert [invalid.position for invalid in parsed.invalid] == [0, 2]
