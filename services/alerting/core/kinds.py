"""Rule kinds: what a rule does with the articles its ``match`` block lets through.

A kind is a small class (as ElastAlert's rule types are) that brings its parameters model and
its evaluator, and is found in ``RULE_KINDS`` by the ``kind`` a rule names in the rules file.
A kind with parameters reads them from a block named after it (``threshold: {count: 5,
window: 30m}``); the rule keeps them, validated by the kind's model, in ``Rule.params``.

``match`` fires on every matching article, ``threshold`` when a window holds enough matching
articles, ``spike`` when a window holds ``factor`` times what the baseline rate predicts.
Windows are tumbling, aligned to the epoch and measured in the article's own time, so a
replay (in any order) sees the same windows and raises the same alert ids. Counting needs
durable state; kinds reach it through ``WindowCounter``, which the service backs with SQLite
and unit tests with a dict.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar, get_args

from pydantic import Field, model_validator

from schemas import AlertRule, AlertWindow, EnrichedArticle, alert_id, window_alert_id
from services.alerting.core.fields import Duration, StrictModel

if TYPE_CHECKING:
    from services.alerting.core.rules import Rule

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Found:
    """What a rule's ``match`` block saw in one article."""

    entities: list[str]
    topics: list[str]
    keywords: list[str]


@dataclass(frozen=True)
class RuleMatch:
    """A rule that fires: why, the alert id it raises, and (windows) what it counted."""

    rule: Rule
    entities: list[str]
    topics: list[str]
    keywords: list[str]
    alert_id: str
    kind: str = "match"
    at: datetime | None = None  # when it happened in article time; cooldowns compare these
    window: AlertWindow | None = None


class WindowCounter(Protocol):
    """Durable per-rule record of matching articles and their (article) times."""

    def record(self, rule_id: str, article_id: str, at: datetime) -> None: ...

    def articles_between(self, rule_id: str, start: datetime, end: datetime) -> list[str]:
        """Ids of the recorded articles with ``start <= at < end``, oldest first."""
        ...

    def count_between(self, rule_id: str, start: datetime, end: datetime) -> int: ...


class KindParams(StrictModel):
    """A kind's parameters: the block named after the kind in a rule."""


class NoParams(KindParams):
    """The parameters of a kind that has none (its rules take no block)."""


P = TypeVar("P", bound=KindParams)


class RuleKind(ABC, Generic[P]):
    """One rule kind: its name in the rules file, its parameters model, its evaluator."""

    name: ClassVar[str]  # the ``kind`` rules name; alerts carry it (schemas.AlertRule.kind)
    params_model: type[P]

    @property
    def takes_block(self) -> bool:
        """Whether its rules give parameters, in a block named after the kind."""
        return bool(self.params_model.model_fields)

    def look_back(self, params: P) -> timedelta:
        """How far back in article time the kind counts; older state may be pruned."""
        return timedelta(0)

    @abstractmethod
    def evaluate(
        self,
        rule: Rule,
        params: P,
        article: EnrichedArticle,
        found: Found,
        counter: WindowCounter,
    ) -> RuleMatch | None:
        """The match ``rule`` raises on ``article``, which its ``match`` block let through
        (having seen ``found``); None when it does not fire on this article."""


def article_time(article: EnrichedArticle) -> datetime:
    """When the article happened: its publication time, else when it was fetched."""
    return article.published_at or article.fetched_at


