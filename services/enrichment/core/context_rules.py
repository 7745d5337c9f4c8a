"""Context conditions for ambiguous aliases, evaluated around one match.

All windows are counted in normalised words and read a bounded slice of the text, so the cost
per match does not grow with the article. Each clause is compiled once, at load time, into a
short tuple of checks that hold only the conditions it uses.
"""

from __future__ import annotations

import re
from collections.abc import Set
from typing import Final

from services.common.arabic.clitics import DEFINITE_STARTS
from services.common.arabic.normalize import NormalizedText
from services.enrichment.core.knowledge_base import Clause, WordSet

__all__ = ["ClauseCheck", "MatchContext", "compile_clause", "words_match"]

# A word with ال after a clitic (وال، بال، ...) or in the لل form.
_DEFINITE_STARTS: Final = DEFINITE_STARTS
_CLAUSE_PUNCTUATION: Final = frozenset(".!?؟،,؛;:\n\r()[]—–-•|")
# Harakat, Quranic marks and tatweel: not part of how a word is spelt.
_MARKS: Final = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")


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
        self,
        normalized: NormalizedText,
        start: int,
        end: int,
        word_start: int,
        prefix: str,
        before: int,
        after: int,
    ) -> None:
        self.normalized = normalized
        self.start = start
        self.end = end
        self.word_start = word_start
        self.prefix = prefix
        self.words = normalized.words
        self.before = before
        self.after = after

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
        if self.before <= 0:
            return False
        word = self.words[self.before - 1]
        if word.startswith(_DEFINITE_STARTS):
            return True
        return word.startswith("ال") and len(word) > 3


class ClauseCheck:
    """A compiled condition: ``holds(context, actors)`` with the actors named unambiguously in
    the article (None while they are not known yet).

    Small classes rather than closures: compiled, a method call on a class is a native call,
    a call through a closure a generic one.
    """

    def holds(self, context: MatchContext, actors: Set[str] | None) -> bool:
        raise NotImplementedError


def compile_clause(clause: Clause) -> tuple[ClauseCheck, ...]:
    """The checks of ``clause`` that it uses, cheapest first; all must hold."""
    checks: list[ClauseCheck] = []
    if clause.needs_article:
        checks.append(_ArticleCheck(clause.article_mentions, clause.also_article_mentions))
    if clause.prefix is not None:
        checks.append(_PrefixCheck(clause.prefix))
    if clause.before is not None:
        checks.append(_before_check(clause.before, clause.before_window))
    if clause.after is not None:
        checks.append(_after_check(clause.after, clause.after_window))
    if clause.near is not None:
        checks.append(_near_check(clause.near, clause.near_window, wanted=True))
    if clause.not_near is not None:
        checks.append(_near_check(clause.not_near, clause.not_near_window, wanted=False))
    if clause.after_pattern is not None:
        checks.append(_PatternAfterCheck(clause.after_pattern))
    if clause.previous_word_pattern is not None:
        checks.append(_PreviousWordCheck(clause.previous_word_pattern))
    if clause.written is not None:
        checks.append(_WrittenCheck(clause.written))
    if clause.previous_word_written is not None:
        checks.append(_PreviousWordWrittenCheck(clause.previous_word_written))
    if clause.previous_word_definite is not None:
        checks.append(_PreviousWordDefiniteCheck(clause.previous_word_definite))
    if clause.clause_start is not None:
        checks.append(_OpensClauseCheck(clause.clause_start))
    if clause.tanwin is not None:
        checks.append(_TanwinCheck(clause.tanwin))
    if clause.hashtag is not None:
        checks.append(_HashtagCheck(clause.hashtag))
    return tuple(checks)


class _ArticleCheck(ClauseCheck):
    def __init__(self, mentions: frozenset[str], also: frozenset[str]) -> None:
        self.mentions = mentions
        self.also = also

    def holds(self, context: MatchContext, actors: Set[str] | None) -> bool:
        return (
            actors is not None
            and not (self.mentions and self.mentions.isdisjoint(actors))
            and not (self.also and self.also.isdisjoint(actors))
        )


class _PrefixCheck(ClauseCheck):
    def __init__(self, prefixes: frozenset[str]) -> None:
        self.prefixes = prefixes

    def holds(self, context: MatchContext, actors: Set[str] | None) -> bool:
        return context.prefix in self.prefixes


