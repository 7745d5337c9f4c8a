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
from collections.abc import Set
from dataclasses import dataclass
from operator import itemgetter
from typing import Final

from services.common.arabic.normalize import NormalizedText, normalize_text
from services.enrichment.core.context_rules import (
    ClauseCheck,
    MatchContext,
    compile_clause,
    words_match,
)
from services.enrichment.core.errors import InvalidText
from services.enrichment.core.knowledge_base import (
    Alias,
    ContextRule,
    KnowledgeBase,
    Surname,
)
from services.enrichment.core.matcher import AliasMatch, TermMatch, matcher_for, resolve_overlaps
from services.enrichment.core.results import FoundEntity, FoundMention, TagResult
from services.enrichment.core.topics import TopicScorer

__all__ = ["TAGGER_VERSION", "TagResult", "Tagger", "check_text"]

TAGGER_VERSION = "1.0.0"

UNAMBIGUOUS: Final = "unambiguous-alias"
_BINARY_CHARACTERS = re.compile(r"[\x01-\x08\x0b\x0e-\x1f\x7f\ufffd]")
# Any character ``check_text`` looks for (NUL, control characters, the replacement character,
# lone surrogates): as a pattern to scan a text, and as a set to test the characters the
# normaliser already listed.
_SUSPICIOUS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f\ufffd\ud800-\udfff]")
_SUSPICIOUS_CHARACTERS: Final = frozenset(
    chr(code)
    for code in (*range(0x00, 0x09), 0x0B, *range(0x0E, 0x20), 0x7F, 0xFFFD, *range(0xD800, 0xE000))
)


def check_text(value: object, field: str) -> str:
    """The text itself, or InvalidText when it is not text that can be tagged."""
    if not isinstance(value, str):
        raise InvalidText(f"{field} is {type(value).__name__}, not text")
    if _SUSPICIOUS.search(value) is None:  # one scan for the usual, clean text
        return value
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


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    """A context rule with its clauses compiled (see ``compile_clause``)."""

    rule: ContextRule
    reject: tuple[tuple[ClauseCheck, ...], ...]
    # Per accept clause: the mention's rule ("<rule>/<clause>"), whether the clause needs the
    # article's actors, and its checks.
    accept: tuple[tuple[str, bool, tuple[ClauseCheck, ...]], ...]
    # The accept clauses that do not need the article: all pass 1 can try.
    local_accept: tuple[tuple[str, tuple[ClauseCheck, ...]], ...]
    # The rule's flags, copied: compiled, reading them here is a native load, not a lookup
    # on the knowledge base's (interpreted) rule for every match.
    decided_by_article: bool
    can_accept_by_article: bool

    @classmethod
    def of(cls, rule: ContextRule) -> _CompiledRule:
        accept = tuple(
            (f"{rule.id}/{clause.name}", clause.needs_article, compile_clause(clause))
            for clause in rule.accept
        )
        return cls(
            rule,
            tuple(compile_clause(clause) for clause in rule.reject),
            accept,
            tuple((name, checks) for name, needs_article, checks in accept if not needs_article),
            rule.decided_by_article,
            rule.can_accept_by_article,
        )

    def rejects(self, context: MatchContext, actors: Set[str] | None) -> bool:
        for checks in self.reject:
            for check in checks:
                if not check.holds(context, actors):
                    break
            else:
                return True
        return False

    def accepts(self, context: MatchContext, actors: Set[str] | None) -> str | None:
        """The first accept clause that holds, as the mention's rule (with ``actors`` None,
        only clauses that do not need the article are tried)."""
        for name, needs_article, checks in self.accept:
            if needs_article and actors is None:
                continue
            for check in checks:
                if not check.holds(context, actors):
                    break
            else:
                return name
        return None

    def local_verdict(self, context: MatchContext) -> str | None:
        """The accepting clause's name, "" when rejected, None when the article must decide.

        Only for rules not ``decided_by_article``: no reject clause needs the article, so
        every one is tried; accept clauses that need it are skipped (``local_accept``). A rule
        that cannot accept by the article looks for its accepting clause first and tries the
        reject clauses only when one holds: the same verdict, and most matches of a selective
        rule (a state adjective, سرت) hold no accept clause and need no reject clause either.
        """
        if self.can_accept_by_article:
            if self.rejects(context, None):
                return _REJECTED
            accepted = self._first_local_accept(context)
            return accepted  # None: the article decides
        accepted = self._first_local_accept(context)
        if accepted is None or self.rejects(context, None):
            return _REJECTED
        return accepted

    def _first_local_accept(self, context: MatchContext) -> str | None:
        for name, checks in self.local_accept:
            for check in checks:
                if not check.holds(context, None):
                    break
            else:
                return name
        return None


