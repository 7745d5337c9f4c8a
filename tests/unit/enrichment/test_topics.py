"""Topic scoring: a topic is what the article is about, whatever the article's length."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from services.common.errors import ConfigError
from services.enrichment.core import Tagger, clean_text, load_knowledge_base
from services.enrichment.core.knowledge_base import TopicScoring, build_knowledge_base

SEEDS = Path(__file__).parents[3] / "seeds"
# Filler without any topic term, to make an article long.
FILLER = (
    "وتحدث السكان عن أحوال السوق والطقس وأسعار الخبز في المدينة القديمة خلال الأسبوع. "
    "وقالت البلدية إنها ستزرع أشجارا جديدة على الطريق الساحلي وتصلح الأرصفة قبل الصيف. "
)


def _topics(tagger: Tagger, text: str, title: str = "") -> list[str]:
    return [topic.id for topic in tagger.tag(title, text).topics]


def test_a_short_text_gets_its_topic_from_one_strong_term(tagger: Tagger) -> None:
    assert _topics(tagger, "اندلعت اشتباكات في حي سكني ليلا.") == ["armed-clashes"]


def test_a_passing_mention_in_a_long_article_is_not_its_topic(tagger: Tagger) -> None:
    passing = "وقد شهدت المنطقة اشتباكات قبل سنوات. "
    long_text = FILLER * 10 + passing + FILLER * 10
    assert "armed-clashes" not in _topics(tagger, long_text)


def test_the_same_mention_at_the_top_of_a_long_article_makes_it_the_topic(tagger: Tagger) -> None:
    top = "اندلعت اشتباكات عنيفة فجر اليوم. "
    assert "armed-clashes" in _topics(tagger, top + FILLER * 20)
    assert "armed-clashes" in _topics(tagger, FILLER * 20, title="اشتباكات عنيفة في الزاوية")


def test_a_topic_repeated_through_a_long_article_is_its_topic(tagger: Tagger) -> None:
    paragraph = FILLER + "واستمرت الاشتباكات والقصف المتبادل بين الطرفين. "
    assert "armed-clashes" in _topics(tagger, paragraph * 8)


def test_the_score_threshold_grows_with_length_not_the_topic_count(tagger: Tagger) -> None:
    # Every topic's term once, spread through a long article: none stands out.
    mentions = [
        "مرتزقة",
        "الدعم العسكري",
        "اشتباكات",
        "وساطة",
        "داعش",
        "مذكرة توقيف",
        "المخابرات",
        "رحلات جوية",
        "الانتخابات",
    ]
    text = "".join(FILLER * 3 + f"وذكر التقرير {word} في سياق آخر. " for word in mentions)
    assert _topics(tagger, text) == []


def test_at_most_the_cap_and_only_topics_near_the_best(tagger: Tagger) -> None:
    text = (
        "اندلعت اشتباكات عنيفة وقصف متبادل وغارات جوية ومعارك في محيط المطار، "
        "وتوقفت الرحلات الجوية وأعلن الطرفان قبول وساطة أعيان المدينة لوقف إطلاق النار، "
        "وقال مسؤول إن داعش لم يكن طرفا، فيما طالب حقوقيون بمحاكمة المسؤولين."
    )
    topics = _topics(tagger, text)
    assert 1 <= len(topics) <= 3
    assert topics[0] == "armed-clashes"  # strongest first


def test_every_topic_keeps_its_evidence(tagger: Tagger) -> None:
    result = tagger.tag("", "اشتباكات وقصف في الضواحي بعد اشتباكات الأمس.")
    [topic] = result.topics
    assert topic.id == "armed-clashes"
    assert topic.evidence == ["اشتباكات", "قصف"]


def test_a_term_met_again_counts_less_than_another_term(tagger: Tagger) -> None:
    # Two distinct weight-1 terms pass, one weight-1 term twice does not (1 + 0.5 < 2).
    assert "armed-clashes" in _topics(tagger, "قتال ثم هجوم على الحي.")
    assert "armed-clashes" not in _topics(tagger, "قتال ثم قتال على الحي.")


# ------------------------------------------------------------------ the knowledge base's settings


def _document(scoring: Any) -> dict[str, Any]:
    return {
        "version": "t",
        "actors": {"a": {"type": "person", "name": "A", "aliases": ["زيد"]}},
        "topics": {"t": {"terms": ["حرب"]}},
        "topic_scoring": scoring,
    }


def test_the_packaged_scoring_is_read_from_the_knowledge_base() -> None:
    scoring = load_knowledge_base().topic_scoring
    assert scoring.max_topics == 3
    assert 0 < scoring.min_share <= 1
    assert build_knowledge_base(_document(None)).topic_scoring == TopicScoring()


@pytest.mark.parametrize(
    ("scoring", "message"),
    [
        ({"max_topics": 0}, r"topic_scoring\.max_topics: expected a positive whole number"),
        ({"min_share": 1.5}, r"topic_scoring\.min_share: expected a share of at most 1"),
        ({"title_weight": "high"}, r"topic_scoring\.title_weight: expected a positive number"),
        ({"lead_words": 2.5}, r"topic_scoring\.lead_words"),
        ({"cap": 3}, r"topic_scoring: unknown keys \['cap'\]"),
        ([1, 2], r"topic_scoring: expected a mapping"),
    ],
)
def test_bad_scoring_settings_are_refused(scoring: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_knowledge_base(_document(scoring))


# ------------------------------------------------------------------ the seed articles

# What a reader says each seed is about (each must be among the 1-3 topics given).
SEED_TOPICS = {
    "000": {"foreign-fighters", "intelligence"},
    "001": {"terrorism"},
    "002": {"mediation"},
    "003": {"foreign-military-support"},
    "004": {"foreign-military-support"},
}


@pytest.mark.parametrize("name", sorted(SEED_TOPICS))
def test_each_seed_gets_one_to_three_topics_a_reader_agrees_with(tagger: Tagger, name: str) -> None:
    [path] = SEEDS.glob(f"{name}_*.txt")
    title = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))["title"]
    topics = _topics(tagger, clean_text(path.read_text(encoding="utf-8")), title=title)
    assert 1 <= len(topics) <= 3, topics
    assert SEED_TOPICS[name] <= set(topics), topics
