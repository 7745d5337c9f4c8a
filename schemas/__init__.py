"""Raqib's event contracts (see ``models``) and their JSON Schema export."""

from schemas.models import (
    EVENTS,
    Alert,
    AlertRule,
    ArticleSummary,
    Delivery,
    DeliveryStatus,
    EnrichedArticle,
    Entity,
    EntityType,
    Mention,
    RawArticle,
    Topic,
    alert_id,
    article_id,
    content_hash,
    utc_now,
)

__all__ = [
    "EVENTS",
    "Alert",
    "AlertRule",
    "ArticleSummary",
    "Delivery",
    "DeliveryStatus",
    "EnrichedArticle",
    "Entity",
    "EntityType",
    "Mention",
    "RawArticle",
    "Topic",
    "alert_id",
    "article_id",
    "content_hash",
    "utc_now",
]
