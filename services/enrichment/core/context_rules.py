"""Context conditions for ambiguous aliases, evaluated around one match.

All windows are counted in normalised words and read a bounded slice of the text, so the cost
per match does not grow with the article.
"""

from __future__ import annotations

from collections.abc import Set
from functools import lru_cache

from services.enrichment.core.knowledge_base import Clause, WordSet
from services.enrichment.core.normalize import NormalizedText

__all__ = ["MatchContext", "clause_holds", "word_forms", "words_match"]

# Longest first, so وبال is tried before و.
_CLITICS = (
    "وبال",
    "فبال",
    "وكال",
    "فكال",
    "وال",
    "فال",
    "بال",
    "كال",
    "ولل",
    "فلل",
    "لل",
    "ال",
    "وب",
    "ول",
    "فب",
    "فل",
    "وك",
    "فك",
    "و",
    "ف",
    "ب",
    "ل",
    "ك",
)
_CONJUNCTIONS = ("وب", "فب", "وك", "فك", "و", "ف", "ب", "ك")
_CLAUSE_PUNCTUATION = frozenset(".!?؟،,؛;:\n\r()[]—–-•|")
_MAX_WORD = 40  # characters read per word of window; longer "words" are not prose


@lru_cache(maxsize=65_536)
def word_forms(word: str) -> frozenset[str]:
    """The word and its forms without clitics or ال (والقوات → القوات, قوات)."""
    forms = {word}
    for clitic in _CLITICS:
        if word.startswith(clitic) and len(word) - len(clitic) >= 2:
            rest = word[len(clitic) :]
            forms.add(rest)
            if clitic.endswith("لل") or clitic.endswith("ال"):
                forms.add("ال" + rest)
    return frozenset(forms)


def words_match(words: list[str], wanted: WordSet) -> bool:
    if wanted.words:
        for word in words:
            if word in wanted.words or not wanted.words.isdisjoint(word_forms(word)):
                return True
    if wanted.phrases:
        joined = " " + " ".join(words) + " "
        return any(f" {phrase} " in joined for phrase in wanted.phrases)
    return False


class MatchContext:
    """One alias match inside a normalised field, with lazy access to its neighbourhood."""

    __slots__ = ("end", "normalized", "prefix", "start", "word_start")

    def __init__(
        self, normalized: NormalizedText, start: int, end: int, word_start: int, prefix: str
    ) -> None:
        self.normalized = normalized
        self.start = start
        self.end = end
        self.word_start = word_start
        self.prefix = prefix

    def words_before(self, count: int) -> list[str]:
        text = self.normalized.text
        return text[max(0, self.word_start - _MAX_WORD * count) : self.word_start].split()[-count:]

    def words_after(self, count: int) -> list[str]:
        text = self.normalized.text
        return text[self.end : self.end + _MAX_WORD * count].split()[:count]

    def opens_clause(self) -> bool:
        """True at the start of the text or right after clause punctuation or a line break."""
        original = self.normalized.original
        position = self.normalized.to_original(self.word_start) - 1
        steps = 0
        while position >= 0 and steps < 12:
            char = original[position]
            if char in _CLAUSE_PUNCTUATION:
                return True
            if char.isalnum():
                return False
            position -= 1
            steps += 1
        return position < 0

    def previous_word_is_definite(self) -> bool:
        """The word before carries ال (والجيش، للرئيس): the match would be its adjective."""
        before = self.words_before(1)
        if not before:
            return False
        word = before[0]
        if word.startswith(("لل", "ولل", "فلل")):
            return True
        for conjunction in _CONJUNCTIONS:
            if word.startswith(conjunction + "ال"):
                return True
        return word.startswith("ال") and len(word) > 3


def _near(context: MatchContext, wanted: WordSet, window: int) -> bool:
    return words_match(context.words_before(window), wanted) or words_match(
        context.words_after(window), wanted
    )


def clause_holds(clause: Clause, context: MatchContext, article_actors: Set[str] | None) -> bool:
    """Whether every condition of ``clause`` holds. ``article_actors`` None: not known yet."""
    if clause.needs_article:
        if article_actors is None:
            return False
        if clause.article_mentions and clause.article_mentions.isdisjoint(article_actors):
            return False
        if clause.also_article_mentions and clause.also_article_mentions.isdisjoint(article_actors):
            return False
    if clause.prefix is not None and context.prefix not in clause.prefix:
        return False
    if clause.before and not words_match(context.words_before(clause.before_window), clause.before):
        return False
    if clause.after and not words_match(context.words_after(clause.after_window), clause.after):
        return False
    if clause.near and not _near(context, clause.near, clause.near_window):
        return False
    if clause.not_near and _near(context, clause.not_near, clause.not_near_window):
        return False
    if clause.after_pattern is not None and not clause.after_pattern.match(
        context.normalized.text, min(context.end + 1, len(context.normalized.text))
    ):
        return False
    if clause.previous_word_definite is not None and (
        context.previous_word_is_definite() != clause.previous_word_definite
    ):
        return False
    return clause.clause_start is None or context.opens_clause() == clause.clause_start
