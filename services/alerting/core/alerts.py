"""Build an ``Alert`` from a rule match: the snippet around the first mentions, the deliveries."""

from __future__ import annotations

import hashlib
import re
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
from services.alerting.core.kinds import RuleMatch, window_start
from services.alerting.core.rules import ChannelKind

MAX_PASSAGES = 3
MAX_PASSAGE_CHARS = 320  # a "sentence" longer than this is cut to a window around the mention
WINDOW_CHARS = 140
ELLIPSIS = "…"
_SENTENCE_END = re.compile(r"[.!?؟۔\n]")

Span = tuple[int, int]


@dataclass(frozen=True)
class Passage:
    """A piece of the article with the spans (relative to ``text``) to highlight."""

    text: str
    marks: tuple[Span, ...]


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


def _merge(spans: Iterable[Span]) -> tuple[Span, ...]:
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


def sentence_around(text: str, start: int, end: int) -> Span:
    """The sentence holding ``text[start:end]``, cut to a window when it is very long."""
    left = max((m.end() for m in _SENTENCE_END.finditer(text, 0, start)), default=0)
    right_match = _SENTENCE_END.search(text, end)
    right = right_match.end() if right_match else len(text)
    if right_match and right_match.group() == "\n":
        right -= 1
    if right - left > MAX_PASSAGE_CHARS:
        left = max(left, start - WINDOW_CHARS)
        right = min(right, end + WINDOW_CHARS)
    while left < start and text[left].isspace():
        left += 1
    while right > end and text[right - 1].isspace():
        right -= 1
    return left, right


def passages(article: EnrichedArticle, entity_ids: Sequence[str]) -> list[Passage]:
    """The sentences around the first mention of each entity, mentions marked."""
    text = article.text
    spans = _mention_spans(article, entity_ids, "text")
    firsts = [found[0] for found in spans.values() if found]
    ranges = _merge(sentence_around(text, start, end) for start, end in firsts)[:MAX_PASSAGES]
    if not ranges:
        first = text.strip()
        if not first:
            return []
        left = len(text) - len(text.lstrip())
        return [_clip(text, sentence_around(text, left, left + 1), ())]
    every = [span for found in spans.values() for span in found]
    return [
        _clip(text, (left, right), [s for s in every if left <= s[0] and s[1] <= right])
        for left, right in ranges
    ]


def _clip(text: str, span: Span, marks: Iterable[Span]) -> Passage:
    left, right = span
    before, after = text[:left].rstrip(" \t"), text[right:]
    # An ellipsis only where a window cut a sentence, not at a sentence's own ends.
    cut_before = bool(before.strip()) and not _SENTENCE_END.match(before[-1])
    cut_after = (
        bool(after.strip())
        and not _SENTENCE_END.match(text[right - 1])
        and not re.match(r"[ \t]*\n", after)
    )
    prefix, suffix = (ELLIPSIS if cut_before else ""), (ELLIPSIS if cut_after else "")
    shift = left - len(prefix)
    return Passage(
        prefix + text[left:right] + suffix,
        tuple((start - shift, end - shift) for start, end in _merge(marks)),
    )


def title_marks(article: EnrichedArticle, entity_ids: Sequence[str]) -> tuple[Span, ...]:
    spans = _mention_spans(article, entity_ids, "title")
    return _merge(span for found in spans.values() for span in found)


def snippet(article: EnrichedArticle, entity_ids: Sequence[str]) -> str:
    return f" {ELLIPSIS} ".join(p.text for p in passages(article, entity_ids))


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
