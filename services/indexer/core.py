"""Pure indexer logic: an ``EnrichedArticle`` becomes an Elasticsearch document; the index
template that maps it; validation of raw Kafka values; classification of bulk results.

Index design
------------
- One composable index template (named like the alias) matches ``<alias>-*``; the first index
  is ``<alias>-000001`` and carries the alias as its write index, so a rollover later needs no
  change in the services: they always write to and read from the alias. Writes use
  ``require_alias``: if the alias is lost, the write fails and the set-up runs again, instead
  of Elasticsearch creating an index named like the alias with guessed mappings.
- ``dynamic: strict``: a field the template does not know is a rejected document (and a
  dead letter naming it), never a silently guessed mapping that a dashboard then trusts.
- ``title`` and ``text`` use the built-in ``arabic`` analyzer (custom analyzers built on
  ``arabic_normalization`` are not accepted by every Elasticsearch-compatible server we run);
  ``title.exact`` keeps the title verbatim for exact match and terms aggregations.
- ``normalized_title`` is the output of our own normaliser (the one the tagger and alert rules
  use), so it is analysed only by ``standard`` to search it as-is.
- Dashboards aggregate flat keyword lists: ``actors`` (ids), ``actor_names``, ``actor_types``,
  ``topics`` (ids). Kibana visualisations cannot aggregate ``nested`` fields, so ``entities``
  and ``topic_evidence`` are plain ``object`` arrays: they explain a tag (every mention with its
  span, alias and rule) and stay searchable, while counting is done on the flat lists.
- ``html`` is dropped, not stored: it is large, the extracted ``text`` is what is searched,
  and the original page stays in ``articles.raw``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from schemas import EnrichedArticle

ArticleDocument = dict[str, Any]

KEYWORD: dict[str, Any] = {"type": "keyword"}
DATE: dict[str, Any] = {"type": "date"}
INTEGER: dict[str, Any] = {"type": "integer"}

ARTICLE_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "schema_version": {"type": "short"},
        "id": KEYWORD,
        "url": KEYWORD,
        "source": KEYWORD,
        "feed": KEYWORD,
        "language": KEYWORD,
        "content_hash": KEYWORD,
        "title": {
            "type": "text",
            "analyzer": "arabic",
            "fields": {"exact": {"type": "keyword", "ignore_above": 1024}},
        },
        "text": {"type": "text", "analyzer": "arabic"},
        "normalized_title": {"type": "text", "analyzer": "standard"},
        "published_at": DATE,
        "fetched_at": DATE,
        "enriched_at": DATE,
        "knowledge_base_version": KEYWORD,
        "tagger_version": KEYWORD,
        "actors": KEYWORD,
        "actor_names": KEYWORD,
        "actor_types": KEYWORD,
        "topics": KEYWORD,
        "entities": {
            "type": "object",
            "properties": {
                "id": KEYWORD,
                "name": KEYWORD,
                "type": KEYWORD,
                "mention_count": INTEGER,
                "mentions": {
                    "type": "object",
                    "properties": {
                        "start": INTEGER,
                        "end": INTEGER,
                        "text": KEYWORD,
                        "alias": KEYWORD,
                        "rule": KEYWORD,
                        "field": KEYWORD,
                    },
                },
            },
        },
        "topic_evidence": {
            "type": "object",
            "properties": {"id": KEYWORD, "evidence": KEYWORD},
        },
    },
}


def index_pattern(alias: str) -> str:
    return f"{alias}-*"


def initial_index(alias: str) -> str:
    """The first concrete index behind ``alias``, in the rollover naming scheme."""
    return f"{alias}-000001"


def index_template(alias: str) -> dict[str, Any]:
    """Body of the composable index template for the articles behind ``alias``."""
    return {
        "index_patterns": [index_pattern(alias)],
        "priority": 200,
        "template": {"mappings": ARTICLE_MAPPINGS},
        "_meta": {"description": "Raqib enriched articles", "managed_by": "raqib-indexer"},
    }


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def article_document(article: EnrichedArticle) -> ArticleDocument:
    """The document stored for ``article``: JSON-ready, ``html`` dropped, tags flattened."""
    doc: ArticleDocument = article.model_dump(mode="json", exclude={"html", "entities", "topics"})
    doc["actors"] = _unique([entity.id for entity in article.entities])
    doc["actor_names"] = _unique([entity.name for entity in article.entities])
    doc["actor_types"] = _unique([str(entity.type) for entity in article.entities])
    doc["topics"] = _unique([topic.id for topic in article.topics])
    doc["entities"] = [
        {
            "id": entity.id,
            "name": entity.name,
            "type": str(entity.type),
            "mention_count": len(entity.mentions),
            "mentions": [mention.model_dump(mode="json") for mention in entity.mentions],
        }
        for entity in article.entities
    ]
    doc["topic_evidence"] = [
        {"id": topic.id, "evidence": list(topic.evidence)} for topic in article.topics
    ]
    return doc


@dataclass(frozen=True)
class InvalidRecord:
    """A Kafka value that is not an ``EnrichedArticle``; ``position`` is its index in the batch."""

    position: int
    error: str


@dataclass(frozen=True)
class ParsedBatch:
    articles: list[tuple[int, EnrichedArticle]] = field(default_factory=list)
    invalid: list[InvalidRecord] = field(default_factory=list)


def parse_batch(values: Sequence[bytes | None]) -> ParsedBatch:
    """Validate each raw value on its own, so one bad record cannot fail its neighbours."""
    batch = ParsedBatch()
    for position, value in enumerate(values):
        if value is None:
            batch.invalid.append(InvalidRecord(position, "empty record value (tombstone)"))
            continue
        try:
            batch.articles.append((position, EnrichedArticle.model_validate_json(value)))
        except ValidationError as error:
            batch.invalid.append(InvalidRecord(position, _describe_validation_error(error)))
    return batch


def _describe_validation_error(error: ValidationError) -> str:
    # include_input=False: the offending value may be a whole article; the bytes are in the DLQ.
    details = error.errors(include_url=False, include_input=False)
    return f"{error.title}: {json.dumps(details, ensure_ascii=False, default=str)}"[:4000]


# Writes go with ``require_alias``, so a lost alias is this error and never a new index with
# guessed mappings; it passes once the set-up has run again.
INDEX_NOT_FOUND = "index_not_found_exception"


@dataclass(frozen=True)
class RejectedDocument:
    """A document of a bulk request that was not stored; ``position`` is its place in it."""

    position: int
    id: str
    status: int
    error: str
    kind: str = ""  # Elasticsearch's error type, e.g. ``document_parsing_exception``


@dataclass(frozen=True)
class BulkOutcome:
    """Per-document result of one bulk request.

    ``rejected`` can never succeed as sent (mapping errors, 400s); ``transient`` may succeed on
    a retry (429, 5xx, or no answer for the document at all).
    """

    indexed: list[str] = field(default_factory=list)
    rejected: list[RejectedDocument] = field(default_factory=list)
    transient: list[RejectedDocument] = field(default_factory=list)

    @property
    def index_missing(self) -> bool:
        """The write alias was gone: the index set-up must run again before a retry."""
        return any(item.kind == INDEX_NOT_FOUND for item in self.transient)


def is_transient_status(status: int) -> bool:
    return status == 429 or status >= 500


def _error_kind(error: Any) -> str:
    return str(error.get("type", "")) if isinstance(error, Mapping) else ""


def _describe_item_error(error: Any) -> str:
    if isinstance(error, Mapping):
        kind = error.get("type", "error")
        reason = error.get("reason", "")
        caused = error.get("caused_by")
        text = f"{kind}: {reason}"
        if isinstance(caused, Mapping):
            text += f" (caused by {caused.get('type', '')}: {caused.get('reason', '')})"
        return text[:4000]
    return str(error)[:4000]


def classify_bulk_response(
    requested_ids: Sequence[str], response: Mapping[str, Any]
) -> BulkOutcome:
    """Sort a bulk response's items into indexed / rejected / transient, by document id.

    Items are matched by position first (that is the bulk API's contract) and by ``_id`` as a
    check; a requested document the response does not mention is transient: we cannot know
    that it was stored, so it must be sent again.
    """
    outcome = BulkOutcome()
    items: list[Any] = list(response.get("items") or [])
    for position, doc_id in enumerate(requested_ids):
        item = items[position] if position < len(items) else None
        result = _single_action_result(item)
        if result is None or str(result.get("_id", doc_id)) != doc_id:
            outcome.transient.append(
                RejectedDocument(position, doc_id, 0, "no result for document")
            )
            continue
        status = int(result.get("status", 0))
        if 200 <= status < 300 and "error" not in result:
            outcome.indexed.append(doc_id)
            continue
        raw_error = result.get("error", f"status {status}")
        kind = _error_kind(raw_error)
        failed = RejectedDocument(position, doc_id, status, _describe_item_error(raw_error), kind)
        if is_transient_status(status) or status == 0 or kind == INDEX_NOT_FOUND:
            outcome.transient.append(failed)
        else:
            outcome.rejected.append(failed)
    return outcome


def _single_action_result(item: Any) -> Mapping[str, Any] | None:
    # Each item is {"<action>": {...}}; we only send "index" actions, but read any one.
    if not isinstance(item, Mapping) or len(item) != 1:
        return None
    (result,) = item.values()
    return result if isinstance(result, Mapping) else None
