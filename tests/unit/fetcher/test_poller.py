"""Polling logic with an in-process HTTP transport and an in-memory state: no network."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from schemas import RawArticle, article_id
from services.common.errors import ConfigError
from services.common.statefile import MEMORY
from services.fetcher.app import build_app
from services.fetcher.core import FeedConfig, canonical_url
from services.fetcher.http import HttpClient
from services.fetcher.poller import (
    Poller,
    Publish,
    WatchedFeedsFile,
    load_feeds_file,
    poll_once,
)
from services.fetcher.settings import FetcherSettings
from services.fetcher.store import FetcherStore
from tests.unit.fetcher.samples import ATOM_FEED, RSS_ITEMS, rss_feed
from tests.waiting import until

# Public addresses in the URLs: the request-forgery guard resolves nothing for IP literals.
SETTINGS = FetcherSettings(host_delay_s=0, interval_jitter=0, min_text_chars=0)
RSS_URL = "https://93.184.216.34/rss.xml"
ATOM_URL = "https://93.184.216.35/feeds/ar.atom"


def _feed(name: str, url: str, enabled: bool = True) -> FeedConfig:
    return FeedConfig.model_validate(
        {"name": name, "url": url, "poll_interval_s": 60, "enabled": enabled}
    )


class Site:
    """Answers like a news site: documents by URL, 304 when the ETag matches."""

    def __init__(
        self,
        bodies: dict[str, bytes],
        status: dict[str, int] | None = None,
        headers: dict[str, dict[str, str]] | None = None,
    ) -> None:
        self.bodies = bodies
        self.status = status or {}
        self.headers = headers or {}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        url = str(request.url)
        extra = self.headers.get(url, {})
        if url in self.status:
            return httpx.Response(self.status[url], text="error page", headers=extra)
        body = self.bodies[url]
        etag = f'"{len(body)}"'
        if request.headers.get("If-None-Match") == etag:
            return httpx.Response(304)
        return httpx.Response(200, content=body, headers={"ETag": etag, **extra})

    def requested(self, url: str) -> list[httpx.Request]:
        return [r for r in self.requests if str(r.url) == url]


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

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


class Harness:
    def __init__(
        self, site: Site, feeds: list[FeedConfig], settings: FetcherSettings = SETTINGS
    ) -> None:
        self.site = site
        self.clock = Clock()
        self.store = FetcherStore(MEMORY).open()
        self.published, publish = _collector()
        self.client = HttpClient(settings, transport=httpx.MockTransport(site))
        self.poller = Poller(
            feeds,
            self.client,
            self.store,
            publish,
            settings,
            clock=self.clock,
            rng=random.Random(1),
        )

    async def poll_all(self) -> list[str]:
        return [(await self.poller.poll(feed)).status for feed in self.poller.feeds]

    async def close(self) -> None:
        await self.client.aclose()
        self.store.close()


async def test_publishes_new_articles_then_nothing_when_not_modified() -> None:
    site = Site({RSS_URL: rss_feed(), ATOM_URL: ATOM_FEED})
    feeds = [_feed("rss", RSS_URL), _feed("atom", ATOM_URL)]
    harness = Harness(site, [*feeds, _feed("off", "https://1.1.1.1/", enabled=False)])
    not_modified_before = _metric("raqib_fetcher_feeds_not_modified_total")
    assert await harness.poll_all() == ["fetched", "fetched"]
    assert await harness.poll_all() == ["not_modified", "not_modified"]
    await harness.close()
    expected_rss = {article_id(canonical_url(item["link"])) for item in RSS_ITEMS}
    assert expected_rss <= {a.id for a in harness.published}
    assert len(harness.published) == 4
    assert [r.headers.get("If-None-Match") for r in site.requests[2:]] == [
        f'"{len(rss_feed())}"',
        f'"{len(ATOM_FEED)}"',
    ]
    assert _metric("raqib_fetcher_feeds_not_modified_total") == not_modified_before + 2
    assert "https://1.1.1.1/" not in {str(r.url) for r in site.requests}


async def test_changed_feed_publishes_only_the_new_entries() -> None:
    site = Site({RSS_URL: rss_feed(RSS_ITEMS[:1])})
    harness = Harness(site, [_feed("rss", RSS_URL)])
    await harness.poll_all()
    site.bodies[RSS_URL] = rss_feed(RSS_ITEMS)
    await harness.poll_all()
    await harness.close()
    assert [a.title for a in harness.published] == [item["title"] for item in RSS_ITEMS]


async def test_failed_publish_keeps_the_old_validators_so_the_next_poll_refetches() -> None:
    site = Site({RSS_URL: rss_feed()})
    harness = Harness(site, [_feed("rss", RSS_URL)])
    published, publish = _collector(fail_first=1)
    harness.poller.publish = publish
    failed_before = _metric("raqib_fetcher_feeds_failed_total", {"reason": "publish"})
    first = await harness.poller.poll(harness.poller.feeds[0])
    assert (first.status, first.reason, len(first.published)) == ("failed", "publish", 1)
    second = await harness.poller.poll(harness.poller.feeds[0])
    await harness.close()
    assert second.status == "fetched"
    assert "If-None-Match" not in site.requests[1].headers
    assert sorted(a.title for a in published) == sorted(i["title"] for i in RSS_ITEMS)
    assert _metric("raqib_fetcher_feeds_failed_total", {"reason": "publish"}) == failed_before + 1


async def test_one_story_in_two_feeds_is_published_once() -> None:
    mirror = [dict(RSS_ITEMS[0], link="https://mirror.example.com/clashes")]
    mirror_url = "https://93.184.216.36/rss"
    site = Site({RSS_URL: rss_feed(), mirror_url: rss_feed(mirror)})
    harness = Harness(site, [_feed("rss", RSS_URL), _feed("mirror", mirror_url)])
    await harness.poll_all()
    await harness.close()
    assert len(harness.published) == 2
    assert len({a.content_hash for a in harness.published}) == 2


async def test_failures_back_off_and_retry_after_is_honoured() -> None:
    site = Site({}, status={RSS_URL: 429}, headers={RSS_URL: {"Retry-After": "7200"}})
    harness = Harness(site, [_feed("rss", RSS_URL)])
    feed = harness.poller.feeds[0]
    outcome = await harness.poller.poll(feed)
    assert (outcome.status, outcome.reason, outcome.retry_after_s) == (
        "failed",
        "rate_limited",
        7200.0,
    )
    assert harness.poller.seconds_until_due(feed) == 7200.0
    site.headers.clear()
    site.status[RSS_URL] = 500
    await harness.poller.poll(feed)  # second failure in a row: 60 s doubled twice
    assert harness.poller.seconds_until_due(feed) == 240.0
    state = harness.store.feed_state("rss")
    assert state is not None and state.failures == 2
    assert state.last_error is not None and "HTTP 500" in state.last_error
    site.status.clear()
    site.bodies[RSS_URL] = rss_feed()
    await harness.poller.poll(feed)
    assert harness.poller.seconds_until_due(feed) == 60.0
    state = harness.store.feed_state("rss")
    await harness.close()
    assert state is not None and (state.failures, state.last_error) == (0, None)


async def test_failing_feeds_are_counted_and_do_not_stop_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken, html = "https://93.184.216.40/rss", "https://93.184.216.41/rss"
    site = Site(
        {RSS_URL: rss_feed(), html: b"<html><body>maintenance</body></html>"},
        status={broken: 500},
    )
    before = {
        reason: _metric("raqib_fetcher_feeds_failed_total", {"reason": reason})
        for reason in ("http_status", "not_a_feed", "unsafe_url")
    }
    caplog.set_level("WARNING", logger="raqib.fetcher")
    private = "http://10.0.0.8/rss"
    feeds = [_feed("broken", broken), _feed("html", html), _feed("private", private)]
    harness = Harness(site, [*feeds, _feed("rss", RSS_URL)])
    assert await harness.poll_all() == ["failed", "failed", "failed", "fetched"]
    await harness.close()
    assert [a.feed for a in harness.published] == ["rss", "rss"]
    for reason in before:
        assert _metric("raqib_fetcher_feeds_failed_total", {"reason": reason}) == before[reason] + 1
    failures = {
        (r.feed, r.url, r.reason)  # type: ignore[attr-defined]
        for r in caplog.records
        if r.getMessage() == "feed failed"
    }
    assert failures == {
        ("broken", broken, "http_status"),
        ("html", html, "not_a_feed"),
        ("private", private, "unsafe_url"),
    }
    assert private not in {str(r.url) for r in site.requests}


async def test_a_redirect_to_a_private_address_is_refused_at_the_hop() -> None:
    site = Site({"http://127.0.0.1/rss": rss_feed()})

    def redirecting(request: httpx.Request) -> httpx.Response:
        if str(request.url) == RSS_URL:
            site.requests.append(request)
            return httpx.Response(302, headers={"Location": "http://127.0.0.1/rss"})
        return site(request)

    harness = Harness(site, [_feed("rss", RSS_URL)])
    harness.client = HttpClient(SETTINGS, transport=httpx.MockTransport(redirecting))
    harness.poller.client = harness.client
    outcome = await harness.poller.poll(harness.poller.feeds[0])
    await harness.close()
    assert (outcome.status, outcome.reason) == ("failed", "unsafe_url")
    assert [str(r.url) for r in site.requests] == [RSS_URL]  # the private hop never left


THIN = [dict(RSS_ITEMS[0], description="سطر.")]
PAGE = (
    "<html><body><nav>الرئيسية</nav><article><h1>خبر</h1>"
    + "<p>اندلعت اشتباكات عنيفة في طرابلس بين قوة الردع ومجموعة مسلحة قرب المطار.</p>" * 3
    + "</article><footer>جميع الحقوق محفوظة</footer></body></html>"
).encode()


async def test_thin_entries_get_their_page_text_and_a_failed_page_keeps_the_entry() -> None:
    page_url = canonical_url(THIN[0]["link"])
    other = [dict(RSS_ITEMS[1], description="سطر آخر.")]
    other_url = canonical_url(other[0]["link"])
    report = [dict(RSS_ITEMS[1], link="https://news.example.ly/report.pdf", description="تقرير.")]
    report_url = canonical_url(report[0]["link"])
    site = Site(
        {RSS_URL: rss_feed(THIN + other + report), page_url: PAGE, report_url: b"%PDF-1.7"},
        status={other_url: 404},
        headers={
            page_url: {"Content-Type": "text/html; charset=utf-8"},
            report_url: {"Content-Type": "application/pdf"},
        },
    )
    failed_before = _metric("raqib_fetcher_pages_failed_total", {"reason": "http_status"})
    no_text_before = _metric("raqib_fetcher_pages_failed_total", {"reason": "no_text"})
    harness = Harness(
        site,
        [_feed("rss", RSS_URL)],
        SETTINGS.model_copy(update={"min_text_chars": 50, "allow_private": True}),
    )
    await harness.poll_all()
    await harness.close()
    by_url = {str(a.url): a for a in harness.published}
    assert "قوة الردع ومجموعة مسلحة" in by_url[page_url].text
    assert "جميع الحقوق" not in by_url[page_url].text
    assert by_url[other_url].text == "سطر آخر."  # published with the feed's text
    assert by_url[report_url].text == "تقرير."  # not an HTML page: the feed's text too
    assert _metric("raqib_fetcher_pages_failed_total", {"reason": "http_status"}) == (
        failed_before + 1
    )
    assert _metric("raqib_fetcher_pages_failed_total", {"reason": "no_text"}) == (
        no_text_before + 1
    )


async def test_poll_once_returns_each_story_once_from_enabled_feeds() -> None:
    site = Site({RSS_URL: rss_feed(), ATOM_URL: ATOM_FEED, RSS_URL + "?v=2": rss_feed()})
    feeds = [_feed("rss", RSS_URL), _feed("again", RSS_URL + "?v=2"), _feed("atom", ATOM_URL)]
    feeds.append(_feed("off", "https://1.1.1.1/rss", enabled=False))
    published, publish = _collector()
    polls = await poll_once(feeds, SETTINGS, publish, transport=httpx.MockTransport(site))
    assert [p.status for p in polls] == ["fetched"] * 3
    assert len(published) == 4
    assert len({a.id for a in published}) == 4
    assert "https://1.1.1.1/rss" not in {str(r.url) for r in site.requests}


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
    unexpected_before = _metric("raqib_fetcher_feeds_failed_total", {"reason": "unexpected"})
    harness = Harness(site, [_feed("crashing", "https://93.184.216.50/rss"), _feed("rss", RSS_URL)])
    assert await harness.poll_all() == ["failed", "fetched"]
    await harness.close()
    assert {a.feed for a in harness.published} == {"rss"}
    after = _metric("raqib_fetcher_feeds_failed_total", {"reason": "unexpected"})
    assert after == unexpected_before + 1
    assert any(r.getMessage() == "feed poll crashed" for r in caplog.records)


def _reloads(outcome: str) -> float:
    return _metric("raqib_fetcher_feeds_file_reloads_total", {"outcome": outcome})


def _feeds_yaml(*feeds: tuple[str, str, bool]) -> str:
    return "feeds:\n" + "".join(
        f"  - {{name: {name}, url: '{url}', poll_interval_s: 60, enabled: {str(on).lower()}}}\n"
        for name, url, on in feeds
    )


@contextlib.asynccontextmanager
async def reloading(
    path: Path,
    site: Site,
    *,
    every_s: float = 0.01,
    answer: Callable[[httpx.Request], Coroutine[None, None, httpx.Response]] | None = None,
) -> AsyncIterator[tuple[Harness, asyncio.Task[None]]]:
    """``run_forever`` over the feeds file at ``path``, watched every ``every_s``; ``answer``
    replaces the site's (to hold a poll in flight). Cancelled and closed at the end."""
    feeds_file = WatchedFeedsFile(path, every_s)
    harness = Harness(site, feeds_file.read())
    if answer is not None:
        await harness.client.aclose()
        harness.client = HttpClient(SETTINGS, transport=httpx.MockTransport(answer))
        harness.poller.client = harness.client
    running = asyncio.create_task(harness.poller.run_forever(feeds_file))
    try:
        yield harness, running
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await harness.close()


