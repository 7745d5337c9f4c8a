"""Pure delivery rules: webhook signatures, which failures to retry and until when, the
circuit breaker that pauses a channel that keeps failing, and how much of a delivery's
attempt log an alert's published state carries."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum

from schemas import DeliveryAttempt

SIGNATURE_HEADER = "X-Raqib-Signature"
TIMESTAMP_HEADER = "X-Raqib-Timestamp"
ALERT_ID_HEADER = "X-Raqib-Alert-Id"
# Set on a send that follows an attempt whose outcome is unknown (interrupted by a crash or a
# stop, or cut off after the message may have gone out): the receiver may already have it.
REDELIVERY_HEADER = "X-Raqib-Redelivery"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>``; the timestamp stops replays."""
    digest = hmac.new(
        secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256
    )
    return f"sha256={digest.hexdigest()}"


def webhook_headers(
    alert_id: str, body: bytes, *, secret: str | None, now: datetime, redelivery: bool = False
) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "raqib-alerting/1",
        ALERT_ID_HEADER: alert_id,
    }
    if redelivery:
        headers[REDELIVERY_HEADER] = "true"
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
    """Retries bounded by time, not by a count: a delivery is retried until
    ``give_up_after_s`` has passed since its run of attempts began, with an exponential
    backoff capped at ``max_delay_s`` (so a channel that comes back is tried again within
    that long)."""

    base_delay_s: float
    max_delay_s: float
    give_up_after_s: float

    def delay(self, attempts_made: int, jitter: float) -> float:
        """Wait before attempt ``attempts_made + 1``: exponential, with "equal jitter".

        ``jitter`` in [0, 1) picks a point in the upper half of the exponential step, so
        receivers recovering from an outage are not hit by every sender at once.
        """
        # The exponent is capped: past 2**60 every step is the cap anyway.
        ceiling = min(self.max_delay_s, self.base_delay_s * 2.0 ** min(attempts_made - 1, 60))
        ceiling = max(ceiling, 0.0)
        return ceiling / 2 + ceiling / 2 * jitter

    def give_up_at(self, started: datetime) -> datetime:
        return started + timedelta(seconds=self.give_up_after_s)

    def next_wait(
        self,
        *,
        attempts_made: int,
        started: datetime,
        now: datetime,
        jitter: float,
        retry_after_s: float | None = None,
    ) -> float | None:
        """After a failed attempt that may succeed later: seconds to wait before the next
        one, or None to give up (the time is up). The wait honours ``Retry-After`` within
        the cap and never runs past the deadline, so the last attempt falls on it."""
        remaining = (self.give_up_at(started) - now).total_seconds()
        if remaining <= 0:
            return None
        wait = max(self.delay(attempts_made, jitter), retry_after_s or 0.0)
        return min(wait, self.max_delay_s, remaining)

    def schedule(self, jitters: list[float]) -> list[float]:
        """The waits between attempts that all fail at once (an attempt taking no time),
        one jitter value per wait, until the time is up."""
        started = datetime(2000, 1, 1)
        now, waits = started, []
        for attempts_made, jitter in enumerate(jitters, start=1):
            wait = self.next_wait(
                attempts_made=attempts_made, started=started, now=now, jitter=jitter
            )
            if wait is None:
                break
            waits.append(wait)
            now += timedelta(seconds=wait)
        return waits


class BreakerState(StrEnum):
    CLOSED = "closed"  # deliveries go out
    OPEN = "open"  # paused: deliveries wait, one probe every probe_every_s
    HALF_OPEN = "half-open"  # one probe in flight, the others wait


class Admission(StrEnum):
    SEND = "send"  # the channel is closed (healthy): send
    PROBE = "probe"  # the one attempt that tests a paused channel
    WAIT = "wait"  # paused: do not send, wait in the outbox


@dataclass
class CircuitBreaker:
    """One channel's breaker, a pure state machine driven by a monotonic ``now``.

    Closed: every delivery is sent; ``failure_threshold`` failed attempts in a row open it.
    Open: nothing is sent (waiting burns no attempts) until ``probe_every_s`` has passed;
    then ``admit`` lets exactly one attempt through as the probe (half-open). The probe's
    success, or any success, closes it; the probe's failure opens it for another interval.
    Only failures that a retry may fix count; a permanent one (a 404, SMTP 535) shows the
    receiver answering, and counts as a success here (the alert itself still fails).
    """

    failure_threshold: int
    probe_every_s: float
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0  # failed attempts in a row
    next_probe_at: float = 0.0

    def admit(self, now: float) -> Admission:
        if self.state is BreakerState.CLOSED:
            return Admission.SEND
        if self.state is BreakerState.OPEN and now >= self.next_probe_at:
            self.state = BreakerState.HALF_OPEN
            return Admission.PROBE
        return Admission.WAIT

    def succeeded(self) -> bool:
        """Record a success; True when it closed a paused channel (time to drain)."""
        recovered = self.state is not BreakerState.CLOSED
        self.state = BreakerState.CLOSED
        self.failures = 0
        return recovered

    def failed(self, now: float) -> bool:
        """Record a failure a retry may fix; True when it opened the breaker."""
        self.failures += 1
        if self.state is BreakerState.HALF_OPEN or (
            self.state is BreakerState.CLOSED and self.failures >= self.failure_threshold
        ):
            self.state = BreakerState.OPEN
            self.next_probe_at = now + self.probe_every_s
            return True
        return False  # closed below the threshold, or a late failure while already open

    def abandoned(self, now: float) -> None:
        """The probe ended without an outcome (cancelled): another one may go at once."""
        if self.state is BreakerState.HALF_OPEN:
            self.state = BreakerState.OPEN
            self.next_probe_at = now

    def probe_in(self, now: float) -> float | None:
        """Seconds until a probe may go (0: now), or None when none is waited for."""
        if self.state is not BreakerState.OPEN:
            return None
        return max(self.next_probe_at - now, 0.0)


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


# A channel paused for a day is probed every 15 s: 5,760 attempts of up to 200 bytes each
# would make the alert's state larger than the 1 MB a Kafka record may be, and an alert
# whose state cannot be published never finishes. The published log keeps the first
# attempts (how it began) and the latest (how it stands); ``attempts`` counts them all,
# and the state file keeps every one.
ATTEMPT_LOG_FIRST = 10
ATTEMPT_LOG_LATEST = 40


def published_attempt_log(log: list[DeliveryAttempt]) -> list[DeliveryAttempt]:
    """The attempts an alert's published state lists: all of them, or the first
    ``ATTEMPT_LOG_FIRST`` and the latest ``ATTEMPT_LOG_LATEST`` of a longer log."""
    if len(log) <= ATTEMPT_LOG_FIRST + ATTEMPT_LOG_LATEST:
        return log
    return log[:ATTEMPT_LOG_FIRST] + log[-ATTEMPT_LOG_LATEST:]
