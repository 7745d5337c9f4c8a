"""The tagger: aliases found by the matcher, decided by context, grouped into entities.

Deciding happens in two passes over the title and the text together:

1. aliases with no rule are accepted; a rule whose clauses only look at the words around the
   match decides at once (reject clauses first, then accept clauses);
2. what depends on the article — "the force is named elsewhere", a bare family name — is
   decided against the actors accepted in pass 1 ("strong" mentions), so a guess never
   supports another guess.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass

from services.enrichment.core.context_rules import MatchContext, clause_holds, words_match
from services.enrichment.core.errors import InvalidText
from services.enrichment.core.knowledge_base import Alias, ContextRule, KnowledgeBase, Surname
from services.enrichment.core.matcher import AliasMatch, TermMatch, resolve_overlaps
from services.enrichment.core.normalize import NormalizedText, normalize_text
from services.enrichment.core.results import FoundEntity, FoundMention, TagResult
from services.enrichment.core.topics import decide_topics

__all__ = ["TAGGER_VERSION", "TagResult", "Tagger", "check_text"]

TAGGER_VERSION = "1.0.0"

UNAMBIGUOUS = "unambiguous-alias"
_BINARY_CHARACTERS = re.compile(r"[\x01-\x08\x0b\x0e-\x1f\x7f\ufffd]")
_FIELDS = ("title", "text")


@dataclass(slots=True)
class _Candidate:
    field: str
    order: int  # position across title + text, for "nearest" and "first mention"
    normalized: NormalizedText
    match: AliasMatch

    def context(self) -> MatchContext:
        m = self.match
        return MatchContext(self.normalized, m.start, m.end, m.word_start, m.prefix)


@dataclass(slots=True)
class _Decision:
    candidate: _Candidate
    alias: Alias
    actor_id: str
    rule: str


def check_text(value: object, field: str) -> str:
    """The text itself, or InvalidText when it is not text that can be tagged."""
    if not isinstance(value, str):
        raise InvalidText(f"{field} is {type(value).__name__}, not text")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InvalidText(
            f"{field} contains a lone surrogate at offset {error.start}: not valid Unicode text"
        ) from error
    if "\x00" in value:
        offset = value.index("\x00")
        raise InvalidText(f"{field} contains NUL bytes (first at offset {offset}): binary data")
    if _BINARY_CHARACTERS.search(value):
        count = len(_BINARY_CHARACTERS.findall(value))
        if count > max(8, len(value) // 50):
            raise InvalidText(
                f"{field} looks like binary data: {count} control or replacement characters "
                f"in {len(value)}"
            )
    return value


class Tagger:
    """Tags articles against one knowledge base; safe to share, holds no per-call state."""

    def __init__(self, knowledge_base: KnowledgeBase) -> None:
        self.knowledge_base = knowledge_base
        self._matcher = knowledge_base.matcher
        self._actors = knowledge_base.actors
        self._actor_order = {actor_id: i for i, actor_id in enumerate(knowledge_base.actors)}

    def tag(self, title: str, text: str) -> TagResult:
        fields = (
            ("title", normalize_text(check_text(title, "title"))),
            ("text", normalize_text(check_text(text, "text"))),
        )
        candidates: list[_Candidate] = []
        term_matches: list[list[TermMatch]] = []
        offset = 0
        for field, normalized in fields:
            if normalized.text:
                alias_matches, terms = self._matcher.find(normalized)
                term_matches.append(terms)
                for match in resolve_overlaps(alias_matches):
                    candidates.append(_Candidate(field, offset + match.start, normalized, match))
            offset += len(normalized.text) + 1
        decisions = self._decide(candidates)
        return TagResult(
            entities=self._entities(decisions),
            topics=decide_topics(self.knowledge_base, term_matches),
            normalized_title=fields[0][1].text,
        )

    # ------------------------------------------------------------------ deciding

    def _decide(self, candidates: list[_Candidate]) -> list[_Decision]:
        decisions: list[_Decision] = []
        pending: list[tuple[_Candidate, Alias, ContextRule]] = []
        for candidate in candidates:
            for alias in candidate.match.aliases:
                rule = alias.rule
                if rule is None:
                    decisions.append(_Decision(candidate, alias, alias.actor_id, UNAMBIGUOUS))
                    break
                if rule.decided_by_article:
                    pending.append((candidate, alias, rule))
                    break
                verdict = _local_verdict(rule, candidate.context())
                if verdict is None:
                    pending.append((candidate, alias, rule))
                    break
                if verdict != _REJECTED:
                    decisions.append(_Decision(candidate, alias, alias.actor_id, verdict))
                    break
        if not pending:
            return decisions
        strong = frozenset(d.actor_id for d in decisions)
        named_at: dict[str, list[int]] = {}
        for decision in decisions:
            named_at.setdefault(decision.actor_id, []).append(decision.candidate.order)
        for orders in named_at.values():
            orders.sort()
        for candidate, alias, rule in pending:
            context = candidate.context()
            if any(clause_holds(c, context, strong) for c in rule.reject):
                continue
            if rule.surname is not None:
                actor_id, reason = _resolve_surname(rule.surname, candidate, context, named_at)
                decisions.append(_Decision(candidate, alias, actor_id, f"{rule.id}/{reason}"))
                continue
            for clause in rule.accept:
                if clause_holds(clause, context, strong):
                    decisions.append(
                        _Decision(candidate, alias, alias.actor_id, f"{rule.id}/{clause.name}")
                    )
                    break
        return decisions

    # ------------------------------------------------------------------ output

    def _entities(self, decisions: list[_Decision]) -> list[FoundEntity]:
        by_actor: dict[str, list[FoundMention]] = {}
        for decision in sorted(decisions, key=_order):
            by_actor.setdefault(decision.actor_id, []).append(_mention(decision))
        actors = self._actors
        return [
            FoundEntity(actors[actor_id].id, actors[actor_id].name, actors[actor_id].type, mentions)
            for actor_id, mentions in by_actor.items()
        ]


def _order(decision: _Decision) -> int:
    return decision.candidate.order


def _resolve_surname(
    surname: Surname,
    candidate: _Candidate,
    context: MatchContext,
    named_at: dict[str, list[int]],
) -> tuple[str, str]:
    """The family member a bare surname refers to, and why."""
    if (surname.parent_before and words_match(context.words_before(2), surname.parent_before)) or (
        surname.parent_after and words_match(context.words_after(2), surname.parent_after)
    ):
        return surname.default, "parent-of-named"
    named = [m for m in surname.members if m in named_at]
    if not named:
        return surname.default, "default-member"
    order = candidate.order
    last_before: tuple[int, str] | None = None
    for member in named:
        orders = named_at[member]
        index = bisect_left(orders, order)
        if index and (last_before is None or orders[index - 1] > last_before[0]):
            last_before = (orders[index - 1], member)
    if last_before is not None:
        return last_before[1], "last-named-member"
    first_after = min(named, key=lambda member: named_at[member][0])
    return first_after, "next-named-member"


def _local_verdict(rule: ContextRule, context: MatchContext) -> str | None:
    """The accepting clause's name, "" when rejected, None when the article must decide."""
    for clause in rule.reject:
        if clause_holds(clause, context, None):
            return _REJECTED
    for clause in rule.accept:
        if not clause.needs_article and clause_holds(clause, context, None):
            return f"{rule.id}/{clause.name}"
    return None if rule.can_accept_by_article else _REJECTED


_REJECTED = ""


def _mention(decision: _Decision) -> FoundMention:
    candidate = decision.candidate
    normalized = candidate.normalized
    start, end = normalized.original_span(candidate.match.start, candidate.match.end)
    return FoundMention(
        start,
        end,
        normalized.original[start:end],
        decision.alias.text,
        decision.rule,
        candidate.field,
    )
