"""Which build of the tagger core runs: the mypyc-compiled modules, or their Python sources.

``setup.py`` compiles ``COMPILED_MODULES`` with mypyc when a C compiler is present and writes
``_compiled_sources.json``: the sha256 of each source it compiled. Python imports a compiled
module in preference to its ``.py``, so an edited source would silently not run. Before the
package imports those modules, ``use_fresh_build`` compares the sources with that record; if
one differs (or the record is missing), or ``RAQIB_PURE_PYTHON=1``, it makes every one of them
load from source. All or nothing: compiled modules of one group call each other directly.

This module itself is never compiled.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

# Keep in step with COMPILED_MODULES in setup.py.
COMPILED_MODULES = ("normalize", "matcher", "context_rules", "tagger", "topics", "results")
RECORD_FILE = "_compiled_sources.json"
PURE_PYTHON_VARIABLE = "RAQIB_PURE_PYTHON"
REBUILD_COMMAND = "pip install -e '.[dev]' (or bash deploy/local.sh test)"
PACKAGE = __name__.rpartition(".")[0]
DIRECTORY = Path(__file__).resolve().parent

logger = logging.getLogger(__name__)


def source_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stale_sources(directory: Path, record: Mapping[str, str] | None) -> list[str]:
    """The compiled modules' source files whose content differs from the build's record (all
    of them when there is no record)."""
    return [
        f"{name}.py"
        for name in COMPILED_MODULES
        if record is None or record.get(f"{name}.py") != source_hash(directory / f"{name}.py")
    ]


def read_record(directory: Path) -> dict[str, str] | None:
    """The build's record of source hashes, or None when missing or unreadable."""
    try:
        record = json.loads((directory / RECORD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def has_compiled_modules(directory: Path) -> bool:
    return any(
        (directory / f"{name}{suffix}").exists()
        for name in COMPILED_MODULES
        for suffix in importlib.machinery.EXTENSION_SUFFIXES
    )


class SourceFinder(MetaPathFinder):
    """Finds the named modules of the package as their ``.py`` files, ahead of any build."""

    def __init__(self, directory: Path, package: str, names: Sequence[str]) -> None:
        self.directory = directory
        self.modules = {f"{package}.{name}": directory / f"{name}.py" for name in names}

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> ModuleSpec | None:
        source = self.modules.get(fullname)
        if source is None:
            return None
        return importlib.util.spec_from_file_location(fullname, source)


def use_fresh_build(
    directory: Path = DIRECTORY,
    package: str = PACKAGE,
    environ: Mapping[str, str] = os.environ,
) -> bool:
    """Makes the package's compiled modules load from source unless a compiled build is
    present, matches the sources and is wanted; True when the compiled build will be used."""
    if not has_compiled_modules(directory):
        return False
    if environ.get(PURE_PYTHON_VARIABLE) == "1":
        reason = None
    else:
        stale = stale_sources(directory, read_record(directory))
        if not stale:
            return True
        reason = stale[0]
    sys.meta_path.insert(0, SourceFinder(directory, package, COMPILED_MODULES))
    if reason is not None:
        logger.warning(
            "the compiled tagger core was built from an older %s; running the Python sources "
            "(slower) until it is rebuilt with %s",
            reason,
            REBUILD_COMMAND,
            extra={"stale_source": str(directory / reason), "rebuild": REBUILD_COMMAND},
        )
    return False


def is_compiled(module_name: str) -> bool:
    """Whether the (imported) module was loaded from a compiled extension."""
    loader = getattr(sys.modules[module_name], "__loader__", None)
    return isinstance(loader, importlib.machinery.ExtensionFileLoader)
