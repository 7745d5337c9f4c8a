"""Event contracts shared by every Raqib service.

Each event carries a ``schema_version``; a consumer that sees a version it does not know
rejects the message to its dead-letter topic instead of guessing. The JSON Schemas under
``schemas/json/`` are generated from these models (``raqib schemas export``) and a test
fails when they drift.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import AnyHttpUrl, AwareDatetime, BaseModel, ConfigDict, Field

ArticleId = str  # 16 lowercase hex characters, see ``article_id``


def article_id(identity: str) -> ArticleId:
    """Stable article id: the first 16 hex digits of SHA-256 over the article's identity.

    The identity is the canonical URL for fetched articles, or ``source + "\\n" + text``
    for replayed text that has no URL, so a replay or a re-fetch yields the same id.
    """
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:16]


def content_hash(text: str) -> str:
    """SHA-256 of the article text, used to spot one story syndicated under two URLs."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def utc_now() -> datetime:
    return datetime.now(UTC)


class _Event(BaseModel):
    # Unknown fields are an error: a producer that adds one must bump the schema first.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Retag(_Event):
    """Marks an archived article sent through enrichment again by ``raqib retag``."""

    id: str = Field(min_length=1, description="The re-tag run that sent it.")
    requested_at: AwareDatetime = Field(description="When the run was started.")
    alerts: Literal["none", "new"] = Field(
        description="none: raise no alert for it; new: raise only alerts never raised before."
    )
    placed_at: AwareDatetime = Field(
        description="The date that placed the archived document in its monthly index; the "
        "re-tagged document replaces it there, even if its dates change."
    )


class RawArticle(_Event):
    """An article as the fetcher (or replay) saw it, before any tagging."""

    schema_version: Literal[1] = 1
    id: ArticleId = Field(pattern=r"^[0-9a-f]{16}$")
    url: AnyHttpUrl | None = None
    source: str = Field(min_length=1, description="Publication name, e.g. 'DW Arabic'.")
    feed: str | None = Field(default=None, description="Feed name or URL it came from.")
    title: str
    text: str
    html: str | None = None
    language: str = Field(default="ar", pattern=r"^[a-z]{2,3}$")
    published_at: AwareDatetime | None = None
    fetched_at: AwareDatetime
    content_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    # Left out of the JSON when false, so a consumer that does not know the field yet still
    # reads every article that was not cut.
    truncated: bool = Field(
        default=False,
        exclude_if=lambda truncated: not truncated,
        description="The fetcher cut the text (and dropped the HTML) to fit the largest "
        "article Raqib carries; content_hash is the hash of the text as cut.",
    )
    # Only on articles ``raqib retag`` sends again (enrichment carries it into the enriched
    # article); left out of the JSON when absent, like ``truncated``.
    retag: Retag | None = Field(
        default=None,
        exclude_if=lambda retag: retag is None,
        description="Set when the article is an archived one re-tagged (raqib retag).",
    )


class EntityType(StrEnum):
    PERSON = "person"
    ARMED_GROUP = "armed-group"
    GOVERNMENT = "government"
    ORGANIZATION = "organization"
    COUNTRY = "country"
    CITY = "city"
    FACILITY = "facility"


class Mention(_Event):
    """One occurrence of an entity: where it is in the original text and why it counted."""

    start: int = Field(ge=0, description="Offset of the first character in the original text.")
    end: int = Field(ge=0, description="Offset after the last character (Python slice end).")
    text: str = Field(description="The original text at [start, end).")
    alias: str = Field(description="The knowledge-base alias that matched.")
    rule: str = Field(description="The rule that accepted it, e.g. 'unambiguous-alias'.")
    field: Literal["title", "text"] = "text"


class Labels(_Event):
    """What an analyst reads for an id, in Arabic and in English."""

    ar: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Entity(_Event):
    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    name: str
    type: EntityType
    mentions: list[Mention]
    # Optional and left out of the JSON when absent, so articles enriched before it (and
    # consumers that do not know it) still read: the knowledge base's labels of the type.
    type_labels: Labels | None = Field(
        default=None,
        exclude_if=lambda labels: labels is None,
        description="The actor type's labels from the knowledge base.",
    )


class Topic(_Event):
    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    evidence: list[str] = Field(description="The normalised terms that decided the topic.")
    labels: Labels | None = Field(
        default=None,
        exclude_if=lambda labels: labels is None,
        description="The topic's labels from the knowledge base.",
    )


class EnrichedArticle(RawArticle):
    """A RawArticle with its actors and topics, and the versions that produced them."""

    schema_version: Literal[1] = 1
    entities: list[Entity]
    topics: list[Topic]
    normalized_title: str
    knowledge_base_version: str
    tagger_version: str
    enriched_at: AwareDatetime


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class DeliveryAttempt(_Event):
    """One try at delivering an alert over one channel."""

    number: int = Field(ge=1, description="1 for the first attempt, counted across restarts.")
    at: AwareDatetime
    error: str | None = Field(default=None, description="None when the attempt delivered.")
    status_code: int | None = Field(
        default=None, description="The HTTP status or SMTP reply code, when there was one."
    )


