"""`raqib rules check` and `raqib rules test`: no server, one JSON line per file."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from services.cli import app

REPO = Path(__file__).resolve().parents[3]
RULES = REPO / "deploy" / "rules.yaml"


def test_check_accepts_the_default_rules_and_names_mistakes(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["rules", "check", str(RULES)])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["rules"]["deterrence"] == "match"
    no_block = tmp_path / "no-block.yaml"
    no_block.write_text(
        "rules:\n  - {id: x, name: X, kind: threshold, match: {languages: [ar]},"
        " channels: [nowhere]}\n",
        encoding="utf-8",
    )
    failed = runner.invoke(app, ["rules", "check", str(no_block)])
    assert failed.exit_code == 2
    assert "no-block.yaml: rule 'x' (rules[0]): threshold: a threshold rule needs" in failed.stderr
    # Cross-references are checked once every rule is well-formed.
    no_block.write_text(
        no_block.read_text(encoding="utf-8").replace("threshold", "match"), encoding="utf-8"
    )
    failed = runner.invoke(app, ["rules", "check", str(no_block)])
    assert failed.exit_code == 2
    assert "rule 'x' (rules[0]): channels: unknown channel 'nowhere'" in failed.stderr


def test_test_names_the_match_rules_each_text_would_fire(tmp_path: Path) -> None:
    deterrence = tmp_path / "a.txt"
    deterrence.write_text("انتشرت قوة الردع الخاصة قرب مطار معيتيقة.", encoding="utf-8")
    weather = tmp_path / "b.txt"
    weather.write_text("طقس معتدل في بنغازي اليوم.", encoding="utf-8")
    result = CliRunner().invoke(app, ["rules", "test", str(RULES), str(deterrence), str(weather)])
    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines == [
        {"path": str(deterrence), "rules": ["deterrence"]},
        {"path": str(weather), "rules": []},
    ]


def test_test_reports_files_it_cannot_read_and_goes_on(tmp_path: Path) -> None:
    legacy = tmp_path / "cp1256.txt"
    legacy.write_bytes("انتشرت قوة الردع الخاصة.".encode("cp1256"))
    missing = tmp_path / "missing.txt"
    good = tmp_path / "good.txt"
    good.write_text("انتشرت قوة الردع الخاصة قرب مطار معيتيقة.", encoding="utf-8")
    result = CliRunner().invoke(
        app, ["rules", "test", str(RULES), str(legacy), str(missing), str(good)]
    )
    assert result.exit_code == 1
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"path": str(good), "rules": ["deterrence"]}
    ]
    assert f"{legacy}: 'utf-8' codec can't decode" in result.stderr
    assert f"{missing}: " in result.stderr


def test_test_names_a_language_that_is_not_a_language_code(tmp_path: Path) -> None:
    text = tmp_path / "a.txt"
    text.write_text("انتشرت قوة الردع الخاصة.", encoding="utf-8")
    result = CliRunner().invoke(
        app, ["rules", "test", str(RULES), str(text), "--language", "Arabic"]
    )
    assert result.exit_code == 1 and result.stdout == ""
    assert f"{text}: " in result.stderr and "language" in result.stderr
