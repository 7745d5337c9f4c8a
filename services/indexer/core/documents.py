"""Events become the documents the indexer writes: their ``_id``, their monthly index and their
source; raw Kafka values are validated one by one, so one bad record cannot fail its batch."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from schemas import Alert, EnrichedArticle
from services.common.discover import ARTICLE_TIME_FIELD
from services.indexer.core.mappings import IndexLayout


@dataclass(frozen=True)
class IndexedDocument:
    """One document to write: its ``_id``, the monthly index it belongs in, its source as
    JSON bytes (serialised once: the bytes are both measured and sent)."""

    id: str
    index: str
    source: bytes


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def article_document(article: EnrichedArticle) -> dict[str, Any]:
    """The document stored for ``article``: JSON-ready, ``html`` dropped, tags flattened, and
    ``time``, the article's time that is never empty (the data views' time field)."""
    doc: dict[str, Any] = article.model_dump(mode="json", exclude={"html", "entities", "topics"})
    doc[ARTICLE_TIME_FIELD] = doc["published_at"] or doc["fetched_at"]  # article_time, as JSON
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


def article_time(article: EnrichedArticle) -> datetime:
    """When the article happened, as dashboards and searches see it: when it was published,
    else when it was fetched (never empty)."""
    return article.published_at or article.fetched_at


def article_date(article: EnrichedArticle) -> datetime:
    """The date that places an article in its monthly index: its ``article_time``. Both are
    part of the article, so a replay lands in the same index. A re-tagged archived article
    stays where its document was (``retag.placed_at``), so it replaces that document even if
    enrichment now finds another publication date."""
    if article.retag is not None:
        return article.retag.placed_at
    return article_time(article)


def _json_bytes(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def indexed_article(article: EnrichedArticle, layout: IndexLayout) -> IndexedDocument:
    return IndexedDocument(
        article.id, layout.index_for(article_date(article)), _json_bytes(article_document(article))
    )


def alert_document(alert: Alert) -> dict[str, Any]:
    """The document stored for ``alert``: the event as published (its latest state)."""
    document: dict[str, Any] = alert.model_dump(mode="json")
    return document


def indexed_alert(alert: Alert, layout: IndexLayout) -> IndexedDocument:
    return IndexedDocument(
        alert.id, layout.index_for(alert.created_at), _json_bytes(alert_document(alert))
    )


# Validates one raw Kafka value and builds its document; raises ``ValidationError``.
DocumentBuilder = Callable[[bytes], IndexedDocument]


def article_builder(layout: IndexLayout) -> DocumentBuilder:
    return lambda value: indexed_article(EnrichedArticle.model_validate_json(value), layout)


def alert_builder(layout: IndexLayout) -> DocumentBuilder:
    return lambda value: indexed_alert(Alert.model_validate_json(value), layout)


# --- a batch of raw values -----------------------------------------------------------------


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
