"""Channels that go away and come back, and a crash during a send, against the real service,
broker and receivers, with durations scaled down (the breaker opens after 3 failures, a probe
every 0.5 s, give up after 30 s):

- a webhook receiver answering 500, or not listening, for a few seconds, and an SMTP server
  down for a few seconds: every alert is delivered once it is back, none is dead-lettered,
  and alerts waiting for the paused channel burn no attempts;
- ``raqib run alerting`` killed (SIGKILL) while a webhook receiver holds its request, then
  restarted: the alert is sent again with the same id, marked as a possible redelivery, and
  the alert log shows the interrupted attempt.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import pytest

from schemas import DeliveryStatus, alert_id
from services.alerting.app import build_app
from services.alerting.channels import INTERRUPTED
from services.alerting.settings import AlertingSettings
from services.common.kafka import ALERTS
from services.common.settings import KafkaSettings
from services.devstack.receivers import ReceivedRequest, SmtpCatcher, WebhookReceiver, wait_until
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

ALERTS_SENT = 30
OUTAGE_S = 3.0
PROBE_S = 0.5
FAILURES = 3  # in a row, to pause a channel


def scaled(tmp_path: Path, kafka: KafkaSettings, rules: str, smtp_port: int) -> AlertingSettings:
    return settings_for(tmp_path, kafka, rules).model_copy(
        update={
            "breaker_failures": FAILURES,
            "breaker_probe_s": PROBE_S,
            "give_up_after_s": 30.0,
            "smtp": settings_for(tmp_path, kafka, rules).smtp.model_copy(
                update={"port": smtp_port, "timeout_s": 2}
            ),
        }
    )


def articles(count: int) -> list[bytes]:
    return [as_bytes(enriched(f"قوة الردع الخاصة في الخبر رقم {n}.", n=n)) for n in range(count)]


def expected_ids(count: int) -> set[str]:
    return {
        alert_id("deterrence", enriched(f"قوة الردع الخاصة في الخبر رقم {n}.", n=n).id)
        for n in range(count)
    }


RULE = """
  - {id: deterrence, name: Deterrence, match: {actors: {any: [special-deterrence-force]}},
     channels: [out]}
"""


async def assert_no_dead_letters(kafka: KafkaSettings) -> None:
    dead = await read_topic(kafka.bootstrap_servers, kafka.dead_letter_topic("alerting"), timeout=2)
    assert dead == []


@pytest.mark.parametrize("outage", ["answers-500", "not-listening"])
async def test_a_webhook_receiver_away_for_a_few_seconds_gets_every_alert_once_back(
    tmp_path: Path,
    kafka_settings: KafkaSettings,
    outage: Literal["answers-500", "not-listening"],
) -> None:
    back_at = time.monotonic() + OUTAGE_S

    def respond(_seen: list[ReceivedRequest], _request: ReceivedRequest) -> int:
        return 500 if time.monotonic() < back_at else 200

    port = free_port()
    rules = f"""
channels:
  out: {{kind: webhook, url: "http://127.0.0.1:{port}/hooks/raqib", timeout_s: 2}}
rules:{RULE}"""
    settings = scaled(tmp_path, kafka_settings, rules, free_port())
    receiver = WebhookReceiver(responder=respond, port=port) if outage == "answers-500" else None
    if receiver is not None:
        receiver.start()
    await publish(kafka_settings, *articles(ALERTS_SENT))
    try:
        async with build_app(settings):
            if receiver is None:
                await asyncio.sleep(max(back_at - time.monotonic(), 0))
                receiver = WebhookReceiver(responder=respond, port=port).start()
            up = receiver
            back = time.monotonic()
            await eventually(lambda: len(up.accepted) >= ALERTS_SENT)
            drained_s = time.monotonic() - back
            # Time for a duplicate to show up if there were one.
            await asyncio.sleep(1)
            states = latest(
                await read_topic(
                    kafka_settings.bootstrap_servers,
                    kafka_settings.topic(ALERTS),
                    timeout=TIMEOUT,
                )
            )
    finally:
        if receiver is not None:
            receiver.stop()
    accepted = [r.headers["X-Raqib-Alert-Id"] for r in receiver.accepted]
    assert sorted(accepted) == sorted(expected_ids(ALERTS_SENT))  # each once
    assert drained_s < OUTAGE_S + PROBE_S + 5, drained_s
    await assert_no_dead_letters(kafka_settings)
    assert set(states) == expected_ids(ALERTS_SENT)
    deliveries = [alert.deliveries[0] for alert in states.values()]
    assert {d.status for d in deliveries} == {DeliveryStatus.DELIVERED}
    # Attempts not burned while paused: the attempts in flight when it failed, a few more
    # until the breaker opened, then one probe per interval, not one per alert and backoff.
    failed = sum(1 for d in deliveries for a in d.attempt_log if a.error)
    probes = OUTAGE_S / PROBE_S + 2
    assert failed <= 8 + FAILURES + probes, failed  # 8: the webhook's connections
    assert sum(1 for d in deliveries if d.attempts == 1) >= ALERTS_SENT - 8 - FAILURES


async def test_an_smtp_server_down_for_a_few_seconds_gets_every_alert_once_back(
    tmp_path: Path, kafka_settings: KafkaSettings
) -> None:
    catcher = SmtpCatcher(port=free_port())  # not listening yet
    rules = f"""
