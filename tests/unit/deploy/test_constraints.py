"""constraints.txt pins what the README's commands install: every dependency pyproject.toml
names (the extras too) has exactly one pin there, and each pin lies inside the range."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[3]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(text: str) -> dict[str, str]:
    """name -> version of each ``name==version`` line; anything else is an error."""
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        if not sep or not name or not version:
            raise ValueError(f"constraints.txt:{number}: not name==version: {line!r}")
        if canonical(name) in found:
            raise ValueError(f"constraints.txt:{number}: {name} pinned twice")
        found[canonical(name)] = version
    return found


def requirements() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        declared += extra
    return [r for r in map(Requirement, declared) if canonical(r.name) != "raqib"]


def test_pins_reads_lines_and_refuses_what_is_not_a_pin() -> None:
    assert pins("# a comment\n\nAio_Kafka==0.14.0\n") == {"aio-kafka": "0.14.0"}
    with pytest.raises(ValueError, match="not name==version"):
        pins("httpx>=0.28\n")
    with pytest.raises(ValueError, match="pinned twice"):
        pins("httpx==0.28.1\nHTTPX==0.28.0\n")


def test_every_dependency_is_pinned_inside_its_range() -> None:
    pinned = pins((REPO / "constraints.txt").read_text())
    for requirement in requirements():
        version = pinned.get(canonical(requirement.name))
        assert version is not None, f"{requirement.name} is not in constraints.txt"
        assert requirement.specifier.contains(version, prereleases=True), (
            f"constraints.txt pins {requirement.name}=={version}, outside {requirement}; "
            "run: bash deploy/local.sh lock"
        )
