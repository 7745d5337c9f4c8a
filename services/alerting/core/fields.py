"""What the rules file's models and the rule kinds' parameter models are built from: a
strict base model and durations."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict


class StrictModel(BaseModel):
    # A misspelt key must be an error, not a silently ignored option.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: object) -> object:
    """``90``, ``"90s"``, ``"15m"``, ``"1h"``, ``"2d"`` → timedelta; other values pass on."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text such as '15m', '1h', '2d'")
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    if isinstance(value, str):
        found = _DURATION.match(value)
        if not found:
            raise ValueError(f"not a duration: {value!r} (use e.g. 90s, 15m, 1h, 2d)")
        return timedelta(seconds=float(found[1]) * _UNITS[found[2] or "s"])
    return value


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("a duration must be longer than zero")
    return value


# Every duration in the file (a window, a baseline, a cooldown) is longer than zero.
Duration = Annotated[timedelta, BeforeValidator(parse_duration), AfterValidator(_positive)]
