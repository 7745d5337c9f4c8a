from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas import RawArticle, article_id, content_hash
from services.enrichment.core import TAGGER_VERSION, InvalidText, Tagger, enrich

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
TEXT = (
    "1. تخطي إلى المحتوى\n"
    "الجمعة 19 ديسمبر 2025\n"
    "التقى قائد جهاز الردع عبد الرؤوف كارة بوفد تركي في طرابلس.\n"
    "زر الذهاب إلى الأعلى"
)


def _article(text: str = TEXT, published_at: datetime | None = None) -> RawArticle:
    return RawArticle(
        id=article_id("https://news.example/1"),
        url="https://news.example/1",
        source="Example",
        title="لقاء في طرابلس مع الرَّدْع",
        text=text,
        published_at=published_at,
        fetched_at=NOW,
        content_hash=content_hash(text),
    )


def test_enrich_cleans_tags_and_dates(tagger: Tagger) -> None:
    result = enrich(_article(), tagger, now=NOW)
    assert result.text == (
        "الجمعة 19 ديسمبر 2025\nالتقى قائد جهاز الردع عبد الرؤوف كارة بوفد تركي في طرابلس."
    )
    assert result.published_at == datetime(2025, 12, 19, tzinfo=UTC)
    assert result.enriched_at == NOW
    assert result.tagger_version == TAGGER_VERSION
    assert result.knowledge_base_version == tagger.knowledge_base.version
    assert result.normalized_title == "لقاء في طرابلس مع الردع"
    ids = [e.id for e in result.entities]
    assert ids[0] == "tripoli"  # the title comes first
    assert {"special-deterrence-force", "abdul-raouf-kara"} <= set(ids)
    for entity in result.entities:
        for mention in entity.mentions:
            source = result.title if mention.field == "title" else result.text
            assert source[mention.start : mention.end] == mention.text
    deterrence = next(e for e in result.entities if e.id == "special-deterrence-force")
    assert [m.field for m in deterrence.mentions] == ["title", "text"]
    assert deterrence.mentions[0].text == "الرَّدْع"


def test_enrich_keeps_a_known_publication_date(tagger: Tagger) -> None:
    known = datetime(2025, 1, 1, 8, 30, tzinfo=UTC)
    assert enrich(_article(published_at=known), tagger, now=NOW).published_at == known


def test_enrich_takes_a_missing_year_from_when_the_article_was_fetched(tagger: Tagger) -> None:
    # Fetched on 2 November 2026: "Sunday 12 October" is last month's.
    text = "الأحد 12 أكتوبر\nالتقى قائد جهاز الردع بوفد تركي في طرابلس."
    assert enrich(_article(text=text), tagger, now=NOW).published_at == datetime(
        2026, 10, 12, tzinfo=UTC
    )


def test_enrich_keeps_the_raw_fields(tagger: Tagger) -> None:
    raw = _article()
    result = enrich(raw, tagger, now=NOW)
    assert (result.id, result.url, result.source, result.content_hash) == (
        raw.id,
        raw.url,
        raw.source,
        raw.content_hash,
    )


def test_enrich_empty_text(tagger: Tagger) -> None:
    result = enrich(_article(text=""), tagger, now=NOW)
    assert result.text == ""
    assert result.published_at is None


def test_enrich_rejects_binary_text(tagger: Tagger) -> None:
    with pytest.raises(InvalidText, match="NUL"):
        enrich(_article(text="abc\x00\x01\x02"), tagger, now=NOW)
