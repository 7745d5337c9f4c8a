"""The guard that runs the tagger core's Python sources when its compiled build is stale."""

from __future__ import annotations

import ast
import hashlib
import importlib.machinery
import json
import logging
import sys
from pathlib import Path

import pytest

import services.enrichment.core as core
from services.enrichment.core.compiled_build import (
    COMPILED_MODULES,
    RECORD_FILE,
    SourceFinder,
    read_record,
    stale_sources,
    use_fresh_build,
)
from tests.conftest import REPO


@pytest.fixture
def built(tmp_path: Path) -> Path:
    """A package directory as a build leaves it: sources, extensions and the record."""
    record = {}
    for name in COMPILED_MODULES:
        source = tmp_path / f"{name}.py"
        source.write_text(f"NAME = {name!r}\n")
        record[source.name] = hashlib.sha256(source.read_bytes()).hexdigest()
        (tmp_path / f"{name}{importlib.machinery.EXTENSION_SUFFIXES[0]}").write_bytes(b"")
    (tmp_path / RECORD_FILE).write_text(json.dumps(record))
    return tmp_path


@pytest.fixture
def meta_path(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """sys.meta_path, restored after the test."""
    finders: list[object] = list(sys.meta_path)
    monkeypatch.setattr(sys, "meta_path", finders)
    return finders


def _source_finders(finders: list[object], directory: Path) -> list[SourceFinder]:
    """The source finders for the test's package (the real one may have its own)."""
    return [f for f in finders if isinstance(f, SourceFinder) and f.directory == directory]


def test_sources_matching_the_record_are_not_stale(built: Path) -> None:
    assert stale_sources(built, read_record(built)) == []


def test_an_edited_source_is_stale(built: Path) -> None:
    (built / "matcher.py").write_text("NAME = 'edited'\n")
    assert stale_sources(built, read_record(built)) == ["matcher.py"]


@pytest.mark.parametrize("record", [None, "", "not json", "[1, 2]"])
def test_without_a_readable_record_every_source_is_stale(built: Path, record: str | None) -> None:
    if record is None:
        (built / RECORD_FILE).unlink()
    else:
        (built / RECORD_FILE).write_text(record)
    assert read_record(built) is None
    assert stale_sources(built, read_record(built)) == [f"{n}.py" for n in COMPILED_MODULES]


def test_a_current_build_is_used(built: Path, meta_path: list[object]) -> None:
    assert use_fresh_build(built, "pkg", environ={}) is True
    assert _source_finders(meta_path, built) == []


def test_a_stale_build_loads_every_module_from_source_and_says_why(
    built: Path, meta_path: list[object], caplog: pytest.LogCaptureFixture
) -> None:
    (built / "tagger.py").write_text("NAME = 'edited'\n")
    with caplog.at_level(logging.WARNING):
        assert use_fresh_build(built, "pkg", environ={}) is False
    [finder] = _source_finders(meta_path, built)
    assert meta_path[0] is finder  # ahead of the path finder that prefers extensions
    for name in COMPILED_MODULES:  # all of them, not only the edited one
        spec = finder.find_spec(f"pkg.{name}", None)
        assert spec is not None and spec.origin == str(built / f"{name}.py")
        assert isinstance(spec.loader, importlib.machinery.SourceFileLoader)
    assert finder.find_spec("pkg.knowledge_base", None) is None
    [warning] = caplog.records
    assert "tagger.py" in warning.getMessage() and "pip install -e" in warning.getMessage()
    assert warning.__dict__["stale_source"] == str(built / "tagger.py")


def test_pure_python_is_forced_without_a_warning(
    built: Path, meta_path: list[object], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert use_fresh_build(built, "pkg", environ={"RAQIB_PURE_PYTHON": "1"}) is False
    assert len(_source_finders(meta_path, built)) == 1
    assert caplog.records == []


def test_without_extensions_nothing_changes(built: Path, meta_path: list[object]) -> None:
    for extension in built.glob(f"*{importlib.machinery.EXTENSION_SUFFIXES[0]}"):
        extension.unlink()
    (built / RECORD_FILE).unlink()
    assert use_fresh_build(built, "pkg", environ={}) is False
    assert _source_finders(meta_path, built) == []


def test_the_loaded_tagger_core_is_the_one_reported() -> None:
    suffix = ".py" if not core.COMPILED else tuple(importlib.machinery.EXTENSION_SUFFIXES)
    for name in COMPILED_MODULES:
        assert sys.modules[f"{core.__name__}.{name}"].__file__.endswith(suffix)  # type: ignore[union-attr]


def test_setup_compiles_the_modules_the_guard_checks() -> None:
    tree = ast.parse((REPO / "setup.py").read_text())
    [names] = [
        ast.literal_eval(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "COMPILED_MODULES" for t in node.targets)
    ]
    assert names == COMPILED_MODULES
