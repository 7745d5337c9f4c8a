"""The ambiguous names of docs/design.md, decided by context — each case positive and negative."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from services.enrichment.core import TagResult

Tag = Callable[[str], set[str]]
SDF = "special-deterrence-force"


# ------------------------------------------------------------------ الردع


@pytest.mark.parametrize(
    "text",
    [
        "قال قائد الردع إن قواته لن تنسحب من المطار.",
        "اعتقل عناصر الردع ثلاثة مشتبه بهم في طرابلس.",
        'وهاجمت ميليشيا "الردع" مقر الكتيبة.',
        "وأصدر آمر الردع تعليمات جديدة.",
        "وقال مسلحي الردع إنهم سيطروا على الموقع.",
        "تبادل مقاتلو الردع إطلاق النار مع كتيبة أخرى.",
        "أعلنت الردع الخاصة القبض على مهربين.",
        "اجتمع رئيس الردع بالوفد التركي.",
        "The Rada militia detained him at the airport.",
    ],
)
def test_deterrence_with_organisation_context_is_the_force(actor_ids: Tag, text: str) -> None:
    assert SDF in actor_ids(text)


@pytest.mark.parametrize(
    "text",
    [
        "تعتمد الدول الكبرى على الردع النووي لحماية أمنها.",
        "أكد الوزير أن سياسة الردع نجحت في منع الحرب.",
        "طورت كوريا الشمالية قوة الردع النووية.",
        "قال إن قوات الردع العربية دخلت لبنان عام 1976.",
        "يعتمد المدرب على الردع في خط الدفاع قبل المباراة المقبلة في الدوري.",
        "تسعى إسرائيل إلى تعزيز الردع في المنطقة.",
        "قال الخبير إن الردع الاستراتيجي يتطلب قدرات كبيرة.",
        "The Verkhovna Rada passed the law in Kyiv.",
        "وتحدث عن الردع والتوازن في العلاقات الدولية.",
    ],
)
def test_deterrence_without_organisation_context_is_not_the_force(
    actor_ids: Tag, text: str
) -> None:
    assert SDF not in actor_ids(text)


def test_bare_deterrence_counts_once_the_force_is_named(
    tag_text: Callable[[str], TagResult],
) -> None:
    text = (
        "أعلن جهاز الردع القبض على خلية في طرابلس. "
        "وقالت مصادر إن الردع يسيطر على المنطقة منذ سنوات."
    )
    [entity] = [e for e in tag_text(text).entities if e.id == SDF]
    rules = [m.rule for m in entity.mentions]
    assert rules == ["unambiguous-alias", "deterrence-bare/force-named-in-article"]


def test_bare_deterrence_counts_with_its_leader_named(actor_ids: Tag) -> None:
    text = "زار عبد الرؤوف كارة المطار. وقالت مصادر إن الردع يسيطر على المنطقة."
    assert SDF in actor_ids(text)


def test_bare_deterrence_counts_with_its_stronghold_in_a_libyan_article(actor_ids: Tag) -> None:
    text = "تسيطر الردع على مطار معيتيقة في طرابلس منذ سنوات."
    assert SDF in actor_ids(text)
    assert SDF not in actor_ids("تسيطر الردع على المنطقة منذ سنوات.")


def test_nuclear_deterrence_stays_rejected_in_an_article_about_the_force(actor_ids: Tag) -> None:
    text = "أعلن جهاز الردع القبض على خلية. وفي خبر آخر، ناقشت القمة الردع النووي."
    result_ids = actor_ids(text)
    assert SDF in result_ids


def test_nuclear_deterrence_mention_is_not_listed(tag_text: Callable[[str], TagResult]) -> None:
    text = "أعلن جهاز الردع القبض على خلية. وفي خبر آخر، ناقشت القمة الردع النووي."
    [entity] = [e for e in tag_text(text).entities if e.id == SDF]
    assert [m.text for m in entity.mentions] == ["جهاز الردع"]


# ------------------------------------------------------------------ حفتر


def test_bare_haftar_is_khalifa_when_no_other_haftar_is_named(
    tag_text: Callable[[str], TagResult],
) -> None:
    result = tag_text("قال حفتر إن قواته ستواصل التقدم نحو العاصمة.")
    [entity] = result.entities
    assert entity.id == "khalifa-haftar"
    assert entity.mentions[0].rule == "haftar-surname/default-member"


def test_bare_haftar_goes_to_the_named_son_not_to_khalifa(actor_ids: Tag) -> None:
    text = "وصل صدام حفتر إلى أنقرة. وقال حفتر إن الزيارة ناجحة."
    ids = actor_ids(text)
    assert "saddam-haftar" in ids
    assert "khalifa-haftar" not in ids


def test_bare_haftar_before_the_named_son_also_goes_to_the_son(actor_ids: Tag) -> None:
    ids = actor_ids("حفتر في أنقرة: وصل صدام حفتر أمس في زيارة رسمية.")
    assert ids & {"khalifa-haftar", "saddam-haftar"} == {"saddam-haftar"}


def test_bare_haftar_follows_the_last_named_member(tag_text: Callable[[str], TagResult]) -> None:
    text = (
        "التقى خليفة حفتر بالسفير. وقال حفتر إن الجيش جاهز. "
        "ثم زار خالد حفتر المعسكر، وقال حفتر إن التدريب مستمر."
    )
    entities = {e.id: [m.start for m in e.mentions] for e in tag_text(text).entities}
    khalifa_bare = text.index("حفتر إن الجيش")
    khaled_bare = text.index("حفتر إن التدريب")
    assert khalifa_bare in entities["khalifa-haftar"]
    assert khaled_bare in entities["khaled-haftar"]
    assert khaled_bare not in entities["khalifa-haftar"]


def test_son_of_haftar_is_the_father(actor_ids: Tag) -> None:
    ids = actor_ids("وصل صدام حفتر إلى روما، وهو نجل حفتر الأصغر.")
    assert {"saddam-haftar", "khalifa-haftar"} <= ids


def test_saddam_alone_needs_saddam_haftar_named(actor_ids: Tag) -> None:
    assert "saddam-haftar" in actor_ids("وصل صدام حفتر إلى روما. وقال صدام إن الزيارة ناجحة.")
    assert "saddam-haftar" not in actor_ids("حكم صدام حسين العراق عقودا.")


# ------------------------------------------------------------------ معيتيق / معيتيقة


def test_maiteeq_person_versus_mitiga_airport(actor_ids: Tag) -> None:
    person = actor_ids("تعرض منزل حكومة أحمد معيتيق لهجوم.")
    assert "ahmed-maiteeq" in person
    assert "mitiga-airport" not in person
    airport = actor_ids("هبطت طائرة في مطار معيتيقة.")
    assert "mitiga-airport" in airport
    assert "ahmed-maiteeq" not in airport


@pytest.mark.parametrize(
    ("text", "expected", "unexpected"),
    [
        ("التقى نائب رئيس المجلس الرئاسي معيتيق بالسفير.", "ahmed-maiteeq", "mitiga-airport"),
        ("قال أحمد معيتيق إن الاتفاق قريب. وأضاف معيتيق أن النفط سيعود.", "ahmed-maiteeq", None),
        ("Ahmed Maiteeq met the ambassador.", "ahmed-maiteeq", "mitiga-airport"),
        ("أغلق مطار معيتيق بسبب القصف.", "mitiga-airport", "ahmed-maiteeq"),
    ],
)
def test_maiteeq_without_ta_marbuta(
    actor_ids: Tag, text: str, expected: str, unexpected: str | None
) -> None:
    ids = actor_ids(text)
    assert expected in ids
    if unexpected:
        assert unexpected not in ids


def test_bare_maiteeq_without_person_context_is_nobody(actor_ids: Tag) -> None:
    ids = actor_ids("قالت مصادر إن معيتيق شهد حركة كثيفة.")
    assert "ahmed-maiteeq" not in ids


# ------------------------------------------------------------------ المصري


def test_bare_masri_is_osama_when_he_is_named(tag_text: Callable[[str], TagResult]) -> None:
    text = (
        "تلاحق المحكمة الجنائية الدولية أسامة المصري بتهم جرائم حرب. "
        "ولم يتضح ما إذا كان المصري قيد الإقامة الجبرية."
    )
    [entity] = [e for e in tag_text(text).entities if e.id == "osama-al-masri"]
    assert [m.text for m in entity.mentions] == ["أسامة المصري", "المصري"]


def test_masri_at_a_sentence_start_is_osama_when_named(actor_ids: Tag) -> None:
    text = "أفرجت روما عن أسامة نجيم. المصري عاد إلى طرابلس."
    assert "osama-al-masri" in actor_ids(text)


@pytest.mark.parametrize(
    "text",
    [
        "استقبل الرئيس المصري الوفد الليبي في القاهرة.",
        "قال رئيس المخابرات المصرية إن الأمن مستقر.",
        "أجرى الجيش المصري مناورات على الحدود.",
        "التقى وزير الخارجية الليبي نظيره المصري.",
        "وقال محمد المصري، المتحدث باسم الشركة، إن الإنتاج ارتفع.",
        "كان المصري قيد الإقامة الجبرية.",  # no أسامة named: nobody
    ],
)
def test_egyptian_adjective_is_not_osama(actor_ids: Tag, text: str) -> None:
    assert "osama-al-masri" not in actor_ids(text)


def test_egyptian_adjective_is_not_osama_even_when_he_is_named(
    tag_text: Callable[[str], TagResult],
) -> None:
    text = "طالبت المحكمة بتسليم أسامة المصري. واستقبل الرئيس المصري الوفد."
    [entity] = [e for e in tag_text(text).entities if e.id == "osama-al-masri"]
    assert [m.text for m in entity.mentions] == ["أسامة المصري"]


# ------------------------------------------------------------------ طرابلس


@pytest.mark.parametrize(
    "text",
    [
        "اندلعت اشتباكات في طرابلس بين كتيبتين ليبيتين.",
        "وصل الوفد إلى العاصمة الليبية طرابلس.",
        "وقعت اشتباكات في طرابلس، وقال مسؤول ليبي إن الوضع هادئ.",
        "Clashes broke out in Tripoli overnight.",
    ],
)
def test_tripoli_is_the_libyan_capital_by_default(actor_ids: Tag, text: str) -> None:
    assert "tripoli" in actor_ids(text)


@pytest.mark.parametrize(
    "text",
    [
        "شهدت طرابلس اللبنانية اشتباكات بين باب التبانة وجبل محسن.",
        "اندلعت اشتباكات في مدينة طرابلس شمال لبنان.",
        "قال نائب عن مدينة طرابلس إن الجيش اللبناني انتشر في الأحياء.",
        "Protesters gathered in Tripoli, northern Lebanon.",
    ],
)
def test_lebanese_tripoli_is_not_tagged(actor_ids: Tag, text: str) -> None:
    assert "tripoli" not in actor_ids(text)


# ------------------------------------------------------------------ كارة


@pytest.mark.parametrize(
    "text",
    [
        "قال عبد الرؤوف كارة إن قواته محايدة. وأضاف كارة أن الحوار ممكن.",
        "وأرسل بكارة مبعوثا، بعد أن التقى عبد الرؤوف كارة الوفد.",
        "أعلن جهاز الردع أن كارة، قائد الجهاز، سيحضر الاجتماع.",
    ],
)
def test_kara_with_his_name_or_force(actor_ids: Tag, text: str) -> None:
    assert "abdul-raouf-kara" in actor_ids(text)


@pytest.mark.parametrize(
    "text",
    [
        "قال إنه كاره للحرب وللعنف بكل أشكاله.",
        "زار اللاعب التركي كارة الملعب.",
        "The Kara Sea is cold in winter.",
    ],
)
def test_kara_alone_is_nobody(actor_ids: Tag, text: str) -> None:
    assert "abdul-raouf-kara" not in actor_ids(text)


# ------------------------------------------------------------------ other surnames and names


def test_sarraj_surname_needs_his_context(actor_ids: Tag) -> None:
    assert "fayez-al-sarraj" in actor_ids("تدعم تركيا حكومة السراج في طرابلس.")
    assert "fayez-al-sarraj" not in actor_ids("أضاء السراج الغرفة المظلمة.")


def test_wefaq_alone_needs_government_context(actor_ids: Tag) -> None:
    assert "government-of-national-accord" in actor_ids("قال وزير داخلية الوفاق إن الأمن مستتب.")
    assert "government-of-national-accord" not in actor_ids("ساد جو من الوفاق بين الأطراف.")
    assert "government-of-national-accord" not in actor_ids(
        "قالت جمعية الوفاق البحرينية إنها ستقاطع."
    )


def test_libyan_army_alone_is_the_lna_only_when_led_by_haftar(actor_ids: Tag) -> None:
    assert "libyan-national-army" in actor_ids(
        "تقدم الجيش الليبي بقيادة المشير خليفة حفتر نحو المدينة."
    )
    assert "libyan-national-army" not in actor_ids("إلا أن الجيش الليبي كذب ما أعلنه خليفة حفتر.")


def test_islamic_state_phrase_needs_a_group_word(actor_ids: Tag) -> None:
    assert "isis" in actor_ids("هاجم مسلحو الدولة الإسلامية القرية.")
    assert "isis" not in actor_ids("تحدث المفكر عن فكرة الدولة الإسلامية في التاريخ.")


def test_qaeda_means_base_without_a_group_word(actor_ids: Tag) -> None:
    assert "al-qaeda" in actor_ids("اعتقلت القوات عناصر القاعدة في الجنوب.")
    assert "al-qaeda" not in actor_ids("هبطت الطائرة في القاعدة العسكرية.")


def test_house_of_representatives_needs_libyan_context(actor_ids: Tag) -> None:
    assert "house-of-representatives" in actor_ids("صوت مجلس النواب في طبرق على الميزانية.")
    assert "house-of-representatives" not in actor_ids("صوت مجلس النواب الأمريكي على القانون.")


def test_a_capital_where_something_happens_is_not_its_country(actor_ids: Tag) -> None:
    ids = actor_ids("ظهر حفتر في القاهرة قادما من موسكو.")
    assert not {"egypt", "russia"} & ids


# ------------------------------------------------------------------ country or adjective


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        ("استقبل حفتر وفداً روسياً رفيعاً في بنغازي.", "russia"),
        ("تلقت الحكومة دعما تركيا غير محدود.", "turkey"),
        ("قتل مقاتلا سوريا في الاشتباكات.", "syria"),
        ("أوقفت الشرطة شابا ليبيا على الحدود.", "libya"),
    ],
)
def test_accusative_adjective_is_not_the_country(actor_ids: Tag, text: str, actor: str) -> None:
    assert actor not in actor_ids(text)


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        ("زار الوفد روسيا الأسبوع الماضي.", "russia"),
        ("وقعت ليبيا وتركيا مذكرة تفاهم.", "turkey"),
        ("زار الوزير روسيا، تركيا، وإيطاليا.", "turkey"),
        ("قالت روسيا إنها لن تتدخل.", "russia"),
        ("عاد كما سوريا إلى الجامعة العربية.", "syria"),
    ],
)
def test_the_country_name_after_other_words_is_the_country(
    actor_ids: Tag, text: str, actor: str
) -> None:
    assert actor in actor_ids(text)


def test_a_first_name_after_his_son_with_the_father_named(actor_ids: Tag) -> None:
    assert "saddam-haftar" in actor_ids("استقبل خليفة حفتر الوفد بحضور نجله صدام.")
    assert "saddam-haftar" not in actor_ids("استقبل الوزير الوفد بحضور نجله صدام.")


def test_a_foreign_deterrent_force_is_not_the_libyan_force(actor_ids: Tag) -> None:
    assert SDF not in actor_ids("قال وزير الدفاع الإيراني إن بلاده تملك قوة الردع الكافية.")
    assert SDF in actor_ids("قال الناطق إن قوة الردع انتشرت في طرابلس بعد الاشتباكات.")
