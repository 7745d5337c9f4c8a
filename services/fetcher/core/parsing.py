"""Feed bytes → entries → ``RawArticle``s. Pure: no network, no clock (time is passed in).

feedparser reads RSS 0.9x/1.0 (RDF)/2.0 and Atom. The bytes are decoded here first
(``encoding.decode_document``: BOM, valid UTF-8, the XML declaration, the HTTP charset, then
windows-1256), because feedparser trusts a lying HTTP charset. A document that declares XML
entities is refused before any parser sees it: the "billion laughs" family needs them, and no
real feed does.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser
import pydantic_core

from schemas import RawArticle, article_id, content_hash
from services.common.errors import PermanentError
from services.fetcher.core.encoding import as_utf8_xml, decode_document
from services.fetcher.core.feeds import FeedConfig
from services.fetcher.core.text import html_to_text, normalize_whitespace
from services.fetcher.core.urls import InvalidUrl, canonical_url

_HTML_TYPES = ("text/html", "application/xhtml+xml", "html", "xhtml")
# An internal DTD subset that declares an entity; only the prolog is searched.
_ENTITY_DECLARATION = re.compile(r"<!DOCTYPE[^>\[]*\[[^\]]*<!ENTITY", re.IGNORECASE)
_PROLOG_CHARS = 64 * 1024
# A cut text ends at the last whitespace of its final characters (a word is not cut in two).
_LAST_WORD = re.compile(r"\s+\S*\Z")
_WORD_SEARCH_CHARS = 1000


def refuse_entity_declarations(text: str, origin: str) -> None:
    """Raise ``UnsafeDocument`` if ``text`` declares XML entities in its DOCTYPE."""
    if _ENTITY_DECLARATION.search(text[:_PROLOG_CHARS]):
        raise UnsafeDocument(f"{origin}: declares XML entities (refused: entity expansion)")


class NotAFeed(PermanentError):
    """The bytes are not an RSS, RDF or Atom document."""


class UnsafeDocument(NotAFeed):
    """The document declares XML entities (the way to an entity-expansion bomb)."""


class InvalidEntry(PermanentError):
    """A feed entry that cannot become an article (no title and no text)."""


@dataclass(frozen=True)
class FeedEntry:
    """One feed item, already reduced to plain text."""

    link: str | None
    guid: str | None
    title: str
    text: str
    html: str | None
    published_at: datetime | None


@dataclass(frozen=True)
class ParsedFeed:
    version: str  # feedparser's name for the format, e.g. "rss20", "atom10", "rss10"
    title: str
    entries: list[FeedEntry]
    encoding: str
    warning: str | None  # a recoverable problem feedparser noticed (its "bozo" flag)


def _is_html(detail: Any) -> bool:
    return str(detail.get("type", "")).lower() in _HTML_TYPES


def _plain(detail: Any, value: str) -> tuple[str, str | None]:
    """(text, html): the text of a feedparser text construct, and its HTML when it had some."""
    if _is_html(detail):
        return html_to_text(value), value
    return normalize_whitespace(value), None


def _struct_to_datetime(value: time.struct_time | None) -> datetime | None:
    # feedparser normalises every date it understands to a UTC struct_time.
    if value is None:
        return None
    try:
        return datetime(*value[:6], tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def _body(entry: Any) -> tuple[str, str | None]:
    """The richest body an entry has: full content (Atom content, content:encoded), else summary."""
    for content in entry.get("content") or []:
        value = content.get("value") or ""
        if value.strip():
            return _plain(content, value)
    summary = entry.get("summary") or ""
    if summary.strip():
        return _plain(entry.get("summary_detail") or {}, summary)
    return "", None


def _entry(raw: Any, base_url: str | None) -> FeedEntry:
    title_value = raw.get("title") or ""
    title, _ = _plain(raw.get("title_detail") or {}, title_value)
    text, html = _body(raw)
    link = (raw.get("link") or "").strip() or None
    if link and base_url:
        link = urljoin(base_url, link)
    # dict.get bypasses feedparser's deprecated published→updated alias (and its warning).
    published = _struct_to_datetime(dict.get(raw, "published_parsed")) or _struct_to_datetime(
        dict.get(raw, "updated_parsed")
    )
    return FeedEntry(
        link=link,
        guid=raw.get("id") or None,
        title=title,
        text=text,
        html=html,
        published_at=published,
    )


def parse_feed(
    data: bytes, *, url: str | None = None, content_type: str | None = None
) -> ParsedFeed:
    """Parse feed bytes; relative links resolve against ``url``. Raises ``NotAFeed``.

    ``content_type`` is the HTTP Content-Type; its charset is one clue among several.
    """
    decoded = decode_document(data, content_type=content_type)
    refuse_entity_declarations(decoded.text, url or "feed")
    headers = {"content-type": "application/xml; charset=utf-8"}
    if url:
        headers["content-location"] = url
    parsed: Any = feedparser.parse(as_utf8_xml(decoded.text), response_headers=headers)
    version = str(parsed.get("version") or "")
    if not version:
        reason = parsed.get("bozo_exception") or "no RSS, RDF or Atom root element"
        raise NotAFeed(f"not a feed: {reason}")
    feed_info: Any = parsed.get("feed") or {}
    bozo = parsed.get("bozo_exception") if parsed.get("bozo") else None
    return ParsedFeed(
        version=version,
        title=normalize_whitespace(str(feed_info.get("title") or "")),
        entries=[_entry(raw, url) for raw in parsed.get("entries") or []],
        encoding=decoded.encoding,
        warning=str(bozo) if bozo else None,
    )


def entry_to_article(entry: FeedEntry, feed: FeedConfig, *, fetched_at: datetime) -> RawArticle:
    """The article of one entry; its id is the hash of the canonical link.

    An entry without a usable link gets the replay identity (source + text), so a re-fetch
    still yields the same id. An entry that only has a title uses the title as its text.
    """
    text = entry.text or entry.title
    if not text:
        raise InvalidEntry(f"entry {entry.guid or entry.link or '?'} has no title and no text")
    url: str | None = None
    if entry.link:
        try:
            url = canonical_url(entry.link)
        except InvalidUrl:
            url = None
    identity = url or f"{feed.publication}\n{text}"
    return RawArticle(
        id=article_id(identity),
        url=url,
        source=feed.publication,
        feed=feed.name,
        title=entry.title,
        text=text,
        html=entry.html,
        language=feed.language,
        published_at=entry.published_at,
        fetched_at=fetched_at,
        content_hash=content_hash(text),
    )


@dataclass(frozen=True)
class RejectedEntry:
    entry: FeedEntry
    reason: str


def feed_articles(
    parsed: ParsedFeed, feed: FeedConfig, *, fetched_at: datetime
) -> tuple[list[RawArticle], list[RejectedEntry]]:
    """Every entry's article; entries that cannot become one are returned with the reason."""
    articles: list[RawArticle] = []
    rejected: list[RejectedEntry] = []
    for entry in parsed.entries:
        try:
            articles.append(entry_to_article(entry, feed, fetched_at=fetched_at))
        except (PermanentError, ValueError) as error:
            rejected.append(RejectedEntry(entry, str(error)))
    return articles, rejected


