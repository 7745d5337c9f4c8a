"""``enrich``: a RawArticle in, an EnrichedArticle out — pure, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas import EnrichedArticle, Labels, RawArticle
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
    topic_labels, type_labels = _labels_of(knowledge_base)
    for topic in tags["topics"]:
        labels = topic_labels.get(topic["id"])
        if labels is not None:
            topic["labels"] = labels
    for entity in tags["entities"]:
        labels = type_labels.get(entity["type"])
        if labels is not None:
            entity["type_labels"] = labels


# The labels of the knowledge base last used, by topic id and by type value, built once per
# knowledge base (one entry: a service tags with one at a time). The (frozen) Labels models
# themselves go into the article, which validation takes as they are: no dict to dump and
# validate again for every entity of every article.
_Labelling = tuple[KnowledgeBase, dict[str, Labels], dict[str, Labels]]
_last_labels: list[_Labelling] = []


def _labels_of(knowledge_base: KnowledgeBase) -> tuple[dict[str, Labels], dict[str, Labels]]:
    entry = _last_labels[0] if _last_labels else None  # read once: another thread may replace it
    if entry is None or entry[0] is not knowledge_base:
        entry = (
            knowledge_base,
            {
                topic_id: topic.labels
                for topic_id, topic in knowledge_base.topics.items()
                if topic.labels is not None
            },
            {
                entity_type.value: labels
                for entity_type, labels in knowledge_base.type_labels.items()
            },
        )
        _last_labels[:] = [entry]
    return entry[1], entry[2]
