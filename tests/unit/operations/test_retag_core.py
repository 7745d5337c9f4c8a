"""``raqib retag``'s pure logic: options, the selection's queries, documents back to raw
articles, alert modes and the changes it reports."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas import EnrichedArticle
from services.enrichment.core import Tagger, enrich, load_knowledge_base
from services.indexer.core import article_date, article_document, article_layout
from services.operations.retag_core import (
    RetagInputError,
    Selection,
    TagChanges,
    alerts_mode,
    parse_cutoff,
    parse_when,
    placed_at,
    raw_article,
    scan_request,
    selection_query,
    stale_query,
)
from services.replay.fixtures import fixture_paths, load_fixture

REPO = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
LAYOUT = article_layout("raqib-articles")


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger(load_knowledge_base(None))


@pytest.fixture(scope="module")
def archived(tagger: Tagger) -> list[EnrichedArticle]:
    """The seed articles as enrichment made them."""
    fetched = datetime(2026, 1, 10, tzinfo=UTC)
    return [
        enrich(load_fixture(path, fetched_at=fetched), tagger, now=fetched)
        for path in fixture_paths(REPO / "seeds")
    ]


def stored(article: EnrichedArticle) -> dict[str, object]:
    """The document's source as the engine returns it (JSON round trip)."""
    loaded: dict[str, object] = json.loads(json.dumps(article_document(article)))
    return loaded


def test_dates_and_cutoffs() -> None:
    assert parse_when("2026-11-01", "--since") == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_when("2026-11-30", "--until", end_of_day=True) == datetime(2026, 12, 1, tzinfo=UTC)
    assert parse_when("2026-11-01T08:00:00+02:00", "--since") == datetime(
        2026, 11, 1, 6, 0, tzinfo=UTC
    )
    assert parse_when("2026-11-01T08:00", "--since") == datetime(2026, 11, 1, 8, tzinfo=UTC)
    assert parse_cutoff("7d", NOW) == NOW - timedelta(days=7)
    assert parse_cutoff("36h", NOW) == NOW - timedelta(hours=36)
    assert parse_cutoff("2026-01-01", NOW) == datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: parse_when("yesterday", "--since"), "--since 'yesterday' is not a date"),
        (lambda: parse_when("2026-13-01", "--until"), "--until '2026-13-01' is not a date"),
        (lambda: parse_cutoff("a week", NOW), "--alerts-cutoff 'a week' is neither"),
        (
            lambda: Selection(
                since=datetime(2026, 2, 1, tzinfo=UTC), until=datetime(2026, 1, 1, tzinfo=UTC)
            ),
            "is not after --since",
        ),
    ],
)
def test_bad_options_say_which(call: object, message: str) -> None:
    with pytest.raises(RetagInputError, match=message):
        call()  # type: ignore[operator]


def test_selection_query() -> None:
    everything = selection_query(Selection())
    assert everything == {"bool": {"filter": [], "must_not": []}}
    selection = Selection(
        since=datetime(2026, 1, 1, tzinfo=UTC),
        actor="special-deterrence-force",
        actor_aliases=["قوة الردع", "قوة الردع", "الردع"],
        older_than_kb="kb-1",
        resume="retag-1",
    )
    query = selection_query(selection)["bool"]
    in_range, actor = query["filter"]
    text = json.dumps(in_range)
    assert '"time": {"gte": "2026-01-01T00:00:00+00:00"}' in text
    assert '"exists": {"field": "time"}' in text  # documents indexed before ``time`` existed
    should = actor["bool"]["should"]
    assert should[0] == {"term": {"actors": "special-deterrence-force"}}
    assert {"match_phrase": {"text": "قوة الردع"}} in should and len(should) == 5  # deduplicated
    assert query["must_not"] == [
        {"term": {"knowledge_base_version": "kb-1"}},
        {"term": {"retag.id": "retag-1"}},
    ]
    stale = stale_query(Selection(), "kb-2")
    assert stale["bool"]["must_not"] == [{"term": {"knowledge_base_version": "kb-2"}}]
    first = scan_request(selection_query(selection), None, 100)
    assert first["sort"] == [{"id": "asc"}] and "search_after" not in first
    assert scan_request({}, "abc", 100)["search_after"] == ["abc"]


def test_alert_modes() -> None:
    cutoff = NOW - timedelta(days=7)
    assert alerts_mode(None, NOW - timedelta(days=30), cutoff) == "none"
    assert alerts_mode(None, NOW - timedelta(days=1), cutoff) == "new"
    assert alerts_mode(None, None, cutoff) == "none"
    assert alerts_mode("new", NOW - timedelta(days=30), cutoff) == "new"
    assert alerts_mode("none", NOW, cutoff) == "none"


def test_a_document_goes_back_through_enrichment_unchanged(
    tagger: Tagger, archived: list[EnrichedArticle]
) -> None:
    """The stored text is the cleaned text: tagging it again gives the same text, spans and
    tags; the re-tagged article lands in the index and under the id of its document."""
    assert len(archived) >= 5
    for article in archived:
        marked = raw_article(
            stored(article), run_id="retag-1", requested_at=NOW, alerts=None, cutoff=NOW
        )
        again = enrich(marked.article, tagger, now=NOW)
        assert again.retag is not None and again.retag.alerts == "none"
        assert again.retag.id == "retag-1"
        assert (again.id, again.text, again.title) == (article.id, article.text, article.title)
        assert again.entities == article.entities and again.topics == article.topics
        assert (again.published_at, again.fetched_at) == (article.published_at, article.fetched_at)
        assert LAYOUT.index_for(article_date(again)) == LAYOUT.index_for(article_date(article))
        assert marked.actors == tuple(dict.fromkeys(e.id for e in article.entities))
        # The indexer keeps the marker, so a later run finds where the document is.
        assert placed_at(stored(again)) == article_date(article)


def test_a_retagged_article_stays_in_its_month_when_its_date_changes(
    archived: list[EnrichedArticle],
) -> None:
    article = archived[0].model_copy(update={"published_at": None})
    marked = raw_article(stored(article), run_id="r", requested_at=NOW, alerts="new", cutoff=NOW)
    found_a_date = EnrichedArticle.model_validate(
        {**article.model_dump(), "retag": marked.article.retag, "published_at": NOW}
    )
    assert article_date(found_a_date) == article.fetched_at  # not NOW's month
    assert article_document(found_a_date)["time"] == article_document(found_a_date)["published_at"]


def test_a_broken_document_is_named(archived: list[EnrichedArticle]) -> None:
    source = stored(archived[0])
    source["id"] = "not-an-id"
    with pytest.raises(RetagInputError, match="'not-an-id' is not a raw article: id"):
        raw_article(source, run_id="r", requested_at=NOW, alerts=None, cutoff=NOW)
    with pytest.raises(RetagInputError, match="has no date"):
        raw_article({"id": "x"}, run_id="r", requested_at=NOW, alerts=None, cutoff=NOW)


def test_changes_per_actor() -> None:
    changes = TagChanges()
    changes.compare(["a", "b"], ["a", "c"])
    changes.compare(["b"], ["c", "b"])
    changes.compare(["a"], ["a"])
    assert changes.lines() == ["b: +0 \u22121", "c: +2 \u22120"]
    assert changes.as_dict() == {"b": {"added": 0, "removed": 1}, "c": {"added": 2, "removed": 0}}
    assert changes.changed_documents == 2