class _PatternAfterCheck(ClauseCheck):
    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern

    def holds(self, context: MatchContext, actors: Set[str] | None) -> bool:
        text = context.normalized.text
        return self.pattern.match(text, min(context.end + 1, len(text))) is not None


class _PreviousWordCheck(ClauseCheck):
    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern

    def holds(self, context: MatchContext, actors: Set[str] | None) -> bool:
        before = context.before
        return before > 0 and self.pattern.fullmatch(context.words[before - 1]) is not None


def _as_written(normalized: NormalizedText, start: int, end: int) -> str:
    """The original text of the normalised ``[start, end)``, diacritics and tatweel removed:
    the letters as the writer chose them (على and علي are one word once normalised)."""
    first, last = normalized.original_span(start, end)
    return _MARKS.sub("", normalized.original[first:last])


class _WrittenCheck(ClauseCheck):
    """The match (its clitic included) as written must match the pattern."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern

    def holds(self, context: MatchContext, actors: Set[str] | None) -> bool:
        written = _as_written(context.normalized, context.word_start, context.end)
        return self.pattern.fullmatch(written) is not None


class _PreviousWordWrittenCheck(ClauseCheck):
    """The word before the match as written must match the pattern (False at the start)."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern

    def holds(self, context: MatchContext, actors: Set[str] | None) -> bool:
        before = context.before
        if before <= 0:
            return False
        # Normalised words are joined by single spaces: the previous word ends one before.
        end = context.word_start - 1
        start = end - len(context.words[before - 1])
        if start < 0:
            return False
        written = _as_written(context.normalized, start, end)
        return self.pattern.fullmatch(written) is not None


class _PreviousWordDefiniteCheck(ClauseCheck):
    def __init__(self, definite: bool) -> None:
        self.definite = definite

    def holds(self, context: MatchContext, actors: Set[str] | None) -> bool:
        return context.previous_word_is_definite() == self.definite


class _OpensClauseCheck(ClauseCheck):
    def __init__(self, opens: bool) -> None:
        self.opens = opens

    def holds(self, context: MatchContext, actors: Set[str] | None) -> bool:
        return context.opens_clause() == self.opens


class _TanwinCheck(ClauseCheck):
    """Whether the match carries tanwin (ً ٌ ٍ) in the original text: a proper name never
    does, so the word is a common noun or an indefinite adjective (وفداً إيطالياً)."""

    def __init__(self, tanwin: bool) -> None:
        self.tanwin = tanwin

    def holds(self, context: MatchContext, actors: Set[str] | None) -> bool:
        normalized = context.normalized
        specials = normalized.specials  # every unusual character of the text, tanwin included
        found = False
        if "\u064b" in specials or "\u064c" in specials or "\u064d" in specials:
            start, end = normalized.original_span(context.start, context.end)
            written = normalized.original[start:end]
            found = "\u064b" in written or "\u064c" in written or "\u064d" in written
        return found is self.tanwin


class _HashtagCheck(ClauseCheck):
    """Whether the match is part of a hashtag in the original text: its word follows a # or
    is joined to a neighbouring word by an underscore (#قوة_الردع، #سرت_الآن، tatweel and
    clitics included: #بـسرت)."""

    def __init__(self, hashtag: bool) -> None:
        self.hashtag = hashtag

    def holds(self, context: MatchContext, actors: Set[str] | None) -> bool:
        normalized = context.normalized
        if "#" not in normalized.specials and "_" not in normalized.specials:
            return not self.hashtag  # neither character is anywhere in the text
        original = normalized.original
        start = normalized.to_original(context.word_start)
        _, end = normalized.original_span(context.start, context.end)
        found = False
        position = start - 1
        while position >= 0 and original[position] == "\u0640":  # tatweel
            position -= 1
        if position >= 0 and original[position] in "#_":
            found = True
        else:
            position = end
            while position < len(original) and original[position] == "\u0640":
                position += 1
            found = position < len(original) and original[position] == "_"
        return found is self.hashtag


# Window checks, specialised for the usual word sets without phrases: the window's words
# looked up in place (compiled, an index loop: no slice to allocate, no method call).


