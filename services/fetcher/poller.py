"""Polling: fetch a due feed, parse it, fetch thin entries' pages, publish what is new.

Order of effects, so a crash or restart neither loses nor duplicates an article:
1. an article is published (and acknowledged by the broker) before it is recorded as seen;
   a crash between the two re-publishes the same id next time, which every later stage
   absorbs (Elasticsearch document id and alert id follow from the article id);
2. a feed's ETag/Last-Modified are stored only once every new article from that response
   was published, so a publish failure means the feed is downloaded again, not answered 304.

Dedup happens twice: by article id (the canonical URL's hash) before any page is fetched,
and by content hash (the same story under another URL) once the text is final. Keys being
published by another feed's poll right now are held in memory, so two feeds carrying one
story at the same moment publish it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Literal, NamedTuple

import httpx
from prometheus_client import Counter

from schemas import RawArticle, utc_now
from services.common.errors import ConfigError, PermanentError
from services.common.statefile import MEMORY
from services.fetcher.core import (
    FeedConfig,
    NotAFeed,
    UnsafeDocument,
    feed_articles,
    fit_article,
    needs_page,
    next_poll_delay,
    page_main_text,
    parse_feed,
    parse_feeds,
    with_page_text,
)
from services.fetcher.http import (
    ACCEPT_PAGE,
    FetchError,
    HttpClient,
    NotModified,
    Validators,
)
from services.fetcher.settings import FetcherSettings
from services.fetcher.store import FeedState, FetcherStore, hash_key, id_key

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
    "raqib_fetcher_articles_duplicate_total",
    "Feed entries skipped as already published (same id or same content hash).",
)
ENTRIES_REJECTED = Counter(
    "raqib_fetcher_entries_rejected_total", "Feed entries that could not become an article."
)
PAGES_FETCHED = Counter(
    "raqib_fetcher_pages_fetched_total", "Article pages fetched and their main text extracted."
)
ARTICLES_TRUNCATED = Counter(
    "raqib_fetcher_articles_truncated_total",
    "Articles cut to RAQIB_FETCHER_MAX_ARTICLE_BYTES before they were published.",
)
PAGES_FAILED = Counter(
    "raqib_fetcher_pages_failed_total",
    "Article pages that could not be used (the feed's text is published), by reason.",
    ["reason"],
)

FEEDS_FILE_RELOADS = Counter(
    "raqib_fetcher_feeds_file_reloads_total",
    "Changed feeds files read by a running fetcher, by outcome (reloaded, invalid).",
    ["outcome"],
)

Publish = Callable[[RawArticle], Awaitable[None]]


def load_feeds_file(path: Path) -> list[FeedConfig]:
    """Read and validate the feeds file; errors name the file and the field."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read the feeds file: {error}") from error
    return parse_feeds(text, str(path))


class WatchedFeedsFile:
    """The feeds file as a running fetcher sees it: read at start, then again every
    ``every_s`` (0: never) when it changed (another file in its place, or another size or
    change time)."""

    def __init__(self, path: Path, every_s: float) -> None:
        self.path = path
        self.every_s = every_s
        self._seen: tuple[int, ...] | None = None

    def _signature(self) -> tuple[int, ...] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns

    def read(self) -> list[FeedConfig]:
        """The feeds; ``ConfigError`` when the file is not valid. The file is looked at
        before it is read, so a change during the read is not missed."""
        self._seen = self._signature()
        return load_feeds_file(self.path)

    def read_if_changed(self) -> list[FeedConfig] | None:
        """The new feeds, or None when the file is as last read or the new version is not
        valid (logged once; the feeds already polled go on)."""
        if self._signature() == self._seen:
            return None
        try:
            feeds = self.read()
        except ConfigError as error:
            FEEDS_FILE_RELOADS.labels("invalid").inc()
            log.error(
                "feeds file changed but is not valid; still polling the feeds read before",
                extra={"feeds_file": str(self.path), "error": str(error)},
            )
            return None
        FEEDS_FILE_RELOADS.labels("reloaded").inc()
        return feeds


class _Polling(NamedTuple):
    feed: FeedConfig
    stop: asyncio.Event
    task: asyncio.Task[None]


@dataclass(frozen=True)
class FeedPoll:
    """The outcome of polling one feed once."""

    feed: FeedConfig
    status: Literal["fetched", "not_modified", "failed"]
    published: list[RawArticle] = field(default_factory=list)
    validators: Validators | None = None  # of a response whose articles were all published
    reason: str | None = None
    error: str | None = None
    retry_after_s: float | None = None


class _PublishFailed(Exception):
    def __init__(self, published: list[RawArticle], error: BaseException) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.published = published


