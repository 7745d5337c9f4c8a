"""Digests: the alerts a rule raised in one window, sent as one message per channel of the
rule once the window has closed.

Each attempt updates every member alert's delivery over that channel and publishes the
members to ``alerts``; members whose digest failed for good go to ``alerting.dlq``. A digest
whose channel is paused stays unsent and is tried again at the next round (a paused channel
makes it wait without an attempt, or sends it as the probe).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from prometheus_client import Counter

from schemas import AlertRule, DeliveryStatus
from services.alerting.channels import Dispatcher, as_delivery
from services.alerting.core import DigestMessage, RuleSet
from services.alerting.deliverer import DeadLetter, Publish, failed
from services.alerting.state import AlertingState, DeliveryRecord, OpenDigest

log = logging.getLogger("raqib.alerting")

DIGESTS = Counter(
    "raqib_alerting_digests_total", "Digest messages by outcome (sent, failed).", ["outcome"]
)


class DigestSender:
    """Sends every digest whose window has closed: one message per channel of its rule."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        state: AlertingState,
        rule_set: RuleSet,
        *,
        publish: Publish,
        dead_letter: DeadLetter,
    ) -> None:
        self.dispatcher = dispatcher
        self.state = state
        self.rules = {rule.id: rule for rule in rule_set.rules}
        self.kinds = rule_set.channel_kinds
        self.publish = publish
        self.dead_letter = dead_letter

    async def send_due(self, now: datetime) -> int:
        due = self.state.due_digests(now)
        for digest in due:
            await self._send(digest)
        return len(due)

    async def _send(self, open_digest: OpenDigest) -> None:
        members = [self.state.load_alert(alert_id) for alert_id in open_digest.alert_ids]
        items = [member for member in members if member is not None]
        if not items:
            self.state.mark_digest_sent(open_digest.id)
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
                    open_digest.id,
                    name,
                    lambda channel, redelivery: channel.send_digest(message, redelivery=redelivery),
                    on_attempt,
                )
                for name in channels
            )
        )
        if any(result.parked for result in results):
            return  # the next round tries again
        failures = [r for r in results if r.record.status is DeliveryStatus.FAILED]
        outcome = "failed" if failures else "sent"
        DIGESTS.labels(outcome).inc()
        for alert in alerts.values():
            if failed(alert):
                await self.dead_letter(alert)
            self.state.mark_done(alert.id)
        self.state.mark_digest_sent(open_digest.id)
        log.info(
            "digest sent",
            extra={
                "digest_id": open_digest.id,
                "rule": open_digest.rule_id,
                "alerts": len(items),
                "outcome": outcome,
            },
        )
