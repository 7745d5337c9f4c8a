"""Pure delivery rules: webhook signatures, which failures to retry, and when."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum

SIGNATURE_HEADER = "X-Raqib-Signature"
TIMESTAMP_HEADER = "X-Raqib-Timestamp"
ALERT_ID_HEADER = "X-Raqib-Alert-Id"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>``; the timestamp stops replays."""
    digest = hmac.new(
        secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256
    )
    return f"sha256={digest.hexdigest()}"


def webhook_headers(
    alert_id: str, body: bytes, *, secret: str | None, now: datetime
) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "raqib-alerting/1",
        ALERT_ID_HEADER: alert_id,
    }
    if secret:
        timestamp = str(int(now.timestamp()))
        headers[TIMESTAMP_HEADER] = timestamp
        headers[SIGNATURE_HEADER] = signature(secret, timestamp, body)
    return headers


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # the receiver may accept it later
    FAIL = "fail"  # retrying cannot help


def http_verdict(status: int) -> Verdict:
    if 200 <= status < 300:
        return Verdict.DELIVERED
    if status in (408, 429) or status >= 500:
        return Verdict.RETRY
    return Verdict.FAIL  # incl. redirects: a signed alert is not re-posted elsewhere


def smtp_verdict(code: int) -> Verdict:
    """SMTP reply codes: 4xx is a temporary failure, 5xx a permanent one."""
    if 200 <= code < 400:
        return Verdict.DELIVERED
    return Verdict.RETRY if 400 <= code < 500 else Verdict.FAIL


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base_delay_s: float
    max_delay_s: float

    def delay(self, attempts_made: int, jitter: float) -> float:
        """Wait before attempt ``attempts_made + 1``: exponential, with "equal jitter".

        ``jitter`` in [0, 1) picks a point in the upper half of the exponential step, so
        receivers recovering from an outage are not hit by every sender at once.
        """
        ceiling = min(self.max_delay_s, self.base_delay_s * 2.0 ** max(attempts_made - 1, 0))
        return ceiling / 2 + ceiling / 2 * jitter

    def schedule(self, jitters: list[float]) -> list[float]:
        """The waits between all attempts, given one jitter value per wait."""
        return [
            self.delay(n, jitter)
            for n, jitter in zip(range(1, self.max_attempts), jitters, strict=False)
        ]


def retry_after_s(value: str | None, now: datetime, limit: float) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta or HTTP date), capped at ``limit``."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), limit)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return min(max((when - now).total_seconds(), 0.0), limit)
