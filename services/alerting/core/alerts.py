"""Build an ``Alert`` from a rule match: the snippet around the first mentions, the deliveries."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from schemas import (
    Alert,
    AlertRule,
    ArticleSummary,
    Delivery,
    DeliveryStatus,
    EnrichedArticle,
)
from services.alerting.core.excerpts import ELLIPSIS, excerpts, merge_spans, opening
from services.alerting.core.kinds import RuleMatch, window_start
from services.alerting.core.rules import ChannelKind

Span = tuple[int, int]


def _mention_spans(
    article: EnrichedArticle, entity_ids: Iterable[str], field: Literal["title", "text"]
) -> dict[str, list[Span]]:
    """Valid spans of each entity's mentions in one field, in text order."""
    source = article.title if field == "title" else article.text
    wanted = set(entity_ids)
    spans: dict[str, list[Span]] = {}
    for entity in article.entities:
        if entity.id not in wanted:
            continue
        found = [
            (m.start, m.end)
            for m in entity.mentions
            if m.field == field and 0 <= m.start < m.end <= len(source)
        ]
        spans.setdefault(entity.id, []).extend(sorted(found))
    return spans


def title_marks(article: EnrichedArticle, entity_ids: Sequence[str]) -> tuple[Span, ...]:
    spans = _mention_spans(article, entity_ids, "title")
    return merge_spans(span for found in spans.values() for span in found)


def snippet(article: EnrichedArticle, entity_ids: Sequence[str]) -> str:
    """The first excerpt of each actor (decision 55's rules), or the body's first sentence."""
    spans = _mention_spans(article, entity_ids, "text")
    firsts = [
        found[0].text
        for found in (
            excerpts(article.text, s, title=article.title, limit=1) for s in spans.values()
        )
        if found
    ]
    if not firsts and (first := opening(article.text)) is not None:
        firsts = [first.text]
    return f" {ELLIPSIS} ".join(dict.fromkeys(firsts))


@dataclass(frozen=True)
class Passage:
    """A piece of the article with the spans (relative to ``text``) to highlight."""

    text: str
    marks: tuple[Span, ...]


def passages(article: EnrichedArticle, entity_ids: Sequence[str]) -> list[Passage]:
    """Every watched actor's excerpts (``excerpts``' rules) in text order, without repeats;
    the body's first sentence when none names them."""
    found: dict[str, tuple[int, Passage]] = {}
    for spans in _mention_spans(article, entity_ids, "text").values():
        for excerpt in excerpts(article.text, spans, title=article.title):
            found.setdefault(excerpt.text, (excerpt.start, Passage(excerpt.text, excerpt.marks)))
    if not found and (first := opening(article.text)) is not None:
        return [Passage(first.text, ())]
    return [passage for _, passage in sorted(found.values(), key=lambda item: item[0])]


def entity_names(article: EnrichedArticle, entity_ids: Sequence[str]) -> list[str]:
    names = {entity.id: entity.name for entity in article.entities}
    return [names.get(entity_id, entity_id) for entity_id in entity_ids]


@dataclass(frozen=True)
class DigestMessage:
    """The alerts of one rule raised in one digest window, sent as one message per channel."""

    id: str
    rule: AlertRule
    start: datetime
    end: datetime
    items: list[tuple[Alert, EnrichedArticle]]


def digest_key(rule_id: str, created_at: datetime, length: timedelta) -> str:
    """The digest an alert created at ``created_at`` joins: one per rule and window.

    Digest windows are in wall-clock time (when the alert was raised), unlike threshold
    windows: a digest batches what analysts receive, not what happened.
    """
    start = window_start(created_at, length).astimezone(UTC).isoformat()
    return hashlib.sha256(f"{rule_id}\ndigest\n{start}".encode()).hexdigest()[:16]


def build_alert(
    match: RuleMatch,
    article: EnrichedArticle,
    channels: Sequence[tuple[str, ChannelKind]],
    *,
    now: datetime,
) -> Alert:
    """The alert ``match`` raises for ``article``; each channel's delivery starts pending."""
    digest_id = (
        digest_key(match.rule.id, now, match.rule.digest.window) if match.rule.digest else None
    )
    return Alert(
        id=match.alert_id,
        rule=AlertRule(id=match.rule.id, name=match.rule.name, kind=match.kind),
        kind=match.kind,
        entities=match.entities,
        topics=match.topics,
        keywords=match.keywords,
        window=match.window,
        article=ArticleSummary(
            id=article.id,
            title=article.title,
            url=article.url,
            source=article.source,
            published_at=article.published_at,
            snippet=snippet(article, match.entities),
        ),
        created_at=now,
        deliveries=[
            Delivery(
                channel=name,
                kind=kind,
                status=DeliveryStatus.PENDING,
                attempts=0,
                digest_id=digest_id,
            )
            for name, kind in channels
        ],
    )
