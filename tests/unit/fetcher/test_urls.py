from __future__ import annotations

import pytest

from services.common.errors import PermanentError
from services.fetcher.core import InvalidUrl, canonical_url

CASES = [
    # lower-case scheme and host, path case kept
    ("HTTPS://News.Example.LY/Ar/Story", "https://news.example.ly/Ar/Story"),
    # default ports dropped, other ports kept
    ("https://example.ly:443/a", "https://example.ly/a"),
    ("http://example.ly:80/a", "http://example.ly/a"),
    ("http://example.ly:8080/a", "http://example.ly:8080/a"),
    ("https://example.ly:80/a", "https://example.ly:80/a"),
    # fragment dropped
    ("https://example.ly/a#comments", "https://example.ly/a"),
    # tracking parameters dropped, the rest sorted
    (
        "https://example.ly/a?utm_source=rss&utm_medium=feed&utm_campaign=x&id=7",
        "https://example.ly/a?id=7",
    ),
    ("https://example.ly/a?fbclid=abc&gclid=def&msclkid=1&mc_cid=2", "https://example.ly/a"),
    ("https://example.ly/a?UTM_Source=x&p=1", "https://example.ly/a?p=1"),
    ("https://example.ly/a?z=1&a=2&m=3", "https://example.ly/a?a=2&m=3&z=1"),
    ("https://example.ly/a?b=2&a=1&a=0", "https://example.ly/a?a=0&a=1&b=2"),
    ("https://example.ly/a?flag=&x=1", "https://example.ly/a?flag=&x=1"),
    # trailing slash: dropped from a path, the root is "/"
    ("https://example.ly/news/1/", "https://example.ly/news/1"),
    ("https://example.ly", "https://example.ly/"),
    ("https://example.ly/", "https://example.ly/"),
    # AMP variants
    ("https://example.ly/news/1/amp", "https://example.ly/news/1"),
    ("https://example.ly/news/1/amp/", "https://example.ly/news/1"),
    ("https://example.ly/amp/news/1", "https://example.ly/news/1"),
    ("https://example.ly/news/1?amp=1", "https://example.ly/news/1"),
    ("https://example.ly/news/1?amp", "https://example.ly/news/1"),
    ("https://example.ly/news/1?outputType=amp&page=2", "https://example.ly/news/1?page=2"),
    ("https://amp.example.ly/news/1", "https://example.ly/news/1"),
    ("https://example.ly/news/1.amp", "https://example.ly/news/1"),
    # Arabic paths and queries: raw and percent-encoded forms meet
    (
        "https://example.ly/أخبار?q=طرابلس",
        "https://example.ly/%D8%A3%D8%AE%D8%A8%D8%A7%D8%B1?q=%D8%B7%D8%B1%D8%A7%D8%A8%D9%84%D8%B3",
    ),
    ("https://example.ly/%d8%a3", "https://example.ly/%D8%A3"),
    ("https://example.ly/%7Euser/a%2Db%2fc", "https://example.ly/~user/a-b%2Fc"),
    # internationalised host names become their ASCII form
    ("https://مثال.ليبيا/x", "https://xn--mgbh0fb.xn--mgbb7fyab/x"),
    # credentials never become part of an identity
    ("https://user:secret@example.ly/a", "https://example.ly/a"),
    ("  https://example.ly/a  ", "https://example.ly/a"),
]


@pytest.mark.parametrize(("url", "expected"), CASES)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


@pytest.mark.parametrize(("url", "expected"), CASES)
def test_canonical_url_is_idempotent(url: str, expected: str) -> None:
    once = canonical_url(url)
    assert canonical_url(once) == once


def test_variants_of_one_article_share_one_canonical_url() -> None:
    variants = [
        "https://news.example.ly/ar/story/42",
        "HTTPS://NEWS.EXAMPLE.LY:443/ar/story/42/",
        "https://news.example.ly/ar/story/42?utm_source=twitter#top",
        "https://amp.news.example.ly/ar/story/42/amp?amp=1",
        "https://news.example.ly/amp/ar/story/42?fbclid=IwAR0",
    ]
    assert len({canonical_url(v) for v in variants}) == 1


def test_meaningful_parameters_keep_articles_apart() -> None:
    assert canonical_url("https://example.ly/article?id=1") != canonical_url(
        "https://example.ly/article?id=2"
    )


def test_a_host_that_only_starts_with_amp_is_kept() -> None:
    assert canonical_url("https://amp.ly/news") == "https://amp.ly/news"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "not a url",
        "/news/relative",
        "ftp://example.ly/file",
        "javascript:alert(1)",
        "mailto:editor@example.ly",
        "https:///no-host",
        "http://example.ly:99999/",
    ],
)
def test_invalid_urls_are_rejected(bad: str) -> None:
    with pytest.raises(InvalidUrl) as caught:
        canonical_url(bad)
    assert isinstance(caught.value, PermanentError)
