"""Context conditions for ambiguous aliases, evaluated around one match.

All windows are counted in normalised words and read a bounded slice of the text, so the cost
per match does not grow with the article.
"""

from __future__ import annotations

from collections.abc import Set

from services.enrichment.core.knowledge_base import Clause, WordSet
from services.enrichment.core.normalize import NormalizedText

__all__ = ["MatchContext", "clause_holds", "words_match"]

_CONJUNCTIONS = ("وب", "فب", "وك", "فك", "و", "ف", "ب", "ك")
_CLAUSE_PUNCTUATION = frozenset(".!?؟،,؛;:\n\r()[]—–-•|")


def words_match(words: list[str], wanted: WordSet) -> bool:
    """Whether a word of ``words`` is a wanted word (with any clitic) or they hold a phrase."""
    if not wanted.forms.isdisjoint(words):
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
        tokens = self.normalized.tokens
        index = self.normalized.token_index(self.word_start)
        return tokens[max(0, index - count) : index]

    def words_after(self, count: int) -> list[str]:
        tokens = self.normalized.tokens
        index = self.normalized.token_index(self.end - 1) + 1
        return tokens[index : index + count]

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
    if clause.before is not None and not words_match(
        context.words_before(clause.before_window), clause.before
    ):
        return False
    if clause.after is not None and not words_match(
        context.words_after(clause.after_window), clause.after
    ):
        return False
    if clause.near is not None and not _near(context, clause.near, clause.near_window):
        return False
    if clause.not_near is not None and _near(context, clause.not_near, clause.not_near_window):
        return False
    if clause.after_pattern is not None and not clause.after_pattern.match(
        context.normalized.text, min(context.end + 1, len(context.normalized.text))
    ):
        return False
    if clause.previous_word_pattern is not None:
        before = context.words_before(1)
        if not before or not clause.previous_word_pattern.fullmatch(before[0]):
            return False
    if clause.previous_word_definite is not None and (
        context.previous_word_is_definite() != clause.previous_word_definite
    ):
        return False
    return clause.clause_start is None or context.opens_clause() == clause.clause_start
