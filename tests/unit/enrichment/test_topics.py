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


# ------------------------------------------------------------------ cues, vetoes and short texts


def _scored(topics: dict[str, Any], text: str, title: str = "") -> list[tuple[str, list[str]]]:
    """Tags ``text`` with a knowledge base holding only ``topics`` (and one actor)."""
    document = {
        "version": "t",
        "actors": {"a": {"type": "person", "name": "A", "aliases": ["زيد"]}},
        "topics": topics,
    }
    tagger = Tagger(build_knowledge_base(document))
    return [(topic.id, topic.evidence) for topic in tagger.tag(title, text).topics]


# A foreign state (group state) counts beside a military asset (group asset), each alone not.
SUPPORT = {
    "support": {
        "terms": [
            {"term": "military aid", "weight": 2},
            {"term": "weapons", "weight": 1},
            {"term": "Turkish", "weight": 1, "group": "state"},
            {"term": "Italian", "weight": 1, "group": "state"},
            {"term": "frigate", "weight": 1, "group": "asset"},
            {"term": "patrol boats", "weight": 1, "group": "asset"},
            {"term": "derby", "weight": 0, "group": "not"},
        ]
    }
}


def test_a_cue_counts_beside_a_partner_of_another_group() -> None:
    assert _scored(SUPPORT, "A Turkish frigate docked in Benghazi.") == [
        ("support", ["turkish", "frigate"])
    ]
    assert _scored(SUPPORT, "Italian weapons seized at the port.") == [
        ("support", ["italian", "weapons"])
    ]


def test_a_cue_alone_or_beside_its_own_group_says_nothing() -> None:
    assert _scored(SUPPORT, "The Turkish ambassador met the mayor.") == []
    assert _scored(SUPPORT, "A frigate was seen off the coast.") == []
    assert _scored(SUPPORT, "Turkish and Italian ministers met in Rome.") == []


def test_a_cue_needs_its_partner_close_by() -> None:
    far = "Turkish officials spoke of trade, tourism, the new flights and the fair, while a frigate"
    assert _scored(SUPPORT, far + " sailed by.") == []


def test_a_cue_in_the_body_of_a_long_article_does_not_count() -> None:
    filler = "The council discussed roads, schools, bread prices and the weather again. " * 12
    assert _scored(SUPPORT, "A Turkish frigate docked in Benghazi. " + filler)[0][0] == "support"
    # Repeated through the body, a state beside an asset is background, not the subject.
    body = filler + "A Turkish frigate was mentioned. " + filler + "An Italian frigate too. "
    assert _scored(SUPPORT, body * 2) == []


def test_a_not_term_cancels_the_topic_around_it() -> None:
    assert _scored(SUPPORT, "Military aid for the derby, the fans joked.") == []
    assert _scored(SUPPORT, "Military aid arrived in Misrata.") == [("support", ["military aid"])]


def test_a_phrase_of_more_words_takes_its_first_word_even_at_weight_0() -> None:
    clashes = {
        "clashes": {
            "terms": [
                {"term": "war", "weight": 2},
                {"term": "war crimes", "weight": 0},
            ]
        }
    }
    assert _scored(clashes, "The war reached the south.") == [("clashes", ["war"])]
    assert _scored(clashes, "A report on war crimes was published.") == []


def test_a_bad_group_is_refused() -> None:
    document = _document(None)
    document["topics"] = {"t": {"terms": [{"term": "حرب", "group": "Not A Slug"}]}}
    with pytest.raises(
        ConfigError, match=r"topics\.t\.terms\[0\]\.group: expected a lowercase slug"
    ):
        build_knowledge_base(document)


def test_a_short_text_keeps_every_topic_it_names_with_a_strong_term(tagger: Tagger) -> None:
    # The clashes are far stronger than the flights, but a post is about both.
    post = "قصف واشتباكات عنيفة ومعارك وغارات وقذائف قرب المطار وتعليق الرحلات الجوية"
    assert set(_topics(tagger, post)) >= {"armed-clashes", "airports-and-aviation"}
    # In a long article the weaker topic must still reach a share of the best.
    long_text = post + ". " + (FILLER + "واستمرت الاشتباكات والقصف والمعارك. ") * 10
    assert "airports-and-aviation" not in _topics(tagger, long_text)


