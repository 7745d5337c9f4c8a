"""The clitics Arabic glues in front of a word, in normalised text: one definition for the
tagger's matcher, its context words and definite-word check, and the alert keywords.

- names (حفتر، طرابلس) take و ف ب ل ك and their pairs (وب، فل، ...);
- names with ال (الدبيبة، الردع) take و ف ب ك in front of ال, and the لل form (للدبيبة),
  itself after و or ف;
- topic terms, keywords and context words also take ال and its combinations (بالاشتباكات);
- Latin words take none.
"""

from __future__ import annotations

import re

NAME_PREFIXES = frozenset({"", "و", "ف", "ب", "ل", "ك", "وب", "ول", "وك", "فب", "فل", "فك"})
DEFINITE_ALIAS_PREFIXES = frozenset({"", "و", "ف", "ب", "ك", "وب", "فب", "وك", "فك"})
LL_FORM_PREFIXES = frozenset({"", "و", "ف"})
TERM_PREFIXES = NAME_PREFIXES | frozenset(
    {"ال", "وال", "فال", "بال", "كال", "لل", "ولل", "فلل", "وبال", "فبال", "وكال", "فكال"}
)
LATIN_PREFIXES = frozenset({""})
# A context word matches after any of these (and a word with ال also with it dropped).
CONTEXT_CLITICS = TERM_PREFIXES - {""}
# How a word with ال after a clitic (وال، بال، ...) or in the لل form starts.
DEFINITE_STARTS = (
    "لل",
    "ولل",
    "فلل",
    *sorted(clitic + "ال" for clitic in DEFINITE_ALIAS_PREFIXES - {""}),
)

_ARABIC_LETTER = re.compile(r"[\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF]")


def has_arabic_letter(text: str) -> bool:
    """Whether ``text`` holds an Arabic letter (it then takes Arabic clitics)."""
    return _ARABIC_LETTER.search(text) is not None


def term_spellings(normalized: str, *, arabic: bool) -> list[tuple[str, frozenset[str]]]:
    """How a normalised topic term or keyword is written in normalised text: each spelling
    with the clitics it may carry (a term with ال also in the لل form: للاشتباكات)."""
    if not arabic:
        return [(normalized, LATIN_PREFIXES)]
    if normalized.startswith("ال"):
        return [
            (normalized, DEFINITE_ALIAS_PREFIXES),
            ("لل" + normalized[2:], LL_FORM_PREFIXES),
        ]
    return [(normalized, TERM_PREFIXES)]


def with_clitics(words: frozenset[str]) -> frozenset[str]:
    """Every written form of ``words`` with a clitic in front (قوات: وقوات، بالقوات، ...).

    Expanded once at load time, so a window of the text is tested with one set operation
    instead of stripping clitics from each of its words.
    """
    forms = set(words)
    for word in words:
        if len(word) >= 2:
            forms.update(clitic + word for clitic in CONTEXT_CLITICS)
        if word.startswith("ال") and len(word) >= 4:
            rest = word[2:]
            forms.update(c + rest for c in CONTEXT_CLITICS if c.endswith(("ال", "لل")))
    return frozenset(forms)
