"""Compiles the tagger's hot modules with mypyc; all metadata lives in pyproject.toml.

Which modules, and the record of the sources they were built from, are defined once, in
``services/common/arabic/compiled_build.py``: this file loads it by path (the package itself
need not be importable here). The compiled modules are optional: without a C compiler (or
with ``RAQIB_PURE_PYTHON=1``) the package installs as pure Python and behaves the same, only
slower. The build writes its record (the sha256 of each source) next to the group's shared
library; at import the package loads the sources instead when one was edited since.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext

GUARD = Path("services/common/arabic/compiled_build.py")


def load_guard() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_raqib_compiled_build", GUARD)
    assert spec is not None and spec.loader is not None, GUARD
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


guard = load_guard()


class BuildExtRecordingSources(build_ext):
    """Builds the extensions, then writes the source hashes into the tree they landed in
    (the source tree for editable installs, the build directory for wheels)."""

    def run(self) -> None:
        outputs = [Path(self.get_ext_fullpath(ext.name)) for ext in self.extensions]
        # The tree holding ``services``: the group library is services/common/arabic/x.so.
        tree = Path(self.get_ext_fullpath(guard.GROUP)).parents[guard.GROUP.count(".")]
        # A compile that fails must not leave an older build beside a new record.
        for path in [*outputs, tree / guard.RECORD_FILE]:
            path.unlink(missing_ok=True)
        super().run()
        if not outputs:
            return
        if not all(path.exists() for path in outputs):
            # The modules of a group need one another: keep all of them or none.
            for path in outputs:
                path.unlink(missing_ok=True)
            return
        guard.write_record(tree, Path.cwd())


def extensions() -> list[Any]:
    if os.environ.get(guard.PURE_PYTHON_VARIABLE) == "1":
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:  # e.g. a build without build isolation and without mypy
        return []
    modules = mypycify(
        [guard.source_file(module) for module in guard.COMPILED_MODULES],
        opt_level="3",
        # One shared library for the group, inside the package rather than at the top level.
        group_name=guard.GROUP,
    )
    for module in modules:
        module.optional = True  # a failed compile leaves the pure-Python package
    return modules


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExtRecordingSources})
