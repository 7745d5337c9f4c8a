import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from schemas import RawArticle, alert_id, article_id, content_hash
from schemas.export import JSON_DIR, render_schemas


def test_committed_json_schemas_match_the_models() -> None:
    rendered = render_schemas()
    committed = {p.name: p.read_text(encoding="utf-8") for p in JSON_DIR.glob("*.json")}
    assert committed.keys() == rendered.keys(), "run `raqib schemas export`"
    for name, text in rendered.items():
        assert committed[name] == text, f"{name} drifted from the model: run `raqib schemas export`"


def _raw(**overrides: object) -> dict[str, object]:
    text = "نص الخبر"
    data: dict[str, object] = {
        "id": article_id("https://example.org/a"),
        "url": "https://example.org/a",
        "source": "Example",
        "title": "عنوان",
        "text": text,
        "fetched_at": "2026-01-02T03:04:05Z",
        "content_hash": content_hash(text),
    }
    data.update(overrides)
    return data


def test_raw_article_round_trips_through_json() -> None:
    article = RawArticle.model_validate(_raw())
    assert article.schema_version == 1
    assert RawArticle.model_validate_json(article.model_dump_json()) == article


@pytest.mark.parametrize(
    "overrides",
    [
        {"id": "not-hex"},
        {"schema_version": 2},
        {"unexpected": "field"},
        {"fetched_at": "2026-01-02T03:04:05"},  # no offset: ambiguous time
        {"source": ""},
        {"url": "ftp://example.org/a"},
    ],
)
def test_raw_article_rejects_contract_violations(overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        RawArticle.model_validate(_raw(**overrides))


def test_ids_are_stable_and_distinct() -> None:
    assert article_id("a") == article_id("a") != article_id("b")
    assert len(article_id("a")) == 16
    assert alert_id("deterrence", "0" * 16) == alert_id("deterrence", "0" * 16)
    assert alert_id("deterrence", "0" * 16) != alert_id("bashagha", "0" * 16)


def test_schema_files_are_valid_json_schema_documents() -> None:
    for path in JSON_DIR.glob("*.json"):
        schema = json.loads(path.read_text(encoding="utf-8"))
        assert schema["type"] == "object" and "schema_version" in schema["properties"]


def test_utc_timestamps_keep_their_offset() -> None:
    article = RawArticle.model_validate(_raw(published_at=datetime(2025, 12, 19, tzinfo=UTC)))
    assert article.published_at is not None and article.published_at.utcoffset() is not None
