"""Hand-built enriched articles for the indexer tests (Arabic text, real actor ids)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from schemas import (
    Alert,
    AlertRule,
    ArticleSummary,
    Delivery,
    DeliveryStatus,
    EnrichedArticle,
    Entity,
    EntityType,
    Mention,
    Topic,
    alert_id,
    article_id,
)
from tests.factories import enriched_article

DETERRENCE = "special-deterrence-force"
BASHAGHA = "fathi-bashagha"


def mention_of(
    text: str, surface: str, alias: str, *, field: Literal["title", "text"] = "text"
) -> Mention:
    start = text.index(surface)
    return Mention(
        start=start,
        end=start + len(surface),
        text=surface,
        alias=alias,
        rule="unambiguous-alias",
        field=field,
    )


def make_article(
    title: str,
    text: str,
    *,
    actors: dict[str, tuple[str, EntityType, str]] | None = None,
    topics: dict[str, list[str]] | None = None,
    html: str | None = None,
) -> EnrichedArticle:
    """An article whose entities point at real spans of ``text``.

    ``actors`` maps an actor id to (name, type, the surface form as it appears in ``text``).
    """
    entities = [
        Entity(id=actor, name=name, type=kind, mentions=[mention_of(text, surface, surface)])
        for actor, (name, kind, surface) in (actors or {}).items()
    ]
    return enriched_article(
        title,
        text,
        entities=entities,
        topics=[Topic(id=topic, evidence=terms) for topic, terms in (topics or {}).items()],
        url=f"https://example.org/news/{article_id(text)}",
        feed="test-feed",
        html=html,
        normalized_title=title.replace("أ", "ا"),
    )


def deterrence_article(
    text: str = "أعلن جهاز الردع في طرابلس عن عملية أمنية جديدة.",
) -> EnrichedArticle:
    return make_article(
        "جهاز الردع يعلن عملية أمنية",
        text,
        actors={DETERRENCE: ("Special Deterrence Force", EntityType.ARMED_GROUP, "الردع")},
        topics={"armed-clashes": ["عملية", "امنية"]},
        html="<p>" + text + "</p>",
    )


def bashagha_article() -> EnrichedArticle:
    text = "التقى فتحي باشاغا وفدا من مصراتة لبحث المصالحة."
    return make_article(
        "باشاغا يلتقي وفدا من مصراتة",
        text,
        actors={BASHAGHA: ("Fathi Bashagha", EntityType.PERSON, "باشاغا")},
        topics={"mediation": ["المصالحة"]},
    )


ALERT_CREATED = datetime(2026, 11, 24, 9, 15, tzinfo=UTC)


def sample_alert(
    article: EnrichedArticle | None = None,
    *,
    rule: str = "deterrence",
    created_at: datetime = ALERT_CREATED,
    status: DeliveryStatus = DeliveryStatus.PENDING,
    attempts: int = 0,
) -> Alert:
    """An alert of ``rule`` on ``article`` (a Deterrence article by default)."""
    article = article or deterrence_article()
    return Alert(
        id=alert_id(rule, article.id),
        rule=AlertRule(id=rule, name=rule.title()),
        entities=[entity.id for entity in article.entities],
        topics=[topic.id for topic in article.topics],
        article=ArticleSummary(
            id=article.id,
            title=article.title,
            url=article.url,
            source=article.source,
            published_at=article.published_at,
            snippet=article.text[:80],
        ),
        created_at=created_at,
        deliveries=[
            Delivery(
                channel="analysts-email",
                kind="email",
                status=status,
                attempts=attempts,
                last_error=None if status != DeliveryStatus.FAILED else "550 mailbox unavailable",
                delivered_at=created_at if status == DeliveryStatus.DELIVERED else None,
            )
        ],
    )