async def test_a_changed_feeds_file_is_applied_and_a_broken_one_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(_feeds_yaml(("rss", RSS_URL, True)), encoding="utf-8")
    site = Site({RSS_URL: rss_feed(), ATOM_URL: ATOM_FEED})
    async with reloading(path, site) as (harness, running):
        await until(lambda: len(site.requested(RSS_URL)) == 1)
        invalid, reloaded = _reloads("invalid"), _reloads("reloaded")
        # A feed added (the clock stands still: nothing else falls due).
        path.write_text(
            _feeds_yaml(("rss", RSS_URL, True), ("atom", ATOM_URL, True)), encoding="utf-8"
        )
        await until(lambda: len(site.requested(ATOM_URL)) == 1)
        assert [f.name for f in harness.poller.feeds] == ["rss", "atom"]
        assert _reloads("reloaded") == reloaded + 1
        # A broken file: logged, the feeds polled so far go on.
        path.write_text("feeds:\n  - {name: atom, url: 'not a url at all'}\n", encoding="utf-8")
        await until(lambda: _reloads("invalid") == invalid + 1)
        assert "not valid; still polling" in caplog.text
        assert [f.name for f in harness.poller.feeds] == ["rss", "atom"]
        # rss disabled, atom moved to a new address: atom starts anew there, rss stops.
        moved = "https://93.184.216.36/atom.xml"
        site.bodies[moved] = ATOM_FEED
        path.write_text(
            _feeds_yaml(("rss", RSS_URL, False), ("atom", moved, True)), encoding="utf-8"
        )
        await until(lambda: len(site.requested(moved)) == 1)
        assert [f.name for f in harness.poller.feeds] == ["atom"]
        assert len(site.requested(RSS_URL)) == 1 and not running.done()
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("raqib-feed-")]