# A decided mention: position across title + text (for "nearest" and "first mention"), actor,
# alias, rule, the normalised field and the match's offsets in it, the field's name.
_Decision = tuple[int, str, Alias, str, NormalizedText, int, int, str]
# A mention the article must decide: position, its context, alias, compiled rule and field.
_Pending = tuple[int, MatchContext, Alias, _CompiledRule, str]


def _normalized(value: object, field: str) -> NormalizedText:
    """The normalised text, checked like ``check_text``: the normaliser lists every unusual
    character anyway, so the full check runs only when one of them could fail it."""
    if not isinstance(value, str):
        raise InvalidText(f"{field} is {type(value).__name__}, not text")
    normalized = normalize_text(value)
    if not _SUSPICIOUS_CHARACTERS.isdisjoint(normalized.specials):
        check_text(value, field)
    return normalized


class Tagger:
    """Tags articles against one knowledge base; safe to share, holds no per-call state."""

    def __init__(self, knowledge_base: KnowledgeBase) -> None:
        self.knowledge_base = knowledge_base
        self._matcher = matcher_for(knowledge_base)
        # Per actor, what an entity carries (id, name, type): read once, not per article.
        self._entity_fields = {
            actor_id: (actor.id, actor.name, actor.type)
            for actor_id, actor in knowledge_base.actors.items()
        }
        self._rules = {rule.id: _CompiledRule.of(rule) for rule in knowledge_base.rules.values()}
        self._lead_words = knowledge_base.topic_scoring.lead_words
        self._topics = TopicScorer(knowledge_base)

    # ``object``, not ``str``: a compiled build checks annotations itself and would raise a bare
    # TypeError; this way anything that is not text raises InvalidText in both builds.
    def tag(self, title: object, text: object) -> TagResult:
        normalized_title = _normalized(title, "title")
        normalized_text = _normalized(text, "text")
        decisions: list[_Decision] = []
        pending: list[_Pending] = []
        title_terms: list[TermMatch] = []
        text_terms: list[TermMatch] = []
        offset = 0
        for field, normalized in (("title", normalized_title), ("text", normalized_text)):
            if normalized.text:
                alias_matches, terms = self._matcher.find(normalized)
                if field == "title":
                    title_terms = terms
                else:
                    text_terms = terms
                self._decide_locally(field, normalized, offset, alias_matches, decisions, pending)
            offset += len(normalized.text) + 1
        if pending:
            self._decide_by_article(decisions, pending)
        words = normalized_text.words
        return TagResult(
            entities=self._entities(decisions),
            topics=self._topics.decide(
                title_terms,
                text_terms,
                len(words),
                _lead_end(normalized_text, self._lead_words) if text_terms else 0,
            ),
            normalized_title=normalized_title.text,
        )

    # ------------------------------------------------------------------ deciding

    def _decide_locally(
        self,
        field: str,
        normalized: NormalizedText,
        offset: int,
        found: list[AliasMatch],
        decisions: list[_Decision],
        pending: list[_Pending],
    ) -> None:
        """Pass 1: accept what needs no rule, decide what the words around the match decide;
        leave the rest to the article. Where aliases overlap the longest is decided; when
        its rules reject it, the shorter ones inside it that name other actors are (على
        الدبيبة is not Ali Dbeibah, but الدبيبة may still be the prime minister)."""
        rules = self._rules
        for start, end, word_start, prefix, aliases, before, after in resolve_overlaps(found):
            context: MatchContext | None = None
            for alias in aliases:
                rule = alias.rule
                if rule is None:
                    decisions.append(
                        (
                            offset + start,
                            alias.actor_id,
                            alias,
                            UNAMBIGUOUS,
                            normalized,
                            start,
                            end,
                            field,
                        )
                    )
                    break
                if context is None:
                    context = MatchContext(
                        normalized, start, end, word_start, prefix, before, after
                    )
                compiled = rules[rule.id]
                if compiled.decided_by_article:
                    pending.append((offset + start, context, alias, compiled, field))
                    break
                verdict = compiled.local_verdict(context)
                if verdict is None:
                    pending.append((offset + start, context, alias, compiled, field))
                    break
                if verdict != _REJECTED:
                    decisions.append(
                        (
                            offset + start,
                            alias.actor_id,
                            alias,
                            verdict,
                            normalized,
                            start,
                            end,
                            field,
                        )
                    )
                    break
            else:
                # Every alias rejected: the shorter aliases inside it, of other actors only
                # (what rejected قوة الردع الأمريكية as the force also rejects its الردع).
                rejected = {alias.actor_id for alias in aliases}
                inside: list[AliasMatch] = []
                for match in found:
                    if start <= match[0] and match[1] <= end and match[1] - match[0] < end - start:
                        others = tuple(a for a in match[4] if a.actor_id not in rejected)
                        if others:
                            inside.append((*match[:4], others, *match[5:]))
                if inside:
                    self._decide_locally(field, normalized, offset, inside, decisions, pending)

    def _decide_by_article(self, decisions: list[_Decision], pending: list[_Pending]) -> None:
        """Pass 2: decide against the actors accepted in pass 1 ("strong" mentions), so a guess
        never supports another guess."""
        strong_decisions = len(decisions)
        strong = frozenset(map(_ACTOR, decisions))
        named_at: dict[str, list[int]] | None = None  # for surnames: where each actor is named
        for order, context, alias, compiled, field in pending:
            if compiled.rejects(context, strong):
                continue
            decided = (context.normalized, context.start, context.end)
            surname = compiled.rule.surname
            if surname is not None:
                if named_at is None:
                    named_at = _positions_by_actor(decisions[:strong_decisions])
                actor_id, reason = _resolve_surname(surname, order, context, named_at)
                decisions.append(
                    (order, actor_id, alias, f"{compiled.rule.id}/{reason}", *decided, field)
                )
                continue
            accepted = compiled.accepts(context, strong)
            if accepted is not None:
                decisions.append((order, alias.actor_id, alias, accepted, *decided, field))
        decisions.sort(key=_ORDER)

    # ------------------------------------------------------------------ output

    def _entities(self, decisions: list[_Decision]) -> list[FoundEntity]:
        by_actor: dict[str, list[FoundMention]] = {}
        for _, actor_id, alias, rule, normalized, start, end, field in decisions:
            original_start, original_end = normalized.original_span(start, end)
            mention = FoundMention(
                original_start,
                original_end,
                normalized.original[original_start:original_end],
                alias.text,
                rule,
                field,
            )
            mentions = by_actor.get(actor_id)
            if mentions is None:
                by_actor[actor_id] = [mention]
            else:
                mentions.append(mention)
        fields = self._entity_fields
        entities: list[FoundEntity] = []
        for actor_id, mentions in by_actor.items():
            entity_id, name, entity_type = fields[actor_id]
            entities.append(FoundEntity(entity_id, name, entity_type, mentions))
        return entities


_ORDER = itemgetter(0)
_ACTOR = itemgetter(1)


def _lead_end(normalized: NormalizedText, lead_words: int) -> int:
    """The normalised offset where the text's first ``lead_words`` words end (one past the
    text when it has no more words than that: its words are joined by single spaces)."""
    words = normalized.words
    if len(words) <= lead_words:
        return len(normalized.text) + 1 if words else 0
    end = 0
    for index in range(lead_words):
        end += len(words[index]) + 1
    return end


def _positions_by_actor(decisions: list[_Decision]) -> dict[str, list[int]]:
    named_at: dict[str, list[int]] = {}
    for decision in decisions:
        named_at.setdefault(decision[1], []).append(decision[0])
    for orders in named_at.values():
        orders.sort()
    return named_at


def _resolve_surname(
    surname: Surname,
    order: int,
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


_REJECTED: Final = ""
