"""Polling logic with an in-process HTTP transport: no network, no broker."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from schemas import RawArticle, article_id
from services.common.errors import ConfigError
from services.fetcher.app import build_app
from services.fetcher.core import FeedConfig, canonical_url
from services.fetcher.http import FeedClient
from services.fetcher.poller import Poller, Publish, load_feeds_file, poll_once
from services.fetcher.settings import FetcherSettings
from tests.unit.fetcher.samples import ATOM_FEED, RSS_ITEMS, rss_feed

SETTINGS = FetcherSettings()
RSS_URL = "https://news.example.ly/rss.xml"
ATOM_URL = "https://agency.example.org/feeds/ar.atom"


def _feed(name: str, url: str, enabled: bool = True) -> FeedConfig:
    return FeedConfig.model_validate(
        {"name": name, "url": url, "poll_interval_s": 60, "enabled": enabled}
    )


class Site:
    """Answers like a news site: feeds by URL, 304 when the ETag matches."""

    def __init__(self, bodies: dict[str, bytes], status: dict[str, int] | None = None) -> None:
        self.bodies = bodies
        self.status = status or {}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        url = str(request.url)
        if url in self.status:
            return httpx.Response(self.status[url], text="error page")
        body = self.bodies[url]
        etag = f'"{len(body)}"'
        if request.headers.get("If-None-Match") == etag:
            return httpx.Response(304)
        return httpx.Response(200, content=body, headers={"ETag": etag})

    def client(self) -> FeedClient:
        return FeedClient(SETTINGS, transport=httpx.MockTransport(self))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _collector(fail_first: int = 0) -> tuple[list[RawArticle], Publish]:
    published: list[RawArticle] = []
    failures = [fail_first]

    async def publish(article: RawArticle) -> None:
        if failures[0]:
            failures[0] -= 1
            raise ConnectionError("broker unavailable")
        published.append(article)

    return published, publish


def _metric(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


async def test_publishes_new_articles_then_nothing_when_not_modified() -> None:
    site = Site({RSS_URL: rss_feed(), ATOM_URL: ATOM_FEED})
    published, publish = _collector()
    clock = Clock()
    feeds = [
        _feed("rss", RSS_URL),
        _feed("atom", ATOM_URL),
        _feed("off", "https://off.example/", enabled=False),
    ]
    async with site.client() as client:
        poller = Poller(feeds, client, publish, SETTINGS, clock=clock)
        not_modified_before = _metric("raqib_fetcher_feeds_not_modified_total")
        assert await poller.poll_due() == 4
        assert await poller.poll_due() == 0  # nothing due yet: no request either
        assert len(site.requests) == 2
        clock.now += 60
        assert await poller.poll_due() == 0
    expected_rss = {article_id(canonical_url(item["link"])) for item in RSS_ITEMS}
    assert expected_rss <= {a.id for a in published}
    assert len(published) == 4
    assert [r.headers.get("If-None-Match") for r in site.requests[2:]] == [
        f'"{len(rss_feed())}"',
        f'"{len(ATOM_FEED)}"',
    ]
    assert _metric("raqib_fetcher_feeds_not_modified_total") == not_modified_before + 2


async def test_changed_feed_publishes_only_the_new_entries() -> None:
    site = Site({RSS_URL: rss_feed(RSS_ITEMS[:1])})
    published, publish = _collector()
    clock = Clock()
    async with site.client() as client:
        poller = Poller([_feed("rss", RSS_URL)], client, publish, SETTINGS, clock=clock)
        assert await poller.poll_due() == 1
        site.bodies[RSS_URL] = rss_feed(RSS_ITEMS)
        clock.now += 60
        assert await poller.poll_due() == 1
    assert [a.title for a in published] == [item["title"] for item in RSS_ITEMS]


async def test_failed_publish_keeps_the_feed_unvalidated_so_the_next_poll_retries() -> None:
    site = Site({RSS_URL: rss_feed()})
    published, publish = _collector(fail_first=1)
    clock = Clock()
    failed_before = _metric("raqib_fetcher_feeds_failed_total", {"reason": "publish"})
    async with site.client() as client:
        poller = Poller([_feed("rss", RSS_URL)], client, publish, SETTINGS, clock=clock)
        assert await poller.poll_due() == 0
        clock.now += 60
        assert await poller.poll_due() == 2
    assert "If-None-Match" not in site.requests[1].headers
    assert len(published) == 2
    assert _metric("raqib_fetcher_feeds_failed_total", {"reason": "publish"}) == failed_before + 1


async def test_one_story_in_two_feeds_is_published_once() -> None:
    mirror = [dict(RSS_ITEMS[0], link="https://mirror.example.com/clashes")]
    mirror_url = "https://mirror.example.com/rss"
    site = Site({RSS_URL: rss_feed(), mirror_url: rss_feed(mirror)})
    published, publish = _collector()
    async with site.client() as client:
        poller = Poller(
            [_feed("rss", RSS_URL), _feed("mirror", mirror_url)],
            client,
            publish,
            SETTINGS,
            clock=Clock(),
        )
        assert await poller.poll_due() == 2
    assert len({a.content_hash for a in published}) == 2


async def test_failing_feeds_are_counted_and_do_not_stop_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken, html = "https://broken.example/rss", "https://html.example/rss"
    site = Site(
        {RSS_URL: rss_feed(), html: b"<html><body>maintenance</body></html>"},
        status={broken: 500},
    )
    before = {
        reason: _metric("raqib_fetcher_feeds_failed_total", {"reason": reason})
        for reason in ("http_status", "not_a_feed")
    }
    published, publish = _collector()
    caplog.set_level("WARNING", logger="raqib.fetcher")
    feeds = [_feed("broken", broken), _feed("html", html), _feed("rss", RSS_URL)]
    async with site.client() as client:
        poller = Poller(feeds, client, publish, SETTINGS, clock=Clock())
        assert await poller.poll_due() == 2
    assert [a.feed for a in published] == ["rss", "rss"]
    for reason in before:
        assert _metric("raqib_fetcher_feeds_failed_total", {"reason": reason}) == before[reason] + 1
    failures = {
        (r.feed, r.url, r.reason)  # type: ignore[attr-defined]
        for r in caplog.records
        if r.getMessage() == "feed failed"
    }
    assert failures == {("broken", broken, "http_status"), ("html", html, "not_a_feed")}


async def test_poll_once_returns_each_story_once_from_enabled_feeds() -> None:
    site = Site({RSS_URL: rss_feed(), ATOM_URL: ATOM_FEED})
    feeds = [_feed("rss", RSS_URL), _feed("again", RSS_URL + "?v=2"), _feed("atom", ATOM_URL)]
    site.bodies[RSS_URL + "?v=2"] = rss_feed()
    feeds.append(_feed("off", "https://off.example/rss", enabled=False))
    async with site.client() as client:
        articles = await poll_once(feeds, client, SETTINGS)
    assert len(articles) == 4
    assert len({a.id for a in articles}) == 4
    assert "https://off.example/rss" not in {str(r.url) for r in site.requests}


def test_build_app_reports_a_bad_feeds_file(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds: [{name: x, url: nowhere}]", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"feeds\.yaml: feeds\[0\]\.url"):
        build_app(FetcherSettings(feeds_file=path))
    with pytest.raises(ConfigError, match="cannot read the feeds file"):
        load_feeds_file(tmp_path / "missing.yaml")


async def test_an_unexpected_error_on_one_feed_is_contained(
    caplog: pytest.LogCaptureFixture,
) -> None:
    site = Site({RSS_URL: rss_feed()})  # the handler raises KeyError for any other URL
    published, publish = _collector()
    unexpected_before = _metric("raqib_fetcher_feeds_failed_total", {"reason": "unexpected"})
    feeds = [_feed("crashing", "https://crash.example/rss"), _feed("rss", RSS_URL)]
    async with site.client() as client:
        poller = Poller(feeds, client, publish, SETTINGS, clock=Clock())
        assert await poller.poll_due() == 2
        assert poller.schedule.due(Clock().now) == []  # both wait for their next interval
    assert {a.feed for a in published} == {"rss"}
    after = _metric("raqib_fetcher_feeds_failed_total", {"reason": "unexpected"})
    assert after == unexpected_before + 1
    assert any(r.getMessage() == "feed poll crashed" for r in caplog.records)