def _any_in(forms: frozenset[str], words: list[str], start: int, end: int) -> bool:
    """Whether one of ``words[start:end]`` is in ``forms`` (``0 <= start``)."""
    if end > len(words):
        end = len(words)
    index = start
    while index < end:
        if words[index] in forms:
            return True
        index += 1
    return False


def _before_check(wanted: WordSet, window: int) -> ClauseCheck:
    if wanted.phrases:
        return _BeforePhraseCheck(wanted, window)
    return _BeforeCheck(wanted.forms, window)


def _after_check(wanted: WordSet, window: int) -> ClauseCheck:
    if wanted.phrases:
        return _AfterPhraseCheck(wanted, window)
    return _AfterCheck(wanted.forms, window)


def _near_check(words: WordSet, window: int, *, wanted: bool) -> ClauseCheck:
    """``near`` (``wanted``) or ``not_near``: a word of ``words`` on either side."""
    if words.phrases:
        return _NearPhraseCheck(words, window, wanted)
    return _NearCheck(words.forms, window, wanted)


class _BeforeCheck(ClauseCheck):
    def __init__(self, forms: frozenset[str], window: int) -> None:
        self.forms = forms
        self.window = window

    def holds(self, context: MatchContext, actors: Set[str] | None) -> bool:
        before, window = context.before, self.window
        return _any_in(self.forms, context.words, before - window if before > window else 0, before)


class _AfterCheck(ClauseCheck):
    def __init__(self, forms: frozenset[str], window: int) -> None:
        self.forms = forms
        self.window = window

    def holds(self, context: MatchContext, actors: Set[str] | None) -> bool:
        after = context.after
        return _any_in(self.forms, context.words, after, after + self.window)


class _NearCheck(ClauseCheck):
    def __init__(self, forms: frozenset[str], window: int, wanted: bool) -> None:
        self.forms = forms
        self.window = window
        self.wanted = wanted

    def holds(self, context: MatchContext, actors: Set[str] | None) -> bool:
        before, after, window, all_words = context.before, context.after, self.window, context.words
        found = _any_in(
            self.forms, all_words, before - window if before > window else 0, before
        ) or _any_in(self.forms, all_words, after, after + window)
        return found is self.wanted


def _window_match(
    forms: frozenset[str],
    heads: frozenset[str],
    padded: tuple[str, ...],
    words: list[str],
    start: int,
    end: int,
) -> bool:
    """``words_match(words[start:end], wanted)`` with the word set's parts passed in: the
    words are looked up in place, and the window is joined only when a phrase may be in it."""
    if _any_in(forms, words, start, end):
        return True
    if not _any_in(heads, words, start, end):
        return False
    joined = " " + " ".join(words[start:end]) + " "
    return any(phrase in joined for phrase in padded)


class _PhraseCheck(ClauseCheck):
    """A window check whose word set holds phrases: its parts read once, at load time."""

    def __init__(self, wanted: WordSet, window: int) -> None:
        self.forms = wanted.forms
        self.heads = wanted.phrase_heads
        self.padded = wanted.padded_phrases
        self.window = window


class _BeforePhraseCheck(_PhraseCheck):
    def holds(self, context: MatchContext, actors: Set[str] | None) -> bool:
        before, window = context.before, self.window
        return _window_match(
            self.forms,
            self.heads,
            self.padded,
            context.words,
            before - window if before > window else 0,
            before,
        )


class _AfterPhraseCheck(_PhraseCheck):
    def holds(self, context: MatchContext, actors: Set[str] | None) -> bool:
        after = context.after
        return _window_match(
            self.forms, self.heads, self.padded, context.words, after, after + self.window
        )


class _NearPhraseCheck(_PhraseCheck):
    def __init__(self, words: WordSet, window: int, wanted: bool) -> None:
        super().__init__(words, window)
        self.wanted = wanted

    def holds(self, context: MatchContext, actors: Set[str] | None) -> bool:
        before, after, window, all_words = context.before, context.after, self.window, context.words
        found = _window_match(
            self.forms,
            self.heads,
            self.padded,
            all_words,
            before - window if before > window else 0,
            before,
        ) or _window_match(self.forms, self.heads, self.padded, all_words, after, after + window)
        return found is self.wanted