def window_start(at: datetime, length: timedelta) -> datetime:
    """The start of the tumbling window of ``length`` holding ``at`` (aligned to the epoch)."""
    return EPOCH + length * ((at - EPOCH) // length)


def count_window(
    rule: Rule, article: EnrichedArticle, counter: WindowCounter, length: timedelta
) -> AlertWindow:
    """Record ``article`` for ``rule``; the window (of ``length``) holding it, counted."""
    at = article_time(article)
    counter.record(rule.id, article.id, at)
    start = window_start(at, length)
    end = start + length
    ids = counter.articles_between(rule.id, start, end)
    return AlertWindow(start=start, end=end, count=len(ids), article_ids=ids)


def window_match(rule: Rule, found: Found, kind: str, window: AlertWindow) -> RuleMatch:
    """The match a window rule raises: one alert id per rule and window."""
    return RuleMatch(
        rule,
        found.entities,
        found.topics,
        found.keywords,
        window_alert_id(rule.id, window.start),
        kind,
        window.start,
        window,
    )


class MatchKind(RuleKind[NoParams]):
    """Fires on every article that satisfies the rule's ``match`` block; keeps no state."""

    name = "match"
    params_model = NoParams

    def evaluate(
        self,
        rule: Rule,
        params: NoParams,
        article: EnrichedArticle,
        found: Found,
        counter: WindowCounter,
    ) -> RuleMatch | None:
        return RuleMatch(
            rule,
            found.entities,
            found.topics,
            found.keywords,
            alert_id(rule.id, article.id),
            self.name,
            article_time(article),
        )


class ThresholdParams(KindParams):
    """Fire once per window in which at least ``count`` articles match."""

    count: int = Field(ge=1)
    window: Duration


class ThresholdKind(RuleKind[ThresholdParams]):
    """Fires once per window when at least ``count`` matching articles fall inside it."""

    name = "threshold"
    params_model = ThresholdParams

    def look_back(self, params: ThresholdParams) -> timedelta:
        return params.window

    def evaluate(
        self,
        rule: Rule,
        params: ThresholdParams,
        article: EnrichedArticle,
        found: Found,
        counter: WindowCounter,
    ) -> RuleMatch | None:
        window = count_window(rule, article, counter, params.window)
        if window.count < params.count:
            return None
        return window_match(rule, found, self.name, window)


class SpikeParams(KindParams):
    """Fire once per window whose count is ``factor`` times what the baseline rate predicts."""

    window: Duration
    baseline: Duration = Field(description="The window before ``window`` giving the usual rate.")
    factor: float = Field(default=3.0, gt=1)
    min_count: int = Field(default=3, ge=1, description="Never fire on fewer articles.")

    @model_validator(mode="after")
    def _baseline_longer(self) -> SpikeParams:
        if self.baseline < self.window:
            raise ValueError("baseline must be at least as long as window")
        return self


class SpikeKind(RuleKind[SpikeParams]):
    """Fires once per window whose count is at least ``factor`` times the baseline rate
    scaled to the window (and at least ``min_count``): the "breaking news" signal.

    With an empty baseline any ``min_count`` articles are a spike.
    """

    name = "spike"
    params_model = SpikeParams

    def look_back(self, params: SpikeParams) -> timedelta:
        return params.window + params.baseline

    def evaluate(
        self,
        rule: Rule,
        params: SpikeParams,
        article: EnrichedArticle,
        found: Found,
        counter: WindowCounter,
    ) -> RuleMatch | None:
        window = count_window(rule, article, counter, params.window)
        if window.count < params.min_count:
            return None
        baseline_start = window.start - params.baseline
        baseline = counter.count_between(rule.id, baseline_start, window.start)
        expected = baseline * (params.window / params.baseline)
        if window.count < params.factor * expected:
            return None
        counted = window.model_copy(
            update={
                "baseline_start": baseline_start,
                "baseline_end": window.start,
                "baseline_count": baseline,
            }
        )
        return window_match(rule, found, self.name, counted)


# The one registry: rules find their kind here by name.
RULE_KINDS: dict[str, RuleKind[Any]] = {
    kind.name: kind for kind in (MatchKind(), ThresholdKind(), SpikeKind())
}


def register_rule_kind(kind: RuleKind[Any]) -> None:
    """Make ``kind`` available to rules files under ``kind.name``."""
    from services.alerting.core.rules import Rule  # rules imports this module

    contract = get_args(AlertRule.model_fields["kind"].annotation)
    if kind.name not in contract:
        raise ValueError(
            f"rule kind {kind.name!r}: alerts can carry only the kinds "
            f"{', '.join(contract)} (schemas.AlertRule.kind); add it there first"
        )
    if kind.name in RULE_KINDS:
        raise ValueError(f"rule kind {kind.name!r} is registered already")
    if kind.takes_block and kind.name in Rule.model_fields:
        raise ValueError(f"rule kind {kind.name!r}: its block would be the rule field of that name")
    RULE_KINDS[kind.name] = kind
