"""Enriched articles built by hand, with mention spans found in the text as the tagger would,
and the alert a rule watching the Deterrence force raises on one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal

from schemas import Alert, EnrichedArticle, Entity, EntityType, Mention, Topic
from services.alerting.core import ChannelKind, Rule, build_alert, evaluate_rules
from tests.factories import enriched_article

DETERRENCE = ("special-deterrence-force", "قوة الردع الخاصة", EntityType.ARMED_GROUP)
BASHAGHA = ("fathi-bashagha", "فتحي باشاغا", EntityType.PERSON)
TRIPOLI = ("tripoli", "طرابلس", EntityType.CITY)

DETERRENCE_TEXT = (
    "أعلنت وزارة الداخلية عن خطة أمنية جديدة في العاصمة. "
    "وقال مصدر إن قوة الردع الخاصة انتشرت قرب مطار معيتيقة في طرابلس! "
    "ولم تعلق الحكومة على الخبر حتى الآن."
)


def mentions_of(text: str, alias: str, field: Literal["title", "text"] = "text") -> list[Mention]:
    found, start = [], text.find(alias)
    while start >= 0:
        found.append(
            Mention(
                start=start,
                end=start + len(alias),
                text=alias,
                alias=alias,
                rule="unambiguous-alias",
                field=field,
            )
        )
        start = text.find(alias, start + len(alias))
    return found


def enriched(
    text: str = DETERRENCE_TEXT,
    *,
    title: str = "انتشار أمني في طرابلس",
    actors: dict[tuple[str, str, EntityType], list[str]] | None = None,
    topics: list[str] | None = None,
    language: str = "ar",
    source: str = "Libya Observer",
    n: int = 1,
) -> EnrichedArticle:
    """An article whose entities are ``actors`` (entity → aliases to find in title and text)."""
    if actors is None:
        actors = {DETERRENCE: ["قوة الردع الخاصة"]}
    entities = []
    for (entity_id, name, kind), aliases in actors.items():
        mentions = [m for a in aliases for m in mentions_of(title, a, "title")]
        mentions += [m for a in aliases for m in mentions_of(text, a)]
        entities.append(Entity(id=entity_id, name=name, type=kind, mentions=mentions))
    return enriched_article(
        title,
        text,
        entities=entities,
        topics=[Topic(id=t, evidence=["x"]) for t in (topics or [])],
        url=f"https://news.example/{n}",
        source=source,
        language=language,
        published_at=datetime(2026, 1, 2, 9, 30, tzinfo=UTC),
    )


DETERRENCE_RULE = Rule.model_validate(
    {
        "id": "deterrence",
        "name": "Deterrence",
        "match": {"actors": {"any": ["special-deterrence-force"]}},
        "channels": ["c"],
    }
)


def deterrence_alert(
    article: EnrichedArticle | None = None,
    channels: Sequence[tuple[str, ChannelKind]] = (("c", "webhook"),),
    *,
    now: datetime | None = None,
) -> Alert:
    """The alert ``DETERRENCE_RULE`` raises on ``article`` (by default ``enriched()``), each
    of ``channels`` (name, kind) pending."""
    article = enriched() if article is None else article
    (match,) = evaluate_rules([DETERRENCE_RULE], article)
    return build_alert(match, article, channels, now=now or datetime.now(UTC))
