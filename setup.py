"""Compiles the tagger's hot modules with mypyc; all metadata lives in pyproject.toml.

The compiled modules are optional: without a C compiler (or with ``RAQIB_PURE_PYTHON=1``)
the package installs as pure Python and behaves the same, only slower. Next to the compiled
modules goes ``_compiled_sources.json``, the sha256 of each source they were built from;
``services/enrichment/core/__init__.py`` loads the sources instead when one was edited since.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext

CORE = Path("services/enrichment/core")
# Keep in step with COMPILED_MODULES in services/enrichment/core/__init__.py.
COMPILED_MODULES = ("normalize", "matcher", "context_rules", "tagger", "topics", "results")
RECORD = "_compiled_sources.json"


class BuildExtRecordingSources(build_ext):
    """Builds the extensions, then writes the source hashes next to wherever they landed
    (the source tree for editable installs, the build directory for wheels)."""

    def run(self) -> None:
        outputs = [Path(self.get_ext_fullpath(ext.name)) for ext in self.extensions]
        # A compile that fails must not leave an older build beside a new record.
        for path in [*outputs, *(path.parent / RECORD for path in outputs[:1])]:
            path.unlink(missing_ok=True)
        super().run()
        if not outputs:
            return
        if not all(path.exists() for path in outputs):
            # The modules of a group need one another: keep all of them or none.
            for path in outputs:
                path.unlink(missing_ok=True)
            return
        record = {
            f"{name}.py": hashlib.sha256((CORE / f"{name}.py").read_bytes()).hexdigest()
            for name in COMPILED_MODULES
        }
        (outputs[0].parent / RECORD).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")


def extensions() -> list[Any]:
    if os.environ.get("RAQIB_PURE_PYTHON") == "1":
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:  # e.g. a build without build isolation and without mypy
        return []
    modules = mypycify(
        [str(CORE / f"{name}.py") for name in COMPILED_MODULES],
        opt_level="3",
        # One shared library for the group, inside the package rather than at the top level.
        group_name="services.enrichment.core.native",
    )
    for module in modules:
        module.optional = True  # a failed compile leaves the pure-Python package
    return modules


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExtRecordingSources})
