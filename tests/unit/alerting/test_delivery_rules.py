"""Webhook signatures, which failures are retried, and the backoff schedule."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from services.alerting.core import (
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
    policy = RetryPolicy(max_attempts=6, base_delay_s=1.0, max_delay_s=10.0)
    assert policy.schedule([0.0] * 5) == [0.5, 1.0, 2.0, 4.0, 5.0]
    assert policy.schedule([0.999999] * 5) == pytest.approx([1.0, 2.0, 4.0, 8.0, 10.0], rel=1e-5)
    assert len(policy.schedule([0.5] * 10)) == 5  # one wait between each pair of attempts
    for n in range(1, 6):
        for jitter in (0.0, 0.3, 0.7):
            ceiling = min(10.0, 2.0 ** (n - 1))
            assert ceiling / 2 <= policy.delay(n, jitter) <= ceiling


def test_a_single_attempt_policy_never_waits() -> None:
    assert RetryPolicy(max_attempts=1, base_delay_s=1.0, max_delay_s=5.0).schedule([0.5]) == []


def test_retry_after_header() -> None:
    now = datetime(2026, 1, 2, 10, 0, tzinfo=UTC)
    assert retry_after_s("3", now, 30.0) == 3.0
    assert retry_after_s("120", now, 30.0) == 30.0
    later = (now + timedelta(seconds=7)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert retry_after_s(later, now, 30.0) == 7.0
    assert retry_after_s(None, now, 30.0) is None
    assert retry_after_s("soon", now, 30.0) is None
