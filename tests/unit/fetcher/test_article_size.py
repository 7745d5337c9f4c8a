"""The fetcher publishes no article larger than ``RAQIB_FETCHER_MAX_ARTICLE_BYTES``: a longer
one loses its HTML, then the end of its text, and says so (``truncated``)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import ValidationError

from schemas import EnrichedArticle, RawArticle, article_id, content_hash
from services.common.settings import KafkaSettings
from services.common.statefile import MEMORY
from services.fetcher.core import FeedConfig, fit_article
from services.fetcher.http import HttpClient
from services.fetcher.poller import Poller
from services.fetcher.settings import FetcherSettings
from services.fetcher.store import FetcherStore
from tests.unit.fetcher.samples import RSS_ITEMS, rss_feed

KIB = 1024
SENTENCE = "التقى فتحي باشاغا وفداً تركياً في طرابلس لبحث الأوضاع الأمنية. "


def _article(text: str, *, title: str = "عنوان الخبر", html: str | None = None) -> RawArticle:
    return RawArticle(
        id=article_id("https://news.example.ly/long"),
        url="https://news.example.ly/long",
        source="Example",
        title=title,
        text=text,
        html=html,
        fetched_at=datetime(2026, 11, 1, tzinfo=UTC),
        content_hash=content_hash(text),
    )


def _size(article: RawArticle) -> int:
    return len(article.model_dump_json().encode())


def test_an_article_that_fits_is_published_as_it_is() -> None:
    article = _article(SENTENCE * 10, html="<p>" + SENTENCE * 10 + "</p>")
    assert fit_article(article, 64 * KIB) is article
    assert "truncated" not in article.model_dump_json()  # old consumers still read it


def test_a_long_article_loses_its_html_first() -> None:
    article = _article(SENTENCE * 300, html="<p>" + SENTENCE * 600 + "</p>")
    fitted = fit_article(article, 64 * KIB)
    assert fitted.html is None and fitted.truncated
    assert fitted.text == article.text and fitted.content_hash == article.content_hash


@pytest.mark.parametrize("limit", [16 * KIB, 256 * KIB])
def test_a_longer_one_is_cut_between_words_to_the_limit(limit: int) -> None:
    article = _article(SENTENCE * 20_000, html="<p>" + SENTENCE + "</p>")  # ~2.4 MB
    fitted = fit_article(article, limit)
    assert limit - 200 <= _size(fitted) <= limit
    assert fitted.truncated and fitted.html is None
    assert article.text.startswith(fitted.text)
    assert article.text[len(fitted.text)].isspace()  # cut between two words
    assert fitted.content_hash == content_hash(fitted.text)  # the hash of the text published
    assert (fitted.id, fitted.url, fitted.title) == (article.id, article.url, article.title)
    assert RawArticle.model_validate_json(fitted.model_dump_json()) == fitted


def test_escapes_count_as_the_json_bytes_they_are() -> None:
    text = 'a"\\\n\x01' * 100_000  # each character takes two or six bytes in JSON
    fitted = fit_article(_article(text), 32 * KIB)
    assert 31 * KIB <= _size(fitted) <= 32 * KIB
    assert text.startswith(fitted.text)


def test_a_huge_title_is_cut_too() -> None:
    fitted = fit_article(_article(SENTENCE * 1000, title="عنوان " * 20_000), 32 * KIB)
    assert _size(fitted) <= 32 * KIB
    assert fitted.title and fitted.text and fitted.truncated


def test_the_flag_travels_to_the_enriched_article_and_old_records_stay_valid() -> None:
    old = _article("نص").model_dump(mode="json")
    assert "truncated" not in old
    assert RawArticle.model_validate(old).truncated is False
    assert "truncated" in EnrichedArticle.model_fields


def test_the_article_limit_cannot_exceed_the_record_limit() -> None:
    assert FetcherSettings().max_article_bytes == 256 * KIB
    with pytest.raises(ValidationError, match="RAQIB_KAFKA_MAX_RECORD_BYTES"):
        FetcherSettings(max_article_bytes=2048 * KIB, kafka=KafkaSettings())
    FetcherSettings(max_article_bytes=2048 * KIB, kafka=KafkaSettings(max_record_bytes=4096 * KIB))


async def test_the_poller_publishes_the_long_article_cut_and_flagged() -> None:
    feed_url = "https://93.184.216.34/rss.xml"
    long_item = dict(RSS_ITEMS[0], description=SENTENCE * 5000)  # ~600 KB of text
    body = rss_feed([long_item, RSS_ITEMS[1]])
    settings = FetcherSettings(
        host_delay_s=0, interval_jitter=0, min_text_chars=0, max_article_bytes=64 * KIB
    )

    def site(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body)

    published: list[RawArticle] = []

    async def publish(article: RawArticle) -> None:
        published.append(article)

    feed = FeedConfig.model_validate({"name": "rss", "url": feed_url, "poll_interval_s": 60})
    client = HttpClient(settings, transport=httpx.MockTransport(site))
    store = FetcherStore(MEMORY).open()
    poller = Poller([feed], client, store, publish, settings, rng=random.Random(1))
    try:
        assert (await poller.poll(feed)).status == "fetched"
    finally:
        await client.aclose()
        store.close()
    long, short = sorted(published, key=lambda a: -len(a.text))
    assert long.truncated and _size(long) <= 64 * KIB and long.html is None
    assert not short.truncated and short.html is not None