def _page_failure_reason(error: FetchError | PermanentError) -> str:
    if isinstance(error, FetchError):
        return error.reason
    return "unsafe_xml" if isinstance(error, UnsafeDocument) else "no_text"


class Poller:
    """Polls each enabled feed when due and publishes the articles not seen before."""

    def __init__(
        self,
        feeds: Sequence[FeedConfig],
        client: HttpClient,
        store: FetcherStore,
        publish: Publish,
        settings: FetcherSettings,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.feeds = [feed for feed in feeds if feed.enabled]
        self.client = client
        self.store = store
        self.publish = publish
        self.settings = settings
        self.clock = clock
        self.rng = rng or random.Random()
        self._claimed: set[str] = set()  # keys being published by some poll right now

    # --- one poll ------------------------------------------------------------------------

    async def poll(self, feed: FeedConfig) -> FeedPoll:
        """Poll one feed and record the outcome. Never raises for a bad feed or page."""
        FEEDS_POLLED.inc()
        url = str(feed.url)
        state = self.store.feed_state(feed.name)
        if state is not None and state.url != url:
            state = None  # the feed moved: its old validators and failures do not apply
        started = self.clock()
        try:
            outcome = await self._fetch_and_publish(feed, state.validators if state else None)
        except FetchError as error:
            outcome = FeedPoll(
                feed,
                "failed",
                reason=error.reason,
                error=error.detail,
                retry_after_s=error.retry_after_s,
            )
        except UnsafeDocument as error:
            outcome = FeedPoll(feed, "failed", reason="unsafe_xml", error=str(error))
        except NotAFeed as error:
            outcome = FeedPoll(feed, "failed", reason="not_a_feed", error=str(error))
        except _PublishFailed as error:
            outcome = FeedPoll(
                feed, "failed", published=error.published, reason="publish", error=str(error)
            )
        except Exception as error:
            # A bug met on one feed's input must not stop the other feeds.
            log.exception("feed poll crashed", extra={"feed": feed.name, "url": url})
            outcome = FeedPoll(
                feed, "failed", reason="unexpected", error=f"{type(error).__name__}: {error}"
            )
        if outcome.status == "failed":
            FEEDS_FAILED.labels(outcome.reason).inc()
            log.warning(
                "feed failed",
                extra={
                    "feed": feed.name,
                    "url": url,
                    "reason": outcome.reason,
                    "error": outcome.error,
                    "retry_after_s": outcome.retry_after_s,
                },
            )
        elif outcome.status == "not_modified":
            FEEDS_NOT_MODIFIED.inc()
        self._record(feed, state, outcome, started)
        return outcome

    async def _fetch_and_publish(self, feed: FeedConfig, validators: Validators | None) -> FeedPoll:
        url = str(feed.url)
        response = await self.client.fetch(url, validators)
        if isinstance(response, NotModified):
            log.debug("feed not modified", extra={"feed": feed.name, "url": url})
            return FeedPoll(feed, "not_modified")
        # feedparser is CPU-bound; a 10 MB feed must not stall the event loop.
        parsed = await asyncio.to_thread(
            parse_feed, response.body, url=response.url, content_type=response.content_type
        )
        articles, rejected = feed_articles(parsed, feed, fetched_at=utc_now())
        for entry in rejected:
            ENTRIES_REJECTED.inc()
            log.warning(
                "feed entry rejected",
                extra={
                    "feed": feed.name,
                    "url": url,
                    "entry": entry.entry.link,
                    "error": entry.reason,
                },
            )
        published = await self._publish_new(feed, articles)
        log.info(
            "feed fetched",
            extra={
                "feed": feed.name,
                "url": url,
                "format": parsed.version,
                "encoding": parsed.encoding,
                "entries": len(parsed.entries),
                "published": len(published),
                "bytes": len(response.body),
                "warning": parsed.warning,
            },
        )
        return FeedPoll(feed, "fetched", published, response.validators)

    async def _publish_new(self, feed: FeedConfig, articles: list[RawArticle]) -> list[RawArticle]:
        """Publish the articles not seen before; raises ``_PublishFailed`` if any failed."""
        stored = self.store.seen_keys(id_key(a.id) for a in articles)
        fresh: dict[str, RawArticle] = {}
        for article in articles:
            key = id_key(article.id)
            if key not in stored and key not in self._claimed and key not in fresh:
                fresh[key] = article
        claimed = set(fresh)
        self._claimed |= claimed
        try:
            pages = await asyncio.gather(*(self._with_page(feed, a) for a in fresh.values()))
            texts = [self._fit(feed, article) for article in pages]
            stored = self.store.seen_keys(hash_key(a.content_hash) for a in texts)
            unique: list[RawArticle] = []
            copies: list[RawArticle] = []
            for article in texts:
                key = hash_key(article.content_hash)
                if key in stored or key in self._claimed:
                    copies.append(article)
                else:
                    unique.append(article)
                    claimed.add(key)
                    self._claimed.add(key)
            results = await asyncio.gather(
                *(self.publish(a) for a in unique), return_exceptions=True
            )
            published = [a for a, r in zip(unique, results, strict=True) if r is None]
            # A copy's id is recorded too: its page is not fetched again on the next poll.
            self.store.mark_seen(
                [k for a in published for k in (id_key(a.id), hash_key(a.content_hash))]
                + [id_key(a.id) for a in copies],
                self.clock(),
            )
        finally:
            self._claimed -= claimed
        ARTICLES_DUPLICATE.inc(len(articles) - len(fresh) + len(copies))
        ARTICLES_PUBLISHED.inc(len(published))
        for article in published:
            log.info(
                "article published",
                extra={"feed": feed.name, "article_id": article.id, "url": str(article.url)},
            )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise _PublishFailed(published, errors[0])
        return published

    async def _with_page(self, feed: FeedConfig, article: RawArticle) -> RawArticle:
        """The article with its page's main text when the feed's text is too thin.

        A page that cannot be fetched or read does not lose the entry: the article goes
        out with the feed's text, and the failure is logged and counted.
        """
        if not self.settings.fetch_pages or not needs_page(article, self.settings.min_text_chars):
            return article
        url = str(article.url)
        try:
            response = await self.client.fetch(url, accept=ACCEPT_PAGE)
            if isinstance(response, NotModified):  # we sent no validators; a broken server
                raise FetchError("http_status", "HTTP 304 to an unconditional request")
            text = await asyncio.to_thread(
                page_main_text, response.body, url=response.url, content_type=response.content_type
            )
        except (FetchError, PermanentError) as error:
            reason = _page_failure_reason(error)
            PAGES_FAILED.labels(reason).inc()
            log.warning(
                "page failed; publishing the feed's text",
                extra={"feed": feed.name, "url": url, "reason": reason, "error": str(error)},
            )
            return article
        except Exception as error:
            PAGES_FAILED.labels("unexpected").inc()
            log.exception(
                "page crashed; publishing the feed's text",
                extra={"feed": feed.name, "url": url, "error": f"{type(error).__name__}: {error}"},
            )
            return article
        PAGES_FETCHED.inc()
        # Less text than the feed had means the extractor missed the story.
        return with_page_text(article, text) if len(text) > len(article.text) else article

    def _fit(self, feed: FeedConfig, article: RawArticle) -> RawArticle:
        """The article cut to the largest one published, so every stage after can carry it."""
        fitted = fit_article(article, self.settings.max_article_bytes)
        if fitted is not article:
            ARTICLES_TRUNCATED.inc()
            log.warning(
                "article truncated",
                extra={
                    "feed": feed.name,
                    "article_id": article.id,
                    "url": str(article.url),
                    "text_chars": len(article.text),
                    "kept_chars": len(fitted.text),
                    "max_article_bytes": self.settings.max_article_bytes,
                },
            )
        return fitted

    def _record(
        self, feed: FeedConfig, state: FeedState | None, outcome: FeedPoll, started: float
    ) -> None:
        previous = state or FeedState(feed.name, str(feed.url), Validators())
        failed = outcome.status == "failed"
        failures = previous.failures + 1 if failed else 0
        delay = next_poll_delay(
            feed.poll_interval_s,
            failures=failures,
            retry_after_s=outcome.retry_after_s,
            jitter=self.settings.interval_jitter,
            backoff_max_s=self.settings.backoff_max_s,
            random_unit=self.rng.random(),
        )
        now = self.clock()
        self.store.save_feed_state(
            FeedState(
                name=feed.name,
                url=str(feed.url),
                validators=outcome.validators or previous.validators,
                failures=failures,
                last_poll_at=started,
                last_success_at=previous.last_success_at if failed else now,
                next_poll_at=now + delay,
                last_status=outcome.status,
                last_error=f"{outcome.reason}: {outcome.error}" if failed else None,
                published=previous.published + len(outcome.published),
            )
        )

    # --- forever ---------------------------------------------------------------------------

    def seconds_until_due(self, feed: FeedConfig) -> float:
        state = self.store.feed_state(feed.name)
        if state is None or state.url != str(feed.url) or state.next_poll_at is None:
            return 0.0
        return max(0.0, state.next_poll_at - self.clock())

    async def _keep_polling(
        self, feed: FeedConfig, stop: asyncio.Event, *, after: asyncio.Task[None] | None = None
    ) -> None:
        """Poll ``feed`` when due until ``stop`` is set; a poll under way is finished first.
        ``after``: the task that polled the feed before, to let finish first."""
        if after is not None:
            await asyncio.wait([after])
        while not stop.is_set():
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.seconds_until_due(feed))
                if not stop.is_set():
                    await self.poll(feed)
            except Exception:
                # The state store failed (disk full?): log, wait, and try again.
                log.exception("feed loop failed", extra={"feed": feed.name})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 5.0)

    async def run_forever(self, feeds_file: WatchedFeedsFile | None = None) -> None:
        """One task per feed, each sleeping until its own next poll (the HTTP client's gate
        bounds how many requests run at once, overall and per host). With ``feeds_file``
        (and its ``every_s`` above 0), its changes are applied as they come: feeds added
        start, feeds removed, disabled or changed stop after the poll in hand (a changed one
        then starts anew)."""
        polling: dict[str, _Polling] = {}
        # Every feed task, stopped ones finishing their poll in hand included: cancelled at
        # the end. And per name the newest, which a feed started again under it waits for.
        tasks: set[asyncio.Task[None]] = set()
        newest: dict[str, asyncio.Task[None]] = {}
        log.info(
            "polling feeds",
            extra={"feeds": [f.name for f in self.feeds], "count": len(self.feeds)},
        )
        if not self.feeds:
            log.info("no enabled feeds; nothing to poll")
        try:
            self._replace(self.feeds, polling, tasks, newest)
            while feeds_file is not None and feeds_file.every_s > 0:
                await asyncio.sleep(feeds_file.every_s)
                try:
                    feeds = feeds_file.read_if_changed()
                    if feeds is not None:
                        started, stopped = self._replace(feeds, polling, tasks, newest)
                        log.info(
                            "feeds file reloaded",
                            extra={"started": started, "stopped": stopped, "count": len(polling)},
                        )
                except Exception:
                    # A guard for a loop that runs for ever: whatever a reload ran into (the
                    # file's own faults are handled above), the feeds polled go on.
                    log.exception(
                        "feeds file reload failed", extra={"feeds_file": str(feeds_file.path)}
                    )
            await asyncio.Event().wait()  # until cancelled
        finally:
            remaining = list(tasks)
            for task in remaining:
                task.cancel()
            for task in remaining:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def _replace(
        self,
        feeds: Sequence[FeedConfig],
        polling: dict[str, _Polling],
        tasks: set[asyncio.Task[None]],
        newest: dict[str, asyncio.Task[None]],
    ) -> tuple[list[str], list[str]]:
        """Poll the enabled ``feeds`` from now on; the names started and stopped. Nothing
        waits here: a feed stopped finishes its poll in hand on its own, and one started
        again under the same name (changed, or removed and back) begins once the task before
        it is over, so one feed is never polled twice at once."""
        wanted = {feed.name: feed for feed in feeds if feed.enabled}
        stopped = [name for name, running in polling.items() if wanted.get(name) != running.feed]
        for name in stopped:
            polling.pop(name).stop.set()
        started = [name for name in wanted if name not in polling]
        for name in started:
            stop = asyncio.Event()
            task = asyncio.create_task(
                self._keep_polling(wanted[name], stop, after=newest.get(name)),
                name=f"raqib-feed-{name}",
            )
            polling[name] = _Polling(wanted[name], stop, task)
            tasks.add(task)
            newest[name] = task
            task.add_done_callback(partial(_forget, tasks, newest, name))
        self.feeds = list(wanted.values())
        return started, stopped


def _forget(
    tasks: set[asyncio.Task[None]],
    newest: dict[str, asyncio.Task[None]],
    name: str,
    task: asyncio.Task[None],
) -> None:
    tasks.discard(task)
    if newest.get(name) is task:  # not a later task of the same name
        del newest[name]


async def poll_once(
    feeds: Sequence[FeedConfig],
    settings: FetcherSettings,
    publish: Publish,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[FeedPoll]:
    """Poll every enabled feed once (pages too), with a throw-away state: for ``raqib fetch``.

    Each story is published once per call; nothing is remembered between calls.
    """
    with FetcherStore(MEMORY, capacity=settings.seen_capacity) as store:
        async with HttpClient(settings, transport=transport) as client:
            poller = Poller(feeds, client, store, publish, settings)
            return list(await asyncio.gather(*(poller.poll(feed) for feed in poller.feeds)))
