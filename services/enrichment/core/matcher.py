"""Aho-Corasick over normalised text: every alias and topic term, on word boundaries.

A match must end at a word end (no suffixes: "حفتري" is not "حفتر") and start at a word start,
optionally after Arabic clitics. The allowed clitics depend on the alias:

- names (حفتر، طرابلس): و ف ب ل ك and their pairs (وب، فل، ...);
- aliases starting with ال (الدبيبة، الردع): و ف ب ك in front of ال, and the لل form
  (للدبيبة), itself after و or ف — the لل spelling is a key of its own in the automaton;
- topic terms: the name clitics plus ال and its combinations (الاشتباكات، بالاشتباكات);
- Latin: none.
"""

from __future__ import annotations

import re
from operator import itemgetter
from typing import Final

import ahocorasick

from services.enrichment.core.knowledge_base import Alias, KnowledgeBase, TopicTerm
from services.enrichment.core.normalize import NormalizedText

__all__ = ["AliasMatch", "Matcher", "TermMatch", "resolve_overlaps"]

NAME_PREFIXES = frozenset({"", "و", "ف", "ب", "ل", "ك", "وب", "ول", "وك", "فب", "فل", "فك"})
DEFINITE_ALIAS_PREFIXES = frozenset({"", "و", "ف", "ب", "ك", "وب", "فب", "وك", "فك"})
LL_FORM_PREFIXES = frozenset({"", "و", "ف"})
TERM_PREFIXES = NAME_PREFIXES | frozenset(
    {"ال", "وال", "فال", "بال", "كال", "لل", "ولل", "فلل", "وبال", "فبال", "وكال", "فكال"}
)
LATIN_PREFIXES = frozenset({""})
_LONGEST_PREFIX: Final = max(len(p) for p in TERM_PREFIXES)
_NON_ALNUM = re.compile(r"[\W_]+")


# Plain tuples, not objects: tens are made per article, and a tuple costs a fraction of an
# instance. An alias match: normalised offsets of the alias itself (without the clitic), where
# its word starts (clitic included), the clitic, and the aliases of the matched key.
AliasMatch = tuple[int, int, int, str, tuple[Alias, ...]]
# A topic term match: start, end, word start, term.
TermMatch = tuple[int, int, int, TopicTerm]


# What one automaton key reports after a given clitic: the aliases, the topic terms, and
# whether any of them is case-sensitive (checked against the original letters).
_Targets = tuple[tuple[Alias, ...], tuple[TopicTerm, ...], bool]
# Per key: its length, the clitics it takes, its aliases and topic terms, and None — or, for
# the rare key whose targets take different clitics or are case-sensitive, the targets per
# clitic instead. Almost every key is the plain case: no per-key dictionary, so 10,000s of
# keys stay small, and the matching loop takes the short path.
_KeyValue = tuple[
    int, frozenset[str], tuple[Alias, ...], tuple[TopicTerm, ...], dict[str, _Targets] | None
]


def _targets(matching: list[Alias | TopicTerm]) -> _Targets:
    # Aliases with a context rule first: an unconditional claim of the same words is the
    # fallback when every rule refuses.
    aliases = tuple(
        sorted((t for t in matching if isinstance(t, Alias)), key=lambda a: a.rule is None)
    )
    terms = tuple(t for t in matching if isinstance(t, TopicTerm))
    return aliases, terms, any(t.case_sensitive for t in matching)


def _key_value(key: str, targets: list[tuple[Alias | TopicTerm, frozenset[str]]]) -> _KeyValue:
    prefix_sets = {prefixes for _, prefixes in targets}
    if len(prefix_sets) == 1:
        aliases, terms, case_sensitive = _targets([t for t, _ in targets])
        if not case_sensitive:
            return len(key), prefix_sets.pop(), aliases, terms, None
    by_prefix = {
        prefix: _targets([t for t, prefixes in targets if prefix in prefixes])
        for prefix in frozenset().union(*prefix_sets)
    }
    return len(key), frozenset(by_prefix), (), (), by_prefix


def _alias_keys(alias: Alias) -> list[tuple[str, frozenset[str]]]:
    if not alias.is_arabic:
        return [(alias.normalized, alias.prefixes or LATIN_PREFIXES)]
    if alias.normalized.startswith("ال"):
        keys = [(alias.normalized, alias.prefixes or DEFINITE_ALIAS_PREFIXES)]
        if alias.prefixes is None or "ل" in alias.prefixes:
            keys.append(("لل" + alias.normalized[2:], LL_FORM_PREFIXES))
        return keys
    return [(alias.normalized, alias.prefixes or NAME_PREFIXES)]


