"""``raqib retag``'s pure logic: which archived documents, as what raw articles, what changed.

The archive is read from the articles alias (the index keeps each article's title, cleaned
text and raw fields: decision 60), so every selection here is a search request body. Each
document becomes the ``RawArticle`` it was enriched from, with a ``Retag`` marker, and goes
through enrichment again like a new article. No I/O here; ``retag.py`` does that.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pydantic import ValidationError

from schemas import RawArticle, Retag
from services.common.discover import ARTICLE_TIME_FIELD

AlertsMode = Literal["none", "new"]
ALERTS_MODES: tuple[AlertsMode, ...] = ("none", "new")

# The fields of a document a re-tag reads: the raw article's, and what it compares.
RAW_FIELDS = (
    "id",
    "url",
    "source",
    "feed",
    "title",
    "text",
    "language",
    "published_at",
    "fetched_at",
    "content_hash",
    "truncated",
)
SCAN_FIELDS = [*RAW_FIELDS, "actors", "knowledge_base_version", "retag"]

_DURATION = re.compile(r"^\s*(\d+)\s*([dhm])\s*$")
_UNITS = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}


class RetagInputError(ValueError):
    """An option of ``raqib retag`` that cannot be used; the message says which and why."""


def parse_when(value: str, option: str, *, end_of_day: bool = False) -> datetime:
    """A date (``2026-11-01``) or a date-time with or without a zone (UTC when none).

    With ``end_of_day`` a bare date means the end of that day (``--until 2026-11-30`` takes
    in the 30th).
    """
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start + timedelta(days=1) if end_of_day else start
        when = datetime.fromisoformat(text)
    except ValueError:
        raise RetagInputError(
            f"{option} {value!r} is not a date like 2026-11-01 or a time like "
            "2026-11-01T08:00:00+00:00"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def parse_cutoff(value: str, now: datetime) -> datetime:
    """``--alerts-cutoff``: an age (``7d``, ``36h``, ``90m``) before ``now``, or a date."""
    match = _DURATION.match(value)
    if match:
        return now - int(match.group(1)) * _UNITS[match.group(2)]
    try:
        return parse_when(value, "--alerts-cutoff")
    except RetagInputError:
        raise RetagInputError(
            f"--alerts-cutoff {value!r} is neither an age like 7d, 36h or 90m nor a date "
            "like 2026-11-01"
        ) from None


@dataclass(frozen=True)
class Selection:
    """Which archived documents a run re-tags."""

    since: datetime | None = None
    until: datetime | None = None
    actor: str | None = None
    actor_aliases: Sequence[str] = ()
    # Only documents tagged with another knowledge-base version than this one.
    older_than_kb: str | None = None
    # Leave out documents a run with this id already re-tagged (resuming it).
    resume: str | None = None

    def __post_init__(self) -> None:
        if self.since and self.until and self.until <= self.since:
            raise RetagInputError(
                f"--until {self.until.isoformat()} is not after --since {self.since.isoformat()}"
            )


def time_range(since: datetime | None, until: datetime | None) -> dict[str, Any] | None:
    """Documents whose article time is in [since, until): ``time``, or for documents indexed
    before it existed, ``published_at`` else ``fetched_at`` (the same rule)."""
    bounds: dict[str, str] = {}
    if since is not None:
        bounds["gte"] = since.astimezone(UTC).isoformat()
    if until is not None:
        bounds["lt"] = until.astimezone(UTC).isoformat()
    if not bounds:
        return None
    undated = {
        "bool": {
            "must_not": {"exists": {"field": "published_at"}},
            "filter": {"range": {"fetched_at": bounds}},
        }
    }
    older = {
        "bool": {
            "must_not": {"exists": {"field": ARTICLE_TIME_FIELD}},
            "should": [{"range": {"published_at": bounds}}, undated],
            "minimum_should_match": 1,
        }
    }
    return {
        "bool": {
            "should": [{"range": {ARTICLE_TIME_FIELD: bounds}}, older],
            "minimum_should_match": 1,
        }
    }


def actor_filter(actor: str, aliases: Iterable[str]) -> dict[str, Any]:
    """Documents tagged with ``actor``, or whose title or text holds one of its aliases as a
    phrase (through the index's Arabic analyzer): the ones a re-tag can change for it."""
    should: list[dict[str, Any]] = [{"term": {"actors": actor}}]
    for alias in dict.fromkeys(aliases):
        should += [{"match_phrase": {"title": alias}}, {"match_phrase": {"text": alias}}]
    return {"bool": {"should": should, "minimum_should_match": 1}}


def selection_query(selection: Selection) -> dict[str, Any]:
    """The query that finds the selection's documents on the articles alias."""
    filters: list[dict[str, Any]] = []
    must_not: list[dict[str, Any]] = []
    in_range = time_range(selection.since, selection.until)
    if in_range is not None:
        filters.append(in_range)
    if selection.actor is not None:
        filters.append(actor_filter(selection.actor, selection.actor_aliases))
    if selection.older_than_kb is not None:
        must_not.append({"term": {"knowledge_base_version": selection.older_than_kb}})
    if selection.resume is not None:
        must_not.append({"term": {"retag.id": selection.resume}})
    return {"bool": {"filter": filters, "must_not": must_not}}


def scan_request(query: Mapping[str, Any], after: str | None, size: int) -> dict[str, Any]:
    """One page of the selection in id order; ``after`` is the last id of the page before.
    Ids are unique and a re-tag keeps them, so a document replaced meanwhile is not seen
    twice and none is skipped."""
    request: dict[str, Any] = {
        "query": dict(query),
        "sort": [{"id": "asc"}],
        "size": size,
        "_source": SCAN_FIELDS,
        "track_total_hits": False,
    }
    if after is not None:
        request["search_after"] = [after]
    return request


def stale_query(selection: Selection, kb_version: str) -> dict[str, Any]:
    """Documents of the selection still tagged with another knowledge-base version."""
    query = selection_query(selection)
    query["bool"]["must_not"] = [
        *query["bool"]["must_not"],
        {"term": {"knowledge_base_version": kb_version}},
    ]
    return query


def retagged_query(run_id: str) -> dict[str, Any]:
    """Documents this run re-tagged (the indexer stored its marker)."""
    return {"bool": {"filter": [{"term": {"retag.id": run_id}}]}}


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def document_time(source: Mapping[str, Any]) -> datetime | None:
    """The article time of a stored document: published, else fetched."""
    return _parse_time(source.get("published_at")) or _parse_time(source.get("fetched_at"))


def placed_at(source: Mapping[str, Any]) -> datetime | None:
    """The date that placed a stored document in its monthly index (see the indexer's
    ``article_date``): an earlier re-tag's, else its article time."""
    earlier = source.get("retag")
    if isinstance(earlier, Mapping):
        placed = _parse_time(earlier.get("placed_at"))
        if placed is not None:
            return placed
    return document_time(source)


def alerts_mode(
    explicit: AlertsMode | None, article_time: datetime | None, cutoff: datetime
) -> AlertsMode:
    """The alert mode of one article: the operator's, else ``none`` for an article older
    than the cut-off (or without a time) and ``new`` for a recent one."""
    if explicit is not None:
        return explicit
    if article_time is None or article_time < cutoff:
        return "none"
    return "new"


@dataclass(frozen=True)
class Marked:
    """A document turned back into the raw article it was enriched from."""

    article: RawArticle
    actors: tuple[str, ...]  # the actors it was tagged with before


def raw_article(
    source: Mapping[str, Any],
    *,
    run_id: str,
    requested_at: datetime,
    alerts: AlertsMode | None,
    cutoff: datetime,
) -> Marked:
    """The ``RawArticle`` of a stored document, marked as re-tagged by ``run_id``.

    The stored ``text`` is the cleaned text (cleaning it again changes nothing) and
    ``published_at`` is the one enrichment settled on. Raises ``RetagInputError`` for a
    document that is not one (the message names it).
    """
    fields = {name: source[name] for name in RAW_FIELDS if source.get(name) is not None}
    where = placed_at(source)
    if where is None:
        raise RetagInputError(f"document {source.get('id')!r} has no date")
    mode = alerts_mode(alerts, document_time(source), cutoff)
    fields["retag"] = Retag(id=run_id, requested_at=requested_at, alerts=mode, placed_at=where)
    try:
        article = RawArticle.model_validate(fields)
    except ValidationError as error:
        details = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
            for e in error.errors(include_url=False, include_input=False)
        )
        raise RetagInputError(
            f"document {source.get('id')!r} is not a raw article: {details}"
        ) from error
    return Marked(article, tuple(source.get("actors") or ()))


@dataclass
class TagChanges:
    """Per actor, how many documents gained it and how many lost it."""

    added: dict[str, int] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)
    changed_documents: int = 0

    def compare(self, before: Iterable[str], after: Iterable[str]) -> None:
        old, new = set(before), set(after)
        for actor in new - old:
            self.added[actor] = self.added.get(actor, 0) + 1
        for actor in old - new:
            self.removed[actor] = self.removed.get(actor, 0) + 1
        if old != new:
            self.changed_documents += 1

    def actors(self) -> list[str]:
        return sorted(self.added.keys() | self.removed.keys())

    def lines(self) -> list[str]:
        """``special-deterrence-force: +12 −3``, one per actor whose tags changed."""
        return [
            f"{actor}: +{self.added.get(actor, 0)} \u2212{self.removed.get(actor, 0)}"
            for actor in self.actors()
        ]

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {
            actor: {"added": self.added.get(actor, 0), "removed": self.removed.get(actor, 0)}
            for actor in self.actors()
        }


def new_run_id(requested_at: datetime) -> str:
    """A run id operators can read: when it was requested, to the second (UTC)."""
    return "retag-" + requested_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
