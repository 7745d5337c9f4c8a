"""Alerting wiring: ``articles.enriched`` → rules → email/webhook → ``alerts``.

An article's offset is committed only after each of its alerts' deliveries reached a final
state (delivered, or failed after the last retry) and the alert was published. A failed
delivery sends the alert to ``alerting.dlq`` and the service moves on.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Literal

from faststream import FastStream
from prometheus_client import Counter

from schemas import Alert, DeliveryStatus, EnrichedArticle, utc_now
from services.alerting.channels import Dispatcher, build_channels
from services.alerting.core import RULE_KINDS, build_alert, evaluate_rules, load_rules
from services.alerting.settings import AlertingSettings
from services.alerting.store import SentStore
from services.common.errors import PermanentError
from services.common.kafka import (
    ALERTS,
    ARTICLES_ENRICHED,
    app_logger,
    dead_letter_topic,
    ensure_topics,
    make_broker,
    stage_subscriber,
)

STAGE = "alerting"

ALERTS_RAISED = Counter(
    "raqib_alerting_alerts_total", "Alerts raised (first publication), by rule.", ["rule"]
)

log = logging.getLogger("raqib.alerting")


def failed_alert_headers(alert: Alert) -> dict[str, str]:
    """The ``x-raqib-*`` dead-letter headers, for an alert whose delivery failed."""
    failed = [d for d in alert.deliveries if d.status is DeliveryStatus.FAILED]
    return {
        "x-raqib-stage": STAGE,
        "x-raqib-error-type": "DeliveryFailed",
        "x-raqib-error": "; ".join(f"{d.channel}: {d.last_error}" for d in failed)[:4000],
        "x-raqib-alert-id": alert.id,
        "x-raqib-failed-at": datetime.now(UTC).isoformat(),
    }


def build_app(settings: AlertingSettings | None = None) -> FastStream:
    settings = settings or AlertingSettings()
    rule_set = load_rules(settings.rules_file, kinds=RULE_KINDS)
    log.info(
        "rules loaded",
        extra={
            "rules_file": str(settings.rules_file),
            "rules": [rule.id for rule in rule_set.rules],
            "channels": {name: config.kind for name, config in rule_set.channels.items()},
        },
    )
    broker = make_broker(settings.kafka, stage=STAGE)
    alerts = broker.publisher(ALERTS)
    store = SentStore(settings.state_file)
    channels = build_channels(rule_set, settings)
    dispatcher = Dispatcher(
        channels,
        store,
        base_delay_s=settings.retry_base_delay_s,
        max_delay_s=settings.retry_max_delay_s,
    )

    def channel_kinds(names: list[str]) -> list[tuple[str, Literal["email", "webhook"]]]:
        return [(name, rule_set.channels[name].kind) for name in names]

    @stage_subscriber(
        broker,
        ARTICLES_ENRICHED,
        group_id=settings.group_id,
    )
    async def handle(article: EnrichedArticle) -> None:
        try:
            raised_alerts = [
                build_alert(match, article, channel_kinds(match.rule.channels), now=utc_now())
                for match in evaluate_rules(rule_set.rules, article)
            ]
        except Exception as error:
            # Rules and rendering are pure: what fails once fails every time, so retrying
            # would only block the partition; dead-letter the article instead.
            raise PermanentError(f"rules failed on article {article.id}: {error!r}") from error
        for raised in raised_alerts:
            outcome = await dispatcher.dispatch(raised, article)
            alert = outcome.alert
            first = not store.was_published(alert.id)
            if not (outcome.attempted or first):
                continue  # a replay: everything already went out and was published
            body, key = alert.model_dump_json().encode(), alert.id.encode()
            if outcome.failed:
                await broker.publish(
                    body, dead_letter_topic(STAGE), key=key, headers=failed_alert_headers(alert)
                )
            await alerts.publish(body, key=key)
            store.mark_published(alert.id, now=utc_now())
            if first:
                ALERTS_RAISED.labels(alert.rule.id).inc()
            log.info(
                "alert published",
                extra={
                    "alert_id": alert.id,
                    "rule": alert.rule.id,
                    "article_id": article.id,
                    "deliveries": {d.channel: d.status.value for d in alert.deliveries},
                },
            )

    async def start() -> None:
        store.open()
        await ensure_topics(settings.kafka, [ARTICLES_ENRICHED, ALERTS, dead_letter_topic(STAGE)])

    async def stop() -> None:
        for channel in channels.values():
            await channel.aclose()
        store.close()

    return FastStream(broker, logger=app_logger(STAGE), on_startup=[start], after_shutdown=[stop])
