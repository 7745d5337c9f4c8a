"""Keyword-in-context excerpts: sentences in Arabic and Latin script, clean cuts, the title."""

from __future__ import annotations

import re

import pytest

from services.alerting.core.excerpts import (
    ELLIPSIS,
    Excerpt,
    excerpt_at,
    excerpts,
    opening,
    sentence_span,
    text_direction,
)


def spans(text: str, word: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(re.escape(word), text)]


def marked(excerpt: Excerpt) -> list[str]:
    return [excerpt.text[a:b] for a, b in excerpt.marks]


def whole_words(excerpt: Excerpt, text: str) -> None:
    """The excerpt is ``text[start:end]`` (plus ellipses) and cuts only at spaces."""
    assert excerpt.text.strip(ELLIPSIS) == text[excerpt.start : excerpt.end]
    if excerpt.text.startswith(ELLIPSIS):
        assert excerpt.start > 0 and text[excerpt.start - 1].isspace()
    if excerpt.text.endswith(ELLIPSIS):
        assert excerpt.end < len(text)
        assert text[excerpt.end].isspace() or text[excerpt.end] in "،,:;؛"


ARABIC = (
    "أعلنت وزارة الداخلية عن خطة أمنية جديدة في العاصمة. "
    "وقال مصدر إن قوة الردع الخاصة انتشرت قرب مطار معيتيقة في طرابلس! "
    "هل تنسحب قوة الردع الخاصة؟ ولم تعلق الحكومة على الخبر؛ "
    "وأكدت قوة الردع الخاصة أنها جاهزة."
)


def test_arabic_sentences_end_at_arabic_and_latin_punctuation() -> None:
    found = excerpts(ARABIC, spans(ARABIC, "قوة الردع الخاصة"))
    assert [e.text for e in found] == [
        "وقال مصدر إن قوة الردع الخاصة انتشرت قرب مطار معيتيقة في طرابلس!",
        "هل تنسحب قوة الردع الخاصة؟",
        "وأكدت قوة الردع الخاصة أنها جاهزة.",
    ]
    assert all(marked(e) == ["قوة الردع الخاصة"] for e in found)
    assert {e.direction for e in found} == {"rtl"}
    for excerpt in found:
        whole_words(excerpt, ARABIC)


def test_at_most_three_excerpts_one_per_sentence_every_mention_in_it_marked() -> None:
    text = "الردع هنا والردع هناك. ثم الردع. ثم الردع. ثم الردع. ثم الردع."
    found = excerpts(text, spans(text, "الردع"))
    assert len(found) == 3
    assert found[0].text == "الردع هنا والردع هناك."
    assert marked(found[0]) == ["الردع", "الردع"]
    assert excerpts(text, spans(text, "الردع"), limit=1) == found[:1]


def test_latin_text_is_left_to_right_and_keeps_numbers_and_initials_whole() -> None:
    text = (
        "Fighting resumed on Monday. The U.S. envoy said 3.5 million people live near "
        "the Rada base in Tripoli. Nothing else happened."
    )
    (found,) = excerpts(text, spans(text, "Rada"))
    assert found.text == (
        "The U.S. envoy said 3.5 million people live near the Rada base in Tripoli."
    )
    assert found.direction == "ltr" and marked(found) == ["Rada"]


def test_mixed_script_paragraph_takes_the_direction_of_its_first_letter() -> None:
    text = "قالت Rada في بيان إنها جاهزة.\nRada said قوة الردع was ready."
    first, second = excerpts(text, spans(text, "Rada"))
    assert (first.text, first.direction) == ("قالت Rada في بيان إنها جاهزة.", "rtl")
    assert (second.text, second.direction) == ("Rada said قوة الردع was ready.", "ltr")
    assert text_direction("«123» قوة") == "rtl"
    assert text_direction("123 …") == "ltr" and text_direction("", "rtl") == "rtl"