channels:
  out: {{kind: email, to: ["desk@raqib.example"]}}
rules:{RULE}"""
    settings = scaled(tmp_path, kafka_settings, rules, catcher.port)
    await publish(kafka_settings, *articles(ALERTS_SENT))
    async with build_app(settings):
        await asyncio.sleep(OUTAGE_S)
        with catcher:
            await eventually(lambda: len(catcher.messages) >= ALERTS_SENT)
            await asyncio.sleep(1)  # time for a duplicate to show up if there were one
            messages = catcher.messages
        states = latest(
            await read_topic(
                kafka_settings.bootstrap_servers, kafka_settings.topic(ALERTS), timeout=TIMEOUT
            )
        )
    ids = [str(m["X-Raqib-Alert-Id"]) for m in messages]
    assert sorted(ids) == sorted(expected_ids(ALERTS_SENT))  # each once
    assert len({str(m["Message-ID"]) for m in messages}) == ALERTS_SENT
    await assert_no_dead_letters(kafka_settings)
    deliveries = [alert.deliveries[0] for alert in states.values()]
    assert {d.status for d in deliveries} == {DeliveryStatus.DELIVERED}
    failed = sum(1 for d in deliveries for a in d.attempt_log if a.error)
    # Every email may be in flight at once (64 shared slots): each fails once at most
    # before the breaker opens, then only probes.
    assert failed <= ALERTS_SENT + OUTAGE_S / PROBE_S + 2, failed
    assert max(d.attempts for d in deliveries) <= OUTAGE_S / PROBE_S + 3


async def test_killed_during_a_send_the_alert_is_sent_again_marked_as_a_redelivery(
    tmp_path: Path, kafka_settings: KafkaSettings
) -> None:
    arrived, release = threading.Event(), threading.Event()

    def hold_the_first(seen: list[ReceivedRequest], _request: ReceivedRequest) -> int:
        if len(seen) == 1:  # keep the sender waiting until it is killed
            arrived.set()
            release.wait(60)
        return 200

    receiver = WebhookReceiver(responder=hold_the_first).start()
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        f"""
channels:
  out: {{kind: webhook, url: "{receiver.url}", timeout_s: 30}}
rules:{RULE}""",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        **kafka_env(kafka_settings),
        "RAQIB_ALERTING_RULES_FILE": str(rules),
        "RAQIB_ALERTING_STATE_FILE": str(tmp_path / "state" / "alerting.sqlite3"),
        "RAQIB_ALERTING_ALLOW_PRIVATE_TARGETS": "true",
    }
    article = enriched(n=1)
    expected = alert_id("deterrence", article.id)
    await publish(kafka_settings, as_bytes(article))
    log = tmp_path / "alerting.log"
    try:
        service = start_service("alerting", env, log)
        try:
            assert await asyncio.to_thread(arrived.wait, TIMEOUT), log.read_text()
        finally:
            stop_service(service, signal.SIGKILL)  # mid-send: the receiver holds the request
        release.set()
        restarted = start_service("alerting", env, log)
        try:
            got_two: Callable[[], bool] = lambda: len(receiver.requests) >= 2  # noqa: E731
            assert await asyncio.to_thread(wait_until, got_two, TIMEOUT), log.read_text()
            await asyncio.to_thread(wait_until, lambda: len(receiver.requests) > 2, 3)
        finally:
            stop_service(restarted, signal.SIGTERM)
    finally:
        release.set()
        receiver.stop()
    first, again = receiver.requests  # sent again once, not more
    assert first.headers["X-Raqib-Alert-Id"] == again.headers["X-Raqib-Alert-Id"] == expected
    assert "X-Raqib-Redelivery" not in first.headers
    assert again.headers["X-Raqib-Redelivery"] == "true"
    assert first.body == again.body
    final = latest(
        await read_topic(
            kafka_settings.bootstrap_servers, kafka_settings.topic(ALERTS), timeout=TIMEOUT
        )
    )[expected]
    (delivery,) = final.deliveries
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 2)
    assert [(a.number, a.error) for a in delivery.attempt_log] == [(1, INTERRUPTED), (2, None)]
