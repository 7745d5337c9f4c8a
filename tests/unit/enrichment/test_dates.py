from __future__ import annotations

from datetime import date

import pytest

from services.enrichment.core import extract_published_date


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("الجمعة 19 ديسمبر 2025\nرئيس التحرير", date(2025, 12, 19)),
        ("دول غربية تبحث عن حلفاء\n\n١٨ مايو ٢٠١٦\n\nذكرت صحيفة", date(2016, 5, 18)),
        ("نشر في 18 أيار/مايو 2016", date(2016, 5, 18)),
        ("الأربعاء ٣ حزيران ٢٠٢٠", date(2020, 6, 3)),
        ("14 فيفري 2014", date(2014, 2, 14)),
        ("27 ماي 2014 - طرابلس", date(2014, 5, 27)),
        ("5 جويلية 2019", date(2019, 7, 5)),
        ("12 أوت 2014", date(2014, 8, 12)),
        ("1 تشرين الثاني 2023", date(2023, 11, 1)),
        ("7 كانون الثاني 2021", date(2021, 1, 7)),
        ("3 الفاتح 2009", date(2009, 9, 3)),
        ("Published: December 19, 2025", date(2025, 12, 19)),
        ("2025-12-19T10:00:00Z", date(2025, 12, 19)),
        ("تاريخ النشر: 19/12/2025", date(2025, 12, 19)),
    ],
)
def test_dates_at_the_top(text: str, expected: date) -> None:
    assert extract_published_date(text) == expected


def test_the_first_date_wins() -> None:
    text = "19 ديسمبر 2025\nوكان الاجتماع الأول في 3 مارس 2024."
    assert extract_published_date(text) == date(2025, 12, 19)


def test_event_dates_deep_in_prose_are_not_publication_dates() -> None:
    prose = "قال المتحدث إن الوضع هادئ في العاصمة وإن المفاوضات مستمرة بين الأطراف. " * 8
    text = f"{prose}\nهذا ويذكر أن أول ظهور له كان في 14 فيفري 2014 عبر قناة تلفزيونية."
    assert extract_published_date(text) is None


def test_a_dateline_further_down_the_head_counts() -> None:
    prose = "عنوان طويل جدا عن الأوضاع في ليبيا والعاصمة طرابلس والمنطقة الغربية. " * 8
    assert extract_published_date(f"{prose}\nالسبت 4 يناير 2025\n{prose}") == date(2025, 1, 4)


@pytest.mark.parametrize(
    "text",
    ["", "لا تاريخ هنا", "31 فبراير 2020", "18 أيار/مايو", "5 مايو 1850", "99/99/2020"],
)
def test_no_valid_date(text: str) -> None:
    assert extract_published_date(text) is None
