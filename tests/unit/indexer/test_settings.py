from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.indexer.settings import IndexerSettings


def test_batch_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAQIB_INDEXER_BATCH_SIZE", "50")
    monkeypatch.setenv("RAQIB_INDEXER_BATCH_TIMEOUT_S", "0.075")
    monkeypatch.setenv("RAQIB_ES_ARTICLES_ALIAS", "news")
    settings = IndexerSettings()
    assert (settings.batch_size, settings.batch_timeout_s) == (50, 0.075)
    assert settings.elasticsearch.articles_alias == "news"
    assert settings.group_id == "raqib-indexer"


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAQIB_INDEXER_BATCH_SIZE", raising=False)
    monkeypatch.delenv("RAQIB_INDEXER_BATCH_TIMEOUT_S", raising=False)
    settings = IndexerSettings()
    assert (settings.batch_size, settings.batch_timeout_s) == (500, 0.5)


@pytest.mark.parametrize(
    "name",
    # The old name of the timeout (milliseconds) is still read, and still checked.
    ["RAQIB_INDEXER_BATCH_SIZE", "RAQIB_INDEXER_BATCH_TIMEOUT_S", "RAQIB_INDEXER_BATCH_TIMEOUT_MS"],
)
@pytest.mark.parametrize("value", ["0", "-1", "many"])
def test_bad_batch_settings_are_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        IndexerSettings()