def needs_page(article: RawArticle, min_text_chars: int) -> bool:
    """Whether the feed gave too little text, so the article page should be fetched."""
    return article.url is not None and len(article.text) < min_text_chars


def with_page_text(article: RawArticle, text: str) -> RawArticle:
    """The article with the page's main text; the id (from the URL) stays, the hash follows."""
    return article.model_copy(update={"text": text, "content_hash": content_hash(text)})


def fit_article(article: RawArticle, max_bytes: int) -> RawArticle:
    """``article`` as published within ``max_bytes`` of JSON.

    One that fits is returned as it is. Otherwise it loses its HTML, then, if that is not
    enough, the end of its text (and of its title, when the title alone takes more than half
    the room), cut between words; it is flagged ``truncated`` and its content hash follows the
    text. Its id is kept, so a re-fetch of the same long article is still the same article.
    """
    if _json_bytes(article) <= max_bytes:
        return article
    fitted = article.model_copy(update={"html": None, "truncated": True})
    if _json_bytes(fitted) <= max_bytes:
        return fitted
    empty = fitted.model_copy(update={"title": "", "text": "", "content_hash": content_hash("")})
    room = max_bytes - _json_bytes(empty)
    title = _json_prefix(article.title, room // 2)
    text = _json_prefix(article.text, room - _json_string_bytes(title))
    return fitted.model_copy(
        update={"title": title, "text": text, "content_hash": content_hash(text)}
    )


def _json_bytes(article: RawArticle) -> int:
    return len(article.model_dump_json().encode())


def _json_string_bytes(text: str) -> int:
    """The bytes ``text`` takes inside a JSON document, escapes included, quotes not."""
    return len(pydantic_core.to_json(text)) - 2


def _json_prefix(text: str, budget: int) -> str:
    """The longest start of ``text`` that takes at most ``budget`` bytes in JSON, ending
    between two words when the last characters hold a space."""
    if budget <= 0:
        return ""
    if _json_string_bytes(text) <= budget:
        return text
    prefix = text.encode()[:budget].decode("utf-8", "ignore")
    size = _json_string_bytes(prefix)
    if size > budget:  # escapes make JSON longer than UTF-8: shorten in proportion
        prefix = prefix[: len(prefix) * budget // size]
        size = _json_string_bytes(prefix)
    while size > budget:  # each character dropped takes at least one byte with it
        prefix = prefix[: max(0, len(prefix) - (size - budget))]
        size = _json_string_bytes(prefix)
    tail = prefix[-_WORD_SEARCH_CHARS:]
    last_word = _LAST_WORD.search(tail)
    if last_word is not None and last_word.start() > 0:
        prefix = prefix[: len(prefix) - len(tail) + last_word.start()]
    return prefix
