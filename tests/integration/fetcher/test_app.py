"""The fetcher app end to end: a local feed server → the app → articles.raw on a real broker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from faststream import TestApp
from typer.testing import CliRunner

from schemas import RawArticle, article_id, content_hash
from services.cli import app as cli_app
from services.common.kafka import ARTICLES_RAW
from services.common.settings import KafkaSettings
from services.devstack.topics import read_topic
from services.fetcher.app import build_app
from services.fetcher.core import canonical_url
from services.fetcher.settings import FetcherSettings
from tests.integration.fetcher.feed_server import FeedServer, Route
from tests.unit.fetcher.samples import ATOM_FEED, RSS_ITEMS, rss_feed
from tests.waiting import until

pytestmark = pytest.mark.integration


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    with FeedServer() as server:
        server.routes["/ar/rss.xml"] = Route(
            body=rss_feed(encoding="windows-1256"),
            content_type="text/xml",
            etag='"rss-v1"',
        )
        server.routes["/ar/news.atom"] = Route(
            body=ATOM_FEED,
            content_type="application/atom+xml",
            last_modified="Wed, 05 Mar 2025 09:00:00 GMT",
        )
        server.routes["/maintenance"] = Route(
            body=b"<html><body><h1>Maintenance</h1></body></html>", content_type="text/html"
        )
        yield server


def _feeds_file(tmp_path: Path, server: FeedServer) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(
        f"""
feeds:
  - name: libya-rss
    source: Libya News
    url: {server.url("/ar/rss.xml")}
    poll_interval_s: 1
  - name: agency-atom
    url: {server.url("/ar/news.atom")}
    poll_interval_s: 1
  - name: gone
    url: {server.url("/no-such-feed.xml")}
    poll_interval_s: 1
  - name: not-xml
    url: {server.url("/maintenance")}
    poll_interval_s: 1
  - name: disabled
    url: {server.url("/disabled.xml")}
    enabled: false
