"""``enrich``: a RawArticle in, an EnrichedArticle out — pure, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas import EnrichedArticle, EntityType, RawArticle
from services.enrichment.core.cleaning import clean_text
from services.enrichment.core.dates import extract_published_date
from services.enrichment.core.knowledge_base import KnowledgeBase
from services.enrichment.core.tagger import TAGGER_VERSION, Tagger, check_text

__all__ = ["enrich"]


def enrich(article: RawArticle, tagger: Tagger, *, now: datetime) -> EnrichedArticle:
    """Clean the text, tag title and cleaned text, fill the publication date if missing.

    Mention spans refer to the cleaned text, which replaces the raw text in the result.
    Raises ``InvalidText`` (a PermanentError) for input that is not text.
    """
    check_text(article.text, "text")
    text = clean_text(article.text)
    result = tagger.tag(article.title, text)
    published_at = article.published_at
    if published_at is None:
        stated = extract_published_date(text, reference=article.fetched_at)
        if stated is not None:
            published_at = datetime(stated.year, stated.month, stated.day, tzinfo=UTC)
    fields = article.model_dump()
    tags = result.to_dict()  # entities, topics, normalized_title
    _add_labels(tags, tagger.knowledge_base)
    fields.update(
        text=text,
        published_at=published_at,
        **tags,
        knowledge_base_version=tagger.knowledge_base.version,
        tagger_version=TAGGER_VERSION,
        enriched_at=now,
    )
    return EnrichedArticle.model_validate(fields)


def _add_labels(tags: dict[str, Any], knowledge_base: KnowledgeBase) -> None:
    """The knowledge base's Arabic and English labels beside the topic and type ids, for
    what analysts read (alerts); ids without labels are left without."""
    for topic in tags["topics"]:
        definition = knowledge_base.topics.get(topic["id"])
        if definition is not None and definition.labels is not None:
            topic["labels"] = definition.labels.model_dump()
    for entity in tags["entities"]:
        labels = knowledge_base.type_labels.get(EntityType(entity["type"]))
        if labels is not None:
            entity["type_labels"] = labels.model_dump()
