"""Webhook signatures, which failures are retried and until when, the backoff schedule,
and the circuit breaker's state machine."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from services.alerting.core import (
    REDELIVERY_HEADER,
    Admission,
    BreakerState,
    CircuitBreaker,
    RetryPolicy,
    Verdict,
    http_verdict,
    retry_after_s,
    signature,
    smtp_verdict,
    webhook_headers,
)


def _reference_verify(secret: bytes, headers: dict[str, str], body: bytes) -> bool:
    """How a receiver checks a Raqib webhook, written from the documented scheme."""
    signed = headers["X-Raqib-Timestamp"].encode() + b"." + body
    expected = "sha256=" + hmac.new(secret, signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["X-Raqib-Signature"])


def test_signature_matches_a_reference_implementation() -> None:
    body = '{"id": "abc", "title": "قوة الردع"}'.encode()
    now = datetime(2026, 1, 2, 10, 0, tzinfo=UTC)
    headers = webhook_headers("0123456789abcdef", body, secret="s3cret", now=now)
    assert headers["X-Raqib-Timestamp"] == str(int(now.timestamp()))
    assert headers["X-Raqib-Alert-Id"] == "0123456789abcdef"
    assert _reference_verify(b"s3cret", headers, body)
    assert not _reference_verify(b"other", headers, body)
    assert not _reference_verify(b"s3cret", headers, body + b" ")


def test_signature_known_vector() -> None:
    # HMAC-SHA256("key", "1700000000.{}") computed independently.
    expected = hmac.new(b"key", b"1700000000.{}", hashlib.sha256).hexdigest()
    assert signature("key", "1700000000", b"{}") == f"sha256={expected}"


def test_unsigned_without_secret() -> None:
    headers = webhook_headers("0123456789abcdef", b"{}", secret=None, now=datetime.now(UTC))
    assert "X-Raqib-Signature" not in headers and "X-Raqib-Timestamp" not in headers
    assert headers["X-Raqib-Alert-Id"] == "0123456789abcdef"


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.DELIVERED),
        (204, Verdict.DELIVERED),
        (301, Verdict.FAIL),
        (400, Verdict.FAIL),
        (401, Verdict.FAIL),
        (404, Verdict.FAIL),
        (408, Verdict.RETRY),
        (429, Verdict.RETRY),
        (500, Verdict.RETRY),
        (503, Verdict.RETRY),
    ],
)
def test_http_verdicts(status: int, verdict: Verdict) -> None:
    assert http_verdict(status) is verdict


def test_smtp_verdicts() -> None:
    assert smtp_verdict(250) is Verdict.DELIVERED
    assert smtp_verdict(421) is Verdict.RETRY
    assert smtp_verdict(451) is Verdict.RETRY
    assert smtp_verdict(550) is Verdict.FAIL


def test_retry_schedule_doubles_with_jitter_in_the_upper_half_and_is_capped() -> None:
    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=10.0, give_up_after_s=3600)
    assert policy.schedule([0.0] * 5) == [0.5, 1.0, 2.0, 4.0, 5.0]
    assert policy.schedule([0.999999] * 5) == pytest.approx([1.0, 2.0, 4.0, 8.0, 10.0], rel=1e-5)
    for n in range(1, 6):
        for jitter in (0.0, 0.3, 0.7):
            ceiling = min(10.0, 2.0 ** (n - 1))
            assert ceiling / 2 <= policy.delay(n, jitter) <= ceiling
    assert policy.delay(100_000, 0.999) < 10.0  # no overflow however long it has failed


def test_retries_are_bounded_by_time_not_by_a_count() -> None:
    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=10.0, give_up_after_s=20.0)
    # 0.5, 1, 2, 4, then the cap (5 with jitter 0), and the last wait ends on the deadline.
    assert policy.schedule([0.0] * 100) == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 2.5]
    one_day = RetryPolicy(base_delay_s=1.0, max_delay_s=60.0, give_up_after_s=86400)
    waits = one_day.schedule([0.5] * 5000)
    assert sum(waits) == pytest.approx(86400) and max(waits) == 45.0  # every 45 s for a day


def test_the_next_wait_decides_whether_to_retry() -> None:
    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=30.0, give_up_after_s=60.0)
    t0 = datetime(2026, 1, 2, 10, 0, tzinfo=UTC)

    def wait(after_s: float, attempts: int = 1, retry_after: float | None = None) -> float | None:
        now = t0 + timedelta(seconds=after_s)
        return policy.next_wait(
            attempts_made=attempts, started=t0, now=now, jitter=0.0, retry_after_s=retry_after
        )

    assert wait(0) == 0.5
    assert wait(10, attempts=4) == 4.0
    assert wait(10, retry_after=20) == 20.0  # Retry-After is honoured...
    assert wait(10, retry_after=600) == 30.0  # ...within the cap
    assert wait(59, attempts=8) == pytest.approx(1.0)  # never past the deadline
    assert wait(60) is None and wait(3600) is None  # the time is up: give up
    assert policy.give_up_at(t0) == t0 + timedelta(minutes=1)


def state(breaker: CircuitBreaker) -> BreakerState:
    """Read afresh (mypy would keep the state it narrowed before a method changed it)."""
    return breaker.state


def test_the_breaker_opens_after_failures_in_a_row_and_a_success_resets_the_count() -> None:
    breaker = CircuitBreaker(failure_threshold=3, probe_every_s=5.0)
    assert breaker.admit(0) is Admission.SEND
    assert not breaker.failed(1) and not breaker.failed(2)
    assert not breaker.succeeded()  # closed already: nothing to drain
    assert not breaker.failed(3) and not breaker.failed(4)  # two in a row again
    assert state(breaker) is BreakerState.CLOSED and breaker.admit(4) is Admission.SEND
    assert breaker.failed(5)  # the third in a row
    assert state(breaker) is BreakerState.OPEN and breaker.probe_in(5) == 5.0


def test_an_open_breaker_lets_one_probe_through_per_interval() -> None:
    breaker = CircuitBreaker(failure_threshold=1, probe_every_s=5.0)
    assert breaker.failed(10)
    assert breaker.admit(10) is Admission.WAIT and breaker.admit(14.9) is Admission.WAIT
    assert breaker.probe_in(12) == 3.0
    assert breaker.admit(15) is Admission.PROBE
    assert state(breaker) is BreakerState.HALF_OPEN and breaker.probe_in(15) is None
    assert breaker.admit(15) is Admission.WAIT and breaker.admit(100) is Admission.WAIT
    # The probe fails: open for another interval.
    assert breaker.failed(16)
    assert state(breaker) is BreakerState.OPEN and breaker.admit(20) is Admission.WAIT
    assert breaker.admit(21) is Admission.PROBE
    # The probe succeeds: closed, and the caller is told to drain the backlog.
    assert breaker.succeeded()
    assert state(breaker) is BreakerState.CLOSED and breaker.admit(21) is Admission.SEND
    assert breaker.failures == 0


def test_a_late_failure_while_open_does_not_postpone_the_probe() -> None:
    breaker = CircuitBreaker(failure_threshold=2, probe_every_s=5.0)
    breaker.failed(0)
    assert breaker.failed(1)
    assert not breaker.failed(3)  # an attempt begun before it opened
    assert breaker.admit(6) is Admission.PROBE


def test_a_probe_that_ends_without_an_outcome_lets_another_go_at_once() -> None:
    breaker = CircuitBreaker(failure_threshold=1, probe_every_s=5.0)
    breaker.failed(0)
    assert breaker.admit(5) is Admission.PROBE
    breaker.abandoned(6)  # cancelled at a stop
    assert state(breaker) is BreakerState.OPEN and breaker.probe_in(6) == 0.0
    assert breaker.admit(6) is Admission.PROBE
    breaker.abandoned(7)
    breaker.succeeded()
    breaker.abandoned(8)  # no probe in flight: nothing changes
    assert state(breaker) is BreakerState.CLOSED


def test_a_possible_redelivery_is_marked_in_a_header() -> None:
    now = datetime(2026, 1, 2, 10, 0, tzinfo=UTC)
    first = webhook_headers("0123456789abcdef", b"{}", secret="k", now=now)
    again = webhook_headers("0123456789abcdef", b"{}", secret="k", now=now, redelivery=True)
    assert REDELIVERY_HEADER not in first and again[REDELIVERY_HEADER] == "true"
    assert again == {**first, REDELIVERY_HEADER: "true"}  # same id, same signature


def test_retry_after_header() -> None:
    now = datetime(2026, 1, 2, 10, 0, tzinfo=UTC)
    assert retry_after_s("3", now, 30.0) == 3.0
    assert retry_after_s("120", now, 30.0) == 30.0
    later = (now + timedelta(seconds=7)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert retry_after_s(later, now, 30.0) == 7.0
    assert retry_after_s(None, now, 30.0) is None
    assert retry_after_s("soon", now, 30.0) is None
