"""Keyword matching on normalised text, with the tagger's folding and clitics."""

from __future__ import annotations

import re
from functools import lru_cache

from services.common.arabic import has_arabic_letter, normalize_arabic, term_spellings


def normalize(text: str) -> str:
    """The tagger's own folding (hamza/alef forms, ى/ي, ة/ه, diacritics, tatweel, case), so
    a rule's keyword and the tagger never disagree about what a word is."""
    return normalize_arabic(text)


@lru_cache(maxsize=1024)
def _pattern(keyword: str) -> re.Pattern[str]:
    # Arabic glues conjunctions, prepositions and the article to the word (والردع, بالردع):
    # a keyword takes the clitics a topic term takes, and no other letters on either side.
    normal = normalize(keyword)
    spellings = "|".join(
        _with_optional(sorted(clitics - {""}, key=len, reverse=True)) + re.escape(spelling)
        for spelling, clitics in term_spellings(normal, arabic=has_arabic_letter(normal))
    )
    return re.compile(rf"(?<!\w)(?:{spellings})(?!\w)")


def _with_optional(clitics: list[str]) -> str:
    return f"(?:{'|'.join(map(re.escape, clitics))})?" if clitics else ""


def matching_keywords(keywords: list[str], *texts: str) -> list[str]:
    """The keywords (as written in the rule) found in any of ``texts``."""
    haystacks = [normalize(text) for text in texts]
    return [k for k in keywords if any(_pattern(k).search(h) for h in haystacks)]
