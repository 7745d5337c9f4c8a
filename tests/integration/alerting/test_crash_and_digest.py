"""The alerting service killed between receiving an article and delivering its alert, then
restarted (the alert arrives once); and a digest collected over a short window."""

from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest

from schemas import Alert, DeliveryStatus, alert_id
from services.alerting.app import build_app
from services.common.kafka import ALERTS
from services.common.settings import KafkaSettings
from services.devstack.receivers import SmtpCatcher, WebhookReceiver, wait_until
from services.devstack.servers import free_port
from services.devstack.topics import read_topic
from tests.conftest import kafka_env, start_service, stop_service
from tests.integration.alerting.test_alerting_service import (
    TIMEOUT,
    as_bytes,
    eventually,
    latest,
    publish,
    settings_for,
)
from tests.unit.alerting.articles import enriched

pytestmark = pytest.mark.integration


@dataclass
class OutboxAlert:
    """An alerting service killed with one alert in its outbox, its receiver still down."""

    env: dict[str, str]
    log: Path
    port: int  # where the receiver is to listen once it is back
    alert_id: str


async def kill_with_an_alert_in_the_outbox(
    tmp_path: Path, kafka_settings: KafkaSettings, **settings: str
) -> OutboxAlert:
    """Run ``raqib run alerting`` (with extra ``settings`` in its environment) until an alert
    is in its outbox with a failed attempt on the alert log, then kill it (SIGKILL)."""
    port = free_port()  # the receiver is down until after the kill
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        f"""
channels:
  hook: {{kind: webhook, url: "http://127.0.0.1:{port}/hooks/raqib", timeout_s: 2}}
rules:
  - {{id: deterrence, name: Deterrence, match: {{actors: {{any: [special-deterrence-force]}}}},
      channels: [hook]}}
""",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        **kafka_env(kafka_settings),
        "RAQIB_ALERTING_RULES_FILE": str(rules),
        "RAQIB_ALERTING_STATE_FILE": str(tmp_path / "state" / "alerting.sqlite3"),
        "RAQIB_ALERTING_ALLOW_PRIVATE_TARGETS": "true",
        "RAQIB_ALERTING_RETRY_BASE_DELAY_S": "0.5",
        "RAQIB_ALERTING_RETRY_MAX_DELAY_S": "1",
        **settings,
    }
    article = enriched(n=1)
    expected = alert_id("deterrence", article.id)
    await publish(kafka_settings, as_bytes(article))
    log = tmp_path / "alerting.log"
    service = start_service("alerting", env, log)
    try:
        # Received, written to the outbox, a failing attempt recorded: now kill it.
        records = await read_topic(
            kafka_settings.bootstrap_servers,
            kafka_settings.topic(ALERTS),
            min_count=2,
            timeout=TIMEOUT,
        )
        assert {r.key for r in records} == {expected.encode()}
    finally:
        stop_service(service, signal.SIGKILL)
    return OutboxAlert(env, log, port, expected)


async def test_killed_before_delivering_then_restarted_sends_the_alert_once(
    tmp_path: Path, kafka_settings: KafkaSettings
) -> None:
    killed = await kill_with_an_alert_in_the_outbox(tmp_path, kafka_settings)
    env, log, expected = killed.env, killed.log, killed.alert_id
    with WebhookReceiver(port=killed.port) as receiver:
        restarted = start_service("alerting", env, log)
        try:
            assert wait_until(lambda: len(receiver.requests) >= 1, timeout=TIMEOUT), log.read_text()
            # Time for a duplicate to show up if there were one.
            wait_until(lambda: len(receiver.requests) > 1, timeout=3)
        finally:
            stop_service(restarted, signal.SIGTERM)
    assert [r.headers["X-Raqib-Alert-Id"] for r in receiver.requests] == [expected]
    final = latest(
        await read_topic(kafka_settings.bootstrap_servers, kafka_settings.topic(ALERTS), timeout=3)
    )[expected]
    (delivery,) = final.deliveries
    assert delivery.status is DeliveryStatus.DELIVERED
    # The attempts before the kill count too: the number goes on from where it stopped.
    assert delivery.attempts == len(delivery.attempt_log) >= 2
    assert delivery.attempt_log[-1].error is None


async def test_a_digest_sends_one_message_per_channel_when_its_window_closes(
    tmp_path: Path,
    kafka_settings: KafkaSettings,
    smtp_catcher: SmtpCatcher,
    webhook_receiver: WebhookReceiver,
) -> None:
    rules = f"""
channels:
  desk-email: {{kind: email, to: ["desk@raqib.example"]}}
  desk-hook: {{kind: webhook, url: "{webhook_receiver.url}"}}
rules:
  - id: deterrence
    name: Deterrence
    match: {{actors: {{any: [special-deterrence-force]}}}}
    channels: [desk-email, desk-hook]
    digest: {{window: 3s}}
"""
    settings = settings_for(tmp_path, kafka_settings, rules, smtp_catcher)
    articles = [enriched(f"قوة الردع الخاصة في الخبر رقم {n}.", n=n) for n in range(3)]
    await publish(kafka_settings, *(as_bytes(a) for a in articles))
    async with build_app(settings):
        await eventually(
            lambda: len(webhook_receiver.requests) >= 1 and len(smtp_catcher.messages) >= 1
        )
        alerts = await read_topic(
            kafka_settings.bootstrap_servers,
            kafka_settings.topic(ALERTS),
            min_count=9,
            timeout=TIMEOUT,
        )
    # 3 alerts may straddle a window edge: at most 2 digests, all 3 alerts in them once each.
    bodies = [json.loads(r.body) for r in webhook_receiver.requests]
    assert len(bodies) <= 2 and len(smtp_catcher.messages) == len(bodies)
    posted = sorted(a["id"] for body in bodies for a in body["alerts"])
    assert posted == sorted(alert_id("deterrence", a.id) for a in articles)
    subjects = [str(m["Subject"]) for m in smtp_catcher.messages]
    assert all(s.startswith("[Raqib] Deterrence:") and "(digest)" in s for s in subjects)
    states = latest(alerts)
    assert all(
        d.status is DeliveryStatus.DELIVERED and d.digest_id is not None
        for alert in states.values()
        for d in alert.deliveries
    )
    assert {Alert.model_validate(a).id for body in bodies for a in body["alerts"]} == set(states)
