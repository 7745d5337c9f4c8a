"""The pipeline benchmark runs end to end on a few articles and reports what it measured.

It starts the whole local system, so it is an integration test; it asserts that the numbers
are there and consistent, never how fast anything was.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.integration

ARTICLES = 20
EXPECTED_KEYS = {
    "machine",
    "complete",
    "articles",
    "published",
    "processed",
    "mean_article_kb",
    "publish_s",
    "end_to_end_s",
    "articles_per_s",
    "stage_completion_s",
    "alerts_delivered_s",
    "alerts",
    "emails",
    "webhooks",
    "peak_rss_mb",
}
SERVICES = {"enrichment", "indexer", "alerting", "fetcher"}


def run_benchmark(module: str, *args: str, timeout: float) -> dict[str, Any]:
    """Run ``python -m module args`` as a user would; its last stdout line is the JSON result."""
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_pipeline_benchmark_processes_every_published_article() -> None:
    result = run_benchmark("benchmarks.pipeline", "--articles", str(ARTICLES), timeout=120)

    assert result.keys() >= EXPECTED_KEYS
    assert result["complete"] is True
    assert result["articles"] == result["published"] == ARTICLES
    assert result["processed"] == result["published"]
    assert {"cpu", "cores", "python"} <= result["machine"].keys()
    assert 3 <= result["mean_article_kb"] <= 7
    assert set(result["stage_completion_s"]) == {"enrichment", "indexer", "alerting"}
    assert all(seconds is not None for seconds in result["stage_completion_s"].values())
    assert result["alerts_delivered_s"] is not None
    # Three of every five articles come from seeds that name the Deterrence force, one of them
    # also Bashagha: 16 alerts for 20 articles, each delivered once by email and by webhook.
    assert result["alerts"] == ARTICLES * 4 // 5
    assert result["emails"] == result["webhooks"] == result["alerts"]
    assert result["peak_rss_mb"].keys() >= SERVICES
    assert all(result["peak_rss_mb"][name] > 0 for name in SERVICES)


def test_indexer_benchmark_indexes_every_document_and_reports_cpu() -> None:
    result = run_benchmark("benchmarks.indexer", "--quick", timeout=180)
    assert result["documents"] == 500
    assert 3 <= result["mean_article_kb"] <= 5
    assert result["documents_per_s"] > 0
    assert result["indexer_cpu_s"] >= 0 and result["server_cpu_s"] > 0
    assert result["indexer_peak_rss_mb"] > 0
    assert isinstance(result["goal_met"], bool)


def test_fetcher_benchmark_polls_every_feed_then_gets_304s() -> None:
    result = run_benchmark("benchmarks.fetcher", "--quick", timeout=120)
    feeds = result["feeds"]
    assert result["hosts"] == feeds
    assert result["round1"]["fetched"] == feeds
    assert result["round1"]["articles_published"] == feeds * result["items_per_feed"]
    assert result["round2"]["not_modified"] == feeds
    assert result["round2"]["articles_published"] == 0
    assert result["round1"]["feeds_per_s"] > 0 and result["round2"]["feeds_per_s"] > 0
    assert result["peak_rss_mb"] > 0


def test_alerting_benchmark_delivers_every_alert_once() -> None:
    result = run_benchmark("benchmarks.alerting", "--quick", timeout=180)
    assert result["alerts_expected"] == result["published"] == result["alerts_received"] > 0
    assert (result["missed"], result["doubled"]) == (0, 0)
    assert result["latency_ms"]["p50"] <= result["latency_ms"]["p99"] <= result["latency_ms"]["max"]
    assert result["alerting_cpu_s"] > 0


def test_alerting_benchmark_runs_the_service_without_parts() -> None:
    result = run_benchmark(
        "benchmarks.alerting",
        "--channel=email",
        "--burst=200",
        "--rules=10",
        "--without=render,replication,alert-log",
        timeout=180,
    )
    assert result["alerts_received"] == result["published"] == 200
    assert (result["missed"], result["doubled"]) == (0, 0)
    assert result["delivered_per_s"] > 0
    # The service sent the stand-in, not a rendered alert (about 8 KB), and the receiver's
    # ceiling is not measured with it.
    assert result["email_bytes"] < 1000
    assert result["catcher_ceiling_per_s"] is None
