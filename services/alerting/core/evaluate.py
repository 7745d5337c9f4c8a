"""Rule kinds and their evaluation against one enriched article.

Kinds live in one registry (as in ElastAlert): ``match`` fires on every matching article,
``threshold`` when a window holds enough matching articles, ``spike`` when a window holds
``factor`` times what the baseline rate predicts. Windows are tumbling, aligned to the epoch
and measured in the article's own time, so a replay (in any order) sees the same windows and
raises the same alert ids. Counting needs durable state; kinds reach it through
``WindowCounter``, which the service backs with SQLite and unit tests with a dict.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from schemas import AlertWindow, EnrichedArticle, alert_id, window_alert_id
from services.alerting.core.keywords import matching_keywords
from services.alerting.core.rules import Match, Rule, RuleSet, TermSet

KindName = Literal["match", "threshold", "spike"]
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
    kind: KindName = "match"
    at: datetime | None = None  # when it happened in article time; cooldowns compare these
    window: AlertWindow | None = None


class WindowCounter(Protocol):
    """Durable per-rule record of matching articles and their (article) times."""

    def record(self, rule_id: str, article_id: str, at: datetime) -> None: ...

    def articles_between(self, rule_id: str, start: datetime, end: datetime) -> list[str]:
        """Ids of the recorded articles with ``start <= at < end``, oldest first."""
        ...

    def count_between(self, rule_id: str, start: datetime, end: datetime) -> int: ...


class RuleKind(Protocol):
    def evaluate(
        self, rule: Rule, article: EnrichedArticle, found: Found, counter: WindowCounter
    ) -> RuleMatch | None: ...


RULE_KINDS: dict[str, RuleKind] = {}


def register_rule_kind(name: str, kind: RuleKind) -> None:
    RULE_KINDS[name] = kind


def terms_hold(terms: TermSet, present: set[str]) -> bool:
    if terms.any and not present.intersection(terms.any):
        return False
    if not present.issuperset(terms.all):
        return False
    return not present.intersection(terms.none)


def _ordered(wanted: list[str], present: Iterable[str]) -> list[str]:
    """What the rule asked for and found; every present id when the rule asked for none."""
    present = list(present)
    return [i for i in wanted if i in present] if wanted else present


def match_article(match: Match, article: EnrichedArticle) -> Found | None:
    """What the rule saw when every condition of ``match`` holds, else None.

    Conditions combine with AND; inside ``any`` a single hit is enough.
    """
    actors = [entity.id for entity in article.entities]
    topics = [topic.id for topic in article.topics]
    if not terms_hold(match.actors, set(actors)) or not terms_hold(match.topics, set(topics)):
        return None
    if match.languages and article.language not in match.languages:
        return None
    if match.sources and article.source.casefold() not in {s.casefold() for s in match.sources}:
        return None
    keywords: list[str] = []
    if match.keywords:
        keywords = matching_keywords(match.keywords, article.title, article.text)
        if not keywords:
            return None
    return Found(
        _ordered(match.actors.wanted, actors), _ordered(match.topics.wanted, topics), keywords
    )


def article_time(article: EnrichedArticle) -> datetime:
    """When the article happened: its publication time, else when it was fetched."""
    return article.published_at or article.fetched_at


def window_start(at: datetime, length: timedelta) -> datetime:
    """The start of the tumbling window of ``length`` holding ``at`` (aligned to the epoch)."""
    return EPOCH + length * ((at - EPOCH) // length)


def window_horizon(rule_set: RuleSet) -> timedelta:
    """How far back in article time any window, baseline or cooldown looks."""
    longest = timedelta(hours=1)
    for rule in rule_set.rules:
        for span in (
            rule.threshold.window if rule.threshold else None,
            rule.spike.window + rule.spike.baseline if rule.spike else None,
            rule.cooldown,
        ):
            if span is not None:
                longest = max(longest, span)
    return longest


class MatchKind:
    """Fires on every article that satisfies the rule's ``match`` block; keeps no state."""

    def evaluate(
        self, rule: Rule, article: EnrichedArticle, found: Found, counter: WindowCounter
    ) -> RuleMatch | None:
        return RuleMatch(
            rule,
            found.entities,
            found.topics,
            found.keywords,
            alert_id(rule.id, article.id),
            "match",
            article_time(article),
        )


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


def window_match(rule: Rule, found: Found, kind: KindName, window: AlertWindow) -> RuleMatch:
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


class ThresholdKind:
    """Fires once per window when at least ``count`` matching articles fall inside it."""

    def evaluate(
        self, rule: Rule, article: EnrichedArticle, found: Found, counter: WindowCounter
    ) -> RuleMatch | None:
        params = rule.threshold
        assert params is not None  # the rules file check guarantees it
        window = count_window(rule, article, counter, params.window)
        if window.count < params.count:
            return None
        return window_match(rule, found, "threshold", window)


class SpikeKind:
    """Fires once per window whose count is at least ``factor`` times the baseline rate
    scaled to the window (and at least ``min_count``): the "breaking news" signal.

    With an empty baseline any ``min_count`` articles are a spike.
    """

    def evaluate(
        self, rule: Rule, article: EnrichedArticle, found: Found, counter: WindowCounter
    ) -> RuleMatch | None:
        params = rule.spike
        assert params is not None  # the rules file check guarantees it
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
        return window_match(rule, found, "spike", counted)


register_rule_kind("match", MatchKind())
register_rule_kind("threshold", ThresholdKind())
register_rule_kind("spike", SpikeKind())


class NoWindows:
    """A counter for evaluating ``match`` rules alone (``raqib rules test``): records nothing."""

    def record(self, rule_id: str, article_id: str, at: datetime) -> None:
        return None

    def articles_between(self, rule_id: str, start: datetime, end: datetime) -> list[str]:
        return []

    def count_between(self, rule_id: str, start: datetime, end: datetime) -> int:
        return 0


def evaluate_rules(
    rules: Iterable[Rule], article: EnrichedArticle, counter: WindowCounter | None = None
) -> list[RuleMatch]:
    """Every rule that fires on ``article``, in the rules file's order."""
    counter = counter or NoWindows()
    matches = []
    for rule in rules:
        found = match_article(rule.match, article)
        if found is None:
            continue
        fired = RULE_KINDS[rule.kind].evaluate(rule, article, found, counter)
        if fired is not None:
            matches.append(fired)
    return matches
