"""The fetcher's pure logic: URLs, feeds file, feed parsing, articles, poll state. No I/O."""

from services.fetcher.core.feeds import FeedConfig, FeedsFile, parse_feeds
from services.fetcher.core.parsing import (
    FeedEntry,
    InvalidEntry,
    NotAFeed,
    ParsedFeed,
    RejectedEntry,
    entry_to_article,
    feed_articles,
    parse_feed,
)
from services.fetcher.core.state import PollSchedule, SeenArticles
from services.fetcher.core.text import html_to_text, normalize_whitespace
from services.fetcher.core.urls import InvalidUrl, canonical_url

__all__ = [
    "FeedConfig",
    "FeedEntry",
    "FeedsFile",
    "InvalidEntry",
    "InvalidUrl",
    "NotAFeed",
    "ParsedFeed",
    "PollSchedule",
    "RejectedEntry",
    "SeenArticles",
    "canonical_url",
    "entry_to_article",
    "feed_articles",
    "html_to_text",
    "normalize_whitespace",
    "parse_feed",
    "parse_feeds",
]
