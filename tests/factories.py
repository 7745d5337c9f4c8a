"""Events built by hand for tests, with every required field filled in plausibly."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from schemas import EnrichedArticle, Entity, Topic, article_id, content_hash

PUBLISHED = datetime(2025, 12, 19, 8, 30, tzinfo=UTC)


def enriched_article(
    title: str,
    text: str,
    *,
    entities: Sequence[Entity] = (),
    topics: Sequence[Topic] = (),
    **fields: Any,
) -> EnrichedArticle:
    """An EnrichedArticle; ``fields`` override any default (url, source, language, ...)."""
    url = fields.pop("url", f"https://news.example/{article_id(title + chr(10) + text)}")
    values: dict[str, Any] = {
        "id": article_id(url),
        "url": url,
        "source": "Test Agency",
        "title": title,
        "text": text,
        "language": "ar",
        "published_at": PUBLISHED,
        "fetched_at": PUBLISHED.replace(minute=45),
        "content_hash": content_hash(text),
        "entities": list(entities),
        "topics": list(topics),
        "normalized_title": title,
        "knowledge_base_version": "kb-test",
        "tagger_version": "tagger-test",
        "enriched_at": PUBLISHED.replace(minute=46),
    }
    values.update(fields)
    return EnrichedArticle(**values)