# ------------------------------------------------------------------ the packaged vocabulary


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        # foreign state + military asset
        ("رست فرقاطة تركية في ميناء بنغازي صباح اليوم", "foreign-military-support"),
        ("Italy hands over two patrol boats to the Libyan coastguard", "foreign-military-support"),
        (
            "L'Italia consegna due motovedette alla guardia costiera libica",
            "foreign-military-support",
        ),
        ("Ankara to train Libyan coast guard under a new memorandum", "foreign-military-support"),
        # foreign origin + fighter's role
        ("وصول دفعة من المقاتلين التشاديين إلى الجنوب", "foreign-fighters"),
        ("Sudanese gunmen spotted near the Kufra oil fields", "foreign-fighters"),
        ("حراس سوريين في معسكر جنوب طرابلس", "foreign-fighters"),
        ("Des combattants soudanais recrutés dans le sud libyen", "foreign-fighters"),
        # ceasefires, elders, tracks, parties
        ("تم تمديد الهدنة في الزاوية أسبوعا آخر", "mediation"),
        ("تدخل الأعيان لوقف النار بين الكتيبتين", "mediation"),
        ("The UN roadmap sets out a timetable for the next steps", "mediation"),
        ("اجتماع بين الطرفين في تونس الأسبوع المقبل", "mediation"),
        ("Le cessez-le-feu tient à Tripoli, selon la mission de l'ONU", "mediation"),
        # a flight's state beside a flight, colloquial aircraft, safety lists
        ("Boarding delayed again, two hours stuck in the terminal", "airports-and-aviation"),
        ("إلغاء رحلات الحج من مطار بنينا", "airports-and-aviation"),
        ("Libyan carriers remain on the EU air safety list", "airports-and-aviation"),
        ("#Mitiga closed again, how are we supposed to travel", "airports-and-aviation"),
        ("Voli sospesi all'aeroporto di Mitiga", "airports-and-aviation"),
        # abduction, migrants' detention, Italian arrests
        ("خطفوا خوي قدام الحوش ومن وقتها ما نعرفوش عليه شي", "detention-and-justice"),
        (
            "Migrants held in a detention centre in Zawiya say guards beat them",
            "detention-and-justice",
        ),
        ("Arrestato a Tripoli un trafficante di esseri umani", "detention-and-justice"),
        ("#أنقذوا_معتقلي_السجن ثمان سنين بلا محاكمة", "detention-and-justice"),
        # strikes, anti-aircraft fire, colloquial gunfire, Italian clashes
        ("Drone strike hits a convoy south of Sirte", "armed-clashes"),
        ("رماية طول الليل في تاجوراء", "armed-clashes"),
        ("Anti-aircraft fire heard over Tripoli tonight", "armed-clashes"),
        ("Scontri a Tripoli tra milizie, spari nella notte", "armed-clashes"),
        # elections hashtag, a rival with an institution, decrees
        ("#الانتخابات_حق_للشعب", "politics-and-governance"),
        ("Rival ministers trade accusations over the budget", "politics-and-governance"),
        (
            "The Presidential Council issued a decree dissolving the committee",
            "politics-and-governance",
        ),
        ("المجلس الأعلى للدولة ينتخب رئيسا جديدا", "politics-and-governance"),
        # spy networks, being watched on a channel
        ("كشف شبكة تجسس تعمل لصالح جهة أجنبية في مصراتة", "intelligence"),
        ("ردوا بالكم الفيسبوك مراقب وكل كلمة تنحسب", "intelligence"),
    ],
)
def test_a_short_text_about_a_topic_in_its_everyday_words_gets_it(
    tagger: Tagger, text: str, topic: str
) -> None:
    assert topic in _topics(tagger, text)


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        (
            "Turkish ambassador meets the prime minister to discuss trade",
            "foreign-military-support",
        ),
        ("La Marina militare italiana ha soccorso 120 migranti", "foreign-military-support"),
        ("Syrian refugees arrive in Tripoli by bus", "foreign-fighters"),
        ("The orchestra performed Wagner and Strauss in Vienna", "foreign-fighters"),
        ("Real estate mediation fees to be capped in Tripoli", "mediation"),
        ("هدنة في أسعار الخبز بين المخابز والبلدية", "mediation"),
        ("Fans declare a truce before the derby", "mediation"),
        ("Derby clash ends goalless at the Tripoli stadium", "armed-clashes"),
        ("A report on war crimes in Tarhuna was published", "armed-clashes"),
        ("The ministry is fighting corruption, the minister said", "armed-clashes"),
        ("Oil exports resumed from the Es Sider terminal", "airports-and-aviation"),
        ("The elections were delayed and the meeting cancelled", "airports-and-aviation"),
        ("Russian Ilyushin flights landed at the air base", "airports-and-aviation"),
        ("Artificial intelligence course opens at Tripoli University", "intelligence"),
        ("A million people watched the video on Facebook", "intelligence"),
        (
            "Tripoli truce holds as a neutral force deploys between rival groups",
            "politics-and-governance",
        ),
        ("The ministry released a statement on the new school year", "detention-and-justice"),
    ],
)
def test_another_sense_of_a_topic_word_is_not_the_topic(
    tagger: Tagger, text: str, topic: str
) -> None:
    assert topic not in _topics(tagger, text)


def test_cues_are_evidence_only_when_they_counted(tagger: Tagger) -> None:
    [topic] = tagger.tag("", "رست فرقاطة تركية في ميناء بنغازي").topics
    assert topic.id == "foreign-military-support"
    assert set(topic.evidence) == {"فرقاطه", "تركيه"}
    assert tagger.tag("", "زار السفير التركي بلدية بنغازي").topics == []
