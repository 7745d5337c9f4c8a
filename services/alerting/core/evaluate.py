"""Evaluating rules on one enriched article: each rule's ``match`` block, then its kind.

Conditions of a ``match`` block combine with AND; a rule whose block holds goes to its kind
(``RULE_KINDS``), which decides whether it fires.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from schemas import EnrichedArticle
from services.alerting.core.keywords import matching_keywords
from services.alerting.core.kinds import RULE_KINDS, Found, RuleMatch, WindowCounter
from services.alerting.core.rules import Match, Rule, RuleSet, TermSet


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


def window_horizon(rule_set: RuleSet) -> timedelta:
    """How far back in article time any window, baseline or cooldown looks."""
    longest = timedelta(hours=1)
    for rule in rule_set.rules:
        longest = max(longest, RULE_KINDS[rule.kind].look_back(rule.params))
        if rule.cooldown is not None:
            longest = max(longest, rule.cooldown)
    return longest


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
        fired = RULE_KINDS[rule.kind].evaluate(rule, rule.params, article, found, counter)
        if fired is not None:
            matches.append(fired)
    return matches
