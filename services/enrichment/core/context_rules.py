"""Context conditions for ambiguous aliases, evaluated around one match.

All windows are counted in normalised words and read a bounded slice of the text, so the cost
per match does not grow with the article. Each clause is compiled once, at load time, into a
short tuple of checks that hold only the conditions it uses.
"""

from __future__ import annotations

from collections.abc import Callable, Set

from services.enrichment.core.knowledge_base import Clause, WordSet
from services.enrichment.core.normalize import NormalizedText

__all__ = ["ClauseCheck", "MatchContext", "compile_clause", "words_match"]

_CONJUNCTIONS = ("وب", "فب", "وك", "فك", "و", "ف", "ب", "ك")
_DEFINITE_STARTS = ("لل", "ولل", "فلل", *(conjunction + "ال" for conjunction in _CONJUNCTIONS))
_CLAUSE_PUNCTUATION = frozenset(".!?؟،,؛;:\n\r()[]—–-•|")


def words_match(words: list[str], wanted: WordSet) -> bool:
    """Whether a word of ``words`` is a wanted word (with any clitic) or they hold a phrase."""
    if not wanted.forms.isdisjoint(words):
        return True
    if wanted.phrase_heads.isdisjoint(words):
        return False
    joined = " " + " ".join(words) + " "
    return any(phrase in joined for phrase in wanted.padded_phrases)


class MatchContext:
    """One alias match inside a normalised field, with its neighbourhood.

    ``words`` are the field's words, ``before`` the index of the match's first word (clitic
    included) and ``after`` the index of the word after the match: a window is one slice.
    """

    __slots__ = ("after", "before", "end", "normalized", "prefix", "start", "word_start", "words")

    def __init__(
        self, normalized: NormalizedText, start: int, end: int, word_start: int, prefix: str
    ) -> None:
        self.normalized = normalized
        self.start = start
        self.end = end
        self.word_start = word_start
        self.prefix = prefix
        self.words = normalized.words
        self.before = before = normalized.word_index(word_start)
        # Spaces inside the match (a clitic has none; a name of several words has some).
        self.after = before + normalized.text.count(" ", word_start, end) + 1

    def words_before(self, count: int) -> list[str]:
        before = self.before
        return self.words[before - count if before > count else 0 : before]

    def words_after(self, count: int) -> list[str]:
        return self.words[self.after : self.after + count]

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
        if word.startswith(_DEFINITE_STARTS):
            return True
        return word.startswith("ال") and len(word) > 3


# A compiled condition: context and the actors named unambiguously in the article (None
# while they are not known yet) in, whether it holds out.
ClauseCheck = Callable[[MatchContext, "Set[str] | None"], bool]


def compile_clause(clause: Clause) -> tuple[ClauseCheck, ...]:
    """The checks of ``clause`` that it uses, cheapest first; all must hold."""
    checks: list[ClauseCheck] = []
    if clause.needs_article:
        mentions, also = clause.article_mentions, clause.also_article_mentions

        def article(_: MatchContext, actors: Set[str] | None) -> bool:
            return (
                actors is not None
                and not (mentions and mentions.isdisjoint(actors))
                and not (also and also.isdisjoint(actors))
            )

        checks.append(article)
    if clause.prefix is not None:
        prefixes = clause.prefix
        checks.append(lambda context, _: context.prefix in prefixes)
    if clause.before is not None:
        checks.append(_before_check(clause.before, clause.before_window))
    if clause.after is not None:
        checks.append(_after_check(clause.after, clause.after_window))
    if clause.near is not None:
        checks.append(_near_check(clause.near, clause.near_window, wanted=True))
    if clause.not_near is not None:
        checks.append(_near_check(clause.not_near, clause.not_near_window, wanted=False))
    if clause.after_pattern is not None:
        after_pattern = clause.after_pattern

        def pattern_after(context: MatchContext, _: Set[str] | None) -> bool:
            text = context.normalized.text
            return after_pattern.match(text, min(context.end + 1, len(text))) is not None

        checks.append(pattern_after)
    if clause.previous_word_pattern is not None:
        word_pattern = clause.previous_word_pattern

        def previous_word(context: MatchContext, _: Set[str] | None) -> bool:
            before = context.words_before(1)
            return bool(before) and word_pattern.fullmatch(before[0]) is not None

        checks.append(previous_word)
    if clause.previous_word_definite is not None:
        definite = clause.previous_word_definite
        checks.append(lambda context, _: context.previous_word_is_definite() == definite)
    if clause.clause_start is not None:
        opens = clause.clause_start
        checks.append(lambda context, _: context.opens_clause() == opens)
    return tuple(checks)


# Window checks, specialised for the usual word sets without phrases: one set operation on
# one slice, no further calls.


def _before_check(wanted: WordSet, window: int) -> ClauseCheck:
    forms = wanted.forms
    if wanted.phrases:
        return lambda context, _: words_match(context.words_before(window), wanted)

    def check(context: MatchContext, _: Set[str] | None) -> bool:
        before = context.before
        return not forms.isdisjoint(
            context.words[before - window if before > window else 0 : before]
        )

    return check


def _after_check(wanted: WordSet, window: int) -> ClauseCheck:
    forms = wanted.forms
    if wanted.phrases:
        return lambda context, _: words_match(context.words_after(window), wanted)

    def check(context: MatchContext, _: Set[str] | None) -> bool:
        after = context.after
        return not forms.isdisjoint(context.words[after : after + window])

    return check


def _near_check(words: WordSet, window: int, *, wanted: bool) -> ClauseCheck:
    """``near`` (``wanted``) or ``not_near``: a word of ``words`` on either side."""
    forms = words.forms
    if words.phrases:

        def near_with_phrases(context: MatchContext, _: Set[str] | None) -> bool:
            found = words_match(context.words_before(window), words) or words_match(
                context.words_after(window), words
            )
            return found is wanted

        return near_with_phrases

    def near(context: MatchContext, _: Set[str] | None) -> bool:
        before, after, all_words = context.before, context.after, context.words
        found = not forms.isdisjoint(
            all_words[before - window if before > window else 0 : before]
        ) or not forms.isdisjoint(all_words[after : after + window])
        return found is wanted

    return near
