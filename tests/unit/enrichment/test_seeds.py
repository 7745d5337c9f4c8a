"""What must hold on the fixture articles in seeds/."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.enrichment.core import Tagger, clean_text

SEEDS = Path(__file__).parents[3] / "seeds"
SEED_NAMES = ["000", "001", "002", "003", "004"]

# actor id → (seeds that must have it, seeds that must not)
EXPECTED: dict[str, tuple[set[str], set[str]]] = {
    "special-deterrence-force": ({"000", "001", "002"}, {"003", "004"}),
    "fathi-bashagha": ({"000"}, {"001", "002", "003", "004"}),
    "khalifa-haftar": ({"001", "003", "004"}, {"002"}),
    "saddam-haftar": ({"002"}, {"000", "001", "003", "004"}),
    "mitiga-airport": ({"000", "001", "002"}, {"003"}),
    "ahmed-maiteeq": ({"003"}, {"000", "001", "002", "004"}),
    "osama-al-masri": ({"002"}, {"004"}),
    "abdul-raouf-kara": ({"000", "001", "002"}, {"003", "004"}),
}


def _seed(prefix: str) -> str:
    [path] = SEEDS.glob(f"{prefix}_*.txt")
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def seed_entities(tagger: Tagger) -> dict[str, set[str]]:
    return {
        name: {e.id for e in tagger.tag("", clean_text(_seed(name))).entities}
        for name in SEED_NAMES
    }


@pytest.mark.parametrize("actor", sorted(EXPECTED))
def test_seed_expectations(seed_entities: dict[str, set[str]], actor: str) -> None:
    present, absent = EXPECTED[actor]
    have = {name for name, ids in seed_entities.items() if actor in ids}
    assert present <= have, f"{actor} missing from seeds {sorted(present - have)}"
    assert not (absent & have), f"{actor} wrongly in seeds {sorted(absent & have)}"


@pytest.mark.parametrize("name", SEED_NAMES)
def test_seed_mention_spans_point_at_the_original_words(tagger: Tagger, name: str) -> None:
    text = clean_text(_seed(name))
    result = tagger.tag("", text)
    assert result.entities
    for entity in result.entities:
        for mention in entity.mentions:
            assert text[mention.start : mention.end] == mention.text
            assert mention.text[0].isalnum() and mention.text[-1].isalnum()


def test_seed_002_bare_masri_is_osama(tagger: Tagger) -> None:
    text = clean_text(_seed("002"))
    [entity] = [e for e in tagger.tag("", text).entities if e.id == "osama-al-masri"]
    starts = [m.start for m in entity.mentions]
    assert text.index("المصري قيد") in starts


def test_seed_004_egyptian_words_are_egypt_not_osama(tagger: Tagger) -> None:
    ids = {e.id for e in tagger.tag("", clean_text(_seed("004"))).entities}
    assert {"egypt", "abdel-fattah-el-sisi", "ahmed-al-mismari"} <= ids
