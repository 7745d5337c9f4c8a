"""Keyword-in-context excerpts: the sentence around a mention, cut cleanly when it is long.

Pure text logic on the article body and the mention spans the tagger found (offsets into the
body). The rules (docs/decisions.md, decision 55):

- A sentence ends at ``.`` ``!`` ``?`` ``؟`` ``؛`` ``۔`` or a line break (a ``.`` only before
  a space, a quote or the end, and not after a single letter, so ``3.5`` and ``U.S.`` stay
  whole). The excerpt is the sentence holding the mention.
- A sentence longer than ``max_chars`` is cut to its clauses (split at ``،`` ``,`` ``:``
  ``؛`` ``;`` and dashes) around the mention, as many as fit; a clause still too long is cut
  to a window of whole words around the mention. Every cut is at a space, never inside a
  word, and shows an ellipsis (``…``); a sentence's own ends show none.
- Per actor, at most ``limit`` excerpts, one per sentence, in text order; an excerpt that
  adds nothing to the title (the title again, or a piece of it) is skipped.
- Each excerpt knows its direction from its first strong letter (Arabic script → rtl).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

ELLIPSIS = "…"
MAX_EXCERPTS = 3
MAX_EXCERPT_CHARS = 280

Span = tuple[int, int]
Direction = Literal["rtl", "ltr"]

# Hard ends of a sentence; "." is checked separately (numbers, initials).
_SENTENCE_END = re.compile(r"[!?؟؛۔\n]|\.(?=[\s\"'”»)\]]|$)")
# Soft ends: where a long sentence may be cut into clauses.
_CLAUSE_END = re.compile(r"[،,:;؛]|\s[–—-]\s")
_CLAUSE_MARKS = frozenset("،,:;؛–—-")
_RTL_BIDI = frozenset({"R", "AL"})


@dataclass(frozen=True)
class Excerpt:
    """A piece of the body with the spans (relative to ``text``) to mark."""

    text: str
    marks: tuple[Span, ...]
    direction: Direction
    start: int  # where it begins and ends in the body (without the ellipses)
    end: int


def text_direction(text: str, default: Direction = "ltr") -> Direction:
    """``rtl`` when the first letter with a strong direction is right-to-left."""
    for char in text:
        kind = unicodedata.bidirectional(char)
        if kind in _RTL_BIDI:
            return "rtl"
        if kind == "L":
            return "ltr"
    return default


def _is_sentence_end(text: str, match: re.Match[str]) -> bool:
    if match.group() != ".":
        return True
    # "U.S." and "A. Smith": a single letter before the period is an initial.
    before = text[max(0, match.start() - 2) : match.start()]
    return not (len(before) == 2 and before[1].isalpha() and not before[0].isalnum())


def _sentence_ends(text: str, start: int, end: int) -> Iterable[int]:
    """Offsets just after each sentence end in ``text[start:end]``; a line break excluded."""
    for match in _SENTENCE_END.finditer(text, start, end):
        if _is_sentence_end(text, match):
            yield match.start() if match.group() == "\n" else match.end()


def sentence_span(text: str, start: int, end: int) -> Span:
    """The sentence holding ``text[start:end]``, without the spaces around it."""
    left = max((e for e in _sentence_ends(text, 0, start) if e <= start), default=0)
    if left < len(text) and text[left] == "\n":
        left += 1
    right = next(iter(_sentence_ends(text, end, len(text))), len(text))
    return _strip(text, left, right, start, end)


def _strip(text: str, left: int, right: int, start: int, end: int) -> Span:
    while left < start and text[left].isspace():
        left += 1
    while right > end and text[right - 1].isspace():
        right -= 1
    return left, right


def _clauses(text: str, left: int, right: int) -> list[Span]:
    """``text[left:right]`` split after each clause end (each clause keeps its comma)."""
    spans, position = [], left
    for match in _CLAUSE_END.finditer(text, left, right):
        cut = match.end()
        if cut > position:
            spans.append((position, cut))
            position = cut
    spans.append((position, right))
    return spans


def _word_window(text: str, left: int, right: int, start: int, end: int, limit: int) -> Span:
    """The longest run of whole words around ``[start, end)`` within ``limit`` characters."""
    lo, hi = start, end
    while True:
        grown = False
        for side in ("after", "before"):
            if side == "after" and hi < right:
                nxt = hi
                while nxt < right and text[nxt].isspace():
                    nxt += 1
                while nxt < right and not text[nxt].isspace():
                    nxt += 1
                if nxt - lo <= limit:
                    hi, grown = nxt, True
            elif side == "before" and lo > left:
                prv = lo
                while prv > left and text[prv - 1].isspace():
                    prv -= 1
                while prv > left and not text[prv - 1].isspace():
                    prv -= 1
                if hi - prv <= limit:
                    lo, grown = prv, True
        if not grown:
            return lo, hi


def _clip(text: str, sentence: Span, mention: Span, limit: int) -> Span:
    """A part of ``sentence`` holding ``mention``, at most ``limit`` characters if it can be."""
    left, right = sentence
    start, end = mention
    if right - left <= limit:
        return sentence
    clauses = _clauses(text, left, right)
    first = next(i for i, (a, b) in enumerate(clauses) if a <= start < b)
    last = next(i for i in range(first, len(clauses)) if clauses[i][1] >= end)
    lo, hi = clauses[first][0], clauses[last][1]
    lo, hi = _strip(text, lo, hi, start, end)
    if hi - lo > limit:
        # Inside one over-long clause: start from the mention's own word edges.
        while start > left and not text[start - 1].isspace():
            start -= 1
        while end < right and not text[end].isspace():
            end += 1
        return _word_window(text, lo, hi, start, end, limit)
    # Add whole clauses, the next one first (what follows a name says what it did).
    grew = True
    while grew:
        grew = False
        if last + 1 < len(clauses):
            candidate = _strip(text, lo, clauses[last + 1][1], start, end)
            if candidate[1] - candidate[0] <= limit:
                last, hi, grew = last + 1, candidate[1], True
        if first > 0:
            candidate = _strip(text, clauses[first - 1][0], hi, start, end)
            if candidate[1] - candidate[0] <= limit:
                first, lo, grew = first - 1, candidate[0], True
    return lo, hi


def merge_spans(spans: Iterable[Span]) -> tuple[Span, ...]:
    """Overlapping or touching spans joined, in order."""
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


def _comparable(text: str) -> str:
    """Letters and digits only, one space between words: quotes and punctuation ignored."""
    return " ".join("".join(c if c.isalnum() else " " for c in text).split())


def _adds_nothing(piece: str, title: str) -> bool:
    core = _comparable(piece)
    return not core or (bool(title) and core in title)


def excerpt_at(
    text: str, mention: Span, marks: Sequence[Span] = (), *, max_chars: int = MAX_EXCERPT_CHARS
) -> Excerpt:
    """The excerpt around one mention, with every span of ``marks`` inside it marked."""
    start, end = mention
    sentence = sentence_span(text, start, end)
    left, right = _clip(text, sentence, mention, max_chars)
    cut_before, cut_after = left > sentence[0], right < sentence[1]
    if cut_after:  # "…, " would read as a stray comma: the ellipsis replaces it
        while right > end and (text[right - 1] in _CLAUSE_MARKS or text[right - 1].isspace()):
            right -= 1
    prefix = ELLIPSIS if cut_before else ""
    suffix = ELLIPSIS if cut_after else ""
    shift = left - len(prefix)
    inside = [(a, b) for a, b in (*marks, mention) if left <= a and b <= right]
    body = text[left:right]
    return Excerpt(
        text=prefix + body + suffix,
        marks=tuple((a - shift, b - shift) for a, b in merge_spans(inside)),
        direction=text_direction(body),
        start=left,
        end=right,
    )


def excerpts(
    text: str,
    mentions: Sequence[Span],
    *,
    title: str = "",
    limit: int = MAX_EXCERPTS,
    max_chars: int = MAX_EXCERPT_CHARS,
) -> list[Excerpt]:
    """Up to ``limit`` excerpts around ``mentions`` (spans into ``text``), one per sentence,
    in text order; spans outside the text are ignored, and excerpts that only repeat (a part
    of) the title are skipped."""
    valid = sorted({(a, b) for a, b in mentions if 0 <= a < b <= len(text)})
    comparable_title = _comparable(title)
    found: list[Excerpt] = []
    seen: list[Span] = []  # every excerpt looked at, kept or not
    for mention in valid:
        if len(found) >= limit:
            break
        if any(a <= mention[0] < b for a, b in seen):
            continue  # this sentence is shown already, or adds nothing
        excerpt = excerpt_at(text, mention, valid, max_chars=max_chars)
        seen.append((excerpt.start, excerpt.end))
        if any(e.start < excerpt.end and excerpt.start < e.end for e in found):
            continue
        if _adds_nothing(text[excerpt.start : excerpt.end], comparable_title):
            continue
        found.append(excerpt)
    return found


def opening(text: str, *, max_chars: int = MAX_EXCERPT_CHARS) -> Excerpt | None:
    """The body's first sentence (cut like an excerpt), for an article with no mention in it."""
    stripped = text.lstrip()
    if not stripped:
        return None
    first = len(text) - len(stripped)
    word_end = first
    while word_end < len(text) and not text[word_end].isspace():
        word_end += 1
    excerpt = excerpt_at(text, (first, word_end), max_chars=max_chars)
    return Excerpt(excerpt.text, (), excerpt.direction, excerpt.start, excerpt.end)
