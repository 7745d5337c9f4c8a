"""Rule evaluation: actors any/all/none, topics, languages, sources, keywords."""

from __future__ import annotations

from typing import Any

import pytest

from schemas import EnrichedArticle
from services.alerting.core import Rule, evaluate_rules, matching_keywords, normalize
from tests.unit.alerting.articles import BASHAGHA, DETERRENCE, TRIPOLI, enriched

BOTH = enriched(
    "قال فتحي باشاغا إن قوة الردع الخاصة تسيطر على طرابلس.",
    actors={
        DETERRENCE: ["قوة الردع الخاصة"],
        BASHAGHA: ["فتحي باشاغا"],
        TRIPOLI: ["طرابلس"],
    },
    topics=["armed-clashes", "politics-and-governance"],
)


def _rule(**match: Any) -> Rule:
    return Rule.model_validate({"id": "r", "name": "R", "match": match, "channels": ["c"]})


def _fires(article: EnrichedArticle, **match: Any) -> bool:
    return bool(evaluate_rules([_rule(**match)], article))


@pytest.mark.parametrize(
    ("actors", "expected"),
    [
        ({"any": ["fathi-bashagha", "khalifa-haftar"]}, True),
        ({"any": ["khalifa-haftar", "saddam-haftar"]}, False),
        ({"all": ["fathi-bashagha", "special-deterrence-force"]}, True),
        ({"all": ["fathi-bashagha", "khalifa-haftar"]}, False),
        ({"any": ["fathi-bashagha"], "none": ["tripoli"]}, False),
        ({"any": ["fathi-bashagha"], "none": ["benghazi"]}, True),
        ({"none": ["benghazi"]}, True),
    ],
)
def test_actor_conditions(actors: dict[str, list[str]], expected: bool) -> None:
    assert _fires(BOTH, actors=actors) is expected


@pytest.mark.parametrize(
    ("topics", "expected"),
    [
        ({"any": ["armed-clashes", "terrorism"]}, True),
        ({"any": ["terrorism"]}, False),
        ({"all": ["armed-clashes", "politics-and-governance"]}, True),
        ({"none": ["armed-clashes"]}, False),
    ],
)
def test_topic_conditions(topics: dict[str, list[str]], expected: bool) -> None:
    assert _fires(BOTH, topics=topics) is expected


def test_languages_and_sources() -> None:
    english = enriched("Deterrence forces deployed.", actors={}, language="en", source="Reuters")
    assert _fires(english, languages=["en", "fr"])
    assert not _fires(english, languages=["ar"])
    assert _fires(english, sources=["reuters"])  # source names compare case-insensitively
    assert not _fires(english, sources=["Al Wasat"])


def test_every_condition_must_hold() -> None:
    assert _fires(BOTH, actors={"any": ["fathi-bashagha"]}, languages=["ar"])
    assert not _fires(BOTH, actors={"any": ["fathi-bashagha"]}, languages=["en"])
    assert not _fires(BOTH, actors={"any": ["fathi-bashagha"]}, topics={"any": ["terrorism"]})


def test_the_match_reports_what_the_rule_asked_for_and_found() -> None:
    (match,) = evaluate_rules(
        [
            _rule(
                actors={"any": ["khalifa-haftar", "special-deterrence-force", "fathi-bashagha"]},
                topics={"any": ["armed-clashes"]},
            )
        ],
        BOTH,
    )
    assert match.entities == ["special-deterrence-force", "fathi-bashagha"]  # rule's order
    assert match.topics == ["armed-clashes"]
    (by_language,) = evaluate_rules([_rule(languages=["ar"])], BOTH)
    # With no actor condition, every actor of the article is context for the reader.
    assert by_language.entities == ["special-deterrence-force", "fathi-bashagha", "tripoli"]


def test_rules_fire_in_file_order_and_independently() -> None:
    rules = [
        Rule.model_validate({"id": i, "name": i, "match": m, "channels": ["c"]})
        for i, m in [
            ("b", {"actors": {"any": ["fathi-bashagha"]}}),
            ("h", {"actors": {"any": ["khalifa-haftar"]}}),
            ("d", {"actors": {"any": ["special-deterrence-force"]}}),
        ]
    ]
    assert [m.rule.id for m in evaluate_rules(rules, BOTH)] == ["b", "d"]


@pytest.mark.parametrize(
    ("keyword", "text", "expected"),
    [
        ("الردع", "انتشرت قوة الردع في المدينة", True),
        ("الردع", "وقالت والردع جهاز أمني", True),  # conjunction clitic
        ("ردع", "بالردع النووي", True),  # preposition + article
        ("باشاغا", "قال فتحى باشاغا", True),
        ("إشتباكات", "وقعت اشتباكات عنيفة", True),  # hamza forms fold
        ("مدينة", "في المدينه القديمة", True),  # ة/ه fold
        ("الردع", "الرَّدْع", True),  # diacritics
        ("ISIS", "crisis in the region", False),  # no match inside another word
        ("ISIS", "an isis cell", True),
        ("الردع", "المردعة", False),
    ],
)
def test_keywords_match_normalised_words(keyword: str, text: str, expected: bool) -> None:
    assert bool(matching_keywords([keyword], text)) is expected


def test_keyword_rules_look_at_title_and_text() -> None:
    article = enriched("نص لا يذكر شيئا.", title="اشتباكات في الزاوية", actors={})
    assert _fires(article, keywords=["نووي", "اشتباكات"])
    assert not _fires(article, keywords=["نووي"])
    (match,) = evaluate_rules([_rule(keywords=["نووي", "إشتباكات"])], article)
    assert match.keywords == ["إشتباكات"]


def test_normalize_folds_arabic_variants() -> None:
    assert normalize("أحمد إبراهيم آمنة مصطفى مدرسة ـــ") == "احمد ابراهيم امنه مصطفي مدرسه"
