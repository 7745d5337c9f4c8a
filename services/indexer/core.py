"""Pure indexer logic: events become Elasticsearch documents routed to monthly indices; the
index templates that map them; validation of raw Kafka values; bulk request sizing and the
classification of bulk results.

Index design
------------
- Two composable index templates, one per alias: ``raqib-articles`` (enriched articles) and
  ``raqib-alerts`` (alerts). Each matches ``<alias>-*`` and names the alias in its ``aliases``,
  so every monthly index (``raqib-articles-2026.11``) joins the read alias when it is created.
  Readers (Kibana, ``raqib search``) use the alias; the indexer writes to the monthly index.
- A document goes to the month of its own date, never of the time it was indexed: an article's
  ``published_at`` (else ``fetched_at``), an alert's ``created_at``. A replay next year, or an
  alert's later delivery update, therefore lands in the same index under the same ``_id`` and
  overwrites instead of duplicating. (Data streams cannot do that: they route by ingest time
  and only append, so an update by id would need the backing index found first.)
- ``dynamic: strict``: a field the template does not know is a rejected document (and a
  dead letter naming it), never a silently guessed mapping that a dashboard then trusts.
  The indexer creates a month's index itself, with the mappings in the request, so even a
  deleted template cannot produce an index with guessed mappings.
- ``title`` and ``text`` use the built-in ``arabic`` analyzer (normalisation, stop words,
  light stemming; custom analyzers built on ``arabic_normalization`` are not accepted by every
  Elasticsearch-compatible server we run); ``title.exact`` keeps the title verbatim for exact
  match and terms aggregations.
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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from schemas import Alert, EnrichedArticle

ArticleDocument = dict[str, Any]

KEYWORD: dict[str, Any] = {"type": "keyword"}
DATE: dict[str, Any] = {"type": "date"}
INTEGER: dict[str, Any] = {"type": "integer"}
ARABIC_TEXT_WITH_EXACT: dict[str, Any] = {
    "type": "text",
    "analyzer": "arabic",
    "fields": {"exact": {"type": "keyword", "ignore_above": 1024}},
}

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
        "title": ARABIC_TEXT_WITH_EXACT,
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

# The Alert event as published on ``alerts``, field for field (``entities`` and ``topics`` are
# already flat id lists there); ``deliveries`` is an object array for the same reason as above.
ALERT_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "schema_version": {"type": "short"},
        "id": KEYWORD,
        "rule": {
            "type": "object",
            "properties": {"id": KEYWORD, "name": KEYWORD, "kind": KEYWORD},
        },
        "kind": KEYWORD,
        "entities": KEYWORD,
        "topics": KEYWORD,
        "keywords": KEYWORD,
        "window": {
            "type": "object",
            "properties": {
                "start": DATE,
                "end": DATE,
                "count": INTEGER,
                "baseline_start": DATE,
                "baseline_end": DATE,
                "baseline_count": INTEGER,
                "article_ids": KEYWORD,
            },
        },
        "article": {
            "type": "object",
            "properties": {
                "id": KEYWORD,
                "title": ARABIC_TEXT_WITH_EXACT,
                "url": KEYWORD,
                "source": KEYWORD,
                "published_at": DATE,
                "snippet": {"type": "text", "analyzer": "arabic"},
            },
        },
        "created_at": DATE,
        "deliveries": {
            "type": "object",
            "properties": {
                "channel": KEYWORD,
                "kind": KEYWORD,
                "status": KEYWORD,
                "attempts": INTEGER,
                "last_error": {"type": "text", "analyzer": "standard"},
                "delivered_at": DATE,
                "digest_id": KEYWORD,
                "attempt_log": {
                    "type": "object",
                    "properties": {
                        "number": INTEGER,
                        "at": DATE,
                        "error": {"type": "text", "analyzer": "standard"},
                        "status_code": INTEGER,
                    },
                },
            },
        },
    },
}


# --- indices -------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexedDocument:
    """One document to write: its ``_id``, the monthly index it belongs in, its source as
    JSON bytes (serialised once: the bytes are both measured and sent)."""

    id: str
    index: str
    source: bytes


@dataclass(frozen=True)
class IndexLayout:
    """The monthly indices behind one read alias, and their mappings."""

    alias: str
    mappings: Mapping[str, Any]
    description: str

    @property
    def pattern(self) -> str:
        return f"{self.alias}-*"

    def template(self) -> dict[str, Any]:
        """Body of the composable index template for the indices behind the alias."""
        return {
            "index_patterns": [self.pattern],
            "priority": 200,
            "template": {"aliases": {self.alias: {}}, "mappings": self.mappings},
            "_meta": {"description": self.description, "managed_by": "raqib-indexer"},
        }

    def index_for(self, when: datetime) -> str:
        """The monthly index of a document dated ``when`` (its UTC month)."""
        return f"{self.alias}-{when.astimezone(UTC):%Y.%m}"

    def owns(self, index: str) -> bool:
        return index.startswith(f"{self.alias}-")


def article_layout(alias: str) -> IndexLayout:
    return IndexLayout(alias, ARTICLE_MAPPINGS, "Raqib enriched articles, one index a month")


def alert_layout(alias: str) -> IndexLayout:
    return IndexLayout(alias, ALERT_MAPPINGS, "Raqib alerts (latest state), one index a month")


# --- documents -----------------------------------------------------------------------------


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


def article_date(article: EnrichedArticle) -> datetime:
    """The date that places an article in its monthly index: when it was published, else
    when it was fetched. Both are part of the article, so a replay lands in the same index."""
    return article.published_at or article.fetched_at


def _encode(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def indexed_article(article: EnrichedArticle, layout: IndexLayout) -> IndexedDocument:
    return IndexedDocument(
        article.id, layout.index_for(article_date(article)), _encode(article_document(article))
    )


def alert_document(alert: Alert) -> dict[str, Any]:
    """The document stored for ``alert``: the event as published (its latest state)."""
    document: dict[str, Any] = alert.model_dump(mode="json")
    return document


def indexed_alert(alert: Alert, layout: IndexLayout) -> IndexedDocument:
    return IndexedDocument(
        alert.id, layout.index_for(alert.created_at), _encode(alert_document(alert))
    )


# Validates one raw Kafka value and builds its document; raises ``ValidationError``.
DocumentBuilder = Callable[[bytes], IndexedDocument]


def article_builder(layout: IndexLayout) -> DocumentBuilder:
    return lambda value: indexed_article(EnrichedArticle.model_validate_json(value), layout)


def alert_builder(layout: IndexLayout) -> DocumentBuilder:
    return lambda value: indexed_alert(Alert.model_validate_json(value), layout)


# --- parsing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvalidRecord:
    """A Kafka value that breaks the event contract; ``position`` is its index in the batch."""

    position: int
    error: str


@dataclass(frozen=True)
class ParsedBatch:
    documents: list[tuple[int, IndexedDocument]] = field(default_factory=list)
    invalid: list[InvalidRecord] = field(default_factory=list)


def parse_batch(values: Sequence[bytes | None], build: DocumentBuilder) -> ParsedBatch:
    """Validate each raw value on its own, so one bad record cannot fail its neighbours."""
    batch = ParsedBatch()
    for position, value in enumerate(values):
        if value is None:
            batch.invalid.append(InvalidRecord(position, "empty record value (tombstone)"))
            continue
        try:
            batch.documents.append((position, build(value)))
        except ValidationError as error:
            batch.invalid.append(InvalidRecord(position, _describe_validation_error(error)))
    return batch


def _describe_validation_error(error: ValidationError) -> str:
    # include_input=False: the offending value may be a whole article; the bytes are in the DLQ.
    details = error.errors(include_url=False, include_input=False)
    return f"{error.title}: {json.dumps(details, ensure_ascii=False, default=str)}"[:4000]


def event_model_fields(model: type[BaseModel]) -> set[str]:
    """Dotted paths of every leaf field of ``model``'s JSON Schema (``$ref``s followed)."""
    schema = model.model_json_schema()
    definitions: Mapping[str, Any] = schema.get("$defs", {})

    def resolve(node: Mapping[str, Any]) -> Mapping[str, Any]:
        while "$ref" in node:
            node = definitions[str(node["$ref"]).rsplit("/", 1)[-1]]
        return node

    def walk(node: Mapping[str, Any], prefix: str) -> set[str]:
        node = resolve(node)
        if node.get("type") == "array" and "items" in node:
            return walk(node["items"], prefix)
        for union in ("anyOf", "oneOf", "allOf"):
            if union in node:
                branches = [walk(b, prefix) for b in node[union] if b.get("type") != "null"]
                return set().union(*branches) if branches else {prefix}
        if "properties" in node:
            return set().union(
                *(walk(sub, f"{prefix}{name}.") for name, sub in node["properties"].items())
            )
        return {prefix.rstrip(".")}

    return walk(schema, "")


