"""Waiting, in an async test, for a condition other tasks or processes make true."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable


async def until(
    predicate: Callable[[], bool | Awaitable[bool]], within_s: float = 10.0, every_s: float = 0.01
) -> None:
    """Return once ``predicate()`` (or what it awaits) is true; fail the test after
    ``within_s`` seconds."""
    deadline = time.monotonic() + within_s
    while True:
        met = predicate()
        if await met if inspect.isawaitable(met) else met:
            return
        assert time.monotonic() < deadline, f"condition not met within {within_s} s"
        await asyncio.sleep(every_s)
