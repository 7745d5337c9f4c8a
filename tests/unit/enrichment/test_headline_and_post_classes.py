"""Classes met in headlines, posts and Romance-language copy, each rule tested both ways: the
father before "his sons", two sons sharing the family name, a son acting after his father's
sentence, على that is no first name, bare surnames acting at a headline's start, the force
acting in a headline, indefinite state adjectives, officials of a state, the ICC, IS and Sisi
in headlines, Almasri in Italian copy, and the look-alikes of Italian and Arabizi text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from services.common.errors import ConfigError
from services.enrichment.core import Tagger
from services.enrichment.core.knowledge_base import build_knowledge_base

Tag = Callable[[str], set[str]]
SDF = "special-deterrence-force"
ICC = "international-criminal-court"
GNU = "government-of-national-unity"


# ------------------------------------------------------------------ Haftar and his sons


@pytest.mark.parametrize(
    ("text", "present", "absent"),
    [
        # The father is the one whose sons follow.
        ("حفتر ونجليه صدام وخالد على المنصة", {"khalifa-haftar", "saddam-haftar"}, set()),
        ("وصل حفتر وأبناؤه إلى بنغازي", {"khalifa-haftar"}, {"saddam-haftar"}),
        # Without a son word after it, the member named in the article.
        ("قال صدام حفتر إن حفتر سيحضر", {"saddam-haftar"}, {"khalifa-haftar"}),
    ],
)
def test_a_bare_haftar_before_his_sons_is_the_father(
    actor_ids: Tag, text: str, present: set[str], absent: set[str]
) -> None:
    found = actor_ids(text)
    assert present <= found
    assert not (absent & found)


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        ("اجتماع في بنغازي يضم صدام وخالد حفتر لبحث توحيد المؤسسة العسكرية", "saddam-haftar"),
        ("Saddam and Khaled Haftar met the Italian minister.", "saddam-haftar"),
    ],
)
def test_a_son_coordinated_with_his_brother_named_in_full(
    actor_ids: Tag, text: str, actor: str
) -> None:
    assert actor in actor_ids(text)


@pytest.mark.parametrize(
    "text",
    [
        "وقع صدام بين المتظاهرين وخالد حسين قرب الساحة",
        "قال صدام وخالد إن الطريق مغلق",
    ],
)
def test_a_first_name_with_another_first_name_is_not_the_son(actor_ids: Tag, text: str) -> None:
    assert "saddam-haftar" not in actor_ids(text)


def test_a_son_acting_in_the_sentence_after_his_father(actor_ids: Tag) -> None:
    text = "ألقى خليفة حفتر كلمة في حفل التخريج. أما صدام فالتقى بعد الحفل وفداً أجنبياً."
    assert "saddam-haftar" in actor_ids(text)
    # The father named only after it does not reach back; nor is a clash a son.
    assert "saddam-haftar" not in actor_ids("قال صدام إن الطقس جميل. وأكد خليفة حفتر ذلك.")
    assert "saddam-haftar" not in actor_ids("وقع صدام مسلح قرب مقر خليفة حفتر.")


def test_a_son_after_the_italian_son_word(actor_ids: Tag) -> None:
    text = "Piantedosi ha incontrato a Bengasi il generale Khalifa Haftar e il figlio Saddam."
    assert "saddam-haftar" in actor_ids(text)
    assert "saddam-haftar" not in actor_ids("Il figlio Saddam ha vinto la gara di nuoto a Bari.")


def test_sadam_with_one_m_in_a_post(actor_ids: Tag) -> None:
    found = actor_ids("sadam hafter fi ankara tawa")
    assert "saddam-haftar" in found
    assert "khalifa-haftar" not in found


# ------------------------------------------------------------------ على is not علي


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        ("شنت الطائرات هجوما على حفتر وقواته", "khalifa-haftar"),
        ("حملة إعلامية على المسماري بعد تصريحاته", "ahmed-al-mismari"),
    ],
)
def test_the_preposition_ala_is_not_a_first_name(actor_ids: Tag, text: str, actor: str) -> None:
    assert actor in actor_ids(text)


def test_the_first_name_ali_still_makes_another_person(actor_ids: Tag) -> None:
    assert "khalifa-haftar" not in actor_ids("التقى علي حفتر بأصدقائه في المقهى")
    assert "ali-dbeibah" in actor_ids("علي الدبيبة رجل أعمال من مصراتة")
    assert "ali-dbeibah" not in actor_ids("ردا على الدبيبة قال المشري إن الحكومة فشلت")


@pytest.mark.parametrize(
    "text",
    [
        "ردا على الدبيبة، قال المجلس الرئاسي إن الحكومة مستمرة",
        "هجوم على الدبيبة بعد خطابه أمس",
    ],
)
def test_the_surname_after_the_preposition_ala_is_still_the_prime_minister(
    actor_ids: Tag, text: str
) -> None:
    # The longer alias (علي الدبيبة) is rejected; the surname inside it is decided on its own.
    assert "abdul-hamid-dbeibah" in actor_ids(text)


@pytest.mark.parametrize(
    "text",
    [
        "أعلنت قوة الردع الأمريكية في المنطقة رفع جاهزيتها",
        "مناورات قوة الردع البحرية في المتوسط",
        "طائرات قوة الردع الجوية تحلق فوق الخليج",
    ],
)
def test_a_name_rejected_as_the_force_does_not_come_back_through_a_shorter_one(
    actor_ids: Tag, text: str
) -> None:
    # قوة الردع is rejected as a foreign force; الردع inside it names the same actor.
    assert SDF not in actor_ids(text)


# ------------------------------------------------------------------ bare surnames in headlines


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        ("معيتيق يبحث مع السفير البريطاني الأوضاع الاقتصادية", "ahmed-maiteeq"),
        ("السراج: لست نادماً على توقيع مذكرتي التفاهم مع تركيا", "fayez-al-sarraj"),
        ("تفكروا أيام السراج والوفاق؟ نفس الوجوه", "fayez-al-sarraj"),
        ("السراج يلتقي وزير الخارجية", "fayez-al-sarraj"),
        ("آمر الردع كارة يظهر لأول مرة منذ أحداث مايو", "abdul-raouf-kara"),
        ("Sisi, Haftar discuss Sudan border at El Alamein meeting", "abdel-fattah-el-sisi"),
    ],
)
def test_a_bare_surname_acting_in_a_headline_is_the_person(
    actor_ids: Tag, text: str, actor: str
) -> None:
    assert actor in actor_ids(text)


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        ("مطار معيتيق مغلق اليوم", "ahmed-maiteeq"),
        ("السراج المنير في بيت جدي", "fayez-al-sarraj"),
        ("ورشة السراج تصنع سروج الخيل منذ خمسين عاما", "fayez-al-sarraj"),
        ("كارة يظهر في الفيلم الجديد", "abdul-raouf-kara"),
        ("A film about Empress Sisi opens in Vienna.", "abdel-fattah-el-sisi"),
    ],
)
def test_a_bare_surname_without_its_context_is_not_the_person(
    actor_ids: Tag, text: str, actor: str
) -> None:
    assert actor not in actor_ids(text)


# ------------------------------------------------------------------ the force in headlines


@pytest.mark.parametrize(
    "text",
    [
        "الردع يعلن ضبط شحنة وقود مهربة في تاجوراء",
        "اتفاق على تسليم مطار معيتيقة لقوة محايدة وخروج الردع من محيطه",
        "Zoubi, the deputy defence minister, said the talks with Rada had reached a late stage.",
    ],
)
def test_the_force_acting_in_a_headline_or_leaving_its_base(actor_ids: Tag, text: str) -> None:
    assert SDF in actor_ids(text)


@pytest.mark.parametrize(
    "text",
    [
        "الردع يحقق الاستقرار بين الدول الكبرى",
        "خروج الردع النووي من المعاهدة يقلق أوروبا",
        "The Rada voted on the budget in Kyiv.",
    ],
)
def test_deterrence_in_a_headline_is_not_the_force(actor_ids: Tag, text: str) -> None:
    assert SDF not in actor_ids(text)


def test_the_general_command_beside_the_commander_in_chief(actor_ids: Tag) -> None:
    text = "القائد العام ما ظهرش من أسبوعين، بس القيادة العامة طلعت بيان"
    assert "libyan-national-army" in actor_ids(text)
    assert "libyan-national-army" not in actor_ids(
        "القائد العام للقوات المسلحة المصرية يتفقد القيادة العامة للجيش المصري"
    )


# ------------------------------------------------------------------ state adjectives


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        ("وفد عسكري تركي يصل مصراتة لتفقد مركز التدريب", "turkey"),
        ("طيارات شحن عسكرية روسية نازلة في قاعدة بنينا", "russia"),
        ("نفى مكتبه لقاءه مسؤولين روساً الشهر الماضي.", "russia"),
        ("التقى المستشار الأمريكي مسعد بولس المشير خليفة حفتر.", "united-states"),
        ("The Qatari emir told Dbeibah he supported elections.", "qatar"),
        ("Zoubi meets Turkish chief of staff", "turkey"),
        ("rimpatriato con un aereo dei servizi segreti italiani", "italy"),
        ("تشمل قوات بريطانية وفرنسية إضافة إلى السلاح الجوي", "france"),
    ],
)
def test_a_nationality_adjective_of_a_state_body_is_the_state(
    actor_ids: Tag, text: str, actor: str
) -> None:
    assert actor in actor_ids(text)


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        ("عمال مصريون يعودون من بنغازي", "egypt"),
        ("بضائع تركية تملأ الأسواق", "turkey"),
        ("تعاقدت الحكومة مع شركات أمنية تركية لحماية الحقول", "turkey"),
        ("رجل أعمال قطري يشتري فندقا", "qatar"),
        ("تعاقدت الحكومة مع شركات أمنية تركية وروسية", "russia"),
        ("التقى الأمير تركي الفيصل بالوفد", "turkey"),
    ],
)
def test_an_indefinite_adjective_of_people_or_goods_is_not_the_state(
    actor_ids: Tag, text: str, actor: str
) -> None:
    assert actor not in actor_ids(text)


# ------------------------------------------------------------------ ICC, IS, Almasri


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        ("Italy under fire for freeing Libyan police chief wanted by ICC", ICC),
        ("#ICC وين العدالة؟ أسامة نجيم رجع لطرابلس", ICC),
        ("IS claims attack on checkpoint near Sabha", "isis"),
        ("ma come si fa a liberare almasri così?? vergogna #Meloni", "osama-al-masri"),
    ],
)
def test_short_forms_in_headlines_and_posts(actor_ids: Tag, text: str, actor: str) -> None:
    assert actor in actor_ids(text)


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        ("Libya's CPI rose 2.1% year on year in March.", ICC),
        ("The ICC's Libya national committee hosted business leaders.", ICC),
        ("The ICC wanted the match moved after the wicket was damaged.", ICC),
        ("What IS claims processing? A guide for insurers.", "isis"),
        ("Almasri scored twice for the club this season.", "osama-al-masri"),
    ],
)
def test_short_forms_of_other_things(actor_ids: Tag, text: str, actor: str) -> None:
    assert actor not in actor_ids(text)


# ------------------------------------------------------------------ look-alikes


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        ("L'Italia batte la Francia 2-1, decide un gol nel recupero", "italy"),
        ("L'Italia batte la Francia 2-1, decide un gol nel recupero", "france"),
        ("فاز منتخب مصر على تونس في التصفيات", "tunisia"),
        ("Una petroliera è stata soccorsa nel Golfo della Sirte.", "sirte"),
        ("Il giornalista Giuseppe Francia, inviato a Tripoli, racconta la città.", "france"),
        ("À Tripoli, au nord du Liban, on veut un gouvernement d'union nationale.", GNU),
        ("qatar el masoura 16 inch w mazal el mya ma twsalch", "qatar"),
    ],
)
def test_look_alikes_in_italian_french_and_arabizi(actor_ids: Tag, text: str, actor: str) -> None:
    assert actor not in actor_ids(text)


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        ("L'Italia chiede alla Francia di sostenere la missione in Libia.", "france"),
        ("La nave è arrivata a Sirte dal porto di Misurata.", "sirte"),
        ("Il giornalista in Francia racconta la crisi.", "france"),
        ("Le gouvernement d'union nationale libyen a reçu le ministre.", GNU),
        ("qatar b3thet wafd l trablus", "qatar"),
        ("العلاقات بين لبنان وسورية متوترة", "syria"),
        ("أول رحلة مباشرة بين سورية وشرق ليبيا", "syria"),
    ],
)
def test_the_actor_beside_those_look_alikes(actor_ids: Tag, text: str, actor: str) -> None:
    assert actor in actor_ids(text)


def test_syrian_as_a_coordinated_adjective_is_not_the_country(actor_ids: Tag) -> None:
    assert "syria" not in actor_ids("شاركت قوات مصرية وسورية في المناورة")


# ------------------------------------------------------------------ lower-case names in posts


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        ("usa wants elections, russia wants bases and libyans want electricity", "united-states"),
        ("qatar and turkey backed the gna, egypt backed hafter", "turkey"),
        ("qatar and turkey backed the gna, egypt backed hafter", "government-of-national-accord"),
        ("lna holds large-scale military drills near sirt", "libyan-national-army"),
    ],
)
def test_a_capitalised_name_in_lower_case_in_a_post_about_libya(
    actor_ids: Tag, text: str, actor: str
) -> None:
    assert actor in actor_ids(text)


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        ("frozen turkey prices rise in tripoli markets", "turkey"),
        ("turkey beat libya 2-1 in the qualifier", "turkey"),
        ("we had turkey for dinner", "turkey"),
        ("Haftar usa i droni contro Tripoli", "united-states"),
        ("the gna in accra said the cedi fell", "government-of-national-accord"),
        ("haftar ja lna w 9al kol chay mrigl", "libyan-national-army"),
    ],
)
def test_a_lower_case_look_alike_is_not_the_actor(actor_ids: Tag, text: str, actor: str) -> None:
    assert actor not in actor_ids(text)


def test_the_capitalised_name_keeps_its_own_rule(actor_ids: Tag) -> None:
    # Rejected as a team by the country's rule, it is not rescued by the lower-case one.
    assert "turkey" not in actor_ids("Turkey beat Libya 2-1 in Tripoli")
    assert "turkey" in actor_ids("Turkey sent drones to Tripoli")


# ------------------------------------------------------------------ more of the same classes


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        ("فالسراج، بحسب مقربين منه، لم يعد مهتماً بعد تجربة حكومة الوفاق.", "fayez-al-sarraj"),
        ("أعلنت القيادة العامة تفكيك خلية في أوباري", "libyan-national-army"),
        ("الجنائية الدولية تطالب مجددا بتسليم المصري", "osama-al-masri"),
        ("عيّن المشير خليفة حفتر نجله خالد، فيما أسند إلى صدام منصب النائب.", "saddam-haftar"),
    ],
)
def test_names_in_their_own_story(actor_ids: Tag, text: str, actor: str) -> None:
    assert actor in actor_ids(text)


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        ("قال عماد السراج إن حكومة الوفاق فشلت", "fayez-al-sarraj"),
        ("القيادة العامة للقوات المسلحة المصرية تعلن حالة الطوارئ", "libyan-national-army"),
        ("طالب الرئيس المصري بتسليم المطلوبين", "osama-al-masri"),
    ],
)
def test_namesakes_and_other_commands_beside_them(actor_ids: Tag, text: str, actor: str) -> None:
    assert actor not in actor_ids(text)


# ------------------------------------------------------------------ the spelling conditions


def _document(condition: str, pattern: str) -> dict[str, Any]:
    return {
        "version": "t",
        "context_rules": {
            "ali-written": {
                "description": "d",
                "reject": [{"name": "as-written", condition: pattern}],
                "accept": [{"name": "person"}],
            }
        },
        "actors": {
            "ali-x": {
                "type": "person",
                "name": "Ali X",
                "aliases": [],
                "ambiguous": {"ali-written": ["علي اكس"]},
            },
            "x": {
                "type": "person",
                "name": "X",
                "aliases": [],
                "ambiguous": {"ali-written": ["زيد"]},
            },
        },
    }


@pytest.mark.parametrize("condition", ["written", "previous_word_written"])
def test_a_bad_spelling_pattern_is_refused(condition: str) -> None:
    with pytest.raises(ConfigError, match=f"{condition}: bad regex"):
        build_knowledge_base(_document(condition, "(على"))


def test_the_spelling_conditions_read_the_original_letters() -> None:
    written = Tagger(build_knowledge_base(_document("written", "على .*")))
    assert {e.id for e in written.tag("", "قال عَلِي اكس ذلك").entities} == {"ali-x"}
    assert not written.tag("", "ردا عَلى اكس").entities
    before = Tagger(build_knowledge_base(_document("previous_word_written", "على")))
    assert not before.tag("", "ردا علـى زيد").entities
    assert {e.id for e in before.tag("", "جاء علي زيد").entities} == {"x"}
    # At the start of the text there is no word before.
    assert {e.id for e in before.tag("", "زيد جاء").entities} == {"x"}


def test_a_shorter_alias_inside_a_rejected_one_is_decided_on_its_own() -> None:
    document = _document("written", "على .*")
    document["actors"]["x"]["aliases"] = ["اكس"]
    tagger = Tagger(build_knowledge_base(document))
    assert {e.id for e in tagger.tag("", "ردا عَلى اكس").entities} == {"x"}
    # Accepted, the longer alias still wins over the one inside it.
    assert {e.id for e in tagger.tag("", "قال عَلِي اكس ذلك").entities} == {"ali-x"}
    # And an alias inside a rejected one is not accepted when its own rule rejects it.
    document["actors"]["x"]["aliases"] = []
    document["actors"]["x"]["ambiguous"] = {"ali-written": ["اكس"]}
    document["context_rules"]["ali-written"]["reject"].append(
        {"name": "not-after-ala", "previous_word_written": "على"}
    )
    assert not Tagger(build_knowledge_base(document)).tag("", "ردا عَلى اكس").entities
