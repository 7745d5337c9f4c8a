"""Issue 13: two alerting replicas, the active one killed (SIGKILL) mid-stream: the standby
takes over with nothing lost and no duplicate a receiver cannot recognise; a replica with an
empty state directory restores from the changelog; a graceful stop hands over with none."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from schemas import EnrichedArticle, alert_id
from services.common.kafka import ARTICLES_ENRICHED
from services.common.settings import KafkaSettings
from services.devstack.receivers import WebhookReceiver, wait_until
from tests.conftest import kafka_env, start_service, stop_service
from tests.integration.alerting.test_alerting_service import as_bytes, eventually
from tests.unit.alerting.articles import enriched

pytestmark = pytest.mark.integration

SESSION_TIMEOUT_S = 6  # the broker's least (group.min.session.timeout.ms)
TAKEOVER_BOUND_S = SESSION_TIMEOUT_S + 10  # the session, the catch-up and the group join
ACTIVE = "alerting replica is active"
STANDBY = "alerting replica is standby"
THRESHOLD = 60  # matching articles in the window before the threshold rule fires


def rules(url: str) -> str:
    return f"""
channels:
  hook: {{kind: webhook, url: "{url}", timeout_s: 5}}
rules:
  - {{id: each, name: Each, match: {{actors: {{any: [special-deterrence-force]}}}},
      channels: [hook]}}
  - {{id: surge, name: Surge, kind: threshold, threshold: {{count: {THRESHOLD}, window: 1d}},
      match: {{actors: {{any: [special-deterrence-force]}}}}, channels: [hook]}}
"""


def articles(first: int, count: int) -> list[EnrichedArticle]:
    """60% of them raise an ``each`` alert (and count towards ``surge``)."""
    return [
        enriched(n=n) if n % 5 < 3 else enriched("خبر عن الطقس في طرابلس.", actors={}, n=n)
        for n in range(first, first + count)
    ]


async def stream(kafka: KafkaSettings, batch: list[EnrichedArticle], per_s: float) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
    await producer.start()
    try:
        for article in batch:
            await producer.send(
                kafka.topic(ARTICLES_ENRICHED), as_bytes(article), key=article.id.encode()
            )
            await asyncio.sleep(1 / per_s)
        await producer.flush()
    finally:
        await producer.stop()


def replica_env(tmp_path: Path, kafka: KafkaSettings, name: str, url: str) -> dict[str, str]:
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(rules(url), encoding="utf-8")
    return {
        **os.environ,
        **kafka_env(kafka),
        "RAQIB_ALERTING_RULES_FILE": str(rules_file),
        "RAQIB_ALERTING_STATE_FILE": str(tmp_path / name / "alerting.sqlite3"),
        "RAQIB_ALERTING_ALLOW_PRIVATE_TARGETS": "true",
        "RAQIB_ALERTING_RETRY_BASE_DELAY_S": "0.2",
        "RAQIB_ALERTING_RETRY_MAX_DELAY_S": "1",
        "RAQIB_KAFKA_INSTANCE_ID": f"replica-{name}",
        "RAQIB_KAFKA_SESSION_TIMEOUT_S": str(SESSION_TIMEOUT_S),
    }


def log_lines(log: Path, message: str) -> list[dict[str, object]]:
    lines = []
    for line in log.read_text(errors="replace").splitlines():
        if message in line and line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def start_replica(
    tmp_path: Path, kafka: KafkaSettings, name: str, url: str, role: str
) -> tuple[subprocess.Popen[bytes], Path]:
    log = tmp_path / f"{name}.log"
    process = start_service("alerting", replica_env(tmp_path, kafka, name, url), log)
    assert wait_until(lambda: bool(log_lines(log, role)), timeout=30), log.read_text()[-3000:]
    return process, log


async def test_the_standby_takes_over_from_a_killed_active_replica_losing_nothing(
    tmp_path: Path, kafka_settings: KafkaSettings, webhook_receiver: WebhookReceiver
) -> None:
    url = webhook_receiver.url
    a, _ = start_replica(tmp_path, kafka_settings, "a", url, ACTIVE)
    b, b_log = start_replica(tmp_path, kafka_settings, "b", url, STANDBY)
    c: subprocess.Popen[bytes] | None = None
    try:
        sent = articles(0, 300)
        expected = {alert_id("each", x.id) for x in sent if x.entities}
        streaming = asyncio.create_task(stream(kafka_settings, sent, per_s=40))
        await asyncio.sleep(3)  # about 120 articles in: kill the active replica mid-stream
        stop_service(a, signal.SIGKILL)
        killed_at = time.monotonic()
        while not log_lines(b_log, ACTIVE):
            assert time.monotonic() - killed_at < TAKEOVER_BOUND_S, b_log.read_text()[-3000:]
            await asyncio.sleep(0.1)
        took = time.monotonic() - killed_at
        await streaming

        def each_ids() -> set[str]:
            return {r.headers["X-Raqib-Alert-Id"] for r in webhook_receiver.requests} & expected

        with contextlib.suppress(AssertionError):  # what is missing is named below
            await eventually(lambda: each_ids() == expected, within=30)
        await asyncio.sleep(1)  # room for a late duplicate
        requests = list(webhook_receiver.requests)
        received = Counter(r.headers["X-Raqib-Alert-Id"] for r in requests)
        missing = expected - set(received)
        assert not missing, f"{len(missing)} alerts lost"
        # A second send of an alert is always marked as a possible redelivery.
        firsts: set[str] = set()
        unmarked, marked = [], 0
        for request in requests:
            key = request.headers["X-Raqib-Alert-Id"]
            if key in firsts:
                if request.headers.get("X-Raqib-Redelivery") == "true":
                    marked += 1
                else:
                    unmarked.append(key)
            firsts.add(key)
        assert unmarked == []
        # The threshold fired once, as one replica would have: one window, one alert id.
        surge = {
            r.headers["X-Raqib-Alert-Id"]
            for r in requests
            if json.loads(r.body).get("rule", {}).get("id") == "surge"
        }
        assert len(surge) == 1
        activated = log_lines(b_log, ACTIVE)[-1]
        print(
            f"standby active {took:.1f} s after the kill (session timeout {SESSION_TIMEOUT_S} s), "
            f"restored {activated['restored_records']} records in {activated['took_s']} s; "
            f"{len(expected)} alerts, {sum(received.values()) - len(received)} duplicates, "
            f"all {marked} marked"
        )

        # A replica with an empty state directory restores everything from the changelog.
        c, c_log = start_replica(tmp_path, kafka_settings, "c", url, STANDBY)
        restored = log_lines(c_log, STANDBY)[-1]
        assert isinstance(restored["restored_records"], int) and restored["restored_records"] > 0

        # The active one stopped (SIGTERM): the new replica takes over, and sends each new
        # alert once; none of the old ones again.
        before = len(webhook_receiver.requests)
        stop_service(b, signal.SIGTERM)
        more = articles(300, 20)
        await stream(kafka_settings, more, per_s=100)
        new = {alert_id("each", x.id) for x in more if x.entities}
        assert wait_until(
            lambda: new <= {r.headers["X-Raqib-Alert-Id"] for r in webhook_receiver.requests},
            timeout=TAKEOVER_BOUND_S + 10,
        ), c_log.read_text()[-3000:]
        await asyncio.sleep(1)
        after = [r.headers["X-Raqib-Alert-Id"] for r in webhook_receiver.requests[before:]]
        assert sorted(after) == sorted(new)
    finally:
        for process in (a, b, c):
            if process is not None and process.poll() is None:
                stop_service(process, signal.SIGKILL)
