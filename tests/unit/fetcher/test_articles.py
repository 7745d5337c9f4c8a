from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from schemas import RawArticle
from services.fetcher.core import (
    FeedConfig,
    FeedEntry,
    InvalidEntry,
    entry_to_article,
    feed_articles,
    needs_page,
    parse_feed,
    with_page_text,
)
from tests.unit.fetcher.samples import ATOM_FEED, rss_feed

FETCHED_AT = datetime(2025, 3, 6, 12, 0, tzinfo=UTC)
FEED = FeedConfig.model_validate(
    {"name": "example-news", "url": "https://news.example.ly/rss.xml", "source": "Example News"}
)


def _entry(**changes: object) -> FeedEntry:
    fields: dict[str, object] = {
        "link": "https://news.example.ly/ar/story/42/?utm_source=rss",
        "guid": "42",
        "title": "عنوان الخبر",
        "text": "نص الخبر كاملاً.",
        "html": "<p>نص الخبر كاملاً.</p>",
        "published_at": datetime(2025, 3, 6, 9, 0, tzinfo=UTC),
    }
    fields.update(changes)
    return FeedEntry(**fields)  # type: ignore[arg-type]


def test_article_fields() -> None:
    article = entry_to_article(_entry(), FEED, fetched_at=FETCHED_AT)
    canonical = "https://news.example.ly/ar/story/42"
    assert str(article.url) == canonical
    assert article.id == hashlib.sha256(canonical.encode()).hexdigest()[:16]
    assert article.content_hash == hashlib.sha256("نص الخبر كاملاً.".encode()).hexdigest()
    assert article.source == "Example News"
    assert article.feed == "example-news"
    assert article.language == "ar"
    assert article.title == "عنوان الخبر"
    assert article.html == "<p>نص الخبر كاملاً.</p>"
    assert article.fetched_at == FETCHED_AT
    # it is a valid event: it survives the JSON round trip consumers do
    assert RawArticle.model_validate_json(article.model_dump_json()) == article


def test_id_is_stable_across_url_variants_and_fetches() -> None:
    one = entry_to_article(_entry(), FEED, fetched_at=FETCHED_AT)
    other = entry_to_article(
        _entry(link="https://amp.news.example.ly/ar/story/42/amp#top", title="عنوان معدّل"),
        FEED,
        fetched_at=datetime(2025, 3, 7, tzinfo=UTC),
    )
    assert one.id == other.id


def test_different_urls_give_different_ids_same_text_same_hash() -> None:
    one = entry_to_article(_entry(), FEED, fetched_at=FETCHED_AT)
    syndicated = entry_to_article(
        _entry(link="https://mirror.example.com/story/42"), FEED, fetched_at=FETCHED_AT
    )
    assert one.id != syndicated.id
    assert one.content_hash == syndicated.content_hash


def test_entry_without_link_gets_the_replay_identity() -> None:
    article = entry_to_article(_entry(link=None), FEED, fetched_at=FETCHED_AT)
    assert article.url is None
    identity = "Example News\nنص الخبر كاملاً."
    assert article.id == hashlib.sha256(identity.encode()).hexdigest()[:16]


def test_entry_with_unusable_link_falls_back_to_the_replay_identity() -> None:
    article = entry_to_article(_entry(link="javascript:void(0)"), FEED, fetched_at=FETCHED_AT)
    assert article.url is None
    assert article.id == entry_to_article(_entry(link=None), FEED, fetched_at=FETCHED_AT).id


def test_title_only_entry_uses_the_title_as_text() -> None:
    article = entry_to_article(_entry(text="", html=None), FEED, fetched_at=FETCHED_AT)
    assert article.text == "عنوان الخبر"
    assert article.content_hash == hashlib.sha256("عنوان الخبر".encode()).hexdigest()


def test_entry_without_title_or_text_is_rejected() -> None:
    with pytest.raises(InvalidEntry):
        entry_to_article(_entry(title="", text="", html=None), FEED, fetched_at=FETCHED_AT)


def test_feed_articles_keeps_good_entries_and_reports_bad_ones() -> None:
    parsed = parse_feed(
        rss_feed(
            [
                {"title": "", "link": "https://x.example/1", "description": "", "pub_date": "",
                 "guid": "empty"},
                {"title": "خبر", "link": "https://x.example/2", "description": "نص",
                 "pub_date": "", "guid": "ok"},
            ]
        )
    )  # fmt: skip
    articles, rejected = feed_articles(parsed, FEED, fetched_at=FETCHED_AT)
    assert [str(a.url) for a in articles] == ["https://x.example/2"]
    assert [r.entry.guid for r in rejected] == ["empty"]
    assert articles[0].published_at is None  # an empty pubDate is no date


def test_atom_feed_to_articles() -> None:
    parsed = parse_feed(ATOM_FEED, url="https://agency.example.org/feeds/ar.atom")
    articles, rejected = feed_articles(parsed, FEED, fetched_at=FETCHED_AT)
    assert rejected == []
    assert [str(a.url) for a in articles] == [
        "https://agency.example.org/ar/news/saddam-cairo",
        "https://agency.example.org/ar/news/icc-statement",
    ]
    assert len({a.id for a in articles}) == 2


def test_thin_articles_need_their_page_and_take_its_text() -> None:
    thin = entry_to_article(_entry(text="سطر واحد."), FEED, fetched_at=FETCHED_AT)
    assert needs_page(thin, min_text_chars=100)
    assert not needs_page(thin, min_text_chars=5)
    assert not needs_page(entry_to_article(_entry(link=None), FEED, fetched_at=FETCHED_AT), 100)
    full = with_page_text(thin, "النص الكامل للخبر من الصفحة.")
    assert (full.id, full.url) == (thin.id, thin.url)  # identity follows the entry's link
    assert full.content_hash == hashlib.sha256("النص الكامل للخبر من الصفحة.".encode()).hexdigest()
