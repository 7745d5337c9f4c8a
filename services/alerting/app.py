"""Alerting wiring: ``articles.enriched`` → rules → outbox → email/webhook → ``alerts``.

Articles are read in batches. For each batch the rules run, and the alerts they raise (with
their articles), the window counts and cooldown firings are written to the state file in one
transaction; the alerts are published to ``alerts``; only then is the offset committed.
Delivery runs from there, concurrently and outside the consumer, so a slow receiver delays
no other alert; an alert that was written is delivered even across a crash (the start
resumes the outbox), and one that was delivered is never sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from faststream import FastStream
from faststream.kafka import KafkaBroker
from prometheus_client import Counter
from pydantic import ValidationError

from schemas import Alert, EnrichedArticle, utc_now
from services.alerting.alert_log import AlertLog
from services.alerting.channels import Dispatcher, build_channels
from services.alerting.core import (
    RULE_KINDS,
    Engine,
    RuleSet,
    load_rules,
    window_horizon,
    window_start,
)
from services.alerting.outbox import AlertDeliverer, DigestSender, failed
from services.alerting.settings import AlertingSettings
from services.alerting.store import SentStore
from services.common.kafka import (
    ALERTS,
    ARTICLES_ENRICHED,
    app_logger,
    ensure_topics,
    make_broker,
    publish_dead_letter,
    subscribe_batches,
)

STAGE = "alerting"
PRUNE_EVERY = timedelta(minutes=10)

ALERTS_RAISED = Counter("raqib_alerting_alerts_total", "Alerts raised, by rule.", ["rule"])
ALERTS_SUPPRESSED = Counter(
    "raqib_alerting_suppressed_total", "Alerts a cooldown suppressed, by rule.", ["rule"]
)
ALERTS_REPEATED = Counter(
    "raqib_alerting_repeated_total", "Alerts seen again (a replay), not raised twice.", ["rule"]
)

log = logging.getLogger("raqib.alerting")


def failed_alert_headers(alert: Alert) -> dict[str, str]:
    """The ``x-raqib-*`` dead-letter headers, for an alert whose delivery failed."""
    errors = "; ".join(
        f"{d.channel}: " + " | ".join(f"#{a.number} {a.error}" for a in d.attempt_log if a.error)
        for d in failed(alert)
    )
    return {
        "x-raqib-stage": STAGE,
        "x-raqib-error-type": "DeliveryFailed",
        "x-raqib-error": errors[:4000],
        "x-raqib-alert-id": alert.id,
        "x-raqib-failed-at": datetime.now(UTC).isoformat(),
    }


def load_rule_set(settings: AlertingSettings) -> RuleSet:
    rule_set = load_rules(settings.rules_file, kinds=RULE_KINDS)
    log.info(
        "rules loaded",
        extra={
            "rules_file": str(settings.rules_file),
            "rules": [rule.id for rule in rule_set.rules],
            "channels": rule_set.channel_kinds,
        },
    )
    return rule_set


class AlertingService:
    """The consumer's batch handler, the deliverer, the digest timer, and their start/stop."""

    def __init__(self, settings: AlertingSettings, broker: KafkaBroker) -> None:
        self.settings = settings
        self.broker = broker
        self.rule_set = load_rule_set(settings)
        self.rules = {rule.id: rule for rule in self.rule_set.rules}
        self.engine = Engine(self.rule_set)
        self.store = SentStore(settings.state_file)
        self.channels = build_channels(self.rule_set, settings)
        dispatcher = Dispatcher(
            self.channels,
            self.store,
            base_delay_s=settings.retry_base_delay_s,
            max_delay_s=settings.retry_max_delay_s,
            max_concurrent=settings.max_concurrent_sends,
        )
        self.alert_log = AlertLog(
            self.send_alert_state,
            attempts=settings.alert_log_attempts,
            base_delay_s=settings.alert_log_retry_base_s,
        )
        self.deliverer = AlertDeliverer(
            dispatcher,
            self.store,
            self.rule_set.channel_kinds,
            publish=self.alert_log.publish,
            dead_letter=self.dead_letter_alert,
            max_pending=settings.max_pending_alerts,
        )
        self.digests = DigestSender(
            dispatcher,
            self.store,
            self.rule_set,
            publish=self.alert_log.publish,
            dead_letter=self.dead_letter_alert,
        )
        self.horizon = window_horizon(self.rule_set)
        self._timer: asyncio.Task[None] | None = None

    async def send_alert_state(self, alert: Alert) -> None:
        await self.broker.publish(
            alert.model_dump_json().encode(),
            self.settings.kafka.topic(ALERTS),
            key=alert.id.encode(),
        )

    async def dead_letter_alert(self, alert: Alert) -> None:
        await self.broker.publish(
            alert.model_dump_json().encode(),
            self.settings.kafka.dead_letter_topic(STAGE),
            key=alert.id.encode(),
            headers=failed_alert_headers(alert),
        )
        log.warning(
            "alert delivery failed; dead-lettered",
            extra={"alert_id": alert.id, "channels": [d.channel for d in failed(alert)]},
        )

    async def handle_batch(self, records: tuple[Any, ...]) -> None:
        valid: list[tuple[Any, EnrichedArticle]] = []
        bad: list[tuple[Any, str, str]] = []
        for record in records:
            try:
                valid.append((record, EnrichedArticle.model_validate_json(record.value or b"")))
            except ValidationError as invalid:
                bad.append((record, "ValidationError", str(invalid)))
        now = utc_now()
        raised: list[tuple[Alert, EnrichedArticle]] = []
        repeated: list[str] = []
        with self.store.transaction(durable=True):
            for record, article in valid:
                try:
                    with self.store.savepoint():
                        evaluation = self.engine.evaluate(article, self.store, now=now)
                        for alert in evaluation.raised:
                            self.store.add_alert(alert, article)
                            self._join_digest(alert)
                except Exception as error:
                    # Rules and rendering are pure: what fails once fails every time, so
                    # retrying would only block the partition; dead-letter the article.
                    bad.append(
                        (record, "RuleError", f"rules failed on article {article.id}: {error!r}")
                    )
                    continue
                raised += [(alert, article) for alert in evaluation.raised]
                repeated += evaluation.repeated
                for suppressed in evaluation.suppressed:
                    ALERTS_SUPPRESSED.labels(suppressed.match.rule.id).inc()
                    log.info(
                        "alert suppressed by cooldown",
                        extra={
                            "rule": suppressed.match.rule.id,
                            "alert_id": suppressed.match.alert_id,
                            "article_id": article.id,
                            "cooldown_of": suppressed.by,
                        },
                    )
        for record, error_type, message in bad:
            await publish_dead_letter(
                self.broker,
                self.settings.kafka,
                STAGE,
                record,
                record.value or b"",
                error_type,
                message,
            )
        await asyncio.gather(*(self.alert_log.publish(alert) for alert, _ in raised))
        for alert, article in raised:
            ALERTS_RAISED.labels(alert.rule.id).inc()
            log.info(
                "alert raised",
                extra={"alert_id": alert.id, "rule": alert.rule.id, "article_id": article.id},
            )
            if not self._in_digest(alert):
                self.deliverer.submit(alert, article)
        for alert_id in repeated:
            # A replay retries what failed before; what was delivered is skipped.
            ALERTS_REPEATED.labels("replay").inc()
            if self.store.has_failed_delivery(alert_id):
                self.deliverer.resume(alert_id)
        await self.deliverer.wait_for_room()

    def _in_digest(self, alert: Alert) -> bool:
        return any(d.digest_id for d in alert.deliveries)

    def _join_digest(self, alert: Alert) -> None:
        rule = self.rules[alert.rule.id]
        if rule.digest is None or not alert.deliveries:
            return
        digest_id = alert.deliveries[0].digest_id
        assert digest_id is not None
        start = window_start(alert.created_at, rule.digest.window)
        end = start + rule.digest.window
        self.store.add_to_digest(digest_id, rule.id, start, end, alert.id)

    async def _tick(self) -> None:
        last_prune = datetime.min.replace(tzinfo=UTC)
        while True:
            try:
                await self.alert_log.republish()
                await self.digests.send_due(utc_now())
                if utc_now() - last_prune > PRUNE_EVERY:
                    newest = self.store.newest_event()
                    if newest is not None:
                        self.store.prune(older_than=newest - 2 * self.horizon)
                    last_prune = utc_now()
            except Exception:
                log.exception("digest or pruning round failed; trying again")
            await asyncio.sleep(self.settings.digest_check_s)

    async def start(self) -> None:
        self.store.open()
        kafka = self.settings.kafka
        await ensure_topics(
            kafka,
            [kafka.topic(ARTICLES_ENRICHED), kafka.topic(ALERTS), kafka.dead_letter_topic(STAGE)],
        )

    async def after_start(self) -> None:
        since = utc_now() - timedelta(hours=self.settings.resume_failed_within_h)
        resumed = [a for a in self.store.unfinished(failed_since=since) if self.deliverer.resume(a)]
        if resumed:
            log.info("resuming deliveries", extra={"alerts": len(resumed)})
        self._timer = asyncio.create_task(self._tick(), name="alerting-digests")

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        await self.deliverer.close(self.settings.shutdown_grace_s)
        # A broker that is away holds a publication for its request timeout; do not wait that.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.alert_log.republish(), self.settings.shutdown_grace_s)
        if self.alert_log.unpublished:
            # Delivered alerts among them stay open in the outbox: the next start publishes
            # their final state.
            log.error(
                "alert states not on the alert log at stop",
                extra={"alert_ids": sorted(self.alert_log.unpublished)},
            )

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.aclose()
        self.store.close()


def build_app(settings: AlertingSettings | None = None) -> FastStream:
    settings = settings or AlertingSettings()
    broker = make_broker(settings.kafka, stage=STAGE)
    service = AlertingService(settings, broker)

    subscribe_batches(
        broker,
        settings.kafka.topic(ARTICLES_ENRICHED),
        group_id=settings.kafka.group(settings.group_id),
        max_records=settings.batch_size,
        batch_timeout_ms=settings.batch_timeout_ms,
        fetch_max_wait_ms=settings.kafka.fetch_max_wait_ms,
        handle=service.handle_batch,
    )

    return FastStream(
        broker,
        logger=app_logger(STAGE),
        on_startup=[service.start],
        after_startup=[service.after_start],
        on_shutdown=[service.stop],
        after_shutdown=[service.close],
    )
