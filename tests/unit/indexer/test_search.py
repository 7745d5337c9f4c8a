from __future__ import annotations

from datetime import date

from services.indexer.core import article_document
from services.indexer.search import (
    MARK_END,
    MARK_START,
    marked_segments,
    mention_snippets,
    read_hit,
    search_request,
)
from tests.unit.indexer.articles import DETERRENCE, deterrence_article


def test_query_filters_on_ids_and_date() -> None:
    request = search_request(
        "الردع", actors=[DETERRENCE], topics=["armed-clashes"], since=date(2026, 11, 1), size=5
    )
    query = request["query"]["bool"]
    assert query["must"] == [{"multi_match": {"query": "الردع", "fields": ["title^2", "text"]}}]
    assert {"term": {"actors": DETERRENCE}} in query["filter"]
    assert {"term": {"topics": "armed-clashes"}} in query["filter"]
    assert "2026-11-01" in str(query["filter"][2])
    assert request["size"] == 5
    assert request["sort"][0] == "_score"


def test_no_words_lists_newest_first() -> None:
    request = search_request(None, actors=[DETERRENCE])
    assert request["query"]["bool"]["must"] == [{"match_all": {}}]
    assert request["sort"] == [
        {"time": {"order": "desc", "missing": "_last", "unmapped_type": "date"}},
        {"published_at": {"order": "desc", "missing": "_last"}},
    ]


def test_marked_segments() -> None:
    fragment = f"نددت الحكومة {MARK_START}بالردع{MARK_END} في {MARK_START}طرابلس{MARK_END}"
    assert marked_segments(fragment) == [
        ("نددت الحكومة ", False),
        ("بالردع", True),
        (" في ", False),
        ("طرابلس", True),
    ]
    assert marked_segments("لا شيء") == [("لا شيء", False)]


def test_mention_snippets_mark_the_stored_span() -> None:
    article = deterrence_article("قالت مصادر إن جهاز الردع نفذ عملية في طرابلس.")
    doc = article_document(article)
    (snippet,) = mention_snippets(article.text, doc["entities"], [DETERRENCE], context=8)
    assert snippet.actor == DETERRENCE
    assert [piece for piece, marked in snippet.segments if marked] == ["الردع"]
    assert "".join(p for p, _ in snippet.segments).startswith("…")
    assert mention_snippets(article.text, doc["entities"], ["someone-else"]) == []


def test_mention_snippets_skip_spans_outside_the_text() -> None:
    entities = [{"id": "x", "name": "X", "mentions": [{"start": 50, "end": 60, "field": "text"}]}]
    assert mention_snippets("قصير", entities) == []


def test_read_hit_uses_highlight_and_source() -> None:
    article = deterrence_article()
    hit = {
        "_id": article.id,
        "_source": article_document(article),
        "highlight": {"text": [f"أعلن جهاز {MARK_START}الردع{MARK_END}"]},
    }
    shown = read_hit(hit, [DETERRENCE])
    assert shown.id == article.id
    assert [p for p, _ in shown.title] == [article.title]
    assert shown.matches == [[("أعلن جهاز ", False), ("الردع", True)]]
    assert shown.actors == [DETERRENCE]
    assert shown.date == "2025-12-19"
    assert len(shown.mentions) == 1