def _term_keys(term: TopicTerm) -> list[tuple[str, frozenset[str]]]:
    if not term.is_arabic:
        return [(term.normalized, LATIN_PREFIXES)]
    if term.normalized.startswith("ال"):
        return [
            (term.normalized, DEFINITE_ALIAS_PREFIXES),
            ("لل" + term.normalized[2:], LL_FORM_PREFIXES),
        ]
    return [(term.normalized, TERM_PREFIXES)]


class Matcher:
    """The automaton of one knowledge base (built once, shared by every tagging call)."""

    def __init__(self, knowledge_base: KnowledgeBase) -> None:
        targets: dict[str, list[tuple[Alias | TopicTerm, frozenset[str]]]] = {}
        for actor in knowledge_base.actors.values():
            for alias in actor.aliases:
                for key, prefixes in _alias_keys(alias):
                    targets.setdefault(key, []).append((alias, prefixes))
        for topic in knowledge_base.topics.values():
            for term in topic.terms:
                for key, prefixes in _term_keys(term):
                    targets.setdefault(key, []).append((term, prefixes))
        automaton = ahocorasick.Automaton()
        for key, key_targets in targets.items():
            automaton.add_word(key, _key_value(key, key_targets))
        automaton.make_automaton()
        self._automaton = automaton
        self.key_count = len(targets)

    def find(self, normalized: NormalizedText) -> tuple[list[AliasMatch], list[TermMatch]]:
        """All alias and term occurrences that sit on word boundaries (overlaps included)."""
        text = normalized.text
        size = len(text)
        aliases: list[AliasMatch] = []
        terms: list[TermMatch] = []
        # The automaton is untyped: declared types keep the offsets native ints when compiled.
        last: int
        value: _KeyValue
        for last, value in self._automaton.iter(text):
            end = last + 1
            if end != size and text[end] != " ":
                continue
            length, prefixes, key_aliases, key_terms, by_prefix = value
            start = end - length
            if start == 0 or text[start - 1] == " ":
                word_start, prefix = start, ""
            else:
                space = text.rfind(" ", max(0, start - _LONGEST_PREFIX - 1), start)
                if space == -1 and start > _LONGEST_PREFIX:
                    continue
                word_start = space + 1
                prefix = text[word_start:start]
            if prefix not in prefixes:
                continue
            if by_prefix is not None:
                key_aliases, key_terms = _targets_here(normalized, start, end, by_prefix[prefix])
            if key_terms:
                for term in key_terms:
                    terms.append((start, end, word_start, term))
            if key_aliases:
                aliases.append((start, end, word_start, prefix, key_aliases))
        return aliases, terms


def _targets_here(
    normalized: NormalizedText, start: int, end: int, targets: _Targets
) -> tuple[tuple[Alias, ...], tuple[TopicTerm, ...]]:
    """The targets that hold at this match: case-sensitive ones only if the case is right."""
    key_aliases, key_terms, case_sensitive = targets
    if not case_sensitive:
        return key_aliases, key_terms
    return (
        tuple(
            a for a in key_aliases if not a.case_sensitive or _same_case(normalized, start, end, a)
        ),
        tuple(
            t for t in key_terms if not t.case_sensitive or _same_case(normalized, start, end, t)
        ),
    )


def _same_case(normalized: NormalizedText, start: int, end: int, target: Alias | TopicTerm) -> bool:
    """Every letter the knowledge base writes in upper case is upper case in the text: "US"
    is not "us", "Turkey" not the bird "turkey", while a headline's "TURKEY" still is."""
    original_start, original_end = normalized.original_span(start, end)
    written = _NON_ALNUM.sub("", normalized.original[original_start:original_end])
    compact = target.compact
    if len(written) != len(compact):  # accents written decomposed: compare the letters as is
        return written == compact
    return all(w.isupper() for w, c in zip(written, compact, strict=True) if c.isupper())


def resolve_overlaps(matches: list[AliasMatch]) -> list[AliasMatch]:
    """Keep the longest alias where aliases overlap (قوة الردع الخاصة over الردع).

    Sorted by start only (the automaton reports by end, so a stable sort keeps the shorter of
    two matches at one start first, and the longer then replaces it).
    """
    ordered = sorted(matches, key=itemgetter(0))
    kept: list[AliasMatch] = []
    last_end = -1
    for match in ordered:
        start, end = match[0], match[1]
        if start >= last_end:
            kept.append(match)
            last_end = end
        elif end - start > kept[-1][1] - kept[-1][0]:
            # A longer alias that starts inside the previous one wins over it.
            kept[-1] = match
            last_end = end
    return kept
