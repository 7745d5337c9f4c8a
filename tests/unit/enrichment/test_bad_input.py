from __future__ import annotations

import pytest

from services.common.arabic import normalize_arabic
from services.common.errors import PermanentError
from services.enrichment.core import InvalidText, Tagger


def test_empty_input_has_no_entities(tagger: Tagger) -> None:
    result = tagger.tag("", "")
    assert (result.entities, result.topics, result.normalized_title) == ([], [], "")


def test_only_punctuation_and_spaces(tagger: Tagger) -> None:
    assert tagger.tag(" ... ", "«» ،،، \n\n !!! ؟").entities == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("طرابلس\x00ليبيا", "NUL"),
        ("\ud800 ليبيا", "surrogate"),
        ("".join(chr(c) for c in range(1, 32)) * 20 + "ليبيا", "binary"),
        ("\ufffd" * 100 + "ليبيا", "binary"),
    ],
)
def test_binary_junk_is_invalid_text(tagger: Tagger, text: str, message: str) -> None:
    with pytest.raises(InvalidText, match=message):
        tagger.tag("", text)


def test_invalid_text_is_permanent(tagger: Tagger) -> None:
    with pytest.raises(PermanentError):
        tagger.tag("\x00", "ليبيا")


def test_not_a_string_is_invalid_text(tagger: Tagger) -> None:
    with pytest.raises(InvalidText, match="bytes"):
        tagger.tag("", b"\xd8\xb7")


def test_a_few_control_characters_are_only_separators(tagger: Tagger) -> None:
    ids = {e.id for e in tagger.tag("", "وصل\x07 الوفد إلى\x1bطرابلس").entities}
    assert "tripoli" in ids


def test_mixed_scripts_and_emoji(tagger: Tagger) -> None:
    result = tagger.tag("", "🔥 عاجل: Khalifa Haftar في بنغازي 👀 — 中文 текст")
    assert {"khalifa-haftar", "benghazi"} <= {e.id for e in result.entities}


def test_a_word_without_spaces_for_megabytes_does_not_match_inside(tagger: Tagger) -> None:
    assert tagger.tag("", "ب" * 100_000 + "حفتر").entities == []


def test_several_megabytes_are_tagged_completely(tagger: Tagger) -> None:
    # Speed on large inputs is measured by benchmarks/tagger.py, not asserted here.
    paragraph = (
        "التقى قائد جهاز الردع عبد الرؤوف كارة بوفد تركي في طرابلس، "
        "وقال حفتر إن الاشتباكات توقفت قرب مطار معيتيقة. "
    )
    large = paragraph * 25_000  # ~3.5 MB
    result = tagger.tag("", large)
    assert len(large.encode()) > 3_000_000
    kara = next(e for e in result.entities if e.id == "abdul-raouf-kara")
    assert len(kara.mentions) == 25_000


def test_normalizer_survives_anything() -> None:
    junk = "".join(chr(c) for c in range(0, 0x3000, 7) if not 0xD800 <= c < 0xE000)
    assert isinstance(normalize_arabic(junk), str)
