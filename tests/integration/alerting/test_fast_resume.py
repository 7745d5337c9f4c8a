"""Issue 13: a restarted alerting delivers what its outbox holds at once, while its consumer
group is still rebalancing (the outbox needs nothing from the group)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from services.common.settings import KafkaSettings
from services.devstack.receivers import WebhookReceiver, wait_until
from tests.conftest import start_service, stop_service
from tests.integration.alerting.test_alerting_service import TIMEOUT
from tests.integration.alerting.test_crash_and_digest import kill_with_an_alert_in_the_outbox

pytestmark = pytest.mark.integration

RESUME_BOUND_S = 5.0  # restart to the outbox alert's delivery, process start included
# The killed process stays a member of the group this long, so the restarted one's join
# waits for it (dynamic membership): far longer than the bound.
SESSION_TIMEOUT_S = 20
JOINED = "assigned to partitions"  # FastStream's line when the group gave the consumer its own


async def test_a_restarted_alerting_delivers_its_outbox_before_its_group_join_ends(
    tmp_path: Path, kafka_settings: KafkaSettings
) -> None:
    killed = await kill_with_an_alert_in_the_outbox(
        tmp_path, kafka_settings, RAQIB_KAFKA_SESSION_TIMEOUT_S=str(SESSION_TIMEOUT_S)
    )
    log = killed.log
    with WebhookReceiver(port=killed.port) as receiver:
        joins = log.read_text().count(JOINED)
        restarted_at = time.monotonic()
        restarted = start_service("alerting", killed.env, log)
        try:
            delivered = wait_until(lambda: len(receiver.requests) >= 1, timeout=TIMEOUT)
            took = time.monotonic() - restarted_at
            joined = log.read_text().count(JOINED) > joins
            print(f"outbox alert delivered {took:.2f} s after the restart")
        finally:
            stop_service(restarted, signal.SIGKILL)
    assert delivered, log.read_text()[-4000:]
    assert took < RESUME_BOUND_S, log.read_text()[-4000:]
    assert [r.headers["X-Raqib-Alert-Id"] for r in receiver.requests] == [killed.alert_id]
    # Delivered while the restarted consumer still waited for its partitions.
    assert not joined, log.read_text()[-4000:]
