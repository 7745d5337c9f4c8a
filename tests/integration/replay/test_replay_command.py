"""`raqib replay` as a user runs it, against a real broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from schemas import RawArticle
from services.common.kafka import ARTICLES_RAW
from services.common.settings import KafkaSettings
from services.devstack.topics import read_topic
from tests.conftest import REPO, SEEDS, kafka_env

pytestmark = pytest.mark.integration


def _replay(kafka: KafkaSettings, directory: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **kafka_env(kafka)}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "replay", str(directory)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_replaying_twice_publishes_the_same_ids(kafka_settings: KafkaSettings) -> None:
    first, second = _replay(kafka_settings, SEEDS), _replay(kafka_settings, SEEDS)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert json.loads(first.stdout)["ids"] == json.loads(second.stdout)["ids"]

    records = await read_topic(
        kafka_settings.bootstrap_servers, kafka_settings.topic(ARTICLES_RAW), min_count=10
    )
    articles = [RawArticle.model_validate_json(r.value) for r in records]
    assert len(articles) == 10
    assert len({a.id for a in articles}) == 5
    assert all(r.key == a.id.encode() for r, a in zip(records, articles, strict=True))


async def test_a_broken_fixture_stops_the_replay_before_anything_is_sent(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    (tmp_path / "good.txt").write_text("خبر سليم", encoding="utf-8")
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe broken")
    done = _replay(kafka_settings, tmp_path)
    assert done.returncode == 2
    assert "bad.txt" in done.stderr and "not UTF-8" in done.stderr
    assert (
        await read_topic(
            kafka_settings.bootstrap_servers, kafka_settings.topic(ARTICLES_RAW), timeout=2
        )
        == []
    )
