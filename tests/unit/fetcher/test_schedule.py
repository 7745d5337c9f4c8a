from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.fetcher.core import next_poll_delay, parse_retry_after

NOW = datetime(2025, 3, 6, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Thu, 06 Mar 2025 12:05:00 GMT", 300.0),
        ("Thu, 06 Mar 2025 11:00:00 GMT", 0.0),  # in the past: no wait
        ("soon", None),
        ("-5", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_as_seconds_or_http_date(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


def _delay(**changes: float | int | None) -> float:
    arguments: dict[str, float | int | None] = {
        "failures": 0,
        "retry_after_s": None,
        "jitter": 0.0,
        "backoff_max_s": 3600.0,
        "random_unit": 0.5,
    }
    arguments.update(changes)
    return next_poll_delay(600.0, **arguments)  # type: ignore[arg-type]


def test_interval_after_success_and_jitter_both_ways() -> None:
    assert _delay() == 600.0
    assert _delay(jitter=0.1, random_unit=0.0) == pytest.approx(540.0)
    assert _delay(jitter=0.1, random_unit=0.999999) == pytest.approx(660.0, abs=0.01)


def test_failures_double_the_wait_up_to_the_cap() -> None:
    assert [_delay(failures=n) for n in range(5)] == [600.0, 1200.0, 2400.0, 3600.0, 3600.0]
    assert _delay(failures=500) == 3600.0
    # a cap below the interval never polls faster than the interval
    assert _delay(failures=3, backoff_max_s=60.0) == 600.0


def test_retry_after_is_honoured_when_longer_and_capped() -> None:
    assert _delay(failures=1, retry_after_s=3000.0) == 3000.0
    assert _delay(failures=1, retry_after_s=10.0) == 1200.0
    assert _delay(failures=1, retry_after_s=10**9) == 3600.0
    # jitter never brings the poll before the server's Retry-After
    assert _delay(failures=1, retry_after_s=3000.0, jitter=0.5, random_unit=0.0) == 3000.0