class Delivery(_Event):
    channel: str = Field(description="Channel name from the rules file, e.g. 'analysts-email'.")
    kind: Literal["email", "webhook", "telegram", "teams", "mattermost"]
    status: DeliveryStatus
    attempts: int = Field(ge=0)
    last_error: str | None = None
    delivered_at: AwareDatetime | None = None
    attempt_log: list[DeliveryAttempt] = Field(
        default_factory=list,
        description="The attempts so far, oldest first: every one, or after more than 50 "
        "the first 10 and the latest 40 (`attempts` counts them all).",
    )
    digest_id: str | None = Field(
        default=None,
        description="Set when the alert is (to be) delivered inside a digest message.",
    )


class AlertRule(_Event):
    id: str
    name: str
    kind: Literal["match", "threshold", "spike"] = "match"


class AlertWindow(_Event):
    """The time window a threshold or spike alert counted (article times, not arrival)."""

    start: AwareDatetime
    end: AwareDatetime
    count: int = Field(ge=0, description="Matching articles in [start, end).")
    baseline_start: AwareDatetime | None = None
    baseline_end: AwareDatetime | None = None
    baseline_count: int | None = Field(
        default=None, ge=0, description="Spike rules: matching articles in the baseline window."
    )
    article_ids: list[ArticleId] = Field(
        default_factory=list, description="The matching articles in the window when it fired."
    )


class ArticleSummary(_Event):
    id: ArticleId
    title: str
    url: AnyHttpUrl | None = None
    source: str
    published_at: AwareDatetime | None = None
    snippet: str = Field(description="The sentences around the first mentions.")


class MarkedText(_Event):
    """A piece of text and the spans in it to highlight (offsets into ``text``)."""

    text: str
    marks: list[tuple[int, int]] = Field(description="[start, end) spans to highlight.")
    direction: Literal["rtl", "ltr"] = Field(description="The paragraph's writing direction.")


class MatchReason(_Event):
    """Why an actor was tagged: one alias and the rule that accepted it, in words."""

    alias: str = Field(description="The knowledge-base alias that matched.")
    rule: str = Field(description="The tagger's rule, e.g. 'unambiguous-alias'.")
    text: str = Field(description="The mention as written in the article (its first).")
    explanation: str = Field(description="The reason in words, e.g. 'named as قوة الردع'.")
    count: int = Field(ge=1, description="Mentions accepted this way.")


class AlertActor(_Event):
    """A watched actor that fired: its names, why it was tagged, where the article names it."""

    id: str
    name: Labels
    type: EntityType
    type_labels: Labels | None = None
    mentions: int = Field(ge=0, description="Mentions in title and body.")
    reasons: list[MatchReason]
    excerpts: list[MarkedText] = Field(description="Up to three sentences naming the actor.")


class AlertTopic(_Event):
    id: str
    labels: Labels | None = None


class AlertLinks(_Event):
    article: AnyHttpUrl | None = None
    kibana_article: str | None = Field(
        default=None, description="Kibana Discover on the article (when RAQIB_KIBANA_URL is set)."
    )
    kibana_alert: str | None = Field(default=None, description="Kibana Discover on the alert.")


class AlertContent(_Event):
    """What an analyst reads, derived from the alert and its article when it is delivered."""

    actors: list[AlertActor]
    topics: list[AlertTopic]
    source: str
    published_at: AwareDatetime | None = Field(default=None, description="In UTC.")
    published_local: AwareDatetime | None = Field(
        default=None, description="The same instant in Libya's time (Africa/Tripoli)."
    )
    links: AlertLinks


class Alert(_Event):
    schema_version: Literal[1] = 1
    id: str = Field(
        pattern=r"^[0-9a-f]{16}$",
        description="alert_id(rule id, article id); for threshold and spike rules "
        "alert_id(rule id, window start)",
    )
    rule: AlertRule
    kind: Literal["match", "threshold", "spike"] = Field(
        default="match", description="The kind of the rule that raised it."
    )
    entities: list[str] = Field(description="Ids of the matched actors.")
    topics: list[str] = Field(description="Ids of the matched topics.")
    keywords: list[str] = Field(
        default_factory=list, description="The rule's keywords found in the article."
    )
    article: ArticleSummary = Field(
        description="The article that raised it (for windows: the one that crossed the line)."
    )
    window: AlertWindow | None = Field(
        default=None, description="Threshold and spike alerts: the window that fired."
    )
    created_at: AwareDatetime
    deliveries: list[Delivery]
    # Only in what the JSON webhook posts: the alerts topic and index carry the alert without
    # it (it is derived from the article at delivery), and it is left out when absent.
    content: AlertContent | None = Field(
        default=None,
        exclude_if=lambda content: content is None,
        description="JSON webhook only: actors with names, reasons and excerpts; labels; links.",
    )


def alert_id(rule_id: str, article: ArticleId) -> str:
    """Deterministic alert id, so a replayed article never raises a second alert."""
    return hashlib.sha256(f"{rule_id}\n{article}".encode()).hexdigest()[:16]


def window_alert_id(rule_id: str, window_start: datetime) -> str:
    """Deterministic id of a threshold/spike alert: one per rule and window (article time)."""
    stamp = window_start.astimezone(UTC).isoformat()
    return hashlib.sha256(f"{rule_id}\nwindow\n{stamp}".encode()).hexdigest()[:16]


EVENTS: dict[str, type[BaseModel]] = {
    "raw-article": RawArticle,
    "enriched-article": EnrichedArticle,
    "alert": Alert,
}
