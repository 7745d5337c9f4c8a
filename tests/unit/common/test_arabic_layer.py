"""The Arabic text layer's clitics, and the stages that share them agreeing on a word."""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest

from services.alerting.core.keywords import matching_keywords
from services.common.arabic import (
    CONTEXT_CLITICS,
    DEFINITE_ALIAS_PREFIXES,
    DEFINITE_STARTS,
    LATIN_PREFIXES,
    LL_FORM_PREFIXES,
    TERM_PREFIXES,
    has_arabic_letter,
    normalize_text,
    term_spellings,
    with_clitics,
)
from services.enrichment.core import Tagger
from services.enrichment.core.knowledge_base import build_knowledge_base
from services.enrichment.core.matcher import matcher_for
from tests.conftest import REPO

# Every run of up to two single-letter clitics, and each with the article or its لل form after
# it: more than any set allows, so each set is tested against what it leaves out as well.
LETTER_RUNS = ["".join(run) for n in range(3) for run in itertools.product("وفبلك", repeat=n)]
CANDIDATE_CLITICS = sorted({run + article for run in LETTER_RUNS for article in ("", "ال", "لل")})


def test_term_spellings() -> None:
    assert term_spellings("اشتباكات", arabic=True) == [("اشتباكات", TERM_PREFIXES)]
    assert term_spellings("الردع", arabic=True) == [
        ("الردع", DEFINITE_ALIAS_PREFIXES),
        ("للردع", LL_FORM_PREFIXES),
    ]
    assert term_spellings("isis", arabic=False) == [("isis", LATIN_PREFIXES)]


def test_has_arabic_letter() -> None:
    assert has_arabic_letter("قوة 12") and has_arabic_letter("abc ردع")
    assert not has_arabic_letter("isis 2024")


def test_context_words_take_every_clitic() -> None:
    forms = with_clitics(frozenset({"قوات", "الجيش", "و"}))
    assert {"قوات", "وقوات", "بالقوات", "للقوات", "الجيش", "والجيش", "للجيش"} <= forms
    assert "بالجيش" in forms  # ال dropped behind a clitic that carries it
    assert "وو" not in forms  # one-letter words take none
    assert TERM_PREFIXES - {""} == CONTEXT_CLITICS


def test_definite_starts() -> None:
    assert {"لل", "ولل", "فلل", "وال", "بال", "وبال"} <= set(DEFINITE_STARTS)
    assert "ال" not in DEFINITE_STARTS and "لال" not in DEFINITE_STARTS


@pytest.mark.parametrize("term", ["اشتباكات", "الردع", "قوة الردع", "مدينة"])
def test_alert_keywords_take_the_clitics_the_tagger_takes(term: str) -> None:
    """A keyword matches a written form exactly when the tagger's matcher finds the same
    words as a topic term."""
    knowledge_base = build_knowledge_base(
        {
            "version": "test",
            "actors": {"someone": {"type": "person", "name": "Someone", "aliases": ["زيد"]}},
            "topics": {"topic": {"terms": [term]}},
        }
    )
    matcher = matcher_for(knowledge_base)
    assert Tagger(knowledge_base)._matcher is matcher
    written = [clitic + term for clitic in CANDIDATE_CLITICS]
    if term.startswith("ال"):  # and the article's لل form: للردع
        written += [clitic + "لل" + term[2:] for clitic in LETTER_RUNS]
    found = 0
    for form in written:
        text = f"قال {form} امس"
        _, terms = matcher.find(normalize_text(text))
        assert bool(matching_keywords([term], text)) is bool(terms), form
        found += bool(terms)
    assert 1 < found < len(written)


def test_alerting_uses_no_enrichment_internals() -> None:
    """The alert keywords read text through the common layer, not the tagger's package."""
    code = (
        "import sys, services.alerting.core, services.common.arabic; "
        "print(sorted(m for m in sys.modules if m.startswith('services.enrichment')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert loaded.stdout.strip() == "[]"
