"""The one Arabic text layer of every stage: the normaliser and the clitics.

The tagger, the search field (``normalized_title``) and the alert keywords all read text
through it, so none of them disagrees with another about what a word is. The normaliser is
compiled with mypyc together with the tagger's hot loops (see ``compiled_build``); this file
is never compiled.
"""

# Before anything imports the compiled modules: fall back to their sources if the build is stale.
from services.common.arabic.compiled_build import check_build

check_build()

# ruff: noqa: E402
from services.common.arabic.clitics import (
    CONTEXT_CLITICS,
    DEFINITE_ALIAS_PREFIXES,
    DEFINITE_STARTS,
    LATIN_PREFIXES,
    LL_FORM_PREFIXES,
    NAME_PREFIXES,
    TERM_PREFIXES,
    has_arabic_letter,
    term_spellings,
    with_clitics,
)
from services.common.arabic.normalize import NormalizedText, normalize_arabic, normalize_text

__all__ = [
    "CONTEXT_CLITICS",
    "DEFINITE_ALIAS_PREFIXES",
    "DEFINITE_STARTS",
    "LATIN_PREFIXES",
    "LL_FORM_PREFIXES",
    "NAME_PREFIXES",
    "TERM_PREFIXES",
    "NormalizedText",
    "has_arabic_letter",
    "normalize_arabic",
    "normalize_text",
    "term_spellings",
    "with_clitics",
]
