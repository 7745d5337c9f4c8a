"""The settings table in docs/configuration.md is the one the settings classes make."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services import settings_table
from services.common.settings import RaqibSettings, Renamed

REPO = Path(__file__).resolve().parents[2]
CONFIGURATION = REPO / "docs" / "configuration.md"


class Example(RaqibSettings):
    model_config = SettingsConfigDict(env_prefix="RAQIB_EXAMPLE_", extra="ignore")
    renamed = {"wait_ms": Renamed("wait_s", 0.001)}  # noqa: RUF012

    wait_s: float = Field(default=0.25, description="How long | to wait.")
    token: SecretStr = SecretStr("hidden")
    limit: int = 50_000


def test_rows_show_names_defaults_and_meanings_but_no_secret() -> None:
    assert settings_table.rows(Example) == [
        ("`RAQIB_EXAMPLE_WAIT_S`", "`0.25`", "How long | to wait."),
        ("`RAQIB_EXAMPLE_TOKEN`", "", ""),
        ("`RAQIB_EXAMPLE_LIMIT`", "`50 000`", ""),
    ]


def test_the_table_lists_renamed_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings_table, "load", lambda path: Example)
    text = settings_table.table([("Example", "x:Example")])
    assert "| `RAQIB_EXAMPLE_WAIT_S` | `0.25` | How long \\| to wait. |" in text
    assert "| `RAQIB_EXAMPLE_WAIT_MS` | `RAQIB_EXAMPLE_WAIT_S` (the old value × 0.001) |" in text


def test_markers_are_required_in_order() -> None:
    document = f"intro\n{settings_table.BEGIN}\nold\n{settings_table.END}\nrest\n"
    assert settings_table.replace_between_markers(document, "new\n") == (
        f"intro\n{settings_table.BEGIN}\nnew\n{settings_table.END}\nrest\n"
    )
    with pytest.raises(ValueError, match="markers"):
        settings_table.replace_between_markers("no markers here", "new\n")


def test_the_committed_table_is_current() -> None:
    committed = CONFIGURATION.read_text(encoding="utf-8")
    assert settings_table.replace_between_markers(committed, settings_table.table()) == committed, (
        "docs/configuration.md is stale: run raqib settings table --write docs/configuration.md"
    )
