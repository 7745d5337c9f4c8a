"""When to poll a feed next: its interval with jitter, doubled per failure, or Retry-After.

Pure: the caller supplies the clock and the random numbers.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), if valid."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP-date is always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def next_poll_delay(
    interval_s: float,
    *,
    failures: int,
    retry_after_s: float | None,
    jitter: float,
    backoff_max_s: float,
    random_unit: float,
) -> float:
    """Seconds until the next poll.

    ``failures`` is the number of consecutive failed polls (0 after a success): each one
    doubles the interval, up to ``backoff_max_s``. A server's ``Retry-After`` is honoured
    (capped at ``backoff_max_s``) when it asks for longer. ``random_unit`` in [0, 1) spreads
    the delay by ± ``jitter`` so feeds started together drift apart instead of polling in
    lock-step; the Retry-After floor is never undercut by the jitter.
    """
    base = interval_s
    if failures > 0:
        base = min(backoff_max_s, interval_s * math.pow(2, min(failures, 30)))
        base = max(base, interval_s)
    delay = base * (1 + jitter * (2 * random_unit - 1))
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, backoff_max_s))
    return delay
