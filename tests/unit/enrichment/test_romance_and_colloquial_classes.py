"""Classes met in a mixed register of posts, headlines and Italian/French wire copy, each tested
both ways: Italian country names and state adjectives, Italian and mixed-case acronyms, Haftar's
sons with English, French, Italian and Arabizi son words, bare surnames opening a post about
Libyan politics, the Ghana News Agency's GNA, national teams in English and French, a café or
a route between cities named by a capital, قطر as towing or a diameter, RT named by a report,
and topic phrases that hold a topic's word in another sense."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from services.common.errors import ConfigError
from services.enrichment.core import Tagger
from services.enrichment.core.knowledge_base import build_knowledge_base

Tag = Callable[[str], set[str]]


def _topics(tagger: Tagger, text: str, title: str = "") -> set[str]:
    return {topic.id for topic in tagger.tag(title, text).topics}


# ------------------------------------------------------------------ Italian names and adjectives


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        ("La Turchia ha rafforzato la cooperazione con Tripoli.", "turkey"),
        ("Secondo fonti vicine all'Egitto, il vertice è rinviato.", "egypt"),
        ("IL PREMIER LIBICO ARRIVA IN ITALIA PER IL VERTICE", "italy"),
        ("Il governo italiano ha convocato l'ambasciatore libico.", "italy"),
        ("Una nave della Marina militare italiana è attraccata a Misurata.", "italy"),
        ("Le basi russe in Cirenaica preoccupano la NATO.", "russia"),
        ("L'ambasciata americana a Tripoli resta chiusa.", "united-states"),
        ("Gli Stati Uniti chiedono elezioni entro l'anno.", "united-states"),
        (
            "La Corte penale internazionale ha chiesto l'arresto di un comandante.",
            "international-criminal-court",
        ),
        (
            "La Cpi ha emesso un nuovo mandato d'arresto per crimini nel carcere di Tarhuna.",
            "international-criminal-court",
        ),
        ("Cellule dello Stato islamico sono state smantellate nel Fezzan.", "isis"),
        ("Un attacco rivendicato dall'Isis ha colpito un posto di blocco a sud di Sebha.", "isis"),
        (
            "Il ministro del governo di accordo nazionale (Gna) è stato ricevuto a Roma.",
            "government-of-national-accord",
        ),
    ],
)
def test_italian_names_and_state_adjectives_are_the_actor(
    actor_ids: Tag, text: str, actor: str
) -> None:
    assert actor in actor_ids(text)


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        ("Un'azienda italiana costruirà la nuova centrale a Zuara.", "italy"),  # a company
        ("I turisti italiani sono tornati a Leptis Magna.", "italy"),  # people in general
        ("La nazionale italiana ha battuto la Francia in amichevole, match finito 2-1.", "france"),
        ("A statue of the goddess Isis was found near the old harbour.", "isis"),
        (
            "L'inflazione misurata dal Cpi è salita al 3%, dice l'istituto di statistica.",
            "international-criminal-court",
        ),
    ],
)
def test_italian_look_alikes_are_not_the_actor(actor_ids: Tag, text: str, actor: str) -> None:
    assert actor not in actor_ids(text)


# ------------------------------------------------------------------ Haftar's sons


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("HAFTAR SON KHALED TOURS SOUTHERN BASES", {"khalifa-haftar", "khaled-haftar"}),
        ("Haftar appoints son Saddam to lead ground forces", {"khalifa-haftar", "saddam-haftar"}),
        ("le fils de Haftar, Saddam, reçu à Rome", {"khalifa-haftar", "saddam-haftar"}),
        ("IL FIGLIO DI HAFTAR SADDAM IN VISITA AD ANKARA", {"khalifa-haftar", "saddam-haftar"}),
        (
            "haftar's boys again: khaled in the south, saddam everywhere",
            {"khalifa-haftar", "khaled-haftar", "saddam-haftar"},
        ),
        (
            "hafter w wlado khaled w saddam fi sirte",
            {"khalifa-haftar", "khaled-haftar", "saddam-haftar"},
        ),
    ],
)
def test_sons_named_by_first_name_with_a_son_word_and_the_family_name(
    actor_ids: Tag, text: str, expected: set[str]
) -> None:
    assert expected <= actor_ids(text)


@pytest.mark.parametrize(
    "text",
    [
        "Khaled and his boys opened a new café near the port",  # no family named
        "my son Saddam starts school in Misrata next week",
    ],
)
def test_a_first_name_after_a_son_word_without_the_family_is_nobody(
    actor_ids: Tag, text: str
) -> None:
    assert not {"khaled-haftar", "saddam-haftar"} & actor_ids(text)


# ------------------------------------------------------------------ bare surnames in posts


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        ("كارة قاعد في مكتبه في سوق الجمعة وما يبي حد يتدخل في الردع", "abdul-raouf-kara"),
        ("Kara still runs everything around Mitiga", "abdul-raouf-kara"),
        ("معيتيق: الميزانية الموحدة هي الحل قبل الانتخابات", "ahmed-maiteeq"),
        ("غرد معيتيق عن أزمة المصرف المركزي والانقسام", "ahmed-maiteeq"),
        ("السراج يخرج عن صمته ويتحدث عن اتفاق الصخيرات", "fayez-al-sarraj"),
        ("قال معيتيق إنه كان نائبا للسراج في المجلس الرئاسي", "fayez-al-sarraj"),
        ("الردع سكروا الطريق قدام المطار من الصبح", "special-deterrence-force"),
        ("تيار سياسي جديد يضم أنصار الوفاق والدبيبة", "government-of-national-accord"),
    ],
)
def test_a_bare_surname_or_name_in_a_post_about_libyan_politics_is_the_actor(
    actor_ids: Tag, text: str, actor: str
) -> None:
    assert actor in actor_ids(text)


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        ("كارة الكذب والنفاق، هكذا وصف نفسه في المقابلة", "abdul-raouf-kara"),  # "a hater"
        ("Mehmet Kara, a Turkish contractor, won the Tripoli road tender", "abdul-raouf-kara"),
        ("السراج يضيء الغرفة القديمة في بيت جدي", "fayez-al-sarraj"),  # the lamp
        ("الفريق خسر هيبته وقوة الردع في ملعبه بعد ثلاث مباريات", "special-deterrence-force"),
    ],
)
def test_a_bare_surname_or_name_in_another_sense_is_not_the_actor(
    actor_ids: Tag, text: str, actor: str
) -> None:
    assert actor not in actor_ids(text)


# ------------------------------------------------------------------ look-alikes


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        (
            "Accra, June 2 (GNA) - The cocoa board raised farm-gate prices on Monday.",
            "government-of-national-accord",
        ),
        ("Tunisia beat Libya 2-0 in a friendly in Rades.", "tunisia"),
        ("L'équipe de France affronte la Tunisie en amical vendredi.", "france"),
        ("فاز المنتخب المصري على نظيره التركي في مباراة ودية", "turkey"),
        ("تقابلنا في مقهى باريس قدام الجامعة", "france"),
        ("استؤنفت الرحلات بين مصراتة ودمشق بعد توقف طويل", "syria"),
        ("سيارة قطر جات خذت الكرهبة المعطلة من الشارع", "qatar"),
        ("قطر الماسورة الجديدة 20 سم", "qatar"),
        ("صممت الأعمدة بقطر يصل إلى متر ونصف", "qatar"),
        ("نشرت تقرير روسيا اليوم عن الوضع في الجنوب", "russia"),
    ],
)
def test_look_alikes_in_posts_and_wire_copy_are_not_the_actor(
    actor_ids: Tag, text: str, actor: str
) -> None:
    assert actor not in actor_ids(text)


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        (
            "Haftar met GNA officials in Geneva, Libyan sources said.",
            "government-of-national-accord",
        ),
        ("Libya and Tunisia signed a border agreement.", "tunisia"),
        ("رحبت سوريا بقرار إعادة فتح السفارة الليبية", "syria"),
        ("أعلنت قطر دعمها للحوار الليبي", "qatar"),
        ("The Tripoli-based Government of National Unity approved the budget.", "tripoli"),
        (
            "The Tripoli-based Government of National Unity approved the budget.",
            "government-of-national-unity",
        ),
        ("The Tobruk-based House of Representatives rejected the deal.", "tobruk"),
        (
            "The Tobruk-based House of Representatives rejected the deal.",
            "house-of-representatives",
        ),
    ],
)
def test_the_actor_beside_its_look_alikes_is_still_tagged(
    actor_ids: Tag, text: str, actor: str
) -> None:
    assert actor in actor_ids(text)


# ------------------------------------------------------------------ topics


def test_a_zero_weight_phrase_takes_its_word_from_the_topic(tagger: Tagger) -> None:
    assert "intelligence" not in _topics(
        tagger, "The university opened a new artificial intelligence lab for engineering students."
    )
    assert "intelligence" in _topics(
        tagger, "Libyan intelligence officers met their Egyptian counterparts in Cairo."
    )


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        (
            "تم تحويل 40 نزيلا إلى مؤسسة الإصلاح والتأهيل الجديدة بسبب الاكتظاظ",
            "detention-and-justice",
        ),
        ("وفد من الأعيان يرعى لقاء صلح بين قبيلتين في الجنوب", "mediation"),
        ("كمين على الطريق الساحلي ومقتل اثنين من عناصر البوابة", "armed-clashes"),
        (
            "Central Bank governor announces new exchange rate after reshuffle",
            "politics-and-governance",
        ),
        ("Operation Irini inspected another freighter off Tobruk", "foreign-military-support"),
    ],
)
def test_short_texts_in_their_own_words_get_their_topic(
    tagger: Tagger, text: str, topic: str
) -> None:
    assert topic in _topics(tagger, text)


def test_a_negative_topic_weight_is_refused() -> None:
    document = {
        "version": "t",
        "actors": {},
        "topics": {
            "mediation": {"name": "M", "min_score": 2, "terms": [{"term": "talks", "weight": -1}]}
        },
    }
    with pytest.raises(ConfigError, match=r"weight: expected a whole number, 0 or more"):
        build_knowledge_base(document)