def mapped_fields(mappings: Mapping[str, Any]) -> set[str]:
    """Dotted paths of every field a mapping defines, objects and multi-fields included."""

    def walk(properties: Mapping[str, Any], prefix: str) -> set[str]:
        names: set[str] = set()
        for name, spec in properties.items():
            path = prefix + name
            names.add(path)
            names |= walk(spec.get("properties", {}), f"{path}.")
            names |= {f"{path}.{sub}" for sub in spec.get("fields", {})}
        return names

    return walk(mappings.get("properties", {}), "")


# --- bulk requests -------------------------------------------------------------------------


def chunk_documents(
    documents: Sequence[IndexedDocument], *, max_documents: int, max_bytes: int
) -> list[list[int]]:
    """Split ``documents`` into bulk requests of at most ``max_documents`` documents and about
    ``max_bytes`` of sources; returns positions. A single document larger than ``max_bytes``
    still goes, alone: Elasticsearch decides whether it is too large."""
    chunks: list[list[int]] = []
    current: list[int] = []
    size = 0
    for position, document in enumerate(documents):
        length = len(document.source)
        if current and (len(current) >= max_documents or size + length > max_bytes):
            chunks.append(current)
            current, size = [], 0
        current.append(position)
        size += length
    if current:
        chunks.append(current)
    return chunks


def backoff_delay(attempt: int, *, base_s: float, max_s: float) -> float:
    """Seconds to wait before retry ``attempt`` (1, 2, ...): exponential, capped."""
    return float(min(max_s, base_s * 2 ** max(0, attempt - 1)))


# A month's index deleted while the indexer knew it (on a cluster that does not create indices
# on write): the store creates it again, with its mappings, before the retry.
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
        """An index was gone: it must be created again before a retry."""
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
