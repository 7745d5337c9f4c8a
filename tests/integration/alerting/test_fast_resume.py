"""Issue 13: a restarted alerting delivers what its outbox holds at once, while its consumer
group is still rebalancing (the outbox needs nothing from the group)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from schemas import alert_id
from services.common.kafka import ALERTS
from services.common.settings import KafkaSettings
from services.devstack.receivers import WebhookReceiver, wait_until
from services.devstack.servers import free_port
from services.devstack.topics import read_topic
from tests.conftest import kafka_env
from tests.integration.alerting.test_alerting_service import TIMEOUT, as_bytes, publish
from tests.integration.alerting.test_crash_and_digest import start_service
from tests.unit.alerting.articles import enriched

pytestmark = pytest.mark.integration

RESUME_BOUND_S = 5.0  # restart to the outbox alert's delivery, process start included
# The killed process stays a member of the group this long, so the restarted one's join
# waits for it (dynamic membership): far longer than the bound.
SESSION_TIMEOUT_S = 20
JOINED = "assigned to partitions"  # FastStream's line when the group gave the consumer its own


def stop(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    process.send_signal(sig)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


async def test_a_restarted_alerting_delivers_its_outbox_before_its_group_join_ends(
    tmp_path: Path, kafka_settings: KafkaSettings
) -> None:
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
        "RAQIB_KAFKA_SESSION_TIMEOUT_S": str(SESSION_TIMEOUT_S),
        "RAQIB_ALERTING_RULES_FILE": str(rules),
        "RAQIB_ALERTING_STATE_FILE": str(tmp_path / "state" / "alerting.sqlite3"),
        "RAQIB_ALERTING_ALLOW_PRIVATE_TARGETS": "true",
        "RAQIB_ALERTING_RETRY_BASE_DELAY_S": "0.5",
        "RAQIB_ALERTING_RETRY_MAX_DELAY_S": "1",
    }
    article = enriched(n=1)
    expected = alert_id("deterrence", article.id)
    await publish(kafka_settings, as_bytes(article))
    log = tmp_path / "alerting.log"
    service = start_service(env, log)
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
        stop(service, signal.SIGKILL)
    with WebhookReceiver(port=port) as receiver:
        joins = log.read_text().count(JOINED)
        restarted_at = time.monotonic()
        restarted = start_service(env, log)
        try:
            delivered = wait_until(lambda: len(receiver.requests) >= 1, timeout=TIMEOUT)
            took = time.monotonic() - restarted_at
            joined = log.read_text().count(JOINED) > joins
            print(f"outbox alert delivered {took:.2f} s after the restart")
        finally:
            stop(restarted, signal.SIGKILL)
    assert delivered, log.read_text()[-4000:]
    assert took < RESUME_BOUND_S, log.read_text()[-4000:]
    assert [r.headers["X-Raqib-Alert-Id"] for r in receiver.requests] == [expected]
    # Delivered while the restarted consumer still waited for its partitions.
    assert not joined, log.read_text()[-4000:]