""",
        encoding="utf-8",
    )
    return path


def _settings(tmp_path: Path, feeds_file: Path, kafka: KafkaSettings) -> FetcherSettings:
    return FetcherSettings(
        feeds_file=feeds_file,
        state_file=tmp_path / "state" / "fetcher.sqlite3",
        kafka=kafka,
        timeout_s=5,
        allow_private=True,  # the feed server listens on 127.0.0.1
        host_delay_s=0,
        interval_jitter=0,
        min_text_chars=0,  # these entries carry their text; no pages
    )


async def test_polls_publishes_new_articles_and_skips_unmodified_and_broken_feeds(
    tmp_path: Path,
    kafka_settings: KafkaSettings,
    feed_server: FeedServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="raqib.fetcher")
    settings = _settings(tmp_path, _feeds_file(tmp_path, feed_server), kafka_settings)
    began = time.monotonic()
    async with TestApp(build_app(settings)):
        # Two rounds seen by the server: the second must be conditional and answered 304.
        await until(
            lambda: (
                len(feed_server.seen("/ar/rss.xml")) >= 2
                and len(feed_server.seen("/ar/news.atom")) >= 2
            ),
            within_s=15,
        )
        # Rounds run one after the other, so the first round's publishes are acknowledged.
        records = await read_topic(
            kafka_settings.bootstrap_servers, kafka_settings.topic(ARTICLES_RAW), min_count=4
        )
    elapsed = time.monotonic() - began

    articles = [RawArticle.model_validate_json(r.value) for r in records]
    assert len(articles) == 4, [a.url for a in articles]
    atom_links = {
        feed_server.url("/ar/news/saddam-cairo"),  # relative in the feed: resolved against it
        "https://agency.example.org/ar/news/icc-statement",
    }
    expected_urls = {canonical_url(item["link"]) for item in RSS_ITEMS} | atom_links
    assert {str(a.url) for a in articles} == expected_urls
    for record, article in zip(records, articles, strict=True):
        assert record.key == article.id.encode()
        assert article.id == article_id(str(article.url))
        assert article.content_hash == content_hash(article.text)

    by_feed = {a.feed: a for a in articles}
    rss_article = next(a for a in articles if a.feed == "libya-rss" and "طرابلس" in a.title)
    assert rss_article.source == "Libya News"
    assert "قوة الردع" in rss_article.text  # windows-1256 decoded
    assert by_feed["agency-atom"].source == "agency-atom"

    for path in ("/ar/rss.xml", "/ar/news.atom"):
        first, second = feed_server.seen(path)[:2]
        assert (first.status, second.status) == (200, 304)
    assert feed_server.seen("/disabled.xml") == []

    failures = {
        (r.feed, r.url, r.reason)  # type: ignore[attr-defined]
        for r in caplog.records
        if r.getMessage() == "feed failed"
    }
    assert ("gone", feed_server.url("/no-such-feed.xml"), "http_status") in failures
    assert ("not-xml", feed_server.url("/maintenance"), "not_a_feed") in failures
    assert elapsed < 20


async def test_app_with_no_enabled_feeds_starts_and_stops_cleanly(
    tmp_path: Path, kafka_settings: KafkaSettings
) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(
        "feeds:\n  - {name: paused, url: 'https://example.ly/rss', enabled: false}\n", "utf-8"
    )
    settings = _settings(tmp_path, path, kafka_settings)
    async with TestApp(build_app(settings)):
        await asyncio.sleep(0.2)
    # the topic exists even though nothing was published
    assert (
        await read_topic(
            kafka_settings.bootstrap_servers, kafka_settings.topic(ARTICLES_RAW), timeout=2
        )
        == []
    )


def _items(*serials: int) -> list[dict[str, str]]:
    return [
        {
            "title": f"خبر رقم {n}",
            "link": f"https://news.example.ly/ar/story/{n}?utm_source=rss",
            "description": f"نص الخبر رقم {n} عن قوة الردع.",
            "pub_date": "Mon, 03 Mar 2025 10:00:00 +0200",
            "guid": f"story-{n}",
        }
        for n in serials
    ]


async def test_a_restart_between_polls_neither_duplicates_nor_misses(
    tmp_path: Path, kafka_settings: KafkaSettings
) -> None:
    with FeedServer() as server:
        server.routes["/changing.xml"] = Route(body=rss_feed(_items(1, 2, 3)), etag='"v1"')
        server.routes["/steady.xml"] = Route(body=rss_feed(_items(10)), etag='"s1"')
        # The same story under another URL in a third feed: published once.
        server.routes["/mirror.xml"] = Route(
            body=rss_feed([dict(_items(2)[0], link="https://mirror.example.com/2")])
        )
        path = tmp_path / "feeds.yaml"
        path.write_text(
            "feeds:\n"
            + "".join(
                f"  - {{name: {name}, url: '{server.url(f'/{name}.xml')}', poll_interval_s: 1}}\n"
                for name in ("changing", "steady", "mirror")
            ),
            encoding="utf-8",
        )
        settings = _settings(tmp_path, path, kafka_settings)
        bootstrap = kafka_settings.bootstrap_servers

        async with TestApp(build_app(settings)):
            await until(lambda: len(server.seen("/mirror.xml")) >= 1, within_s=15)
            first = await read_topic(bootstrap, kafka_settings.topic(ARTICLES_RAW), min_count=4)
        assert len(first) == 4

        # While the fetcher is down the feed drops story 1 and gains stories 4 and 5.
        server.routes["/changing.xml"] = Route(body=rss_feed(_items(2, 3, 4, 5)), etag='"v2"')
        steady_before = len(server.seen("/steady.xml"))
        async with TestApp(build_app(settings)):
            await until(lambda: len(server.seen("/steady.xml")) > steady_before, within_s=15)
            await until(lambda: len(server.seen("/changing.xml")) >= 2, within_s=15)
            records = await read_topic(bootstrap, kafka_settings.topic(ARTICLES_RAW), min_count=6)

    articles = [RawArticle.model_validate_json(r.value) for r in records]
    ids = [a.id for a in articles]
    assert len(ids) == len(set(ids)), "an article was published twice"
    expected = {article_id(canonical_url(item["link"])) for item in _items(1, 3, 4, 5, 10)}
    # Story 2 came first through one of its two URLs, whichever feed answered first.
    story_2 = {
        article_id(canonical_url(_items(2)[0]["link"])),
        article_id("https://mirror.example.com/2"),
    }
    assert set(ids) - story_2 == expected
    assert len(set(ids) & story_2) == 1
    # The validators survived the restart: the unchanged feed was answered 304.
    assert server.seen("/steady.xml")[-1].status == 304
    assert server.seen("/steady.xml")[-1].headers["If-None-Match"] == '"s1"'


async def test_a_feed_added_with_the_cli_is_polled_without_a_restart(
    tmp_path: Path, kafka_settings: KafkaSettings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="raqib.fetcher")
    with FeedServer() as server:
        server.routes["/first.xml"] = Route(body=rss_feed(_items(1)), etag='"f1"')
        server.routes["/added.xml"] = Route(body=rss_feed(_items(7, 8)), etag='"a1"')
        path = tmp_path / "feeds.yaml"
        path.write_text(
            f"feeds:\n  - {{name: first, url: '{server.url('/first.xml')}'}}\n", "utf-8"
        )
        settings = _settings(tmp_path, path, kafka_settings).model_copy(
            update={"feeds_reload_s": 0.2}
        )
        bootstrap = kafka_settings.bootstrap_servers
        async with TestApp(build_app(settings)):
            await until(lambda: len(server.seen("/first.xml")) >= 1, within_s=15)
            added = CliRunner().invoke(
                cli_app,
                ["feeds", "add", "added", server.url("/added.xml"), "--file", str(path)],
            )
            assert added.exit_code == 0, added.output
            await until(lambda: len(server.seen("/added.xml")) >= 1, within_s=10)
            records = await read_topic(bootstrap, kafka_settings.topic(ARTICLES_RAW), min_count=3)
            # A broken edit is reported and changes nothing; the fetcher goes on. (The
            # added feed was written whole: no partial file was ever seen.)
            assert "not valid" not in caplog.text
            path.write_text(path.read_text("utf-8") + "  - {name: broken}\n", "utf-8")
            await until(lambda: "not valid; still polling" in caplog.text, within_s=10)
    ids = {RawArticle.model_validate_json(r.value).id for r in records}
    assert ids == {article_id(canonical_url(item["link"])) for item in _items(1, 7, 8)}
    reloaded = [r for r in caplog.records if r.getMessage() == "feeds file reloaded"]
    assert [(r.started, r.stopped) for r in reloaded] == [(["added"], [])]  # type: ignore[attr-defined]
