"""Aliases and topic terms found word by word in the normalised text, through a trie of words.

A key (a normalised alias or topic term) is a sequence of words. The keys form a trie whose
edges are whole words, and each spelling a key's first word can take in a text — the word
itself, and the word behind each clitic the key allows — leads into it. Matching looks each
word of the text up in one dictionary of those spellings and, on a hit, follows the trie over
the next words: the cost grows with the article and with what it mentions, not with the size
of the knowledge base, and every match starts and ends on word boundaries by construction
(no suffixes: "حفتري" is not "حفتر"). Because the normaliser leaves exactly one space between
words, this finds exactly what an Aho-Corasick automaton over the characters finds once its
matches are filtered to word boundaries and allowed clitics, without visiting every character.

The allowed clitics depend on the key (``services.common.arabic.clitics`` defines them):

- names (حفتر، طرابلس): و ف ب ل ك and their pairs (وب، فل، ...);
- aliases starting with ال (الدبيبة، الردع): و ف ب ك in front of ال, and the لل form
  (للدبيبة), itself after و or ف — the لل spelling is a key of its own;
- topic terms: the name clitics plus ال and its combinations (الاشتباكات، بالاشتباكات);
- Latin: none.

The tagger builds the matcher of a knowledge base once (``matcher_for``) and shares it.
"""

from __future__ import annotations

import re
from operator import itemgetter
from typing import Final
from weakref import WeakKeyDictionary

from services.common.arabic.clitics import (
    DEFINITE_ALIAS_PREFIXES,
    LATIN_PREFIXES,
    LL_FORM_PREFIXES,
    NAME_PREFIXES,
    term_spellings,
)
from services.common.arabic.normalize import NormalizedText
from services.enrichment.core.knowledge_base import Alias, KnowledgeBase, TopicTerm

__all__ = ["AliasMatch", "Matcher", "TermMatch", "matcher_for", "resolve_overlaps"]

_NON_ALNUM = re.compile(r"[\W_]+")

# Plain tuples, not objects: tens are made per article, and a tuple costs a fraction of an
# instance. An alias match: normalised offsets of the alias itself (without the clitic), where
# its word starts (clitic included), the clitic, the aliases of the matched key, and the
# indices (in ``NormalizedText.words``) of the match's first word and of the word after it.
AliasMatch = tuple[int, int, int, str, tuple[Alias, ...], int, int]
# A topic term match: start, end, word start, term.
TermMatch = tuple[int, int, int, TopicTerm]


class _Key:
    """A key and what a match of it reports behind the clitics in ``clitics``.

    One per key, or, for the rare key whose targets take different clitics, one per group of
    targets that take the same ones.
    """

    __slots__ = ("aliases", "case_sensitive", "clitics", "length", "terms")

    def __init__(
        self, key: str, matching: list[Alias | TopicTerm], clitics: frozenset[str]
    ) -> None:
        self.length: Final = len(key)
        self.clitics: Final = clitics  # usually one of the shared sets above
        # Aliases with a context rule first: an unconditional claim of the same words is the
        # fallback when every rule refuses.
        self.aliases: Final = tuple(
            sorted((t for t in matching if isinstance(t, Alias)), key=lambda a: a.rule is None)
        )
        self.terms: Final = tuple(t for t in matching if isinstance(t, TopicTerm))
        # Checked against the original letters at each match (see ``_same_case``).
        self.case_sensitive: Final = any(t.case_sensitive for t in matching)


class _Node:
    """A word of the trie: the keys that end with it, and the words that may follow."""

    __slots__ = ("following", "keys")

    def __init__(self) -> None:
        self.keys: tuple[_Key, ...] = ()
        self.following: dict[str, _Node] | None = None

    def child(self, word: str) -> _Node:
        if self.following is None:
            self.following = {}
        node = self.following.get(word)
        if node is None:
            node = self.following[word] = _Node()
        return node


class _Entry:
    """One reading of a word of the text: ``clitic`` followed by the first word of the keys
    below ``node``; ``other`` is the next reading of the same spelling, if any."""

    __slots__ = ("clitic", "node", "other")

    def __init__(self, clitic: str, node: _Node, other: _Entry | None) -> None:
        self.clitic: Final = clitic
        self.node: Final = node
        self.other: Final = other


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
    return term_spellings(term.normalized, arabic=term.is_arabic)