async def test_a_reload_lets_a_poll_in_flight_finish_and_survives_a_bad_date(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(_feeds_yaml(("rss", RSS_URL, True)), encoding="utf-8")
    site = Site({RSS_URL: rss_feed(), ATOM_URL: ATOM_FEED})
    gate = asyncio.Event()

    async def slow_rss(request: httpx.Request) -> httpx.Response:
        if str(request.url) == RSS_URL:
            await gate.wait()
        return site(request)

    async with reloading(path, site, answer=slow_rss) as (harness, running):

        def from_rss() -> list[RawArticle]:
            return [article for article in harness.published if article.feed == "rss"]

        await asyncio.sleep(0.05)  # the rss poll is waiting for its answer
        # rss changed while its poll is in flight, atom added: atom does not wait for it.
        path.write_text(
            _feeds_yaml(("rss", RSS_URL + "?v=2", True), ("atom", ATOM_URL, True)),
            encoding="utf-8",
        )
        await until(lambda: len(site.requested(ATOM_URL)) == 1)
        assert site.requested(RSS_URL) == [] and not from_rss()
        # A later change is applied too while that poll is still held.
        third = "https://93.184.216.37/third.xml"
        site.bodies[third] = rss_feed(
            [
                {
                    "title": "خبر ثالث",
                    "link": "https://third.example.ly/1",
                    "description": "نص خبر ثالث لا يشبه غيره.",
                    "pub_date": "Mon, 03 Mar 2025 10:00:00 +0200",
                    "guid": "third-1",
                }
            ]
        )
        path.write_text(
            _feeds_yaml(
                ("rss", RSS_URL + "?v=2", True), ("atom", ATOM_URL, True), ("third", third, True)
            ),
            encoding="utf-8",
        )
        await until(lambda: len(site.requested(third)) == 1)
        assert not from_rss()
        gate.set()  # the poll in flight finishes and publishes; it is not cut short
        await until(lambda: len(from_rss()) == len(RSS_ITEMS))
        await until(lambda: len(site.requested(RSS_URL + "?v=2")) == 1)  # then starts anew
        # A value YAML itself cannot read (no 13th month): reported, nothing stops.
        path.write_text("feeds:\n  - {name: x, url: 'https://1.1.1.1/', since: 2024-13-01}\n")
        await until(lambda: "not valid; still polling" in caplog.text)
        assert not running.done()
        assert [f.name for f in harness.poller.feeds] == ["rss", "atom", "third"]


async def test_a_failing_reload_is_logged_and_a_replaced_file_is_noticed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(_feeds_yaml(("aaa", RSS_URL, True)), encoding="utf-8")
    site = Site({RSS_URL: rss_feed()})
    read = WatchedFeedsFile.read_if_changed
    failures = [OSError("stale file handle")]

    def flaky(self: WatchedFeedsFile) -> list[FeedConfig] | None:
        if failures:
            raise failures.pop()
        return read(self)

    monkeypatch.setattr(WatchedFeedsFile, "read_if_changed", flaky)
    async with reloading(path, site) as (harness, running):
        await until(lambda: "feeds file reload failed" in caplog.text)
        # Same size, same modification time, another file in its place (an editor's save).
        before = path.stat()
        replacement = tmp_path / "feeds.yaml.new"
        replacement.write_text(_feeds_yaml(("bbb", RSS_URL, True)), encoding="utf-8")
        assert replacement.stat().st_size == before.st_size
        os.utime(replacement, ns=(before.st_atime_ns, before.st_mtime_ns))
        os.replace(replacement, path)
        await until(lambda: [f.name for f in harness.poller.feeds] == ["bbb"])
        assert not running.done()


async def test_a_feed_changed_twice_during_one_poll_leaves_no_task_behind(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(_feeds_yaml(("rss", RSS_URL, True)), encoding="utf-8")
    site = Site({RSS_URL: rss_feed()})
    gate = asyncio.Event()

    async def held(request: httpx.Request) -> httpx.Response:
        await gate.wait()  # never set: the first poll stays in flight
        return site(request)

    async with reloading(path, site, answer=held):

        async def change_to(url: str) -> None:
            target = _reloads("reloaded") + 1
            path.write_text(_feeds_yaml(("rss", url, True)), "utf-8")
            await until(lambda: _reloads("reloaded") == target)

        await change_to(RSS_URL + "?v=2")
        await change_to(RSS_URL + "?v=3")
        feed_tasks = [t for t in asyncio.all_tasks() if t.get_name() == "raqib-feed-rss"]
        assert len(feed_tasks) == 3  # the one polling, and two waiting their turn
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("raqib-feed-")]


async def test_a_feeds_file_gone_for_a_while_is_read_again_when_back(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(_feeds_yaml(("rss", RSS_URL, True)), encoding="utf-8")
    feeds_file = WatchedFeedsFile(path, every_s=0.01)
    assert [f.name for f in feeds_file.read()] == ["rss"]
    assert feeds_file.read_if_changed() is None  # as last read
    invalid = _reloads("invalid")
    path.unlink()
    assert feeds_file.read_if_changed() is None
    assert _reloads("invalid") == invalid + 1
    assert feeds_file.read_if_changed() is None  # still gone: reported once
    assert _reloads("invalid") == invalid + 1
    path.write_bytes(b"feeds:\n  - {name: \xff\xfe, url: 'https://1.1.1.1/'}\n")  # not UTF-8
    assert feeds_file.read_if_changed() is None
    assert _reloads("invalid") == invalid + 2
    path.write_text(_feeds_yaml(("atom", ATOM_URL, True)), encoding="utf-8")
    changed = feeds_file.read_if_changed()
    assert changed is not None and [f.name for f in changed] == ["atom"]


async def test_a_reload_period_of_zero_reads_the_file_at_start_only(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(_feeds_yaml(("rss", RSS_URL, True)), encoding="utf-8")
    site = Site({RSS_URL: rss_feed(), ATOM_URL: ATOM_FEED})
    async with reloading(path, site, every_s=0) as (harness, _):
        await until(lambda: len(site.requested(RSS_URL)) == 1)
        path.write_text(_feeds_yaml(("atom", ATOM_URL, True)), encoding="utf-8")
        await asyncio.sleep(0.1)
        assert site.requested(ATOM_URL) == [] and [f.name for f in harness.poller.feeds] == ["rss"]
