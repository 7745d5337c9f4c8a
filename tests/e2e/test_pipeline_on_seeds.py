"""The whole pipeline on the seeds: four service processes, real broker, Elasticsearch,
SMTP server and webhook receiver; replay twice."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from services.common.kafka import ALERTS
from services.common.settings import KafkaSettings
from services.devstack.stack import (
    ARTICLES_ALIAS,
    WEBHOOK_SECRET,
    LocalStack,
    latest_alerts,
    pipeline_idle,
)
from services.devstack.topics import read_topic
from services.indexer.engines import SearchEngine
from services.replay.publish import replay
from tests.conftest import REPO, SEEDS

pytestmark = pytest.mark.e2e

DETERRENCE_SEEDS = {"000", "001", "002"}
BASHAGHA_SEEDS = {"000"}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    local = LocalStack(tmp_path)
    try:
        local.start()
        yield local
    finally:
        local.stop()


async def _replay_and_wait(stack: LocalStack, engine: SearchEngine) -> dict[str, str]:
    settings = KafkaSettings(bootstrap_servers=stack.kafka.bootstrap_servers)
    names: dict[str, str] = {}
    articles = await replay(
        SEEDS, settings, on_published=lambda p, a: names.update({a.id: p.name[:3]})
    )
    deadline = time.monotonic() + 120
    while not await pipeline_idle(stack, engine, [a.id for a in articles]):
        assert time.monotonic() < deadline, "pipeline did not catch up within 120 s"
        await asyncio.sleep(0.5)
    return names


@pytest.fixture
async def engine(stack: LocalStack) -> AsyncIterator[SearchEngine]:
    client = stack.engine()
    yield client
    await client.close()


async def test_seeds_are_indexed_tagged_and_alerted_exactly_once(
    stack: LocalStack, engine: SearchEngine
) -> None:
    seed_of = await _replay_and_wait(stack, engine)

    await engine.refresh(ARTICLES_ALIAS)
    assert await engine.count(ARTICLES_ALIAS) == 5
    found = await engine.search(ARTICLES_ALIAS, {"size": 10})
    actors = {seed_of[hit["_id"]]: set(hit["_source"]["actors"]) for hit in found["hits"]["hits"]}
    assert {s for s, a in actors.items() if "special-deterrence-force" in a} == DETERRENCE_SEEDS
    assert {s for s, a in actors.items() if "fathi-bashagha" in a} == BASHAGHA_SEEDS

    expected = {("deterrence", s) for s in DETERRENCE_SEEDS} | {
        ("bashagha", s) for s in BASHAGHA_SEEDS
    }
    alerts = latest_alerts(await read_topic(stack.kafka.bootstrap_servers, ALERTS, min_count=4))
    assert {(a.rule.id, seed_of[a.article.id]) for a in alerts} == expected
    assert all(d.status.value == "delivered" for a in alerts for d in a.deliveries)
    assert len(stack.webhooks.accepted) == 4
    assert len(stack.smtp.messages) == 4
    webhook_alerts = {json.loads(r.body)["id"] for r in stack.webhooks.accepted}
    assert webhook_alerts == {a.id for a in alerts}
    for request in stack.webhooks.accepted:  # verified as the README tells receivers to
        signed = request.headers["X-Raqib-Timestamp"].encode() + b"." + request.body
        digest = hmac.new(WEBHOOK_SECRET.encode(), signed, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(request.headers["X-Raqib-Signature"], f"sha256={digest}")
        content = json.loads(request.body)["content"]  # what an alert carries
        assert content["source"] != "unknown" and content["actors"][0]["excerpts"]
        assert content["actors"][0]["reasons"] and all(t["labels"] for t in content["topics"])
    subjects = sorted(str(m["Subject"]) for m in stack.smtp.messages)
    assert sum("Deterrence" in s for s in subjects) == 3
    assert sum("Bashagha" in s for s in subjects) == 1

    # A second replay: same ids, so no new document and no new alert.
    await _replay_and_wait(stack, engine)
    await engine.refresh(ARTICLES_ALIAS)
    assert await engine.count(ARTICLES_ALIAS) == 5
    assert len(stack.webhooks.accepted) == 4
    assert len(stack.smtp.messages) == 4


def test_demo_command_prints_the_summary_line() -> None:
    """The README's first command ends in `raqib demo`; run it as a user would."""
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "demo", "--timeout", "150"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["indexed"] == 5
    assert summary["emails"] == 4 and summary["webhooks"] == 4
    assert sorted(a["rule"] for a in summary["alerts"]) == ["Bashagha"] + ["Deterrence"] * 3