class Matcher:
    """The word trie of one knowledge base (built once, shared by every tagging call)."""

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
        roots: dict[str, _Node] = {}
        clitics_by_root: dict[str, frozenset[str]] = {}
        for key, key_targets in targets.items():
            first_word, *rest = key.split(" ")
            node = roots.get(first_word)
            if node is None:
                node = roots[first_word] = _Node()
            for word in rest:
                node = node.child(word)
            node.keys = _keys(key, key_targets)
            for _, prefixes in key_targets:
                clitics = clitics_by_root.get(first_word)
                if clitics is None or not prefixes <= clitics:
                    clitics_by_root[first_word] = (
                        prefixes if clitics is None else clitics | prefixes
                    )
        index: dict[str, _Entry] = {}
        for first_word, clitics in clitics_by_root.items():
            for clitic in clitics:
                spelling = clitic + first_word
                index[spelling] = _Entry(clitic, roots[first_word], index.get(spelling))
        self._index = index
        self.key_count = len(targets)
        self.spelling_count = len(index)

    def find(self, normalized: NormalizedText) -> tuple[list[AliasMatch], list[TermMatch]]:
        """Every alias and term occurrence (overlaps included), in the order of the text;
        of two at one start, the shorter first."""
        words = normalized.words
        index = self._index
        count = len(words)
        aliases: list[AliasMatch] = []
        terms: list[TermMatch] = []
        word_start = 0
        for position in range(count):
            word = words[position]
            entry = index.get(word)
            while entry is not None:
                clitic = entry.clitic
                start = word_start + len(clitic)
                node: _Node | None = entry.node
                after = position + 1
                while node is not None:
                    for key in node.keys:
                        if clitic not in key.clitics:
                            continue
                        end = start + key.length
                        key_aliases = key.aliases
                        key_terms = key.terms
                        if key.case_sensitive:
                            key_aliases, key_terms = _targets_here(normalized, start, end, key)
                        for term in key_terms:
                            terms.append((start, end, word_start, term))
                        if key_aliases:
                            aliases.append(
                                (start, end, word_start, clitic, key_aliases, position, after)
                            )
                    following = node.following
                    if following is None or after == count:
                        break
                    node = following.get(words[after])
                    after += 1
                entry = entry.other
            word_start += len(word) + 1
        return aliases, terms


_MATCHERS: Final[WeakKeyDictionary[KnowledgeBase, Matcher]] = WeakKeyDictionary()


def matcher_for(knowledge_base: KnowledgeBase) -> Matcher:
    """The knowledge base's matcher, built on first use and shared by every tagger of it (it
    is dropped with the knowledge base)."""
    matcher = _MATCHERS.get(knowledge_base)
    if matcher is None:
        matcher = _MATCHERS[knowledge_base] = Matcher(knowledge_base)
    return matcher


def _keys(
    key: str, key_targets: list[tuple[Alias | TopicTerm, frozenset[str]]]
) -> tuple[_Key, ...]:
    prefix_sets = {prefixes for _, prefixes in key_targets}
    if len(prefix_sets) == 1:  # almost every key
        return (_Key(key, [t for t, _ in key_targets], prefix_sets.pop()),)
    # Targets that take different clitics: one entry per group of targets with the same ones.
    groups: dict[tuple[int, ...], tuple[list[Alias | TopicTerm], set[str]]] = {}
    for clitic in frozenset().union(*prefix_sets):
        matching = [t for t, prefixes in key_targets if clitic in prefixes]
        groups.setdefault(tuple(map(id, matching)), (matching, set()))[1].add(clitic)
    return tuple(_Key(key, matching, frozenset(clitics)) for matching, clitics in groups.values())


def _targets_here(
    normalized: NormalizedText, start: int, end: int, key: _Key
) -> tuple[tuple[Alias, ...], tuple[TopicTerm, ...]]:
    """The targets that hold at this match: case-sensitive ones only if the case is right."""
    return (
        tuple(
            a for a in key.aliases if not a.case_sensitive or _same_case(normalized, start, end, a)
        ),
        tuple(
            t for t in key.terms if not t.case_sensitive or _same_case(normalized, start, end, t)
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

    Sorted by start only: ``Matcher.find`` reports the keys of one word shortest first, so a
    stable sort keeps the shorter of two matches at one start first, and the longer then
    replaces it.
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
