"""Alerting wiring: ``articles.enriched`` → rules → outbox → email/webhook → ``alerts``.

A batch subscriber: what a batch does is in ``batch.py`` (rules run, alerts written to the
state file in one transaction and published to ``alerts``, then the offset is committed).
Delivery runs from there, concurrently and outside the consumer (``deliverer.py``,
``digests.py``), so a slow receiver delays no other alert; an alert that was written is
delivered even across a crash (the start resumes the outbox before it joins the consumer
group), and one that was delivered is never sent again. A failing channel is retried for a
day (``GIVE_UP_AFTER_S``), and paused and probed while it keeps failing; an attempt a crash cut
short is sent again, marked as a possible redelivery.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from faststream import FastStream

from schemas import Alert, utc_now
from services.alerting.alert_log import AlertLog
from services.alerting.batch import BatchAlerter
from services.alerting.channels import Dispatcher, build_channels
from services.alerting.core import Engine, load_rules, window_horizon
from services.alerting.deliverer import AlertDeliverer, alert_dead_letter
from services.alerting.digests import DigestSender
from services.alerting.housekeeping import Housekeeping
from services.alerting.settings import AlertingSettings
from services.alerting.state import AlertingState
from services.common.kafka import (
    ALERTS,
    ARTICLES_ENRICHED,
    app_logger,
    dead_letterer,
    ensure_topics,
    make_broker,
    subscribe_batches,
)

STAGE = "alerting"
NEVER = datetime.max.replace(tzinfo=UTC)  # a failed_since that leaves out every failed delivery

log = logging.getLogger("raqib.alerting")


def build_app(settings: AlertingSettings | None = None) -> FastStream:
    settings = settings or AlertingSettings()
    broker = make_broker(settings.kafka, stage=STAGE)
    kafka = settings.kafka
    rule_set = load_rules(settings.rules_file)
    log.info(
        "rules loaded",
        extra={
            "rules_file": str(settings.rules_file),
            "rules": [rule.id for rule in rule_set.rules],
            "channels": rule_set.channel_kinds,
        },
    )
    for deprecation in rule_set.deprecations:
        log.warning(
            "deprecated key in the rules file",
            extra={"rules_file": str(settings.rules_file), "problem": deprecation},
        )
    state = AlertingState(settings.state_file)
    channels = build_channels(rule_set, settings)
    dispatcher = Dispatcher(
        channels,
        state,
        base_delay_s=settings.retry_base_delay_s,
        max_delay_s=settings.retry_max_delay_s,
        max_concurrent=settings.max_concurrent_sends,
        breaker_failures=settings.breaker_failures,
        breaker_probe_s=settings.breaker_probe_s,
    )

    async def send_alert_state(alert: Alert) -> None:
        await broker.publish(
            alert.model_dump_json().encode(), kafka.topic(ALERTS), key=alert.id.encode()
        )

    dead_letter = dead_letterer(broker, settings.kafka, STAGE)

    dead_letter_alert = alert_dead_letter(broker, kafka.dead_letter_topic(STAGE), STAGE)
    alert_log = AlertLog(
        send_alert_state,
        attempts=settings.alert_log_attempts,
        base_delay_s=settings.alert_log_retry_base_s,
    )
    publish = alert_log.publish
    deliverer = AlertDeliverer(
        dispatcher,
        state,
        rule_set.channel_kinds,
        publish=publish,
        dead_letter=dead_letter_alert,
        max_pending=settings.max_pending_alerts,
    )
    digests = DigestSender(
        dispatcher, state, rule_set, publish=publish, dead_letter=dead_letter_alert
    )
    housekeeping = Housekeeping(
        alert_log,
        digests,
        state,
        horizon=window_horizon(rule_set),
        every_s=settings.digest_check_s,
    )
    alert_batch = BatchAlerter(
        Engine(rule_set),
        state,
        publish=publish,
        deliverer=deliverer,
        dead_letter=dead_letter,
        now=utc_now,
    )

    subscribe_batches(broker, kafka.topic(ARTICLES_ENRICHED), settings, alert_batch)

    async def set_up() -> None:
        state.open()
        await ensure_topics(
            kafka,
            [kafka.topic(ARTICLES_ENRICHED), kafka.topic(ALERTS), kafka.dead_letter_topic(STAGE)],
        )

    resumed_at_start: set[str] = set()

    async def resume() -> None:
        # Before the broker starts its subscriber, whose start waits for the consumer group to
        # assign partitions (a rebalance can take a session timeout): the outbox needs only
        # the producer, so what a stop or crash left unfinished goes out at once (decision 51).
        await broker.connect()
        unfinished = state.unfinished(failed_since=NEVER)  # never finished; no failed ones
        resumed_at_start.update(a for a in unfinished if deliverer.resume(a))
        if resumed_at_start:
            log.info("resuming deliveries", extra={"alerts": len(resumed_at_start)})
        housekeeping.start()

    async def retry_failed() -> None:
        # A restart is also how an operator retries a fixed channel: deliveries that failed
        # lately go again once the stage consumes (those resumed above are not sent twice).
        since = utc_now() - timedelta(seconds=settings.resume_failed_within_s)
        retried = [
            alert_id
            for alert_id in state.unfinished(failed_since=since)
            if alert_id not in resumed_at_start and deliverer.resume(alert_id)
        ]
        if retried:
            log.info("retrying failed deliveries", extra={"alerts": len(retried)})

    async def stop() -> None:
        await housekeeping.stop()
        await deliverer.close(settings.shutdown_grace_s)
        await alert_log.flush(settings.shutdown_grace_s)

    async def close() -> None:
        for channel in channels.values():
            await channel.aclose()
        state.close()

    return FastStream(
        broker,
        logger=app_logger(STAGE),
        on_startup=[set_up, resume],
        after_startup=[retry_failed],
        on_shutdown=[stop],
        after_shutdown=[close],
    )
