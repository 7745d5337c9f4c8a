from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.common.errors import ConfigError
from services.replay.fixtures import fixture_paths, fixture_source, load_fixture
from tests.conftest import SEEDS

NOW = datetime(2026, 11, 24, tzinfo=UTC)


def test_every_seed_loads_with_its_sidecar() -> None:
    paths = fixture_paths(SEEDS)
    assert len(paths) == 5
    articles = [load_fixture(p, fetched_at=NOW) for p in paths]
    assert len({a.id for a in articles}) == 5
    by_name = {p.name[:3]: a for p, a in zip(paths, articles, strict=True)}
    # 000 states its date in Latin digits, 001 in Arabic-Indic digits (١٨ مايو ٢٠١٦).
    assert by_name["000"].published_at == datetime(2025, 12, 19, tzinfo=UTC)
    assert by_name["001"].published_at == datetime(2016, 5, 18, tzinfo=UTC)
    assert by_name["001"].source == "DW Arabic"
    assert by_name["002"].published_at is None
    assert all(a.language == "ar" and a.title for a in articles)


def test_replayed_ids_are_stable() -> None:
    path = fixture_paths(SEEDS)[0]
    first = load_fixture(path, fetched_at=NOW)
    again = load_fixture(path, fetched_at=datetime(2030, 1, 1, tzinfo=UTC))
    assert first.id == again.id and first.content_hash == again.content_hash


def test_fixture_without_sidecar_uses_first_line_as_title(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("\n  العنوان الأول  \nنص", encoding="utf-8")
    article = load_fixture(tmp_path / "a.txt", fetched_at=NOW)
    assert article.title == "العنوان الأول" and article.source == f"{tmp_path.name}/a.txt"


@pytest.mark.parametrize("named", [None, "", "unknown", " Unknown "])
def test_a_fixture_naming_no_outlet_is_sourced_to_its_file(named: str | None) -> None:
    path = Path("seeds/000_b3f3ca892e7a279c.txt")
    assert fixture_source(named, path) == "seeds/000_b3f3ca892e7a279c.txt"
    assert fixture_source(" DW Arabic ", path) == "DW Arabic"


def test_no_seed_alert_reads_unknown_source() -> None:
    sources = {p.name[:3]: load_fixture(p, fetched_at=NOW).source for p in fixture_paths(SEEDS)}
    assert sources == {
        "000": "seeds/000_b3f3ca892e7a279c.txt",  # the text names its editors, not its outlet
        "001": "DW Arabic",
        "002": "Agenzia Nova",
        "003": "seeds/003_3bbad0cd6e295111.txt",  # it reports on Middle East Eye
        "004": "Al Arab",
    }


@pytest.mark.parametrize(
    ("text", "sidecar", "message"),
    [
        (b"\xff\xfe\x00junk", None, "not UTF-8"),
        (b"   \n", None, "empty article"),
        ("نص".encode(), "{not json", "not valid UTF-8 JSON"),
        ("نص".encode(), '{"published_at": "yesterday"}', "published_at"),
        ("نص".encode(), '{"colour": "red"}', "colour"),
    ],
)
def test_broken_fixtures_are_refused_naming_the_file(
    tmp_path: Path, text: bytes, sidecar: str | None, message: str
) -> None:
    (tmp_path / "bad.txt").write_bytes(text)
    if sidecar is not None:
        (tmp_path / "bad.json").write_text(sidecar, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as error:
        load_fixture(tmp_path / "bad.txt", fetched_at=NOW)
    assert "bad." in str(error.value)


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a directory"):
        fixture_paths(tmp_path / "nope")


def test_sidecar_dates_are_the_dates_the_texts_give() -> None:
    # The sidecars were written by reading the texts; the date extractor must agree.
    from services.enrichment.core import extract_published_date

    for path in fixture_paths(SEEDS):
        article = load_fixture(path, fetched_at=NOW)
        stated = extract_published_date(article.text)
        given = article.published_at.date() if article.published_at else None
        assert stated == given, path.name
