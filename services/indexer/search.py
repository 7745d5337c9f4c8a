"""``raqib search``: the query it sends and how a hit is shown, as pure functions.

Full text goes through the ``arabic`` analyzer of ``title`` and ``text``; actor and topic
filters are exact ids on the flat keyword lists, so they find an article whatever form its
name took there (the tagger already resolved spelling, clitics and split forms). Mentions are
shown from the spans the tagger stored, query matches from Elasticsearch's highlighter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from services.common.discover import ARTICLE_TIME_FIELD

# Highlight markers: control characters no article text contains.
MARK_START, MARK_END = "\x02", "\x03"

SOURCE_FIELDS = [
    "id",
    "title",
    "url",
    "source",
    "published_at",
    "fetched_at",
    ARTICLE_TIME_FIELD,
    "actors",
    "topics",
    "text",
    "entities",
]


def search_request(
    query: str | None,
    *,
    actors: Sequence[str] = (),
    topics: Sequence[str] = (),
    since: date | None = None,
    size: int = 10,
) -> dict[str, Any]:
    """The body of a search on the articles alias (what both engines take on the wire)."""
    must: list[dict[str, Any]] = (
        [{"multi_match": {"query": query, "fields": ["title^2", "text"]}}]
        if query
        else [{"match_all": {}}]
    )
    filters: list[dict[str, Any]] = [{"term": {"actors": actor}} for actor in actors]
    filters += [{"term": {"topics": topic}} for topic in topics]
    if since is not None:
        filters.append(since_filter(since))
    # ``time`` (published, else fetched) is never empty; documents indexed before it existed
    # come after those that have it, by publication date.
    sort: list[Any] = [
        {ARTICLE_TIME_FIELD: {"order": "desc", "missing": "_last", "unmapped_type": "date"}},
        {"published_at": {"order": "desc", "missing": "_last"}},
    ]
    if query:
        sort.insert(0, "_score")
    return {
        "query": {"bool": {"must": must, "filter": filters}},
        "sort": sort,
        "size": size,
        "_source": SOURCE_FIELDS,
        "highlight": {
            "pre_tags": [MARK_START],
            "post_tags": [MARK_END],
            "fields": {
                "title": {"number_of_fragments": 0},
                "text": {"fragment_size": 160, "number_of_fragments": 2},
            },
        },
    }


def since_filter(since: date) -> dict[str, Any]:
    """Articles whose ``time`` (published, else fetched) is on or after ``since``; documents
    indexed before ``time`` existed (until a ``raqib retag`` rewrites them) by the same rule
    on ``published_at`` and ``fetched_at``."""
    day = since.isoformat()
    return {
        "bool": {
            "should": [
                {"range": {ARTICLE_TIME_FIELD: {"gte": day}}},
                {
                    "bool": {
                        "must_not": {"exists": {"field": ARTICLE_TIME_FIELD}},
                        "should": [
                            {"range": {"published_at": {"gte": day}}},
                            {
                                "bool": {
                                    "must_not": {"exists": {"field": "published_at"}},
                                    "filter": {"range": {"fetched_at": {"gte": day}}},
                                }
                            },
                        ],
                        "minimum_should_match": 1,
                    }
                },
            ],
            "minimum_should_match": 1,
        }
    }


# A piece of text and whether it is highlighted.
Segment = tuple[str, bool]


def marked_segments(fragment: str) -> list[Segment]:
    """Split a highlighted fragment into plain and marked pieces (markers removed)."""
    segments: list[Segment] = []
    for index, piece in enumerate(fragment.split(MARK_START)):
        if index == 0:
            if piece:
                segments.append((piece, False))
            continue
        marked, _, rest = piece.partition(MARK_END)
        if marked:
            segments.append((marked, True))
        if rest:
            segments.append((rest, False))
    return segments


@dataclass(frozen=True)
class MentionSnippet:
    actor: str
    name: str
    segments: list[Segment]


def mention_snippets(
    text: str,
    entities: Sequence[Mapping[str, Any]],
    actors: Sequence[str] = (),
    *,
    context: int = 50,
    limit: int = 3,
) -> list[MentionSnippet]:
    """For each entity (only ``actors`` if given): its first stored mention in ``text``, with
    ``context`` characters either side, the mention itself marked."""
    snippets: list[MentionSnippet] = []
    for entity in entities:
        if actors and entity.get("id") not in actors:
            continue
        for mention in entity.get("mentions") or []:
            if mention.get("field", "text") != "text":
                continue
            start, end = int(mention["start"]), int(mention["end"])
            if not 0 <= start < end <= len(text):
                continue  # a span from another version of the text: show nothing wrong
            left, right = max(0, start - context), min(len(text), end + context)
            pieces = [
                ("…" if left else "") + text[left:start].replace("\n", " "),
                text[start:end],
                text[end:right].replace("\n", " ") + ("…" if right < len(text) else ""),
            ]
            segments: list[Segment] = [
                (piece, position == 1) for position, piece in enumerate(pieces) if piece
            ]
            snippets.append(
                MentionSnippet(str(entity.get("id")), str(entity.get("name", "")), segments)
            )
            break
        if len(snippets) >= limit:
            break
    return snippets


@dataclass(frozen=True)
class SearchHit:
    id: str
    title: list[Segment]
    source: str
    url: str | None
    date: str | None
    actors: list[str]
    topics: list[str]
    matches: list[list[Segment]]
    mentions: list[MentionSnippet]


def read_hit(hit: Mapping[str, Any], actors: Sequence[str] = ()) -> SearchHit:
    """What ``raqib search`` shows of one Elasticsearch hit."""
    source: Mapping[str, Any] = hit.get("_source") or {}
    highlight: Mapping[str, Any] = hit.get("highlight") or {}
    title_fragments = highlight.get("title") or [str(source.get("title", ""))]
    when = source.get(ARTICLE_TIME_FIELD) or source.get("published_at") or source.get("fetched_at")
    return SearchHit(
        id=str(hit.get("_id", source.get("id", ""))),
        title=marked_segments(str(title_fragments[0])),
        source=str(source.get("source", "")),
        url=source.get("url"),
        date=str(when)[:10] if when else None,
        actors=list(source.get("actors") or []),
        topics=list(source.get("topics") or []),
        matches=[marked_segments(str(f).replace("\n", " ")) for f in highlight.get("text") or []],
        mentions=mention_snippets(
            str(source.get("text", "")), source.get("entities") or [], actors
        ),
    )
