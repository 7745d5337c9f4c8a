"""In-memory poll state: which articles were already published, and when each feed is due."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from schemas import RawArticle
from services.fetcher.core.feeds import FeedConfig


class SeenArticles:
    """Ids and content hashes already published, oldest forgotten first beyond ``capacity``.

    Checking the content hash as well as the id catches one story syndicated under two URLs.
    """

    def __init__(self, capacity: int = 100_000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._keys: OrderedDict[str, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._keys)

    @staticmethod
    def _keys_of(article: RawArticle) -> tuple[str, str]:
        return f"id:{article.id}", f"hash:{article.content_hash}"

    def is_new(self, article: RawArticle) -> bool:
        return not any(key in self._keys for key in self._keys_of(article))

    def remember(self, article: RawArticle) -> None:
        for key in self._keys_of(article):
            self._keys[key] = None
            self._keys.move_to_end(key)
        while len(self._keys) > self.capacity:
            self._keys.popitem(last=False)

    def new_articles(self, articles: Iterable[RawArticle]) -> list[RawArticle]:
        """The articles not seen before, duplicates within ``articles`` included once.

        Does not remember them: call ``remember`` once each is published.
        """
        in_batch: set[str] = set()
        fresh: list[RawArticle] = []
        for article in articles:
            keys = self._keys_of(article)
            if self.is_new(article) and in_batch.isdisjoint(keys):
                in_batch.update(keys)
                fresh.append(article)
        return fresh


class PollSchedule:
    """When each feed is next due, on a monotonic clock supplied by the caller."""

    def __init__(self, feeds: Iterable[FeedConfig], now: float) -> None:
        self._feeds = {feed.name: feed for feed in feeds if feed.enabled}
        self._due = dict.fromkeys(self._feeds, now)  # every feed is polled at start

    @property
    def feeds(self) -> list[FeedConfig]:
        return list(self._feeds.values())

    def due(self, now: float) -> list[FeedConfig]:
        return [self._feeds[name] for name, at in self._due.items() if at <= now]

    def polled(self, feed: FeedConfig, now: float) -> None:
        self._due[feed.name] = now + feed.poll_interval_s

    def seconds_until_next(self, now: float) -> float | None:
        """Seconds until the earliest feed is due (0 if one is due now); None with no feeds."""
        if not self._due:
            return None
        return max(0.0, min(self._due.values()) - now)
