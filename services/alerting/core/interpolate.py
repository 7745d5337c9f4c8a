"""``${NAME}`` and ``${NAME:-default}`` in rules-file values, so environments differ only in env.

Interpolation runs on the parsed YAML's string values, never on the raw text: a variable's
value can therefore not change the file's structure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_REFERENCE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}|\$\{(?P<bad>[^}]*)\}?"
)


class InterpolationError(ValueError):
    """A reference names a variable that is unset and has no default, or is malformed."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path


def interpolate_string(value: str, env: Mapping[str, str]) -> str:
    """Replace each reference in ``value``; ``$$`` stands for a literal ``$``.

    ``${NAME:-default}`` uses the default when NAME is unset or empty (as the shell does).
    """

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        if match.group("name") is None:
            raise ValueError(f"malformed variable reference {match.group(0)!r}")
        name, default = match.group("name"), match.group("default")
        found = env.get(name)
        if found:
            return found
        if default is not None:
            return default
        if found is not None:
            return found  # set but empty, and no default: empty is what was asked for
        raise ValueError(f"environment variable {name} is not set and has no default")

    return _REFERENCE.sub(replace, value)


def interpolate(data: Any, env: Mapping[str, str], path: tuple[str | int, ...] = ()) -> Any:
    """A copy of ``data`` (parsed YAML) with every string value interpolated."""
    if isinstance(data, str):
        try:
            return interpolate_string(data, env)
        except ValueError as error:
            raise InterpolationError(path, str(error)) from None
    if isinstance(data, Mapping):
        return {key: interpolate(value, env, (*path, str(key))) for key, value in data.items()}
    if isinstance(data, list):
        return [interpolate(item, env, (*path, index)) for index, item in enumerate(data)]
    return data
