"""Keyword matching on normalised Arabic, with the same folding the tagger uses."""

from __future__ import annotations

import re
from functools import lru_cache

from services.enrichment.core.normalize import normalize_arabic


def normalize(text: str) -> str:
    """The tagger's own folding (hamza/alef forms, ى/ي, ة/ه, diacritics, tatweel, case), so
    a rule's keyword and the tagger never disagree about what a word is."""
    return normalize_arabic(text)


@lru_cache(maxsize=1024)
def _pattern(keyword: str) -> re.Pattern[str]:
    # Arabic glues conjunctions, prepositions and the article to the word (والردع, بالردع):
    # allow those clitics before the keyword, but no other letters on either side.
    return re.compile(rf"(?<!\w)(?:[وفبلك]{{0,2}}(?:ال)?)?{re.escape(normalize(keyword))}(?!\w)")


def matching_keywords(keywords: list[str], *texts: str) -> list[str]:
    """The keywords (as written in the rule) found in any of ``texts``."""
    haystacks = [normalize(text) for text in texts]
    return [k for k in keywords if any(_pattern(k).search(h) for h in haystacks)]
