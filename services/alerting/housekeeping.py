"""The alerting service's background round, every ``DIGEST_CHECK_S``: alert states the alert
log missed are published again, digests whose window closed are sent, and (every ten
minutes) window events and firings no rule can reach any more are pruned and finished alerts
older than ``KEEP_ARTICLES_S`` lose their article."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

from schemas import utc_now
from services.alerting.alert_log import AlertLog
from services.alerting.digests import DigestSender
from services.alerting.state import AlertingState

PRUNE_EVERY = timedelta(minutes=10)
# Dropping articles: 2,000 a round is 288,000 a day, far above any rate of alerts.
DROP_CHUNK, DROP_PER_ROUND, DROP_PAUSE_S = 500, 2000, 0.1

log = logging.getLogger("raqib.alerting")


class Housekeeping:
    """``start()`` runs the round in a task until ``stop()``; a failed round is logged and
    the next one runs as usual."""

    def __init__(
        self,
        alert_log: AlertLog,
        digests: DigestSender,
        state: AlertingState,
        *,
        horizon: timedelta,
        every_s: float,
        keep_articles: timedelta | None,
    ) -> None:
        self.alert_log = alert_log
        self.digests = digests
        self.state = state
        self.horizon = horizon  # how far back in article time any rule looks
        self.every_s = every_s
        self.keep_articles = keep_articles
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="alerting-digests")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        last_prune = datetime.min.replace(tzinfo=UTC)
        while True:
            try:
                await self.alert_log.republish()
                await self.digests.send_due(utc_now())
                if utc_now() - last_prune > PRUNE_EVERY:
                    newest = self.state.newest_event()
                    if newest is not None:
                        self.state.prune(older_than=newest - 2 * self.horizon)
                    if self.keep_articles is not None:
                        await self.drop_articles(utc_now() - self.keep_articles)
                    last_prune = utc_now()
            except Exception:
                log.exception("digest or pruning round failed; trying again")
            await asyncio.sleep(self.every_s)

    async def drop_articles(self, raised_before: datetime) -> int:
        """At most ``DROP_PER_ROUND`` articles, in chunks with a pause between them: the first
        round may find months of them, and every send waits for the changes before it to be
        on the changelog. What is left waits for the next round."""
        dropped = 0
        while dropped < DROP_PER_ROUND:
            chunk = min(DROP_CHUNK, DROP_PER_ROUND - dropped)
            count = self.state.drop_articles(raised_before=raised_before, limit=chunk)
            dropped += count
            if count < chunk:
                break
            await asyncio.sleep(DROP_PAUSE_S)
        if dropped:
            log.info(
                "articles of finished alerts dropped",
                extra={"alerts": dropped, "raised_before": raised_before.isoformat()},
            )
        return dropped
