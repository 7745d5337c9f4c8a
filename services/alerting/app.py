"""Alerting wiring: ``articles.enriched`` → rules → outbox → email/webhook → ``alerts``.

A batch subscriber: what a batch does is in ``batch.py`` (rules run, alerts written to the
state file in one transaction and published to ``alerts``, then the offset is committed).
Delivery runs from there, concurrently and outside the consumer (``deliverer.py``,
``digests.py``), so a slow receiver delays no other alert; an alert that was written is
delivered even across a crash (taking the lease resumes the outbox before the consumer joins
its group), and one that was delivered is never sent again. A failing channel is retried for
a day (``GIVE_UP_AFTER_S``), and paused and probed while it keeps failing; an attempt a crash
cut short is sent again, marked as a possible redelivery.

Replicas (``replication.py``): only the one holding the lease consumes, delivers and runs the
housekeeping; every change of its state file is on the ``alerting.state`` changelog before an
offset is committed or a message sent, and the others apply it, ready to take over.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from faststream import FastStream

from schemas import Alert, utc_now
from services.alerting.alert_log import AlertLog
from services.alerting.batch import BatchAlerter
from services.alerting.channels import Channel, Dispatcher, build_channels
from services.alerting.core import Engine, load_rules, window_horizon
from services.alerting.deliverer import AlertDeliverer, alert_dead_letter
from services.alerting.digests import DigestSender
from services.alerting.housekeeping import Housekeeping
from services.alerting.replication import (
    Changelog,
    Replica,
    ShippedFirst,
    ensure_replication_topics,
)
from services.alerting.settings import AlertingSettings
from services.alerting.state import AlertingState
from services.common.kafka import (
    ALERTS,
    ARTICLES_ENRICHED,
    DeadLetter,
    Record,
    app_logger,
    dead_letterer,
    ensure_topics,
    group_instance_id,
    make_broker,
    subscribe_batches,
)

STAGE = "alerting"
NEVER = datetime.max.replace(tzinfo=UTC)  # a failed_since that leaves out every failed delivery

log = logging.getLogger("raqib.alerting")


@dataclass
class Term:
    """What runs while this replica holds the lease; a new one each time it takes it."""

    deliverer: AlertDeliverer
    housekeeping: Housekeeping
    alerter: BatchAlerter


class ActiveHandler:
    """The subscriber's handler: the current term's ``BatchAlerter``."""

    def __init__(self, dead_letter: DeadLetter) -> None:
        self.dead_letter = dead_letter
        self.term: Term | None = None

    async def __call__(self, records: Sequence[Record]) -> None:
        if self.term is None:
            raise RuntimeError("a batch arrived while this replica is not the active one")
        await self.term.alerter(records)


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
    replica: Replica | None = None

    async def replicate() -> None:
        if replica is not None:
            await replica.flush()

    # Every send waits for its intent to be on the changelog (decision 52).
    channels: dict[str, Channel] = {
        name: ShippedFirst(channel, replicate)
        for name, channel in build_channels(rule_set, settings).items()
    }
    engine = Engine(rule_set)

    async def send_alert_state(alert: Alert) -> None:
        await broker.publish(
            alert.model_dump_json().encode(), kafka.topic(ALERTS), key=alert.id.encode()
        )

    dead_letter_alert = alert_dead_letter(broker, kafka.dead_letter_topic(STAGE), STAGE)
    alert_log = AlertLog(
        send_alert_state,
        attempts=settings.alert_log_attempts,
        base_delay_s=settings.alert_log_retry_base_s,
    )
    publish = alert_log.publish
    handler = ActiveHandler(dead_letterer(broker, settings.kafka, STAGE))

    def new_term() -> Term:
        dispatcher = Dispatcher(
            channels,
            state,
            base_delay_s=settings.retry_base_delay_s,
            max_delay_s=settings.retry_max_delay_s,
            max_concurrent=settings.max_concurrent_sends,
            breaker_failures=settings.breaker_failures,
            breaker_probe_s=settings.breaker_probe_s,
        )
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
            keep_articles=(
                None
                if settings.keep_articles_s is None
                else timedelta(seconds=settings.keep_articles_s)
            ),
        )
        alerter = BatchAlerter(
            engine,
            state,
            publish=publish,
            deliverer=deliverer,
            dead_letter=handler.dead_letter,
            now=utc_now,
            replicate=replicate,
        )
        return Term(deliverer, housekeeping, alerter)

    subscriber: Any = None  # FastStream's subscriber, made the first time this replica leads

    async def on_active() -> None:
        # The outbox first: it needs only the producer, so what a stop or crash (of this
        # replica or the previous active one) left unfinished goes out before the consumer
        # group's join, which can take a session timeout (decision 51).
        nonlocal subscriber
        term = handler.term = new_term()
        unfinished = state.unfinished(failed_since=NEVER)  # never finished; no failed ones
        resumed = {a for a in unfinished if term.deliverer.resume(a)}
        if resumed:
            log.info("resuming deliveries", extra={"alerts": len(resumed)})
        term.housekeeping.start()
        if subscriber is None:
            before = set(map(id, broker.subscribers))
            subscribe_batches(broker, kafka.topic(ARTICLES_ENRICHED), settings, handler)
            (subscriber,) = (s for s in broker.subscribers if id(s) not in before)
        await subscriber.start()
        # A restart is also how an operator retries a fixed channel: deliveries that failed
        # lately go again once the stage consumes (those resumed above are not sent twice).
        since = utc_now() - timedelta(seconds=settings.resume_failed_within_s)
        retried = [
            alert_id
            for alert_id in state.unfinished(failed_since=since)
            if alert_id not in resumed and term.deliverer.resume(alert_id)
        ]
        if retried:
            log.info("retrying failed deliveries", extra={"alerts": len(retried)})

    async def on_standby() -> None:
        # All at once, before the lease is let go: no batch, send or digest runs after it.
        if subscriber is not None:
            await subscriber.stop()  # the batch in hand finishes and is committed
        term, handler.term = handler.term, None
        if term is not None:
            await term.housekeeping.stop()
            await term.deliverer.close(settings.shutdown_grace_s)
        await alert_log.flush(settings.shutdown_grace_s)

    async def set_up() -> None:
        nonlocal replica
        state.open()
        await ensure_topics(
            kafka,
            [kafka.topic(ARTICLES_ENRICHED), kafka.topic(ALERTS), kafka.dead_letter_topic(STAGE)],
        )
        await ensure_replication_topics(kafka)
        replica = Replica(
            Changelog(state.db),
            kafka,
            lease_group=settings.lease_group_id,
            instance_id=group_instance_id(kafka, kafka.group(settings.lease_group_id)),
            on_active=on_active,
            on_standby=on_standby,
        )

    async def join() -> None:
        assert replica is not None
        await replica.start()

    async def stop() -> None:
        if replica is not None:
            await replica.stop()

    async def close() -> None:
        for channel in channels.values():
            await channel.aclose()
        state.close()

    return FastStream(
        broker,
        logger=app_logger(STAGE),
        on_startup=[set_up],
        after_startup=[join],
        on_shutdown=[stop],
        after_shutdown=[close],
    )
