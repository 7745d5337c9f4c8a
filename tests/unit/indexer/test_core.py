from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from schemas import EntityType
from services.indexer.core import (
    ARTICLE_MAPPINGS,
    article_builder,
    article_document,
    article_layout,
    classify_bulk_response,
    parse_batch,
)
from tests.unit.indexer.articles import (
    BASHAGHA,
    DETERRENCE,
    bashagha_article,
    deterrence_article,
    make_article,
)


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


BUILD = article_builder(article_layout("raqib-articles"))


# --- document ------------------------------------------------------------------------------


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


# --- template ------------------------------------------------------------------------------


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


# --- bulk classification -------------------------------------------------------------------


def _item(doc_id: str, status: int, error: dict[str, Any] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"_id": doc_id, "status": status}
    if error is not None:
        result["error"] = error
    return {"index": result}


def test_classify_ok_rejected_and_transient() -> None:
    response = {
        "errors": True,
        "items": [
            _item("a", 201),
            _item("b", 200),
            _item(
                "c",
                400,
                {
                    "type": "document_parsing_exception",
                    "reason": "failed to parse field [published_at]",
                    "caused_by": {"type": "illegal_argument_exception", "reason": "bad date"},
                },
            ),
            _item("d", 429, {"type": "es_rejected_execution_exception", "reason": "queue full"}),
            _item("e", 503, {"type": "unavailable_shards_exception", "reason": "no shard"}),
            _item("f", 409, {"type": "version_conflict_engine_exception", "reason": "x"}),
        ],
    }
    outcome = classify_bulk_response(["a", "b", "c", "d", "e", "f"], response)
    assert outcome.indexed == ["a", "b"]
    assert [(r.position, r.id, r.status) for r in outcome.rejected] == [
        (2, "c", 400),
        (5, "f", 409),
    ]
    assert "published_at" in outcome.rejected[0].error
    assert "bad date" in outcome.rejected[0].error
    assert [(r.position, r.id, r.status) for r in outcome.transient] == [
        (3, "d", 429),
        (4, "e", 503),
    ]


def test_classify_treats_missing_or_mismatched_items_as_transient() -> None:
    response = {"items": [_item("a", 201), _item("zzz", 201)]}
    outcome = classify_bulk_response(["a", "b", "c"], response)
    assert outcome.indexed == ["a"]
    assert [r.id for r in outcome.transient] == ["b", "c"]
    assert outcome.rejected == []


@pytest.mark.parametrize("garbage", [{}, {"items": None}, {"items": ["x", {"a": 1, "b": 2}]}])
def test_classify_garbage_response_never_reports_success(garbage: dict[str, Any]) -> None:
    outcome = classify_bulk_response(["a", "b"], garbage)
    assert outcome.indexed == []
    assert [r.id for r in outcome.transient] == ["a", "b"]
