"""Delivering what the outbox holds: each alert over its channels, concurrently, one task
per alert, outside the consumer (digest members wait for their digest: ``digests.py``).

Every attempt changes the alert's deliveries; the alert is published to ``alerts`` after
each one (keyed by alert id, latest state wins), so the alert log shows the attempt history
while it grows. An alert stays open in the outbox until its final state is on the log, so a
restart publishes a state the log missed. An alert whose delivery failed for good (its
channel's give-up time passed, or a failure no retry can fix) goes to ``alerting.dlq`` with
every attempt's error.

While a channel is paused (its circuit breaker is open) an alert's delivery over it is
parked: the task ends, the alert stays open in the outbox, and its id waits in the channel's
backlog, held in no task. Each probe resumes the oldest waiting alert (and any whose time is
up, to give them up); when the channel is back, the backlog drains oldest first, as fast as
``max_pending`` allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

from faststream.kafka import KafkaBroker

from schemas import Alert, Delivery, DeliveryStatus, EnrichedArticle, utc_now
from services.alerting.channels import Dispatcher, as_delivery
from services.alerting.core import ChannelKind
from services.alerting.state import AlertingState, DeliveryRecord
from services.common.kafka import DEAD_LETTERS

log = logging.getLogger("raqib.alerting")

Publish = Callable[[Alert], Awaitable[bool]]  # False: the state did not reach the log
DeadLetter = Callable[[Alert], Awaitable[None]]


def failed(alert: Alert) -> list[Delivery]:
    return [d for d in alert.deliveries if d.status is DeliveryStatus.FAILED]


def alert_dead_letter(broker: KafkaBroker, topic: str, stage: str) -> DeadLetter:
    """Sends an alert whose delivery failed for good to ``topic``, each attempt's error in
    the ``x-raqib-*`` headers."""

    async def dead_letter(alert: Alert) -> None:
        errors = "; ".join(
            f"{d.channel}: "
            + (
                " | ".join(f"#{a.number} {a.error}" for a in d.attempt_log if a.error)
                or (d.last_error or "")
            )
            for d in failed(alert)
        )
        headers = {
            "x-raqib-stage": stage,
            "x-raqib-error-type": "DeliveryFailed",
            "x-raqib-error": errors[:4000],
            "x-raqib-alert-id": alert.id,
            "x-raqib-failed-at": datetime.now(UTC).isoformat(),
        }
        await broker.publish(
            alert.model_dump_json().encode(), topic, key=alert.id.encode(), headers=headers
        )
        DEAD_LETTERS.labels(stage, "DeliveryFailed").inc()
        log.warning(
            "alert delivery failed; dead-lettered",
            extra={"alert_id": alert.id, "channels": [d.channel for d in failed(alert)]},
        )

    return dead_letter


class Backlog:
    """One paused channel's parked alerts: oldest first, each with the time it gives up."""

    def __init__(self) -> None:
        self._give_up: dict[str, datetime] = {}
        self._heap: list[tuple[datetime, str]] = []  # (created_at, alert id), lazily pruned

    def __len__(self) -> int:
        return len(self._give_up)

    def add(self, alert_id: str, created_at: datetime, give_up_at: datetime) -> None:
        if alert_id not in self._give_up:
            heapq.heappush(self._heap, (created_at, alert_id))
        self._give_up[alert_id] = give_up_at

    def pop_oldest(self) -> str | None:
        while self._heap:
            _, alert_id = heapq.heappop(self._heap)
            if self._give_up.pop(alert_id, None) is not None:
                return alert_id
        return None

    def pop_expired(self, now: datetime) -> list[str]:
        expired = [alert_id for alert_id, at in self._give_up.items() if at <= now]
        for alert_id in expired:
            del self._give_up[alert_id]
        return expired


