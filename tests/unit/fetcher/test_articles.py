from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from schemas import RawArticle
from services.fetcher.core import (
    FeedConfig,
    FeedEntry,
    InvalidEntry,
    SeenArticles,
    entry_to_article,
    feed_articles,
    parse_feed,
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


def test_seen_articles_dedups_by_id_and_by_content_hash() -> None:
    first = entry_to_article(_entry(), FEED, fetched_at=FETCHED_AT)
    same_url = entry_to_article(_entry(text="نص آخر"), FEED, fetched_at=FETCHED_AT)
    same_text = entry_to_article(
        _entry(link="https://mirror.example.com/42"), FEED, fetched_at=FETCHED_AT
    )
    unrelated = entry_to_article(
        _entry(link="https://news.example.ly/43", text="خبر مختلف"), FEED, fetched_at=FETCHED_AT
    )
    seen = SeenArticles()
    # duplicates inside one batch count once, and nothing is remembered yet
    assert seen.new_articles([first, same_url, same_text, unrelated]) == [first, unrelated]
    assert seen.is_new(first)
    seen.remember(first)
    assert not seen.is_new(same_url)
    assert not seen.is_new(same_text)
    assert seen.is_new(unrelated)


def test_seen_articles_forgets_the_oldest_beyond_capacity() -> None:
    articles = [
        entry_to_article(
            _entry(link=f"https://news.example.ly/{n}", text=f"نص {n}"), FEED, fetched_at=FETCHED_AT
        )
        for n in range(3)
    ]
    seen = SeenArticles(capacity=4)  # two keys per article
    for article in articles:
        seen.remember(article)
    assert len(seen) == 4
    assert seen.is_new(articles[0])
    assert not seen.is_new(articles[2])
    with pytest.raises(ValueError):
        SeenArticles(capacity=0)
