"""The one guard that runs the compiled modules' Python sources when their build is stale."""

from __future__ import annotations

import ast
import importlib.machinery
import logging
import sys
from pathlib import Path

import pytest

import services.enrichment.core as core
from services.common.arabic.compiled_build import (
    COMPILED_MODULES,
    RECORD_FILE,
    SourceFinder,
    check_build,
    read_record,
    source_file,
    stale_sources,
    use_fresh_build,
    write_record,
)
from tests.conftest import REPO

EXTENSION = importlib.machinery.EXTENSION_SUFFIXES[0]


@pytest.fixture
def built(tmp_path: Path) -> Path:
    """A tree as a build leaves it: sources, extensions and the record."""
    for module in COMPILED_MODULES:
        source = tmp_path / source_file(module)
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text(f"NAME = {module!r}\n")
        source.with_name(source.stem + EXTENSION).write_bytes(b"")
    write_record(tmp_path, tmp_path)
    return tmp_path


@pytest.fixture
def meta_path(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """sys.meta_path, restored after the test."""
    finders: list[object] = list(sys.meta_path)
    monkeypatch.setattr(sys, "meta_path", finders)
    return finders


def _source_finders(finders: list[object], root: Path) -> list[SourceFinder]:
    """The source finders for the test's tree (the real one may have its own)."""
    return [f for f in finders if isinstance(f, SourceFinder) and f.root == root]


def test_sources_matching_the_record_are_not_stale(built: Path) -> None:
    assert stale_sources(built, read_record(built)) == []


def test_an_edited_source_is_stale(built: Path) -> None:
    (built / "services/enrichment/core/matcher.py").write_text("NAME = 'edited'\n")
    assert stale_sources(built, read_record(built)) == ["services/enrichment/core/matcher.py"]


def test_an_edited_arabic_layer_is_stale(built: Path) -> None:
    (built / "services/common/arabic/normalize.py").write_text("NAME = 'edited'\n")
    assert stale_sources(built, read_record(built)) == ["services/common/arabic/normalize.py"]


@pytest.mark.parametrize("record", [None, "", "not json", "[1, 2]"])
def test_without_a_readable_record_every_source_is_stale(built: Path, record: str | None) -> None:
    if record is None:
        (built / RECORD_FILE).unlink()
    else:
        (built / RECORD_FILE).write_text(record)
    assert read_record(built) is None
    assert stale_sources(built, read_record(built)) == [source_file(m) for m in COMPILED_MODULES]


def test_a_current_build_is_used(built: Path, meta_path: list[object]) -> None:
    assert use_fresh_build(built, environ={}) is True
    assert _source_finders(meta_path, built) == []


def test_a_stale_build_loads_every_module_from_source_and_says_why(
    built: Path, meta_path: list[object], caplog: pytest.LogCaptureFixture
) -> None:
    (built / "services/enrichment/core/tagger.py").write_text("NAME = 'edited'\n")
    with caplog.at_level(logging.WARNING):
        assert use_fresh_build(built, environ={}) is False
    [finder] = _source_finders(meta_path, built)
    assert meta_path[0] is finder  # ahead of the path finder that prefers extensions
    for name in COMPILED_MODULES:  # all of them, in both packages, not only the edited one
        spec = finder.find_spec(name, None)
        assert spec is not None and spec.origin == str(built / source_file(name))
        assert isinstance(spec.loader, importlib.machinery.SourceFileLoader)
    assert finder.find_spec("services.enrichment.core.knowledge_base", None) is None
    [warning] = caplog.records
    assert "tagger.py" in warning.getMessage() and "pip install -e" in warning.getMessage()
    assert warning.__dict__["stale_source"] == str(built / "services/enrichment/core/tagger.py")


def test_pure_python_is_forced_without_a_warning(
    built: Path, meta_path: list[object], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert use_fresh_build(built, environ={"RAQIB_PURE_PYTHON": "1"}) is False
    assert len(_source_finders(meta_path, built)) == 1
    assert caplog.records == []


def test_without_extensions_nothing_changes(built: Path, meta_path: list[object]) -> None:
    for extension in built.rglob(f"*{EXTENSION}"):
        extension.unlink()
    (built / RECORD_FILE).unlink()
    assert use_fresh_build(built, environ={}) is False
    assert _source_finders(meta_path, built) == []


def test_the_guard_runs_once_per_process() -> None:
    assert check_build() is check_build() is core.COMPILED


def test_the_loaded_modules_are_the_build_reported() -> None:
    suffix = ".py" if not core.COMPILED else tuple(importlib.machinery.EXTENSION_SUFFIXES)
    for name in COMPILED_MODULES:
        assert sys.modules[name].__file__.endswith(suffix)  # type: ignore[union-attr]


@pytest.mark.parametrize("package", sorted({m.rpartition(".")[0] for m in COMPILED_MODULES}))
def test_every_package_with_compiled_modules_runs_the_guard_before_importing_them(
    package: str,
) -> None:
    """Whichever package a process imports first decides for the whole group."""
    init = REPO / package.replace(".", "/") / "__init__.py"
    body = ast.parse(init.read_text(encoding="utf-8")).body
    [guard] = [
        index
        for index, node in enumerate(body)
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Name)
        and node.value.func.id == "check_build"
    ]
    own_imports = [
        index
        for index, node in enumerate(body)
        if isinstance(node, ast.ImportFrom)
        and (node.module or "").startswith(f"{package}.")
        and not (node.module or "").endswith(".compiled_build")
    ]
    assert own_imports and min(own_imports) > guard
