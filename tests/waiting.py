"""Waiting, in an async test, for a condition other tasks or processes make true."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def until(predicate: Callable[[], bool], within_s: float = 10.0) -> None:
    """Return once ``predicate()`` is true; fail the test after ``within_s`` seconds."""
    deadline = time.monotonic() + within_s
    while not predicate():
        assert time.monotonic() < deadline, f"condition not met within {within_s} s"
        await asyncio.sleep(0.01)
