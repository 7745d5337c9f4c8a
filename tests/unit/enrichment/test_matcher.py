"""The word trie finds exactly what the plain definition of a match finds.

The definition: a key (normalised alias or topic term) written right after one of the clitics
it allows, the two together starting at a word start and ending at a word end of the
normalised text. ``reference_find`` applies it by brute force, with ``str.find`` for every key
and clitic; ``Matcher.find`` must report the same matches, on texts made of the knowledge
base's own words with clitics, suffixes, neighbours and noise mixed in, and on every real text
the tests have.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchmarks.tagging_quality import READ_BY_TESTS
from services.common.arabic import TERM_PREFIXES, NormalizedText, normalize_text
from services.enrichment.core import KnowledgeBase
from services.enrichment.core.knowledge_base import Alias, TopicTerm, build_knowledge_base
from services.enrichment.core.matcher import (
    AliasMatch,
    _alias_keys,
    _same_case,
    _term_keys,
    matcher_for,
)

ROOT = Path(__file__).resolve().parents[3]
EVALUATION = Path(__file__).resolve().parent / "evaluation"

# An alias match: start, end, word start, clitic, alias, index of the first word and of the
# word after the match. A term match: start, end, word start, term.
AliasFound = set[tuple[int, int, int, str, Alias, int, int]]
TermFound = set[tuple[int, int, int, TopicTerm]]

# Keys that share first words, keys inside keys, one key claimed by an alias and by a term
# with different clitics, a custom clitic list, case-sensitive and Latin keys.
OVERLAPPING: dict[str, Any] = {
    "version": "test",
    "actors": {
        "force": {
            "type": "armed-group",
            "name": "Force",
            "aliases": ["قوة الردع الخاصة", "قوة الردع", "قوة حماية طرابلس", "جهاز الردع"],
        },
        "city": {
            "type": "city",
            "name": "City",
            "aliases": [{"alias": "سرت", "prefixes": ["", "ب", "و"]}, "سرت الكبرى"],
        },
        "acronym": {
            "type": "armed-group",
            "name": "Acronym",
            "aliases": [{"alias": "LNA", "case_sensitive": True}, "Libyan National Army"],
        },
        "person": {"type": "person", "name": "Person", "aliases": ["محمد علي", "محمد علي حسن"]},
    },
    "topics": {
        "clashes": {
            "name": "Clashes",
            "min_score": 1,
            "terms": [
                {"term": "قوة", "weight": 1},
                {"term": "الردع", "weight": 1},
                {"term": "سرت", "weight": 1},
                {"term": "national army", "weight": 1},
            ],
        }
    },
}


def reference_find(
    knowledge_base: KnowledgeBase, normalized: NormalizedText
) -> tuple[AliasFound, TermFound]:
    text = normalized.text
    aliases: AliasFound = set()
    terms: TermFound = set()
    keys: list[tuple[str, frozenset[str], Alias | TopicTerm]] = [
        (key, prefixes, alias)
        for actor in knowledge_base.actors.values()
        for alias in actor.aliases
        for key, prefixes in _alias_keys(alias)
    ]
    keys += [
        (key, prefixes, term)
        for topic in knowledge_base.topics.values()
        for term in topic.terms
        for key, prefixes in _term_keys(term)
    ]
    for key, prefixes, target in keys:
        for clitic in prefixes:
            needle = clitic + key
            at = text.find(needle)
            while at >= 0:
                start, end = at + len(clitic), at + len(needle)
                on_boundaries = (at == 0 or text[at - 1] == " ") and (
                    end == len(text) or text[end] == " "
                )
                if on_boundaries and (
                    not target.case_sensitive or _same_case(normalized, start, end, target)
                ):
                    if isinstance(target, Alias):
                        before = text.count(" ", 0, at)
                        after = before + key.count(" ") + 1
                        aliases.add((start, end, at, clitic, target, before, after))
                    else:
                        terms.add((start, end, at, target))
                at = text.find(needle, at + 1)
    return aliases, terms


def trie_find(
    knowledge_base: KnowledgeBase, normalized: NormalizedText
) -> tuple[AliasFound, TermFound]:
    aliases, terms = matcher_for(knowledge_base).find(normalized)
    check_order(aliases)
    found: AliasFound = {
        (start, end, word_start, clitic, alias, before, after)
        for start, end, word_start, clitic, key_aliases, before, after in aliases
        for alias in key_aliases
    }
    assert len(found) == sum(len(match[4]) for match in aliases), "an alias reported twice"
    assert len(set(terms)) == len(terms), "a term reported twice"
    return found, set(terms)


def check_order(aliases: list[AliasMatch]) -> None:
    """In the order of the text; of two matches at one start, the shorter first (what
    ``resolve_overlaps`` relies on)."""
    for index, (start, end, word_start, *_) in enumerate(aliases[1:], start=1):
        previous_start, previous_end, previous_word_start, *_ = aliases[index - 1]
        assert previous_word_start <= word_start
        if previous_start == start:
            assert previous_end < end


def random_texts(knowledge_base: KnowledgeBase, seed: int, count: int) -> list[str]:
    """Texts made of the knowledge base's keys and their words, with clitics, suffixes,
    punctuation, Latin case changes and filler around them."""
    rng = random.Random(seed)
    keys = sorted(
        {alias.text for actor in knowledge_base.actors.values() for alias in actor.aliases}
        | {term.text for topic in knowledge_base.topics.values() for term in topic.terms}
    )
    words = sorted({word for key in keys for word in key.split()})
    clitics = sorted(TERM_PREFIXES)
    filler = ["قال", "في", "مع", "the", "and", "ال", "و", "123", "ي"]
    punctuation = ["،", ".", " - ", "(", ")", "\n", "؟", '"']
    texts = []
    for _ in range(count):
        pieces: list[str] = []
        for _ in range(rng.randint(1, 40)):
            roll = rng.random()
            if roll < 0.3:
                piece = rng.choice(keys)
            elif roll < 0.6:
                piece = rng.choice(words)
            else:
                piece = rng.choice(filler)
            if rng.random() < 0.3:
                piece = rng.choice(clitics) + piece
            if rng.random() < 0.1:
                piece += rng.choice(["ي", "ون", "ة", "s"])
            if rng.random() < 0.2:
                piece = piece.upper() if rng.random() < 0.5 else piece.lower()
            pieces.append(piece)
            if rng.random() < 0.2:
                pieces.append(rng.choice(punctuation))
        texts.append(" ".join(pieces))
    return texts


def real_texts() -> list[str]:
    texts = [path.read_text(encoding="utf-8") for path in sorted((ROOT / "seeds").glob("*.txt"))]
    for name in READ_BY_TESTS:  # by name: an unseen set in the directory stays unread
        path = EVALUATION / name
        texts += [snippet["text"] for snippet in yaml.safe_load(path.read_bytes())["snippets"]]
    return texts


@pytest.fixture(scope="module")
def overlapping() -> KnowledgeBase:
    return build_knowledge_base(OVERLAPPING)


@pytest.mark.parametrize("seed", range(4))
def test_random_texts_of_the_packaged_knowledge_base(
    knowledge_base: KnowledgeBase, seed: int
) -> None:
    for text in random_texts(knowledge_base, seed, 50):
        normalized = normalize_text(text)
        assert trie_find(knowledge_base, normalized) == reference_find(knowledge_base, normalized)


@pytest.mark.parametrize("seed", range(4))
def test_random_texts_of_overlapping_keys(overlapping: KnowledgeBase, seed: int) -> None:
    matched = 0
    for text in random_texts(overlapping, seed, 300):
        normalized = normalize_text(text)
        found = trie_find(overlapping, normalized)
        assert found == reference_find(overlapping, normalized), text
        matched += len(found[0]) + len(found[1])
    assert matched > 300  # the texts do exercise the keys


def test_every_real_text(knowledge_base: KnowledgeBase) -> None:
    texts = real_texts()
    assert len(texts) > 400
    for text in texts:
        normalized = normalize_text(text)
        assert trie_find(knowledge_base, normalized) == reference_find(knowledge_base, normalized)


def test_overlapping_keys_by_example(overlapping: KnowledgeBase) -> None:
    normalized = normalize_text("وقوة الردع الخاصة، بسرت والسرت ولسرت LNA lna")
    aliases, terms = trie_find(overlapping, normalized)

    def written(start: int, end: int) -> str:
        return normalized.original[slice(*normalized.original_span(start, end))]

    assert sorted((written(s, e), clitic) for s, e, _, clitic, *_ in aliases) == [
        ("LNA", ""),
        ("سرت", "ب"),
        ("قوة الردع", "و"),
        ("قوة الردع الخاصة", "و"),
    ]
    # Topic terms take ال and لل; the custom list of سرت does not.
    assert sorted((written(s, e), normalized.text[w:s]) for s, e, w, _ in terms) == [
        ("الردع", ""),
        ("سرت", "ب"),
        ("سرت", "وال"),
        ("سرت", "ول"),
        ("قوة", "و"),
    ]
