"""Delivering what the outbox holds: each alert over its channels, concurrently, and each
closed digest as one message per channel.

Every attempt changes the alert's deliveries; the alert is published to ``alerts`` after
each one (keyed by alert id, latest state wins), so the alert log shows the attempt history
while it grows. An alert stays open in the outbox until its final state is on the log, so a
restart publishes a state the log missed. An alert whose delivery failed for good goes to
``alerting.dlq`` with every attempt's error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

from prometheus_client import Counter

from schemas import Alert, AlertRule, Delivery, DeliveryStatus, EnrichedArticle
from services.alerting.channels import Dispatcher, as_delivery
from services.alerting.core import ChannelKind, DigestMessage, RuleSet
from services.alerting.store import DeliveryRecord, OpenDigest, SentStore

log = logging.getLogger("raqib.alerting")

DIGESTS = Counter(
    "raqib_alerting_digests_total", "Digest messages by outcome (sent, failed).", ["outcome"]
)

Publish = Callable[[Alert], Awaitable[bool]]  # False: the state did not reach the log
DeadLetter = Callable[[Alert], Awaitable[None]]


def failed(alert: Alert) -> list[Delivery]:
    return [d for d in alert.deliveries if d.status is DeliveryStatus.FAILED]


class AlertDeliverer:
    """Runs one task per alert; ``wait_for_room`` is the back-pressure on the consumer."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        store: SentStore,
        kinds: Mapping[str, ChannelKind],
        *,
        publish: Publish,
        dead_letter: DeadLetter,
        max_pending: int,
    ) -> None:
        self.dispatcher = dispatcher
        self.store = store
        self.kinds = kinds
        self.publish = publish
        self.dead_letter = dead_letter
        self.max_pending = max_pending
        self.pending: dict[str, asyncio.Task[None]] = {}

    def submit(self, alert: Alert, article: EnrichedArticle) -> None:
        if alert.id in self.pending:
            return
        task = asyncio.create_task(self._deliver(alert, article), name=f"alert-{alert.id}")
        self.pending[alert.id] = task
        task.add_done_callback(lambda _: self.pending.pop(alert.id, None))

    def resume(self, alert_id: str) -> bool:
        """Deliver an alert of the outbox again (what is already delivered is skipped)."""
        if alert_id in self.pending:
            return False
        stored = self.store.load_alert(alert_id)
        if stored is None:
            return False
        self.submit(*stored)
        return True

    async def wait_for_room(self) -> None:
        while len(self.pending) >= self.max_pending:
            await asyncio.wait(list(self.pending.values()), return_when=asyncio.FIRST_COMPLETED)

    async def close(self, grace_s: float) -> None:
        """Let deliveries in flight finish for ``grace_s``; the rest resume at the next start."""
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
            record, _ = await self.dispatcher.deliver(
                alert.id,
                delivery.channel,
                lambda channel: channel.send(alert, article),
                on_attempt,
            )
            current[delivery.channel] = as_delivery(record, self.kinds[delivery.channel])

        await asyncio.gather(*(one(d) for d in alert.deliveries))
        final = alert.model_copy(update={"deliveries": list(current.values())})
        if not attempted:
            # Resumed with nothing left to send: after a crash, or because the log missed
            # the final state.
            logged = await self.publish(final)
        if failed(final):
            await self.dead_letter(final)
        if logged:
            self.store.mark_done(alert.id)


class DigestSender:
    """Sends every digest whose window has closed: one message per channel of its rule."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        store: SentStore,
        rule_set: RuleSet,
        *,
        publish: Publish,
        dead_letter: DeadLetter,
    ) -> None:
        self.dispatcher = dispatcher
        self.store = store
        self.rules = {rule.id: rule for rule in rule_set.rules}
        self.kinds = rule_set.channel_kinds
        self.publish = publish
        self.dead_letter = dead_letter

    async def send_due(self, now: datetime) -> int:
        due = self.store.due_digests(now)
        for digest in due:
            await self._send(digest)
        return len(due)

    async def _send(self, open_digest: OpenDigest) -> None:
        members = [self.store.load_alert(alert_id) for alert_id in open_digest.alert_ids]
        items = [member for member in members if member is not None]
        if not items:
            self.store.mark_digest_sent(open_digest.id)
            return
        first = items[0][0]
        rule = self.rules.get(open_digest.rule_id)
        message = DigestMessage(
            id=open_digest.id,
            rule=AlertRule(id=first.rule.id, name=rule.name if rule else first.rule.name),
            start=open_digest.start,
            end=open_digest.end,
            items=items,
        )
        channels = [d.channel for d in first.deliveries if d.channel in self.kinds]
        alerts = {alert.id: alert for alert, _ in items}

        async def on_attempt(record: DeliveryRecord) -> None:
            delivery = as_delivery(record, self.kinds[record.channel], open_digest.id)
            for alert_id, alert in alerts.items():
                deliveries = [
                    delivery if d.channel == record.channel else d for d in alert.deliveries
                ]
                alerts[alert_id] = alert.model_copy(update={"deliveries": deliveries})
            await asyncio.gather(*(self.publish(alert) for alert in alerts.values()))

        results = await asyncio.gather(
            *(
                self.dispatcher.deliver(
                    open_digest.id, name, lambda channel: channel.send_digest(message), on_attempt
                )
                for name in channels
            )
        )
        outcome = "failed" if any(r.status is DeliveryStatus.FAILED for r, _ in results) else "sent"
        DIGESTS.labels(outcome).inc()
        for alert in alerts.values():
            if failed(alert):
                await self.dead_letter(alert)
            self.store.mark_done(alert.id)
        self.store.mark_digest_sent(open_digest.id)
        log.info(
            "digest sent",
            extra={
                "digest_id": open_digest.id,
                "rule": open_digest.rule_id,
                "alerts": len(items),
                "outcome": outcome,
            },
        )
