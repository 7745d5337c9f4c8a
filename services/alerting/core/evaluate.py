"""Rule kinds and their evaluation against one enriched article.

Kinds live in a registry (as in ElastAlert), so stateful kinds such as ``threshold`` or
``spike`` can be added next to ``match`` without touching the service.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from schemas import EnrichedArticle
from services.alerting.core.keywords import matching_keywords
from services.alerting.core.rules import Match, Rule, TermSet


@dataclass(frozen=True)
class RuleMatch:
    """Why a rule fired: the actor and topic ids it saw, and the keywords found."""

    rule: Rule
    entities: list[str]
    topics: list[str]
    keywords: list[str]


class RuleKind(Protocol):
    def evaluate(self, rule: Rule, article: EnrichedArticle) -> RuleMatch | None: ...


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


def match_article(
    match: Match, article: EnrichedArticle
) -> tuple[list[str], list[str], list[str]] | None:
    """(entity ids, topic ids, keywords) when every condition of ``match`` holds, else None.

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
    return _ordered(match.actors.wanted, actors), _ordered(match.topics.wanted, topics), keywords


class MatchKind:
    """Fires on every article that satisfies the rule's ``match`` block; keeps no state."""

    def evaluate(self, rule: Rule, article: EnrichedArticle) -> RuleMatch | None:
        found = match_article(rule.match, article)
        if found is None:
            return None
        entities, topics, keywords = found
        return RuleMatch(rule, entities, topics, keywords)


register_rule_kind("match", MatchKind())


def evaluate_rules(rules: Iterable[Rule], article: EnrichedArticle) -> list[RuleMatch]:
    """Every rule that fires on ``article``, in the rules file's order."""
    matches = []
    for rule in rules:
        found = RULE_KINDS[rule.kind].evaluate(rule, article)
        if found is not None:
            matches.append(found)
    return matches