class AlertDeliverer:
    """Runs one task per alert; ``wait_for_room`` is the back-pressure on the consumer."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        state: AlertingState,
        kinds: Mapping[str, ChannelKind],
        *,
        publish: Publish,
        dead_letter: DeadLetter,
        max_pending: int,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.dispatcher = dispatcher
        self.state = state
        self.kinds = kinds
        self.publish = publish
        self.dead_letter = dead_letter
        self.max_pending = max_pending
        self.clock = clock
        self.pending: dict[str, asyncio.Task[None]] = {}
        self.backlogs = {name: Backlog() for name in kinds}
        self._drains: dict[str, asyncio.Task[None]] = {}
        # Set when a task ends with room to spare. Waiting on the tasks themselves instead
        # (asyncio.wait over all of them) cost a callback on each of up to ``max_pending``
        # tasks per wake-up: most of alerting's CPU once a backlog of thousands built up.
        self._room = asyncio.Event()
        self._closing = False
        dispatcher.watchers.append(self)

    def submit(self, alert: Alert, article: EnrichedArticle) -> None:
        if alert.id in self.pending or self._closing:
            return
        task = asyncio.create_task(self._deliver(alert, article), name=f"alert-{alert.id}")
        self.pending[alert.id] = task
        task.add_done_callback(lambda _: self._finished(alert.id))

    def _finished(self, alert_id: str) -> None:
        self.pending.pop(alert_id, None)
        if len(self.pending) < self.max_pending:
            self._room.set()

    def resume(self, alert_id: str, article: EnrichedArticle | None = None) -> bool:
        """Deliver an alert of the outbox again (what is already delivered is skipped).
        ``article``: the alert's article in hand (a replay's), not read back from the outbox,
        where a drop round may have emptied it again meanwhile."""
        if alert_id in self.pending:
            return False
        if article is not None:
            alert = self.state.stored_alert(alert_id)
            if alert is not None:
                self.submit(alert, article)
            return alert is not None
        stored = self.state.load_alert(alert_id)
        if stored is None:
            if self.state.alert_exists(alert_id):
                log.warning(
                    "alert not delivered again: its article was dropped (KEEP_ARTICLES_S)",
                    extra={"alert_id": alert_id},
                )
            return False
        self.submit(*stored)
        return True

    def _resume_parked(self, alert_id: str) -> bool:
        """``resume`` an alert taken from a backlog. One whose task still runs (it is parking
        itself on another channel right now, or delivering there) is resumed once that task
        is done: dropped here, it would wait for the next start (found by the fault suite:
        two channels paused and back at once left most webhooks undelivered)."""
        if self.resume(alert_id):
            return True
        running = self.pending.get(alert_id)
        if running is not None and not self._closing:
            # After submit's own callback, which takes the finished task out of ``pending``.
            running.add_done_callback(lambda _: None if self._closing else self.resume(alert_id))
        return False

    def resume_unfinished(self, *, failed_since: datetime) -> None:
        """At start: deliver what a stop or crash left unfinished, and retry what failed
        since ``failed_since`` (restarting after fixing a channel is how operators retry)."""
        unfinished = self.state.unfinished(failed_since=failed_since)
        resumed = [alert_id for alert_id in unfinished if self.resume(alert_id)]
        if resumed:
            log.info("resuming deliveries", extra={"alerts": len(resumed)})

    async def wait_for_room(self) -> None:
        while len(self.pending) >= self.max_pending:
            self._room.clear()
            await self._room.wait()

    # --- a paused channel: the dispatcher's ChannelWatcher ------------------------------

    def probe_due(self, channel: str) -> None:
        """Resume the oldest alert waiting for ``channel`` (its delivery goes as the probe),
        and those whose time is up (they give up without an attempt)."""
        backlog = self.backlogs.get(channel)
        if backlog is None or self._closing:
            return
        expired = backlog.pop_expired(self.clock())
        # The probe first: tasks start in the order they are made, so the expired ones find
        # the probe taken and give up without an attempt.
        while (oldest := backlog.pop_oldest()) is not None:
            if self._resume_parked(oldest):
                break
        for alert_id in expired:
            self._resume_parked(alert_id)

    def recovered(self, channel: str) -> None:
        if channel in self.backlogs and channel not in self._drains and not self._closing:
            self._drains[channel] = asyncio.create_task(
                self._drain(channel), name=f"drain-{channel}"
            )

    async def _drain(self, channel: str) -> None:
        """Resume the channel's parked alerts, oldest first, while it stays up."""
        backlog = self.backlogs[channel]
        try:
            resumed = 0
            while backlog and not self.dispatcher.paused(channel):
                await self.wait_for_room()
                alert_id = backlog.pop_oldest()
                if alert_id is None:
                    break
                resumed += self._resume_parked(alert_id)
            if resumed:
                log.info("channel backlog resumed", extra={"channel": channel, "alerts": resumed})
        finally:
            self._drains.pop(channel, None)

    async def close(self, grace_s: float) -> None:
        """Let deliveries in flight finish for ``grace_s``; the rest resume at the next start."""
        self._closing = True
        self.dispatcher.close()
        drains = list(self._drains.values())
        for drain in drains:
            drain.cancel()
        for drain in drains:
            with contextlib.suppress(asyncio.CancelledError):
                await drain
        tasks = list(self.pending.values())
        if not tasks:
            return
        _, unfinished = await asyncio.wait(tasks, timeout=grace_s)
        for task in unfinished:
            task.cancel()
        for task in unfinished:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _deliver(self, alert: Alert, article: EnrichedArticle) -> None:
        try:
            await self._deliver_all(alert, article)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Stays unfinished in the outbox: the next start retries it.
            log.exception("alert delivery crashed", extra={"alert_id": alert.id})

    async def _deliver_all(self, alert: Alert, article: EnrichedArticle) -> None:
        current = {d.channel: d for d in alert.deliveries}
        lock = asyncio.Lock()
        attempted = False
        logged = True  # whether the newest state reached the alert log
        parked: dict[str, datetime] = {}  # channel → when its delivery gives up

        async def on_attempt(record: DeliveryRecord) -> None:
            nonlocal attempted, logged
            attempted = True
            async with lock:
                current[record.channel] = as_delivery(record, self.kinds[record.channel])
                state = alert.model_copy(update={"deliveries": list(current.values())})
                logged = await self.publish(state)

        async def one(delivery: Delivery) -> None:
            if delivery.channel not in self.kinds:
                log.error(
                    "channel no longer in the rules file; delivery left as it was",
                    extra={"alert_id": alert.id, "channel": delivery.channel},
                )
                return
            outcome = await self.dispatcher.deliver(
                alert.id,
                delivery.channel,
                lambda channel, redelivery: channel.send(alert, article, redelivery=redelivery),
                on_attempt,
            )
            current[delivery.channel] = as_delivery(outcome.record, self.kinds[delivery.channel])
            if outcome.parked_until is not None:
                parked[delivery.channel] = outcome.parked_until

        await asyncio.gather(*(one(d) for d in alert.deliveries))
        if parked:
            # Open in the outbox until every channel is done; dead-lettered (if a channel
            # failed for good) only then.
            for channel, give_up_at in parked.items():
                self.backlogs[channel].add(alert.id, alert.created_at, give_up_at)
            if self._closing:
                return
            for channel in parked:
                if not self.dispatcher.paused(channel):
                    self.recovered(channel)  # came back while this alert was parking
            return
        final = alert.model_copy(update={"deliveries": list(current.values())})
        if not attempted:
            # Resumed with nothing left to send: after a crash, or because the log missed
            # the final state.
            logged = await self.publish(final)
        if failed(final):
            await self.dead_letter(final)
        if logged:
            await self.state.mark_done_in_group(alert.id)
