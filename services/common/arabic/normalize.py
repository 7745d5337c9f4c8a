"""The one Arabic/Latin normaliser shared by the tagger, the search field and the alert rules.

``normalize_arabic(text)`` returns the matching form of a text:

- Arabic diacritics (harakat, tanwin, shadda, sukun, superscript alef, Quranic marks), tatweel,
  Latin combining accents and invisible format characters (ZWJ/ZWNJ, bidi marks, BOM, soft
  hyphen) are deleted;
- alef forms أ إ آ ٱ → ا; ى → ي (as Lucene and camel-tools do, not into ا); ة → ه;
- ؤ → و and ئ → ي: writers often drop the hamza seat mark (مسوول, رييس, فايز for فائز), so
  folding onto the bare carrier letter makes both spellings one key; the hamza on the line (ء)
  is kept because it is a letter of its own;
- Persian keheh/yeh (ک ی) → Arabic (ك ي), presentation forms and fullwidth forms → base letters;
- Arabic-Indic (٠-٩) and Persian (۰-۹) digits, and any other decimal digits → ASCII;
- Latin and other cased scripts: casefolded and stripped of accents (é → e, İ → i);
- every other character that is neither a letter nor a digit (punctuation, symbols, quotes,
  the underscore) becomes a space, whitespace runs collapse to one space, ends are stripped.

Every step except deletion and whitespace collapsing replaces one character by one character,
so ``NormalizedText.to_original`` can map any offset of the normalised text back to the
original text through two short lists of breakpoints: where space runs were collapsed (found
while collapsing) and where characters were deleted (found when a match first needs them).
Ligatures that would expand to two characters (ﻻ, ß) are left as they are.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Final

__all__ = ["NormalizedText", "normalize_arabic", "normalize_text"]


def _char_class(ranges: Iterable[tuple[int, int]]) -> str:
    return "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in ranges
    )


# Characters removed outright (they never separate words).
_DELETED_RANGES: tuple[tuple[int, int], ...] = (
    (0x0610, 0x061A),  # Quranic honorifics and small marks
    (0x061C, 0x061C),  # Arabic letter mark (bidi)
    (0x0640, 0x0640),  # tatweel
    (0x064B, 0x065F),  # tanwin, harakat, shadda, sukun, hamza marks
    (0x0670, 0x0670),  # superscript (dagger) alef
    (0x06D6, 0x06DC),  # Quranic annotation signs
    (0x06DF, 0x06E4),
    (0x06E7, 0x06E8),
    (0x06EA, 0x06ED),
    (0x08D3, 0x08E1),  # Arabic Extended-A marks
    (0x08E3, 0x08FF),
    (0x0300, 0x036F),  # Latin combining accents (decomposed input)
    (0x00AD, 0x00AD),  # soft hyphen
    (0x200C, 0x200F),  # ZWNJ, ZWJ, LRM, RLM
    (0x202A, 0x202E),  # bidi embeddings and overrides
    (0x2066, 0x2069),  # bidi isolates
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFEFF, 0xFEFF),  # byte order mark / zero width no-break space
)
_DELETED_CLASS = _char_class(_DELETED_RANGES)
_DELETED_RUN = re.compile(f"[{_DELETED_CLASS}]+")
# Only marks that belong to the preceding letter; a mention's span is widened over them.
_TRAILING_MARKS: Final = frozenset(
    chr(c)
    for a, b in (
        (0x0610, 0x061A),
        (0x0640, 0x0640),
        (0x064B, 0x065F),
        (0x0670, 0x0670),
        (0x0300, 0x036F),
    )
    for c in range(a, b + 1)
)

# Frequent one-to-one Arabic folds, applied with str.replace (much faster than str.translate
# with a dict on non-ASCII text).
_ARABIC_FOLDS: tuple[tuple[str, str], ...] = (
    ("أ", "ا"),
    ("إ", "ا"),
    ("آ", "ا"),
    ("ٱ", "ا"),
    ("ٲ", "ا"),
    ("ٳ", "ا"),
    ("ٵ", "ا"),
    ("ى", "ي"),
    ("ی", "ي"),
    ("ئ", "ي"),
    ("ة", "ه"),
    ("ۀ", "ه"),
    ("ۃ", "ه"),
    ("ؤ", "و"),
    ("ک", "ك"),
    ("ڪ", "ك"),
)
_ARABIC_FOLD_MAP = dict(_ARABIC_FOLDS)

# Common separators turned into spaces with str.replace; a regex catches the rest.
_COMMON_SEPARATORS = (
    "\n",
    "\r",
    "\t",
    "\xa0",
    "\u200b",
    "\u2009",
    "\u202f",
    "\u3000",
    ".",
    ",",
    "،",
    ":",
    ";",
    "؛",
    "?",
    "؟",
    "!",
    '"',
    "'",
    "“",
    "”",
    "„",
    "‘",
    "’",
    "«",
    "»",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "-",
    "–",
    "—",
    "/",
    "\\",
    "…",
    "*",
    "%",
    "٪",
    "_",
    "|",
    "#",
    "@",
    "&",
    "+",
    "=",
    "<",
    ">",
    "•",
    "·",
    "۔",
    "٫",
    "٬",
    "~",
    "^",
    "`",
    "$",
    "€",
)
_OTHER_SEPARATOR = re.compile(r"[^\w\s]|_")
_UNUSUAL_WHITESPACE = re.compile(r"[^\S ]")

_DIGIT_OR_OTHER = re.compile(r"(?![0-9])\d")

# Any character of a cased script, or a presentation/fullwidth form: only texts containing one
# pay for lower-casing and accent folding.
_CASED_OR_COMPAT = re.compile(
    r"[A-Z\u00C0-\u024F\u0370-\u052F\u0531-\u0587\u10A0-\u10FF\u13A0-\u13FF"
    r"\u1E00-\u1FFF\u2C00-\u2C7F\uA640-\uA7FF\uFB00-\uFB4F\uFB50-\uFDFF\uFE70-\uFEFC"
    r"\uFF01-\uFF5E]"
)


def _build_compat_fold() -> dict[str, str]:
    """One-to-one folds for accented Latin, casefold differences and compatibility forms."""
    fold: dict[str, str] = {}
    ranges = (
        (0x00C0, 0x024F),
        (0x0370, 0x052F),
        (0x1E00, 0x1FFF),
        (0x2C60, 0x2C7F),
        (0xA720, 0xA7FF),
        (0xFB00, 0xFB4F),
        (0xFB50, 0xFDFF),
        (0xFE70, 0xFEFC),
        (0xFF01, 0xFF5E),
    )
    for a, b in ranges:
        for code in range(a, b + 1):
            char = chr(code)
            base = char
            compat = unicodedata.normalize("NFKC", char)
            if len(compat) == 1:
                base = compat
            stripped = "".join(
                c for c in unicodedata.normalize("NFD", base) if not unicodedata.combining(c)
            )
            if len(stripped) == 1:
                base = stripped
            folded = base.casefold()
            if len(folded) == 1:
                base = folded
            base = _ARABIC_FOLD_MAP.get(base, base)
            if base != char and len(base) == 1:
                fold[char] = base
    return fold


_COMPAT_FOLD = _build_compat_fold()
_COMPAT_CLASS = re.compile("[" + "".join(re.escape(c) for c in sorted(_COMPAT_FOLD)) + "]")


def _fold_compat(match: re.Match[str]) -> str:
    return _COMPAT_FOLD[match.group()]


def _fold_digit(match: re.Match[str]) -> str:
    return str(unicodedata.decimal(match.group(), 0))


def _fold_reference(text: str) -> str:
    """The definition of folding, applied to any text; ``_fold`` applies it per character."""
    if _DELETED_RUN.search(text):
        text = _DELETED_RUN.sub("", text)
    if _CASED_OR_COMPAT.search(text):
        text = text.replace("İ", "I").lower()
        text = _COMPAT_CLASS.sub(_fold_compat, text)
    for source, target in _ARABIC_FOLDS:
        if source in text:
            text = text.replace(source, target)
    if _DIGIT_OR_OTHER.search(text):
        text = _DIGIT_OR_OTHER.sub(_fold_digit, text)
    for separator in _COMMON_SEPARATORS:
        if separator in text:
            text = text.replace(separator, " ")
    if _OTHER_SEPARATOR.search(text):
        text = _OTHER_SEPARATOR.sub(" ", text)
    if _UNUSUAL_WHITESPACE.search(text):
        text = _UNUSUAL_WHITESPACE.sub(" ", text)
    return text


# Characters that fold to themselves and are frequent in news: ASCII lower-case letters and
# digits, the space, and the Arabic letters that no rule changes. Every other character is
# looked up (and its fold cached) once per distinct character of a text.
_PLAIN = "a-z0-9 \u0621\u0627\u0628\u062a-\u063a\u0641-\u0648\u064a"
_SPECIAL = re.compile(f"[^{_PLAIN}]")
_CHAR_FOLDS: dict[str, str] = {}


def _char_fold(char: str) -> str:
    folded = _CHAR_FOLDS.get(char)
    if folded is None:
        folded = _CHAR_FOLDS[char] = _fold_reference(char)
    return folded


# Characters outside the plain set found in almost every Arabic article: replaced without
# looking for them first, so the scan for the rest finds tens of characters, not hundreds.
_FREQUENT_FOLDS = tuple(
    (char, _char_fold(char))
    for char in ("ة", "أ", "إ", "ى", "ئ", "ؤ", "آ", "،", ".", "\n")
    if _char_fold(char) != char
)


def _fold(text: str) -> tuple[str, list[str], set[str]]:
    """Deleted characters removed, every other character mapped to exactly one character;
    which characters were deleted, and the distinct characters outside the plain set other
    than the frequent ones (never a deleted, control or replacement character).

    Folding is per character: the frequent characters are replaced outright, then the text
    is scanned once for the other characters outside the plain set and each distinct one is
    replaced in a single ``str.replace`` pass (a per-character ``str.translate`` or regex
    callback costs several times more on Arabic text).
    """
    for char, folded in _FREQUENT_FOLDS:
        text = text.replace(char, folded)
    deleted: list[str] = []
    specials = set(_SPECIAL.findall(text))
    for char in specials:
        folded = _char_fold(char)
        if folded != char:
            text = text.replace(char, folded)
            if not folded:
                deleted.append(char)
    return text, deleted, specials


def _collapse(folded: str) -> str:
    text = folded
    while "  " in text:
        text = text.replace("    ", " ").replace("  ", " ")
    return text.strip(" ")


class NormalizedText:
    """A normalised text plus the way back to offsets of the original text."""

    __slots__ = (
        "_collapse_map",
        "_deleted",
        "_deletion_map",
        "_words",
        "original",
        "specials",
        "text",
    )

    def __init__(self, original: str) -> None:
        self.original = original
        # ``specials``: the distinct characters of the original outside the plain set.
        folded, self._deleted, self.specials = _fold(original)
        self.text, self._collapse_map = _collapse_with_map(folded)
        self._deletion_map: tuple[list[int], list[int]] | None = None
        self._words: list[str] | None = None

    @property
    def words(self) -> list[str]:
        """The words of the normalised text (split once, on first use)."""
        if self._words is None:
            self._words = self.text.split(" ") if self.text else []
        return self._words

    def __len__(self) -> int:
        return len(self.text)

    def to_original(self, offset: int) -> int:
        """Offset in the original text of the character at ``offset`` of the normalised text."""
        positions, shifts = self._collapse_map
        offset += shifts[_bisect_right(positions, offset)]
        if self._deleted:
            positions, shifts = self._deletion_map or self._map_deletions()
            offset += shifts[_bisect_right(positions, offset)]
        return offset

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Original ``[start, end)`` of the normalised ``[start, end)`` (``end > start``).

        Marks that belong to the last letter (a final haraka, tatweel) stay inside the span.
        (``to_original`` twice, inlined: this runs for every mention.)
        """
        positions, shifts = self._collapse_map
        last = end - 1
        start += shifts[_bisect_right(positions, start)]
        last += shifts[_bisect_right(positions, last)]
        if self._deleted:
            positions, shifts = self._deletion_map or self._map_deletions()
            start += shifts[_bisect_right(positions, start)]
            last += shifts[_bisect_right(positions, last)]
        end = last + 1
        original = self.original
        if end < len(original) and original[end] in _TRAILING_MARKS:
            while end < len(original) and original[end] in _TRAILING_MARKS:
                end += 1
        return start, end

    def _map_deletions(self) -> tuple[list[int], list[int]]:
        self._deletion_map = _deletion_breakpoints(self.original, self._deleted)
        return self._deletion_map


