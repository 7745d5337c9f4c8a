"""A service as operators run it: `raqib run NAME` in its own process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import httpx
import pytest

from services.common.settings import KafkaSettings
from services.devstack.receivers import wait_until
from services.devstack.servers import free_port
from tests.conftest import REPO, kafka_env

pytestmark = pytest.mark.integration


def test_a_service_logs_json_serves_metrics_and_stops_cleanly(
    kafka_settings: KafkaSettings,
) -> None:
    port = free_port()
    env = {
        **os.environ,
        **kafka_env(kafka_settings),
        "RAQIB_METRICS_PORT": str(port),
    }
    service = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "run", "enrichment"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def metrics() -> str:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1).text
            except httpx.HTTPError:
                return ""

        assert wait_until(lambda: "raqib_messages_total" in metrics(), timeout=30)
    finally:
        service.send_signal(signal.SIGTERM)
        _, stderr = service.communicate(timeout=30)
    assert service.returncode == 0, stderr[-2000:]
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines, "the service logged nothing"
    for line in lines:
        entry = json.loads(line)  # every line is one JSON object
        assert entry["service"] == "enrichment" and entry["level"] and entry["msg"]
