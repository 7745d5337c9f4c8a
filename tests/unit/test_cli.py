"""The `raqib tag` contract from docs/design.md: one JSON object per file, no server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from services.cli import app
from tests.conftest import SEEDS

runner = CliRunner()


def _lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_tag_prints_one_json_object_per_file() -> None:
    seeds = sorted(SEEDS.glob("*.txt"))
    result = runner.invoke(app, ["tag", *map(str, seeds)])
    assert result.exit_code == 0, result.output
    lines = _lines(result.stdout)
    assert [line["path"] for line in lines] == [str(p) for p in seeds]
    for line in lines:
        assert set(line) == {"path", "entities", "topics"}
        for entity in line["entities"]:
            assert {"id", "name", "type", "mentions"} <= set(entity)
        for topic in line["topics"]:
            assert "id" in topic
    deterrence = [
        Path(str(line["path"])).name[:3]
        for line in lines
        if "special-deterrence-force" in {e["id"] for e in line["entities"]}
    ]
    assert deterrence == ["000", "001", "002"]


def test_tag_reads_standard_input() -> None:
    result = runner.invoke(app, ["tag", "-"], input="قال فتحي باشاغا إن الحكومة ستواصل عملها.")
    assert result.exit_code == 0, result.output
    (line,) = _lines(result.stdout)
    assert line["path"] == "-"
    assert [e["id"] for e in line["entities"]] == ["fathi-bashagha"]
    mention = line["entities"][0]["mentions"][0]
    assert "باشاغا" in mention["text"]


def test_tag_reports_unreadable_files_and_still_tags_the_rest(tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_text("التقى الوفد في طرابلس.", encoding="utf-8")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00\x81 not text")
    missing = tmp_path / "missing.txt"
    result = runner.invoke(app, ["tag", str(binary), str(missing), str(good)])
    assert result.exit_code == 1
    assert [line["path"] for line in _lines(result.stdout)] == [str(good)]
    assert "binary.txt" in result.stderr and "missing.txt" in result.stderr


def test_empty_text_has_no_entities() -> None:
    result = runner.invoke(app, ["tag", "-"], input="")
    assert result.exit_code == 0
    assert _lines(result.stdout) == [{"path": "-", "entities": [], "topics": []}]


def test_tag_with_a_broken_knowledge_base_is_a_clear_error(tmp_path: Path) -> None:
    kb = tmp_path / "kb.yaml"
    kb.write_text("actors: [unclosed", encoding="utf-8")
    result = runner.invoke(app, ["tag", "--knowledge-base", str(kb), "-"], input="نص")
    assert result.exit_code == 2
    assert "kb.yaml" in result.stderr


def test_run_refuses_a_broken_rules_file_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - id: x\n    kind: nonsense\n", encoding="utf-8")
    monkeypatch.setenv("RAQIB_ALERTING_RULES_FILE", str(rules))
    result = runner.invoke(app, ["run", "alerting"])
    assert result.exit_code == 2
    assert "rules.yaml" in result.stderr and "invalid configuration" in result.stderr


def test_run_refuses_a_malformed_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAQIB_KAFKA_PARTITIONS", "many")
    result = runner.invoke(app, ["run", "enrichment"])
    assert result.exit_code == 2
    assert "partitions" in result.stderr.lower()