def _bisect_right(positions: list[int], offset: int) -> int:
    """``bisect.bisect_right`` for a list of ints: compiled, it runs on native ints, several
    times faster than the call into ``bisect``."""
    low, high = 0, len(positions)
    while low < high:
        middle = (low + high) // 2
        if offset < positions[middle]:
            high = middle
        else:
            low = middle + 1
    return low


# Breakpoint maps: ``(positions, shifts)`` such that the character at offset ``o`` of the
# shorter text was at ``o + shifts[bisect_right(positions, o)]`` of the longer one
# (``shifts[0]`` is never used: ``positions[0]`` is 0, so the index is at least 1).


def _collapse_with_map(folded: str) -> tuple[str, tuple[list[int], list[int]]]:
    """``_collapse(folded)``, and the breakpoints back from it to the folded text.

    Runs of spaces are found with ``str.find`` and the text joined from the pieces between
    them: one pass gives both (a regex over the whole text is twice as slow).
    """
    shift = len(folded) - len(folded.lstrip(" "))  # leading spaces all go
    positions, shifts = [0], [shift, shift]
    pieces: list[str] = []
    size = len(folded)
    kept_from = shift
    start = folded.find("  ", shift)
    while start >= 0:
        end = start + 2
        while end < size and folded[end] == " ":
            end += 1
        pieces.append(folded[kept_from : start + 1])  # with one space of the run
        kept_from = end
        shift += end - start - 1
        positions.append(end - shift)  # where the first character after the run lands
        shifts.append(shift)
        start = folded.find("  ", end)
    pieces.append(folded[kept_from:])
    return "".join(pieces).rstrip(" "), (positions, shifts)


def _deletion_breakpoints(original: str, deleted: list[str]) -> tuple[list[int], list[int]]:
    """From the folded text back to the original, across the deleted characters.

    ``_fold`` says which characters it deleted (usually one to three kinds: tanwin, a haraka,
    tatweel), so their offsets are found with ``str.find`` instead of a scan of the whole
    text for every deletable character.
    """
    offsets: list[int] = []
    for char in deleted:
        offset = original.find(char)
        while offset >= 0:
            offsets.append(offset)
            offset = original.find(char, offset + 1)
    offsets.sort()
    positions, shifts = [0], [0, 0]
    for shift, offset in enumerate(offsets, start=1):
        position = offset - shift + 1  # where the next kept character lands
        if position == positions[-1]:
            shifts[-1] = shift  # a run of deleted characters
        else:
            positions.append(position)
            shifts.append(shift)
    return positions, shifts


def normalize_text(text: str) -> NormalizedText:
    """Normalise ``text`` and keep the offset mapping back to it."""
    return NormalizedText(text)


def normalize_arabic(text: str) -> str:
    """The matching form of ``text`` (see the module docstring for every rule)."""
    return _collapse(_fold(text)[0])
