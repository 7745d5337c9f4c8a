"""Polling: fetch each due feed, parse it, drop what was already published, publish the rest.

Which articles were published and each feed's validators live in memory for now: a restart
re-publishes what the feeds still list, and the article ids (hashes of canonical URLs) let
every later stage absorb that.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from prometheus_client import Counter

from schemas import RawArticle, utc_now
from services.common.errors import ConfigError
from services.fetcher.core import (
    FeedConfig,
    NotAFeed,
    PollSchedule,
    SeenArticles,
    feed_articles,
    parse_feed,
    parse_feeds,
)
from services.fetcher.http import FeedClient, FetchError, NotModified, Validators
from services.fetcher.settings import FetcherSettings

log = logging.getLogger("raqib.fetcher")

FEEDS_POLLED = Counter("raqib_fetcher_feeds_polled_total", "Feed polls attempted.")
FEEDS_NOT_MODIFIED = Counter(
    "raqib_fetcher_feeds_not_modified_total", "Feed polls answered 304 Not Modified."
)
FEEDS_FAILED = Counter(
    "raqib_fetcher_feeds_failed_total", "Feed polls that failed, by reason.", ["reason"]
)
ARTICLES_PUBLISHED = Counter(
    "raqib_fetcher_articles_published_total", "New articles published to articles.raw."
)
ARTICLES_DUPLICATE = Counter(
    "raqib_fetcher_articles_duplicate_total", "Feed entries skipped as already published."
)
ENTRIES_REJECTED = Counter(
    "raqib_fetcher_entries_rejected_total", "Feed entries that could not become an article."
)

Publish = Callable[[RawArticle], Awaitable[None]]


def load_feeds_file(path: Path) -> list[FeedConfig]:
    """Read and validate the feeds file; errors name the file and the field."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read the feeds file: {error}") from error
    return parse_feeds(text, str(path))


@dataclass(frozen=True)
class FeedPoll:
    """The outcome of polling one feed once."""

    feed: FeedConfig
    status: Literal["fetched", "not_modified", "failed"]
    articles: list[RawArticle] = field(default_factory=list)
    validators: Validators | None = None  # to remember once the articles are handled
    reason: str | None = None


def _failed(feed: FeedConfig, reason: str, error: str) -> FeedPoll:
    FEEDS_FAILED.labels(reason).inc()
    log.warning(
        "feed failed",
        extra={"feed": feed.name, "url": str(feed.url), "reason": reason, "error": error},
    )
    return FeedPoll(feed, "failed", reason=reason)


async def poll_feed(feed: FeedConfig, client: FeedClient, *, fetched_at: datetime) -> FeedPoll:
    """Fetch and parse one feed. Never raises for a bad feed: the outcome says what happened."""
    FEEDS_POLLED.inc()
    url = str(feed.url)
    try:
        response = await client.fetch(url)
    except FetchError as error:
        return _failed(feed, error.reason, error.detail)
    if isinstance(response, NotModified):
        FEEDS_NOT_MODIFIED.inc()
        log.debug("feed not modified", extra={"feed": feed.name, "url": url})
        return FeedPoll(feed, "not_modified")
    try:
        # feedparser is CPU-bound; a 10 MB feed must not stall the event loop.
        parsed = await asyncio.to_thread(
            parse_feed, response.body, url=response.url, content_type=response.content_type
        )
    except NotAFeed as error:
        return _failed(feed, "not_a_feed", str(error))
    articles, rejected = feed_articles(parsed, feed, fetched_at=fetched_at)
    for entry in rejected:
        ENTRIES_REJECTED.inc()
        log.warning(
            "feed entry rejected",
            extra={"feed": feed.name, "url": url, "entry": entry.entry.link, "error": entry.reason},
        )
    log.info(
        "feed fetched",
        extra={
            "feed": feed.name,
            "url": url,
            "format": parsed.version,
            "encoding": parsed.encoding,
            "entries": len(parsed.entries),
            "bytes": len(response.body),
            "warning": parsed.warning,
        },
    )
    return FeedPoll(feed, "fetched", articles, response.validators)


