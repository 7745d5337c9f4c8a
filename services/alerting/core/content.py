"""What an alert carries, in every format: per watched actor its names, why it was tagged and
where the article names it; topics and actor types as labels; source, times and links.

Built from the alert and its enriched article alone (the explainable tags carry each
mention's span, alias and rule; enrichment puts the knowledge base's labels beside the ids),
so alerting needs nothing of enrichment's internals. The renderers (``render``,
``render_digest``, ``chat_payloads``) only lay this out.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from schemas import (
    Alert,
    AlertActor,
    AlertContent,
    AlertLinks,
    AlertTopic,
    EnrichedArticle,
    Entity,
    Labels,
    MarkedText,
    MatchReason,
    Mention,
)
from services.alerting.core.excerpts import MAX_EXCERPTS, excerpts, text_direction
from services.common.discover import alert_link, article_link

LIBYA = ZoneInfo("Africa/Tripoli")
MAX_REASONS = 4
UNAMBIGUOUS = "unambiguous-alias"

_NAME_WITH_ARABIC = re.compile(r"^(?P<en>.*?)\s*\((?P<ar>[^()]*)\)\s*$")
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Links:
    """Where the links point: Kibana's base URL (``RAQIB_KIBANA_URL``), when there is one."""

    kibana_url: str | None = None


NO_LINKS = Links()


def actor_names(name: str) -> Labels:
    """``Special Deterrence Force (قوة الردع الخاصة)`` → its English and Arabic names (the
    knowledge base writes every actor's name so); any other name is both."""
    found = _NAME_WITH_ARABIC.match(name)
    if found and found["en"] and text_direction(found["ar"], "ltr") == "rtl":
        return Labels(ar=found["ar"].strip(), en=found["en"].strip())
    return Labels(ar=name.strip() or "?", en=name.strip() or "?")


def _neighbour(text: str, mention: Mention, side: str) -> str | None:
    """The word just before (or after) a mention, in the field it was found in."""
    if side == "before":
        words = _WORD.findall(text[max(0, mention.start - 60) : mention.start])
        return words[-1] if words else None
    words = _WORD.findall(text[mention.end : mention.end + 60])
    return words[0] if words else None


def explain(mention: Mention, article: EnrichedArticle) -> str:
    """One mention's reason in an analyst's words.

    ``unambiguous-alias`` → ``named as «alias»``; a context rule ``rule/clause`` → the
    clause in words, with the word that decided it when the clause looks at a neighbour
    (``«الردع» next to «ميليشيا» (organisation word before)``)."""
    if mention.rule == UNAMBIGUOUS:
        return f"named as «{mention.alias}»"
    rule, _, clause = mention.rule.partition("/")
    words = (clause or rule).replace("-", " ")
    field_text = article.title if mention.field == "title" else article.text
    valid = 0 <= mention.start < mention.end <= len(field_text)
    for side in ("before", "after"):
        if valid and clause.endswith(side):
            neighbour = _neighbour(field_text, mention, side)
            if neighbour:
                return f"«{mention.alias}» next to «{neighbour}» ({words})"
    return f"«{mention.alias}»: {words}"


def reasons(entity: Entity, article: EnrichedArticle) -> list[MatchReason]:
    """The distinct (alias, rule) pairs that tagged ``entity``, most frequent first."""
    groups: dict[tuple[str, str], list[Mention]] = {}
    for mention in sorted(entity.mentions, key=lambda m: (m.field != "title", m.start)):
        groups.setdefault((mention.alias, mention.rule), []).append(mention)
    ordered = sorted(groups.values(), key=lambda found: -len(found))  # stable: first seen
    return [
        MatchReason(
            alias=found[0].alias,
            rule=found[0].rule,
            text=found[0].text,
            explanation=explain(found[0], article),
            count=len(found),
        )
        for found in ordered[:MAX_REASONS]
    ]


def actor_content(entity: Entity, article: EnrichedArticle) -> AlertActor:
    spans = [(m.start, m.end) for m in entity.mentions if m.field == "text"]
    return AlertActor(
        id=entity.id,
        name=actor_names(entity.name),
        type=entity.type,
        type_labels=entity.type_labels,
        mentions=len(entity.mentions),
        reasons=reasons(entity, article),
        excerpts=[
            MarkedText(text=e.text, marks=list(e.marks), direction=e.direction)
            for e in excerpts(article.text, spans, title=article.title, limit=MAX_EXCERPTS)
        ],
    )


def watched_actors(article: EnrichedArticle, entity_ids: Sequence[str]) -> list[AlertActor]:
    """The content of each watched actor that fired, in the alert's order."""
    entities = {entity.id: entity for entity in article.entities}
    return [actor_content(entities[i], article) for i in entity_ids if i in entities]


def article_time(article: EnrichedArticle) -> datetime:
    """The article's time as the index and Discover see it: published, else fetched."""
    return article.published_at or article.fetched_at


# alert_content's results, one per alert object while it lives: id(alert) → (the alert, its
# article, the links, the content). Every format of one delivery (the email's text and HTML,
# the webhook, the chat payloads' size search) asks for the same content: built once, not
# once per format and step. Weak references: an entry goes with its alert, so an id is
# never reused while it is here.
_CONTENT: dict[
    int, tuple[weakref.ref[Alert], weakref.ref[EnrichedArticle], Links, AlertContent]
] = {}


def alert_content(alert: Alert, article: EnrichedArticle, links: Links = NO_LINKS) -> AlertContent:
    """The alert's content (``build_content``), built once per alert, article and links:
    the same objects asked again get the same content (shared: never to be changed)."""
    key = id(alert)
    found = _CONTENT.get(key)
    if found is not None and found[0]() is alert and found[1]() is article and found[2] == links:
        return found[3]
    content = build_content(alert, article, links)
    if found is None:
        weakref.finalize(alert, _CONTENT.pop, key, None)
    _CONTENT[key] = (weakref.ref(alert), weakref.ref(article), links, content)
    return content


def build_content(alert: Alert, article: EnrichedArticle, links: Links = NO_LINKS) -> AlertContent:
    published = article.published_at.astimezone(UTC) if article.published_at else None
    kibana = links.kibana_url
    return AlertContent(
        actors=watched_actors(article, alert.entities),
        topics=[AlertTopic(id=topic.id, labels=topic.labels) for topic in article.topics],
        source=article.source,
        published_at=published,
        published_local=published.astimezone(LIBYA) if published else None,
        links=AlertLinks(
            article=article.url,
            kibana_article=article_link(kibana, article.id, article_time(article))
            if kibana
            else None,
            kibana_alert=alert_link(kibana, alert.id, alert.created_at) if kibana else None,
        ),
    )


def label(labels: Labels | None, fallback: str) -> str:
    """``العربية / English`` for a label pair, the id when there is none."""
    if labels is None:
        return fallback
    return labels.ar if labels.ar == labels.en else f"{labels.ar} / {labels.en}"


def when(content: AlertContent) -> str | None:
    """``2026-01-02 09:30 UTC · 11:30 Tripoli`` (the date too when the days differ)."""
    if content.published_at is None or content.published_local is None:
        return None
    utc, local = content.published_at, content.published_local
    if utc.time() == time(0):  # a date without a time of day (most fixtures, many pages)
        return f"{utc:%Y-%m-%d} (date only)"
    local_fmt = "%H:%M" if local.date() == utc.date() else "%Y-%m-%d %H:%M"
    return f"{utc:%Y-%m-%d %H:%M} UTC · {local.strftime(local_fmt)} Tripoli"
