from __future__ import annotations

import pytest

from services.enrichment.core import clean_text

PROSE = "قال المتحدث إن الاجتماع سيعقد غدا في طرابلس، وأضاف أن التعليقات على القرار كثيرة."


@pytest.mark.parametrize(
    "furniture",
    [
        "تخطي إلى المحتوى",
        "  2. تخطي إلى القائمة الرئيسية",
        "3. تخطي إلى المزيد من صفحات DW",
        "تخطي إلى الجزء التالي اكتشاف المزيد",
        "زر الذهاب إلى الأعلى",
        "[ads2]",
        "اترك تعليقاً",
        "أترك تعليقا",
        "لن يتم نشر عنوان بريدك الإلكتروني. الحقول الإلزامية مشار إليها بـ *",
        "تعليقات",
        "%d مدونون معجبون بهذه:",
        "اظهر المزيد",
        "تم نسخ الرابط",
        "مقالات ذات صلة",
        "اكتشاف المزيد",
        "اقرأ أيضاً:",
        "Skip to content",
        "Share this article",
    ],
)
def test_furniture_lines_are_removed(furniture: str) -> None:
    cleaned = clean_text(f"{PROSE}\n{furniture}\n{PROSE}")
    assert cleaned == f"{PROSE}\n{PROSE}"


@pytest.mark.parametrize(
    "prose",
    [
        PROSE,
        "تعليقات الوزير على الاتفاق أثارت جدلا واسعا في طرابلس.",
        "1. أن يتم وقف إطلاق النار فورا في كل المدن.",
        "اترك تعليقك على الخبر هو ما طلبه الموقع من قرائه، وقال المحرر إن الردود كثيرة.",
        "[ads2] ظهرت في الصفحة قبل أن يبدأ الخبر الذي يتحدث عن طرابلس.",
        "شارك مئات المحتجين في المظاهرة.",
    ],
)
def test_prose_lines_are_kept(prose: str) -> None:
    assert clean_text(f"{PROSE}\n{prose}") == f"{PROSE}\n{prose}"


def test_numbered_menu_runs_are_removed_but_not_numbered_sentences() -> None:
    menu = "1. الرئيسية\n2. أخبار\n3. رياضة\n4. اقتصاد"
    assert clean_text(f"{menu}\n{PROSE}") == PROSE
    numbered = "1. وقف إطلاق النار.\n2. انسحاب القوات من المدن."
    assert clean_text(f"{PROSE}\n{numbered}") == f"{PROSE}\n{numbered}"


def test_blank_line_runs_collapse_and_ends_are_trimmed() -> None:
    assert clean_text(f"\n\n{PROSE}\n\n\n\n{PROSE}\n\n") == f"{PROSE}\n\n{PROSE}"


def test_empty_text() -> None:
    assert clean_text("") == ""
    assert clean_text("\n\n  \n") == ""