async def _poll_all(
    feeds: Sequence[FeedConfig], client: FeedClient, concurrency: int
) -> list[FeedPoll]:
    limit = asyncio.Semaphore(concurrency)
    fetched_at = utc_now()

    async def one(feed: FeedConfig) -> FeedPoll:
        async with limit:
            try:
                return await poll_feed(feed, client, fetched_at=fetched_at)
            except Exception as error:
                # A bug met on one feed's input must not sink the other feeds' round.
                log.exception("feed poll crashed", extra={"feed": feed.name, "url": str(feed.url)})
                return _failed(feed, "unexpected", f"{type(error).__name__}: {error}")

    return list(await asyncio.gather(*(one(feed) for feed in feeds)))


async def poll_once(
    feeds: Sequence[FeedConfig], client: FeedClient, settings: FetcherSettings
) -> list[RawArticle]:
    """Poll every enabled feed once; the articles found, each story once.

    Failed feeds are logged and skipped. For one-shot use (``raqib fetch --once``): the
    validators are remembered at once, since nothing is published here.
    """
    enabled = [feed for feed in feeds if feed.enabled]
    polls = await _poll_all(enabled, client, settings.max_concurrent_polls)
    for poll in polls:
        if poll.validators:
            client.remember(str(poll.feed.url), poll.validators)
    return SeenArticles(settings.seen_capacity).new_articles(
        article for poll in polls for article in poll.articles
    )


class Poller:
    """Polls each enabled feed when due and publishes the articles not seen before."""

    def __init__(
        self,
        feeds: Sequence[FeedConfig],
        client: FeedClient,
        publish: Publish,
        settings: FetcherSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.publish = publish
        self.settings = settings
        self.clock = clock
        self.schedule = PollSchedule(feeds, now=clock())
        self.seen = SeenArticles(settings.seen_capacity)
        self.rounds = 0

    async def poll_due(self) -> int:
        """One round: poll the feeds that are due, publish what is new; returns how many."""
        due = self.schedule.due(self.clock())
        if not due:
            return 0
        polls = await _poll_all(due, self.client, self.settings.max_concurrent_polls)
        published = 0
        for poll in polls:
            self.schedule.polled(poll.feed, self.clock())
            if poll.status == "fetched":
                published += await self._publish_new(poll)
        self.rounds += 1
        return published

    async def _publish_new(self, poll: FeedPoll) -> int:
        fresh = self.seen.new_articles(poll.articles)
        ARTICLES_DUPLICATE.inc(len(poll.articles) - len(fresh))
        for count, article in enumerate(fresh):
            try:
                await self.publish(article)
            except Exception as error:
                # Validators stay as they were, so the next poll fetches the feed again and
                # the unpublished articles get another chance.
                _failed(poll.feed, "publish", f"{type(error).__name__}: {error}")
                return count
            self.seen.remember(article)
            ARTICLES_PUBLISHED.inc()
            log.info(
                "article published",
                extra={"feed": poll.feed.name, "article_id": article.id, "url": str(article.url)},
            )
        if poll.validators:
            self.client.remember(str(poll.feed.url), poll.validators)
        return len(fresh)

    async def run_forever(self) -> None:
        feeds = self.schedule.feeds
        log.info(
            "polling feeds",
            extra={"feeds": [f.name for f in feeds], "count": len(feeds)},
        )
        while True:
            pause = 0.01
            try:
                await self.poll_due()
            except Exception:
                # A bug in one round must not end polling for good, nor spin the CPU.
                log.exception("poll round failed")
                pause = 5.0
            wait = self.schedule.seconds_until_next(self.clock())
            if wait is None:
                log.info("no enabled feeds; nothing to poll")
                await asyncio.Event().wait()  # idle until cancelled
            await asyncio.sleep(max(wait or 0.0, pause))
