"""Context rules for whole classes of names: capitals, family names, the force with a lām,
سورية, national-unity governments, shared acronyms, the other Tripolis, the General Command."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from services.enrichment.core import TagResult

Tag = Callable[[str], set[str]]
SDF = "special-deterrence-force"
GNU = "government-of-national-unity"


# ------------------------------------------------------------------ capitals


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        # Decision 57 (amended): the analysts' convention, a capital is never its state.
        ("أكدت أنقرة دعمها للحكومة.", "turkey"),
        ("تحسنت العلاقات بين أنقرة والقاهرة.", "egypt"),
        ("Ankara's support for the GNA angered Cairo.", "turkey"),
        ("Ankara's support for the GNA angered Cairo.", "egypt"),
        ("Moscow said it would not intervene.", "russia"),
        ("طالبت روما بوقف الهجرة.", "italy"),
        ("Le Caire a démenti.", "egypt"),
        ("Erdogan and Putin discussed Libya by phone, the Kremlin said.", "russia"),
        ("موسكو تنفي نيتها إقامة قاعدة بحرية في طبرق", "russia"),
    ],
)
def test_a_capital_acting_for_its_state_is_not_the_country(
    actor_ids: Tag, text: str, actor: str
) -> None:
    assert actor not in actor_ids(text)


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        ("أكدت تركيا دعمها للحكومة.", "turkey"),
        ("Russia said it would not intervene.", "russia"),
        ("Egypt's support for the HoR angered Tripoli.", "egypt"),
    ],
)
def test_the_country_named_beside_is_still_the_country(
    actor_ids: Tag, text: str, actor: str
) -> None:
    assert actor in actor_ids(text)


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        ("التقى الوفدان في روما.", "italy"),
        ("وصل الوفد بأنقرة أمس.", "turkey"),
        ("وصل معيتيق قادماً من موسكو.", "russia"),
        ("Talks were held in Rome.", "italy"),
        ("The talks were hosted in Cairo.", "egypt"),
        ("Il a rencontré à Paris des responsables.", "france"),
        ("Le maréchal s'est rendu au Caire.", "egypt"),
        ("The Turkish capital Ankara hosted the talks.", "turkey"),
        ("زار الوفد العاصمة الروسية موسكو.", "russia"),
        ("Libya never ratified the Rome Statute.", "italy"),
        ("لم تنضم ليبيا إلى نظام روما الأساسي.", "italy"),
        ("تخرج في جامعة القاهرة.", "egypt"),
    ],
)
def test_a_capital_as_a_place_is_not_the_country(actor_ids: Tag, text: str, actor: str) -> None:
    assert actor not in actor_ids(text)


# ------------------------------------------------------------------ family names


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        ("أعلنت الوزارة تكليف الطبيبة سلمى حفتر بإدارة القسم.", "khalifa-haftar"),
        ("Dr Salma Haftar heads the emergency ward.", "khalifa-haftar"),
        ("قال محمد الدبيبة إن شركته رابحة.", "abdul-hamid-dbeibah"),
        ("قال أحمد القذافي إن العائلة لم تُدعَ.", "muammar-gaddafi"),
    ],
)
def test_a_family_name_after_another_first_name_is_someone_else(
    actor_ids: Tag, text: str, actor: str
) -> None:
    assert actor not in actor_ids(text)


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        ("هاجمت قوات حفتر المدينة.", "khalifa-haftar"),
        ("قال المشير حفتر إن قواته تتقدم.", "khalifa-haftar"),
        ("وحفتر لم يعلق.", "khalifa-haftar"),
        ("انتقد الوزير الدبيبة.", "abdul-hamid-dbeibah"),
    ],
)
def test_a_family_name_after_a_title_or_other_word_keeps_its_default(
    actor_ids: Tag, text: str, actor: str
) -> None:
    assert actor in actor_ids(text)


def test_sons_named_by_first_name_after_his_sons(actor_ids: Tag) -> None:
    ids = actor_ids("حضر المشير خليفة حفتر ونجلاه صدام وخالد العرض العسكري في بنغازي.")
    assert {"khalifa-haftar", "saddam-haftar", "khaled-haftar"} <= ids
    ids = actor_ids("استقبل خليفة حفتر الوفد بحضور أبنائه صدام وخالد وبلقاسم.")
    assert {"saddam-haftar", "khaled-haftar", "belgasem-haftar"} <= ids


def test_a_first_name_without_his_sons_or_his_full_name_is_not_the_son(actor_ids: Tag) -> None:
    assert "khaled-haftar" not in actor_ids("قال خالد إن الطقس جميل. وأكد خليفة حفتر ذلك.")
    assert "khaled-haftar" not in actor_ids("استقبل الوزير الوفد بحضور نجليه صدام وخالد.")


def test_a_different_khaled_after_khaled_haftar_adds_no_mention(
    tag_text: Callable[[str], TagResult],
) -> None:
    result = tag_text("وصل خالد حفتر. وقال خالد الشريف إن الأمر انتهى.")
    [khaled] = [e for e in result.entities if e.id == "khaled-haftar"]
    assert [m.text for m in khaled.mentions] == ["خالد حفتر"]


def test_sarraj_alone_in_latin_needs_a_libyan_article(actor_ids: Tag) -> None:
    text = "Ahmed Mitig reached a deal with Khaled Haftar, angering Sarraj's allies in Tripoli."
    assert "fayez-al-sarraj" in actor_ids(text)
    assert "fayez-al-sarraj" not in actor_ids("Sarraj said the talks would resume.")
    assert "fayez-al-sarraj" not in actor_ids(
        "Nader Sarraj, a novelist, met Khaled Haftar in Tripoli."
    )


# ------------------------------------------------------------------ الردع with a lām


@pytest.mark.parametrize(
    "text",
    [
        "وأفاد شهود بأن رتلاً مسلحاً تابعاً لـ«الردع» تمركز قرب المطار.",
        "اشتبكت قوات موالية للردع مع كتيبة أخرى.",
        "ووجه الدبيبة انتقادات حادة للردع، متهماً الجهاز بالسيطرة على السجون.",
    ],
)
def test_deterrence_with_a_lam_and_organisation_context_is_the_force(
    actor_ids: Tag, text: str
) -> None:
    assert SDF in actor_ids(text)


@pytest.mark.parametrize(
    "text",
    [
        "يهدف القانون إلى تحقيق الردع العام والخاص للعقوبة.",
        "دعا الخبير إلى سياسة أقوى للردع في المنطقة.",
        "قال الوزير إن السجون مكتظة، ودعا إلى تعزيز للردع.",
    ],
)
def test_deterrence_with_a_lam_as_a_concept_is_not_the_force(actor_ids: Tag, text: str) -> None:
    assert SDF not in actor_ids(text)


# ------------------------------------------------------------------ سورية


def test_syria_spelt_with_ta_marbuta_as_the_subject_of_a_verb(actor_ids: Tag) -> None:
    assert "syria" in actor_ids("أعادت سورية فتح سفارتها في بنغازي.")
    assert "syria" in actor_ids("دعت سورية إلى الحوار.")


@pytest.mark.parametrize(
    "text",
    [
        "أسقطت طائرة سورية فوق البحر.",
        "وصلت قوات سورية إلى الحدود.",
        "كانت سورية الجنسية.",
        "تدمرت بيوت سورية كثيرة.",
    ],
)
def test_syrian_feminine_adjective_is_not_syria(actor_ids: Tag, text: str) -> None:
    assert "syria" not in actor_ids(text)


# ------------------------------------------------------------------ national governments


def test_a_lower_case_or_foreign_government_of_national_unity_is_not_the_gnu(
    actor_ids: Tag,
) -> None:
    assert GNU not in actor_ids(
        "Palestinian factions discussed forming a government of national unity in Cairo."
    )
    assert GNU not in actor_ids("The Palestinian Government of National Unity was sworn in.")
    assert GNU in actor_ids("Libya's Government of National Unity rejected the move.")


def test_the_french_unity_government_needs_a_libyan_context(actor_ids: Tag) -> None:
    assert GNU in actor_ids("Le gouvernement d'unité nationale libyen a rejeté la proposition.")
    assert GNU not in actor_ids(
        "Les factions palestiniennes ont formé un gouvernement d'union nationale à Gaza."
    )
    # Under Sarraj the same French words named the GNA.
    ids = actor_ids("Le gouvernement d'union nationale (GNA) de Fayez al-Sarraj à Tripoli.")
    assert "government-of-national-accord" in ids
    assert GNU not in ids


# ------------------------------------------------------------------ shared acronyms


@pytest.mark.parametrize(
    "text",
    [
        "The International Chamber of Commerce (ICC) arbitration court ruled for the LIA.",
        "The International Cricket Council (ICC) fined the player.",
        "L'inflation mesurée par le CPI a reculé.",
    ],
)
def test_other_organisations_acronyms_are_not_the_court(actor_ids: Tag, text: str) -> None:
    assert "international-criminal-court" not in actor_ids(text)


def test_the_court_acronyms_with_court_context(actor_ids: Tag) -> None:
    assert "international-criminal-court" in actor_ids("The ICC prosecutor sought a warrant.")
    assert "international-criminal-court" in actor_ids("La CPI a émis un mandat d'arrêt.")


# ------------------------------------------------------------------ the other Tripolis


@pytest.mark.parametrize(
    "text",
    [
        "Tripoli, the capital of Arcadia in the Peloponnese, hosted a festival.",
        "تستضيف مدينة طرابلس اليونانية مهرجانا للموسيقى.",
        "Tripoli, Lebanon saw clashes overnight.",
    ],
)
def test_greek_and_lebanese_tripoli_are_not_tripoli(actor_ids: Tag, text: str) -> None:
    assert "tripoli" not in actor_ids(text)


def test_tripoli_with_libyan_context_is_tripoli(actor_ids: Tag) -> None:
    assert "tripoli" in actor_ids("Clashes in Tripoli, Libya, closed the airport.")


# ------------------------------------------------------------------ the General Command


def test_the_general_command_in_haftar_context_is_the_lna(actor_ids: Tag) -> None:
    text = "قال المتحدث باسم القيادة العامة اللواء أحمد المسماري إن الوحدات تقدمت."
    assert "libyan-national-army" in actor_ids(text)


@pytest.mark.parametrize(
    "text",
    [
        "أصدرت القيادة العامة للقوات المسلحة المصرية بيانا.",
        "أصدرت القيادة العامة بيانا حول الأمطار.",
    ],
)
def test_another_general_command_is_not_the_lna(actor_ids: Tag, text: str) -> None:
    assert "libyan-national-army" not in actor_ids(text)
