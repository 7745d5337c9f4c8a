from __future__ import annotations

from bisect import bisect_right

import pytest

from services.common.arabic import normalize_arabic
from services.common.arabic.normalize import (
    _SPECIAL,
    _bisect_right,
    _fold,
    _fold_reference,
    normalize_text,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("أحمد إبراهيم آمر ٱلقوة", "احمد ابراهيم امر القوه"),  # alef forms, ة
        ("مصطفى على", "مصطفي علي"),  # ى → ي, not ا
        ("الدبيبة", "الدبيبه"),
        ("مسؤول رئيس فائز", "مسوول رييس فايز"),  # ؤ → و, ئ → ي
        ("شيء سماء", "شيء سماء"),  # the hamza on the line stays
        ("حَفْتَرُ قُوَّةُ الرَّدْعِ", "حفتر قوه الردع"),  # harakat, shadda, sukun
        ("هٰذا", "هذا"),  # superscript alef
        ("حفتــــر", "حفتر"),  # tatweel
        ("١٨ مايو ٢٠١٦ و۲۰۲۵", "18 مايو 2016 و2025"),  # Arabic-Indic and Persian digits
        ("Khalifa HAFTAR", "khalifa haftar"),
        ("Türkiye Érdoğan İstanbul", "turkiye erdogan istanbul"),  # accents, dotted I
        ("Cafe\u0301", "cafe"),  # decomposed accent
        ('قائد ميليشيا "الردع"، (الخاصة)!', "قايد ميليشيا الردع الخاصه"),
        ("al-Masri's  \n\t  file_name", "al masri s file name"),
        ("  «طرابلس» … \u200fليبيا\u200f  ", "طرابلس ليبيا"),
        ("ﻣﺼﺮ", "مصر"),  # presentation forms
        ("ک ی", "ك ي"),  # Persian keheh and yeh
        ("", ""),
        ("...!!!", ""),
    ],
)
def test_normalize_arabic(raw: str, expected: str) -> None:
    assert normalize_arabic(raw) == expected


def test_normalisation_is_idempotent() -> None:
    text = "قائدُ ميليشيا «الردع» في طرابلسَ، ١٨ أيار/مايو ٢٠١٦ — Khalifa Ḥaftar"
    once = normalize_arabic(text)
    assert normalize_arabic(once) == once


@pytest.mark.parametrize(
    ("original", "word"),
    [
        ("قال إنَّ حَفْتَــرَ وصل", "حفتر"),
        ("  \n\n  «خَلِيفَة   حَفْتَر»، ثم", "خليفه حفتر"),
        ("ـــــ\u200f باشـاغـا", "باشاغا"),
        ("Ankara, TÜRKİYE and Libya", "turkiye"),
    ],
)
def test_offsets_map_back_to_the_original(original: str, word: str) -> None:
    normalized = normalize_text(original)
    start = normalized.text.index(word)
    span_start, span_end = normalized.original_span(start, start + len(word))
    assert normalize_arabic(original[span_start:span_end]) == word
    # The span starts on the word's first letter and ends right after its last mark.
    assert original[span_start].isalpha()
    assert (
        span_end == len(original) or not original[span_end].isalpha() or (original[span_end] == " ")
    )


def test_every_offset_maps_to_the_same_letter() -> None:
    original = "  وَقَالَ: «الرَّدْعُ»…  في\tطرابلـــس ١٩ ديسمبر!! ؤئى\n\nKara Éx  "
    normalized = normalize_text(original)
    for offset, char in enumerate(normalized.text):
        source = original[normalized.to_original(offset)]
        if char == " ":
            assert not source.isalnum()
        else:
            assert normalize_arabic(source) == char


def test_plain_characters_fold_to_themselves() -> None:
    # The fast path never looks at these characters: they must be fixed points of the rules.
    plain = [chr(c) for c in range(0x10000) if not _SPECIAL.match(chr(c))]
    assert len(plain) > 60
    assert [c for c in plain if _fold_reference(c) != c] == []


@pytest.mark.parametrize(
    "text",
    [
        "قائدُ ميليشيا «الردع» في طرابلسَ، ١٨ أيار/مايو ٢٠١٦ — Khalifa Ḥaftar ΣΟΦΟΣ İstanbul",
        "ﻣﺼﺮ ک ی ؤئى ـــ \u200f\u202b x\u0301 ＡＢＣ ß ﻻ 😀 \t\r\n_",
    ],
)
def test_per_character_folding_equals_the_whole_text_rules(text: str) -> None:
    assert _fold(text)[0] == _fold_reference(text)


@pytest.mark.parametrize("positions", [[], [0], [0, 3], [0, 3, 3, 7], [0, 1, 2, 5, 9, 12]])
def test_offset_search_agrees_with_bisect_right(positions: list[int]) -> None:
    for offset in range(-1, 14):
        assert _bisect_right(positions, offset) == bisect_right(positions, offset), offset
