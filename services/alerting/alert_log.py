"""The alert log: every state of an alert published to ``alerts``, keyed by alert id.

Each state carries the alert's whole history (every delivery's ``attempt_log``, past 50
attempts its first and latest: ``published_attempt_log``), and the
index keeps the latest per id, so a state that never reached the topic is lost in effect
only if no later state of the same alert does. A publication that fails is therefore
retried with backoff; one that still fails is counted, logged with the alert id, and kept:
``republish`` sends it again later, unless a newer state of that alert got out first.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import Counter

from schemas import Alert

log = logging.getLogger("raqib.alerting")

ALERT_LOG_FAILURES = Counter(
    "raqib_alerting_alert_log_failures_total",
    "Alert states that could not be published to the alerts topic after every retry "
    "(kept and published again later).",
)
ALERT_LOG_RETRIES = Counter(
    "raqib_alerting_alert_log_retries_total", "Failed attempts at publishing an alert state."
)

Send = Callable[[Alert], Awaitable[None]]


class AlertLog:
    """Publishes alert states with bounded retries; remembers the ones that did not get out."""

    def __init__(
        self,
        send: Send,
        *,
        attempts: int,
        base_delay_s: float,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.send = send
        self.attempts = attempts
        self.base_delay_s = base_delay_s
        self.sleep = sleep
        # Newest state per alert id that failed for good and is still to be published.
        self.unpublished: dict[str, Alert] = {}
        # Per alert id, the number of its newest publication in progress: an older one
        # stops retrying, so it can never land after (and overwrite) a newer state.
        self._newest: dict[str, int] = {}
        self._numbers = itertools.count()

    async def publish(self, alert: Alert) -> bool:
        """False when this state failed for good (it is kept for ``republish``); a newer
        state of the same alert taking over counts as success: it carries this history."""
        number = next(self._numbers)
        self._newest[alert.id] = number
        self.unpublished.pop(alert.id, None)  # this state supersedes the one kept
        try:
            return await self._publish(alert, number)
        finally:
            if self._newest.get(alert.id) == number:
                del self._newest[alert.id]

    async def _publish(self, alert: Alert, number: int) -> bool:
        error: Exception | None = None
        for attempt in range(1, self.attempts + 1):
            if attempt > 1:
                await self.sleep(self.base_delay_s * 2 ** (attempt - 2))
                if self._newest.get(alert.id) != number:
                    return True  # superseded: the newer state carries this one's history
            try:
                await self.send(alert)
                return True
            except Exception as failure:
                error = failure
                ALERT_LOG_RETRIES.inc()
        if self._newest.get(alert.id) == number:
            self.unpublished[alert.id] = alert
        ALERT_LOG_FAILURES.inc()
        log.error(
            "could not publish alert state to the alert log; kept to publish again",
            extra={
                "alert_id": alert.id,
                "attempts": self.attempts,
                "error": f"{type(error).__name__}: {error}",
            },
        )
        return False

    async def republish(self) -> int:
        """Publish the kept states once more (one attempt each); how many got out. Stops at
        the first failure: the broker is most likely still away."""
        published = 0
        for alert_id, alert in list(self.unpublished.items()):
            if self.unpublished.get(alert_id) is not alert or alert_id in self._newest:
                continue  # superseded meanwhile, or a newer state is being published
            try:
                await self.send(alert)
            except Exception as error:
                log.warning(
                    "alert log still unreachable",
                    extra={
                        "alert_id": alert_id,
                        "waiting": len(self.unpublished),
                        "error": f"{type(error).__name__}: {error}",
                    },
                )
                return published
            if self.unpublished.get(alert_id) is alert:
                del self.unpublished[alert_id]
            published += 1
        if published:
            log.info("alert log caught up", extra={"published": published})
        return published

    async def flush(self, timeout_s: float) -> None:
        """At stop: publish the kept states once more, for at most ``timeout_s`` (a broker
        that is away holds a publication for its request timeout); log what is left."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.republish(), timeout_s)
        if self.unpublished:
            # Delivered alerts among them stay open in the outbox: the next start publishes
            # their final state.
            log.error(
                "alert states not on the alert log at stop",
                extra={"alert_ids": sorted(self.unpublished)},
            )
