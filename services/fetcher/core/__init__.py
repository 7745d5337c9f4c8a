"""The fetcher's pure logic: URLs, feeds file, encodings, parsing, pages, scheduling. No I/O."""

from services.fetcher.core.encoding import Decoded, decode_document
from services.fetcher.core.feeds import FeedConfig, FeedsFile, feed_yaml_block, parse_feeds
from services.fetcher.core.pages import NoMainText, page_main_text
from services.fetcher.core.parsing import (
    FeedEntry,
    InvalidEntry,
    NotAFeed,
    ParsedFeed,
    RejectedEntry,
    UnsafeDocument,
    entry_to_article,
    feed_articles,
    fit_article,
    needs_page,
    parse_feed,
    refuse_entity_declarations,
    with_page_text,
)
from services.fetcher.core.schedule import next_poll_delay, parse_retry_after
from services.fetcher.core.text import html_to_text, normalize_whitespace
from services.fetcher.core.urls import InvalidUrl, canonical_url

__all__ = [
    "Decoded",
    "FeedConfig",
    "FeedEntry",
    "FeedsFile",
    "InvalidEntry",
    "InvalidUrl",
    "NoMainText",
    "NotAFeed",
    "ParsedFeed",
    "RejectedEntry",
    "UnsafeDocument",
    "canonical_url",
    "decode_document",
    "entry_to_article",
    "feed_articles",
    "feed_yaml_block",
    "fit_article",
    "html_to_text",
    "needs_page",
    "next_poll_delay",
    "normalize_whitespace",
    "page_main_text",
    "parse_feed",
    "parse_feeds",
    "parse_retry_after",
    "refuse_entity_declarations",
    "with_page_text",
]