def test_a_line_break_ends_a_sentence_without_punctuation() -> None:
    text = "العنوان الفرعي: قوة الردع الخاصة\nنص المقال يبدأ هنا."
    (found,) = excerpts(text, spans(text, "قوة الردع الخاصة"))
    assert found.text == "العنوان الفرعي: قوة الردع الخاصة"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("قوة الردع الخاصة انتشرت. جملة أخرى.", "قوة الردع الخاصة انتشرت."),  # at the start
        ("جملة أولى. انتشرت قوة الردع الخاصة", "انتشرت قوة الردع الخاصة"),  # at the very end
        ("قوة الردع الخاصة", "قوة الردع الخاصة"),  # the mention is the whole body
        ("  \n  قوة الردع الخاصة  \n", "قوة الردع الخاصة"),  # spaces around are dropped
    ],
)
def test_mention_at_the_start_or_end_of_the_body(text: str, expected: str) -> None:
    (found,) = excerpts(text, spans(text, "قوة الردع الخاصة"))
    assert found.text == expected and marked(found) == ["قوة الردع الخاصة"]


def test_a_very_long_sentence_is_cut_at_clauses_with_an_ellipsis() -> None:
    clause = "وتحدث المسؤول عن الأوضاع الأمنية في المدينة وما جرى فيها خلال الأيام الماضية"
    text = "، ".join([clause] * 4 + ["ثم قال إن قوة الردع الخاصة انسحبت من المطار"] + [clause] * 4)
    text += "."
    (found,) = excerpts(text, spans(text, "قوة الردع الخاصة"), max_chars=200)
    assert len(found.text) <= 202
    assert found.text.startswith(ELLIPSIS) and found.text.endswith(ELLIPSIS)
    assert "ثم قال إن قوة الردع الخاصة انسحبت من المطار" in found.text
    assert not found.text.endswith("،" + ELLIPSIS)  # the ellipsis replaces the comma
    whole_words(found, text)


def test_a_very_long_clause_is_cut_to_whole_words_never_mid_word() -> None:
    words = [f"كلمة{n}" for n in range(300)]
    words[150] = "الردع"
    text = " ".join(words) + "."
    (found,) = excerpts(text, spans(text, "الردع"), max_chars=120)
    assert len(found.text) <= 122 and marked(found) == ["الردع"]
    assert found.text.startswith(ELLIPSIS) and found.text.endswith(ELLIPSIS)
    inner = found.text.strip(ELLIPSIS).split()
    assert all(word in words for word in inner)  # no word cut in two
    whole_words(found, text)


def test_an_excerpt_that_repeats_the_title_is_skipped() -> None:
    title = 'قائد ميليشيا "الردع" يكشف للمخابرات الأمريكية تفاصيل'
    text = (
        "قائد ميليشيا الردع يكشف للمخابرات الأمريكية تفاصيل\n"  # the title again
        "قائد ميليشيا الردع\n"  # a caption: a piece of the title
        "وقال قائد ميليشيا الردع إن القوات جاهزة."
    )
    found = excerpts(text, spans(text, "ميليشيا الردع"), title=title)
    assert [e.text for e in found] == ["وقال قائد ميليشيا الردع إن القوات جاهزة."]
    assert excerpts(text, spans(text, "ميليشيا الردع")[:2], title=title) == []


def test_no_body_or_no_valid_span_gives_no_excerpt() -> None:
    assert excerpts("", [(0, 5)]) == []
    assert excerpts("نص قصير.", []) == []
    assert excerpts("نص قصير.", [(3, 99), (5, 5), (-1, 2)]) == []  # spans outside the text
    assert opening("") is None and opening(" \n ") is None


def test_the_opening_sentence_stands_in_when_nothing_is_mentioned() -> None:
    excerpt = opening("\nالجملة الأولى. الجملة الثانية.")
    assert excerpt is not None
    assert (excerpt.text, excerpt.marks) == ("الجملة الأولى.", ())


def test_sentence_span_and_excerpt_at_agree_on_offsets() -> None:
    start = ARABIC.index("قوة الردع الخاصة")
    left, right = sentence_span(ARABIC, start, start + len("قوة الردع الخاصة"))
    assert ARABIC[left:right].startswith("وقال مصدر") and ARABIC[right - 1] == "!"
    excerpt = excerpt_at(ARABIC, (start, start + 16))
    assert (excerpt.start, excerpt.end) == (left, right)
