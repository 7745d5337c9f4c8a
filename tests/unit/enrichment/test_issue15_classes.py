"""Recall and precision classes met in social posts, headlines and wire copy, each stated as the
rule an analyst would state and tested both ways: the force in colloquial and social text, bare
surnames, Haftar's sons by first name, Sirte after a verbal noun, hashtags, hyphenated Latin
compounds, a bare الوفاق, state adjectives, and the look-alikes that are not the actor
(national teams, shops and streets named after a place, diameters, re-organising the state,
people whose family name is a country's)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from services.common.errors import ConfigError
from services.enrichment.core import Tagger
from services.enrichment.core.knowledge_base import SURNAME_RULES, build_knowledge_base

Tag = Callable[[str], set[str]]
SDF = "special-deterrence-force"
GNA = "government-of-national-accord"


def _rules(tagger: Tagger, text: str, actor: str) -> list[str]:
    return [m.rule for e in tagger.tag("", text).entities if e.id == actor for m in e.mentions]


# ------------------------------------------------------------------ the force in social text


@pytest.mark.parametrize(
    "text",
    [
        "الردع قبضوا على جماعة في الطريق السريع البارح",  # subject of people's verb
        "شدوه الردع من قدام بيته الصبح",  # colloquial object-first
        "قالوا الجماعة إنهم اشتبكوا مع الردع قرب الكوبري",
        "الردع طلعوا بيان ونفوا كل شي",  # a plural verb agrees with people
        "#الردع يداهم مخزن في الهضبة",  # a hashtag
        "صباح متوتر #قوة_الردع تنتشر في الشوارع",  # underscores join the hashtag
        "rada arrested two guys near the port last night, tripoli is tense",
        "RADA STORMED THE HOUSE",  # an all-caps post
        "libya: radaa took my cousin from his shop",
    ],
)
def test_the_bare_force_acting_as_people_in_posts_is_the_force(actor_ids: Tag, text: str) -> None:
    assert SDF in actor_ids(text)


@pytest.mark.parametrize(
    "text",
    [
        "الردع النووي يمنع اندلاع حرب كبرى بين القوى العظمى",
        "قال الخبير إن الردع وحده لا يكفي لحماية الحدود",
        "#الردع_النووي عاد إلى النقاش في أوروبا",
        "The Rada voted to extend martial law in Ukraine.",
        "يرى المحللون أن الردع يحقق الاستقرار",  # a singular verb: the concept
        "the policy of deterrence, not rada, matters in kyiv",
    ],
)
def test_deterrence_as_a_concept_stays_untagged(actor_ids: Tag, text: str) -> None:
    assert SDF not in actor_ids(text)


def test_the_hashtag_condition_reads_the_original_characters(tagger: Tagger) -> None:
    assert _rules(tagger, "#الردع تقبض على عصابة", SDF) == ["deterrence-bare/hashtag"]
    assert _rules(tagger, "تضامن مع #سرت_ـــالآن", "sirte") == ["sirte-city/hashtag"]
    assert "sirte" not in {e.id for e in tagger.tag("", "سرت الآن شائعات").entities}


# ------------------------------------------------------------------ bare surnames


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        ("المسماري: الجيش سيرد على أي هجوم", "ahmed-al-mismari"),  # distinctive, alone
        ("MISMARI SAYS TROOPS READY", "ahmed-al-mismari"),  # an all-caps headline
        ("Secondo Mismari, le truppe sono pronte.", "ahmed-al-mismari"),  # Italian
        ("عاجل | الزوبي يزور المنطقة العسكرية الغربية", "abdulsalam-zoubi"),
        ("Zoubi, the deputy defence minister in Tripoli, inspected the units.", "abdulsalam-zoubi"),
        (
            "Le président du Conseil présidentiel libyen, Menfi, a reçu l'émissaire.",
            "mohamed-al-menfi",
        ),
        ("بحث المنفي مع أعضاء المجلس الرئاسي ملف المصالحة", "mohamed-al-menfi"),
        ("ونقلت صحيفة عن كارة قوله إن جهازه لن يتدخل", "abdul-raouf-kara"),
    ],
)
def test_a_bare_surname_in_its_context_is_the_person(actor_ids: Tag, text: str, actor: str) -> None:
    assert actor in actor_ids(text)


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        ("عاد المنفي إلى وطنه بعد ثلاثين عاما من الغربة", "mohamed-al-menfi"),  # "the exile"
        ("The wine of Menfi, in Sicily, won a prize.", "mohamed-al-menfi"),
        ("Jordan's former prime minister Zoubi died in Amman.", "abdulsalam-zoubi"),
        ("أحمد الزوبي لاعب وسط موهوب في الدوري", "abdulsalam-zoubi"),  # another first name
        ("قال محمد المسماري إن الأسعار ارتفعت", "ahmed-al-mismari"),
        ("هو شخص كاره للظلم", "abdul-raouf-kara"),  # the common word
    ],
)
def test_a_common_surname_without_its_context_is_not_the_person(
    actor_ids: Tag, text: str, actor: str
) -> None:
    assert actor not in actor_ids(text)


def test_every_surname_category_has_its_rule(tagger: Tagger) -> None:
    rules = tagger.knowledge_base.rules
    for rule_id in SURNAME_RULES.values():
        assert rule_id in rules
    by_actor = {
        alias.normalized: alias.rule.id if alias.rule else None
        for alias in tagger.knowledge_base.actors["abdulsalam-zoubi"].aliases
    }
    assert by_actor["الزوبي"] == "distinctive-surname"
    assert by_actor["zoubi"] == "common-surname"


def test_a_surname_category_the_loader_does_not_know_is_refused() -> None:
    document = {
        "version": "t",
        "context_rules": {"common-surname": {"accept": [{"name": "x"}]}},
        "actors": {"a": {"type": "person", "name": "A", "surnames": {"rare": ["زيد"]}}},
    }
    with pytest.raises(ConfigError, match=r"actors\.a\.surnames.*unknown keys \['rare'\]"):
        build_knowledge_base(document)


def test_a_surname_naming_a_missing_rule_is_refused() -> None:
    document = {
        "version": "t",
        "context_rules": {},
        "actors": {"a": {"type": "person", "name": "A", "surnames": {"common": ["زيد"]}}},
    }
    with pytest.raises(ConfigError, match=r"surnames\.common\[0\].*'common-surname'"):
        build_knowledge_base(document)


# ------------------------------------------------------------------ Haftar's sons


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        ("Haftar's son Khaled inspected the new brigade in Benghazi.", "khaled-haftar"),
        ("استقبل نجل حفتر صدام وفدا عسكريا في الرجمة", "saddam-haftar"),
        (
            "عيّن المشير خليفة حفتر صدام رئيسا لأركان القوات البرية.",
            "saddam-haftar",
        ),
        (
            "تتوسع نفوذ عائلة حفتر في الشرق. وحضر خالد الاجتماع إلى جانب شقيقه.",
            "khaled-haftar",
        ),
    ],
)
def test_a_son_by_first_name_next_to_the_family_or_father_is_the_son(
    actor_ids: Tag, text: str, actor: str
) -> None:
    assert actor in actor_ids(text)


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        ("قال خالد إن الطريق مغلق منذ أيام.", "khaled-haftar"),
        ("Saddam Hussein's sons were killed in Mosul.", "saddam-haftar"),
        ("عيّن الوزير خالد مديرا للإدارة الجديدة في طرابلس.", "khaled-haftar"),
    ],
)
def test_a_first_name_without_the_family_is_nobody_we_track(
    actor_ids: Tag, text: str, actor: str
) -> None:
    assert actor not in actor_ids(text)


# ------------------------------------------------------------------ Sirte, hyphens, الوفاق


@pytest.mark.parametrize(
    "text",
    [
        "أعلنت القوات استكمال تأمين سرت بالكامل",
        "تستمر المفاوضات حول السيطرة على سرت والجفرة",
        "وصلت القافلة عند سرت مساء أمس",
        "رحلات جديدة بين بنغازي وسرت",
        "Sirte-based units were put on alert.",
    ],
)
def test_sirte_after_a_verbal_noun_a_preposition_or_in_a_compound(
    actor_ids: Tag, text: str
) -> None:
    assert "sirte" in actor_ids(text)


@pytest.mark.parametrize(
    "text",
    ["سرت في جسده رعشة خفيفة", "سرت شائعات عن استقالة المدير", "افتتح محل في شارع سرت بمصراتة"],
)
def test_sirte_the_verb_or_a_street_is_not_the_city(actor_ids: Tag, text: str) -> None:
    assert "sirte" not in actor_ids(text)


@pytest.mark.parametrize(
    ("text", "present", "absent"),
    [
        # A capital is never its state (decision 57), hyphenated or not; the country is.
        ("Ankara-brokered talks resumed.", set(), {"turkey"}),
        ("The Moscow-backed force moved south.", set(), {"russia"}),
        ("Turkey-brokered talks resumed.", {"turkey"}, set()),
        ("The Russia-backed force moved south.", {"russia"}, set()),
        ("The Cairo-based analyst said talks were stuck.", set(), {"egypt"}),
        ("a Doha-headquartered fund bought the hotel", set(), {"qatar"}),
        ("Misrata-based brigades and Tripoli-based armed groups", {"misrata", "tripoli"}, set()),
    ],
)
def test_hyphenated_latin_compounds_of_a_place(
    actor_ids: Tag, text: str, present: set[str], absent: set[str]
) -> None:
    found = actor_ids(text)
    assert present <= found
    assert not (absent & found)


@pytest.mark.parametrize(
    "text",
    [
        "تركيا تواصل دعم الوفاق بالطائرات المسيرة",
        "تقدمت قوات حفتر نحو مواقع الوفاق جنوب العاصمة",
        "مرتزقة سوريون يقاتلون في صفوف الوفاق",
    ],
)
def test_bare_wefaq_among_libyan_parties_and_backers_is_the_gna(actor_ids: Tag, text: str) -> None:
    assert GNA in actor_ids(text)


@pytest.mark.parametrize(
    "text",
    [
        "دعا المؤتمر إلى تحقيق الوفاق بين الأطراف الليبية",
        "انطلق ملتقى المصالحة والوفاق في طرابلس",
        "يسود الوفاق بين الزوجين بعد سنوات",
        "جمعية الوفاق المعارضة في البحرين",
    ],
)
def test_wefaq_as_consensus_is_not_the_gna(actor_ids: Tag, text: str) -> None:
    assert GNA not in actor_ids(text)


# ------------------------------------------------------------------ state adjectives


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        ("أعلنت وزارة الدفاع التركية وصول فرقاطة إلى الخمس", "turkey"),
        ("التقى الدبيبة السفير الإيطالي في طرابلس", "italy"),
        ("نشر الجيش المصري وحدات على الحدود الغربية", "egypt"),
        ("بحث الرئيس المصري مع نظيره الفرنسي الأزمة", "france"),
        ("أكد وزير التجارة القطري دعم الاستثمار", "qatar"),
        ("القوات التركية والروسية في ليبيا", "russia"),  # coordinated adjective
        ("The Turkish ambassador met the head of the council.", "turkey"),
        ("Egyptian President Sisi received the delegation.", "egypt"),
        ("Russian drones were seen over the base.", "russia"),
        ("British and French special forces trained the unit.", "united-kingdom"),
        ("Ankara confirmed a Turkish-backed deal.", "turkey"),
        ("L'armée turque a déployé des drones.", "turkey"),
        ("Le président égyptien a appelé Tripoli.", "egypt"),
    ],
)
def test_a_nationality_adjective_of_a_state_body_is_the_state(
    actor_ids: Tag, text: str, actor: str
) -> None:
    assert actor in actor_ids(text)


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        ("وصل مئات المقاتلين السوريين إلى طرابلس", "syria"),
        ("يعمل آلاف العمال المصريين في البناء", "egypt"),
        ("ارتفعت أسعار البضائع التركية في الأسواق", "turkey"),
        ("استأنفت الخطوط الجوية التركية رحلاتها", "turkey"),  # a company
        ("انشق عن الجيش السوري الحر عشرات", "syria"),  # an opposition army
        ("Turkish workers and Egyptian goods", "turkey"),
        ("Syrian fighters were flown in by a Russian contractor company.", "russia"),
        ("Fighters of the Syrian National Army arrived.", "syria"),
        ("a Libyan-led reconciliation process", "libya"),
        ("هاجر الصادق التركي إلى الخارج", "turkey"),  # a man's family name
    ],
)
def test_a_nationality_adjective_of_people_or_things_is_not_the_state(
    actor_ids: Tag, text: str, actor: str
) -> None:
    assert actor not in actor_ids(text)


def test_the_state_adjective_records_its_rule(tagger: Tagger) -> None:
    rules = _rules(tagger, "قالت الخارجية الأمريكية إن الحوار مستمر", "united-states")
    assert rules == ["state-adjective/qualifies-a-state-body"]


# ------------------------------------------------------------------ precision classes


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        ("فاز منتخب مصر على نظيره بهدفين", "egypt"),
        ("Libya beat Tunisia 2-1 in the qualifier.", "tunisia"),
        ("تأهل المنتخب التونسي بعد فوزه على الجزائر في المباراة", "algeria"),
        ("نقل المصاب إلى مستشفى مصر الدولي", "egypt"),
        ("جلسنا في مقهى تركيا وسط المدينة", "turkey"),
        ("Qatar National Bank opened a branch.", "qatar"),
        ("افتتح محل جديد في شارع طرابلس بمصراتة", "tripoli"),
        ("ازدحام في ميدان الجزائر", "algeria"),
        ("تظاهر العشرات في شارع بنغازي وسط طرابلس", "benghazi"),
        ("المدخنة ذات قطر كبير", "qatar"),
        ("أنبوب بطول 10 أمتار وقطر 2 متر", "qatar"),
        ("يتراوح قطر الفتحة بين ثلاثة وخمسة سنتيمترات", "qatar"),
        ("ناقش البرلمان قانون تنظيم الدولة للانتخابات المحلية", "isis"),
        ("دعا إلى إعادة تنظيم الدولة ومؤسساتها", "isis"),
        ("سجل اللاعب محمد مصر هدفا رائعا", "egypt"),
        ("Anatole France wrote the novel.", "france"),
    ],
)
def test_a_team_shop_street_diameter_verbal_noun_or_namesake_is_not_the_actor(
    actor_ids: Tag, text: str, actor: str
) -> None:
    assert actor not in actor_ids(text)


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        ("أكدت مصر دعمها للحوار", "egypt"),
        ("Tunisia closed its border with Libya.", "tunisia"),
        ("زار الوفد الجزائر الأسبوع الماضي", "algeria"),
        ("تبنى تنظيم الدولة الهجوم على الحاجز", "isis"),
        ("اعتقل أفراد من تنظيم الدولة في الجنوب", "isis"),
        ("وقعت قطر اتفاقا مع ليبيا", "qatar"),
        ("شهدت بنغازي احتفالات واسعة", "benghazi"),
        ("أصبحت طرابلس ساحة للصراع بين المجموعات", "tripoli"),  # "an arena", not a square
        ("France called for calm.", "france"),
    ],
)
def test_the_actor_itself_is_still_tagged(actor_ids: Tag, text: str, actor: str) -> None:
    assert actor in actor_ids(text)
