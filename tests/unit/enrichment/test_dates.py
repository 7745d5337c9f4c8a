from __future__ import annotations

from datetime import UTC, date, datetime

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


# ------------------------------------------------------------------ dates without a year

FETCHED = datetime(2025, 10, 14, 6, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "reference", "expected"),
    [
        # The most recent such date not after the reference.
        ("الأحد 12 أكتوبر\nقال المتحدث", FETCHED, date(2025, 10, 12)),
        ("الأحد 12 أكتوبر", date(2025, 10, 12), date(2025, 10, 12)),
        # Later in the year than the reference: last year's.
        ("الجمعة 19 ديسمبر", FETCHED, date(2024, 12, 19)),
        # One day of tolerance (clocks, time zones): tomorrow is still this year's.
        ("15 أكتوبر", FETCHED, date(2025, 10, 15)),
        ("16 أكتوبر", FETCHED, date(2024, 10, 16)),
        # Across new year: fetched on 31 December, dated 1 January.
        ("1 يناير", datetime(2025, 12, 31, 23, 0, tzinfo=UTC), date(2026, 1, 1)),
        # 29 February goes back to the last leap year.
        ("29 فبراير", date(2027, 3, 1), date(2024, 2, 29)),
        # Arabic-Indic digits, paired and Maghrebi month names, English, a time after it.
        ("نشر في ١٨ أيار/مايو", date(2016, 6, 1), date(2016, 5, 18)),
        ("27 ماي - طرابلس", date(2014, 6, 1), date(2014, 5, 27)),
        ("Published: October 12", FETCHED, date(2025, 10, 12)),
        ("الأحد 12 أكتوبر 10:30", FETCHED, date(2025, 10, 12)),
    ],
)
def test_a_dateline_without_a_year_takes_it_from_the_reference(
    text: str, reference: date | datetime, expected: date
) -> None:
    assert extract_published_date(text, reference=reference) == expected


def test_without_a_reference_a_date_without_a_year_is_ignored() -> None:
    assert extract_published_date("الأحد 12 أكتوبر") is None


def test_a_date_without_a_year_in_prose_is_an_event_not_the_publication() -> None:
    text = "قال المتحدث إن الاجتماع سيعقد في 12 أكتوبر بحضور ممثلين عن الأطراف كافة في العاصمة."
    assert extract_published_date(text, reference=FETCHED) is None


def test_a_stated_year_wins_over_the_reference() -> None:
    text = "الأحد 12 أكتوبر 2014\nقال المتحدث"
    assert extract_published_date(text, reference=FETCHED) == date(2014, 10, 12)


def test_a_month_pair_with_a_year_is_not_read_as_a_date_without_one() -> None:
    # "18 أيار" alone would be a year-less date; the year that follows the pair is the date.
    assert extract_published_date("18 أيار/مايو 2016", reference=FETCHED) == date(2016, 5, 18)


@pytest.mark.parametrize("text", ["31 فبراير", "12 أكتوبري", "ابن 12 ابن"])
def test_no_valid_date_without_a_year(text: str) -> None:
    assert extract_published_date(text, reference=FETCHED) is None
