"""Which build of the compiled modules runs: the mypyc build, or their Python sources.

``COMPILED_MODULES`` is the one list of them: the Arabic text layer's normaliser and the
tagger's hot loops, one mypyc group (``GROUP``) whose modules call each other natively.
``setup.py`` loads this file (it is plain, standard-library Python) to compile that list when
a C compiler is present, and writes the build's record with ``write_record``: the sha256 of
each source it compiled. Python imports a compiled module in preference to its ``.py``, so an
edited source would silently not run. ``check_build`` (run once per process, before any of the
modules is imported) compares the sources with that record; if one differs (or the record is
missing), or ``RAQIB_PURE_PYTHON=1``, it makes every one of them load from source. All or
nothing: compiled modules of one group call each other directly.

This module itself is never compiled.
"""

from __future__ import annotations

import functools
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

COMPILED_MODULES = (
    "services.common.arabic.normalize",
    "services.enrichment.core.matcher",
    "services.enrichment.core.context_rules",
    "services.enrichment.core.tagger",
    "services.enrichment.core.topics",
    "services.enrichment.core.results",
)
# One shared library for the group, in this package: every compiled module imports it, and
# this package's ``__init__`` runs ``check_build`` first.
GROUP = "services.common.arabic.native"
# The build's record, relative to the directory holding the ``services`` package.
RECORD_FILE = "services/common/arabic/_compiled_sources.json"
PURE_PYTHON_VARIABLE = "RAQIB_PURE_PYTHON"
REBUILD_COMMAND = "pip install -e '.[dev]' (or bash deploy/local.sh test)"
# The directory holding the ``services`` package (services/common/arabic/ is three below it).
ROOT = Path(__file__).resolve().parents[3]

logger = logging.getLogger(__name__)


def source_file(module: str) -> str:
    """The module's source, relative to the root: ``services/common/arabic/normalize.py``."""
    return module.replace(".", "/") + ".py"


def source_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def source_hashes(root: Path) -> dict[str, str]:
    """The record a build of the sources under ``root`` writes."""
    return {
        source_file(module): source_hash(root / source_file(module)) for module in COMPILED_MODULES
    }


def write_record(tree: Path, root: Path) -> None:
    """Records the sources under ``root`` as the ones the build in ``tree`` was made from."""
    record = json.dumps(source_hashes(root), indent=1, sort_keys=True) + "\n"
    (tree / RECORD_FILE).write_text(record, encoding="utf-8")


def stale_sources(root: Path, record: Mapping[str, str] | None) -> list[str]:
    """The compiled modules' source files whose content differs from the build's record (all
    of them when there is no record)."""
    return [
        name
        for name, digest in source_hashes(root).items()
        if record is None or record.get(name) != digest
    ]


def read_record(root: Path) -> dict[str, str] | None:
    """The build's record of source hashes, or None when missing or unreadable."""
    try:
        record = json.loads((root / RECORD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def has_compiled_modules(root: Path) -> bool:
    return any(
        (root / (module.replace(".", "/") + suffix)).exists()
        for module in COMPILED_MODULES
        for suffix in importlib.machinery.EXTENSION_SUFFIXES
    )


class SourceFinder(MetaPathFinder):
    """Finds the named modules as their ``.py`` files under ``root``, ahead of any build."""

    def __init__(self, root: Path, names: Sequence[str]) -> None:
        self.root = root
        self.modules = {name: root / source_file(name) for name in names}

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


def use_fresh_build(root: Path = ROOT, environ: Mapping[str, str] = os.environ) -> bool:
    """Makes the compiled modules load from source unless a compiled build is present,
    matches the sources and is wanted; True when the compiled build will be used."""
    if not has_compiled_modules(root):
        return False
    if environ.get(PURE_PYTHON_VARIABLE) == "1":
        reason = None
    else:
        stale = stale_sources(root, read_record(root))
        if not stale:
            return True
        reason = stale[0]
    sys.meta_path.insert(0, SourceFinder(root, COMPILED_MODULES))
    if reason is not None:
        logger.warning(
            "the compiled tagger core was built from an older %s; running the Python sources "
            "(slower) until it is rebuilt with %s",
            reason,
            REBUILD_COMMAND,
            extra={"stale_source": str(root / reason), "rebuild": REBUILD_COMMAND},
        )
    return False


@functools.cache
def check_build() -> bool:
    """``use_fresh_build`` once per process: every package holding compiled modules calls
    this before importing them (whichever comes first decides for all)."""
    return use_fresh_build()


def is_compiled(module_name: str) -> bool:
    """Whether the (imported) module was loaded from a compiled extension."""
    loader = getattr(sys.modules[module_name], "__loader__", None)
    return isinstance(loader, importlib.machinery.ExtensionFileLoader)
