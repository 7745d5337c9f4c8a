"""``raqib retag`` on the real pipeline: a broker, OpenSearch, and the enrichment, indexer and
alerting services as processes. An actor is added to the knowledge base after the archive was
indexed; re-tagging puts it on the archive's articles, with the new knowledge-base version,
and raises alerts only as the operator chose."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from schemas import RawArticle, alert_id, article_id, content_hash
from services.common.kafka import ALERTS, ARTICLES_RAW, ensure_topics
from services.common.settings import KafkaSettings
from services.devstack.opensearch_node import LocalOpenSearch
from services.devstack.receivers import WebhookReceiver
from services.devstack.servers import free_port
from services.devstack.topics import read_topic
from services.enrichment.core import load_knowledge_base
from tests.conftest import REPO, kafka_env, rest, start_service, stop_service

pytestmark = pytest.mark.integration

NEW_ACTOR = "golden-eagles-brigade"
DETERRENCE = "special-deterrence-force"
PACKAGED_KB = REPO / "services" / "enrichment" / "knowledge_base.yaml"
NEW_ACTOR_YAML = f"""actors:

  {NEW_ACTOR}:
    type: armed-group
    name: Golden Eagles Brigade (كتيبة النسور الذهبية)
    aliases:
      - كتيبة النسور الذهبية
"""
RULES = """
channels:
  hook: {{kind: webhook, url: "http://127.0.0.1:{port}/hooks/raqib", timeout_s: 2}}
rules:
  - {{id: deterrence, name: Deterrence, match: {{actors: {{any: [special-deterrence-force]}}}},
      channels: [hook]}}
  - {{id: eagles, name: Eagles, match: {{actors: {{any: [golden-eagles-brigade]}}}},
      channels: [hook]}}
"""
TIMEOUT = 90.0
NOW = datetime.now(UTC)
OLD = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)


def raw(n: int, text: str, published: datetime | None) -> RawArticle:
    url = f"https://news.example/retag/{n}"
    return RawArticle(
        id=article_id(url),
        url=url,
        source="Test Agency",
        title=f"خبر رقم {n}",
        text=text,
        published_at=published,
        fetched_at=published or OLD,
        content_hash=content_hash(text),
    )


# Old articles: two name the new actor (one of them the Deterrence Force too), one names
# neither. A recent one names the new actor: within the default alert cut-off.
BOTH = raw(1, "قالت قوة الردع الخاصة إن كتيبة النسور الذهبية انسحبت من الطريق الساحلي.", OLD)
EAGLES = raw(2, "أعلنت كتيبة النسور الذهبية سيطرتها على معبر حدودي.", OLD + timedelta(days=3))
NEITHER = raw(3, "ارتفعت أسعار الخبز في الأسواق هذا الأسبوع.", OLD + timedelta(days=5))
RECENT = raw(4, "نفت كتيبة النسور الذهبية أي مشاركة في الاشتباكات.", NOW - timedelta(days=1))
ARCHIVE = [BOTH, EAGLES, NEITHER, RECENT]


async def publish_raw(kafka: KafkaSettings, articles: list[RawArticle]) -> None:
    await ensure_topics(kafka, [kafka.topic(ARTICLES_RAW)])
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
    await producer.start()
    try:
        for article in articles:
            await producer.send_and_wait(
                kafka.topic(ARTICLES_RAW),
                article.model_dump_json().encode(),
                key=article.id.encode(),
            )
    finally:
        await producer.stop()


def wait_for(predicate: Any, what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def documents(url: str, alias: str) -> dict[str, dict[str, Any]]:
    """Every document behind ``alias`` by id (none while the indexer has not made it)."""
    if httpx.head(f"{url}/{alias}", timeout=10).status_code == 404:
        return {}
    rest(url, "POST", f"{alias}/_refresh")
    answer = rest(url, "POST", f"{alias}/_search", {"size": 100, "query": {"match_all": {}}})
    return {hit["_id"]: hit["_source"] for hit in answer["hits"]["hits"]}


def raised(kafka: KafkaSettings, min_count: int = 0, timeout: float = 5.0) -> set[str]:
    records = asyncio.run(
        read_topic(
            kafka.bootstrap_servers, kafka.topic(ALERTS), min_count=min_count, timeout=timeout
        )
    )
    return {record.key.decode() for record in records if record.key}


class Pipeline:
    """The three services as processes, sharing one environment."""

    def __init__(self, env: dict[str, str], tmp_path: Path) -> None:
        self.env = env
        self.tmp_path = tmp_path
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, **extra: str) -> None:
        log = self.tmp_path / f"{name}.log"
        self.processes[name] = start_service(name, {**self.env, **extra}, log)

    def stop(self, name: str) -> None:
        stop_service(self.processes.pop(name), signal.SIGTERM)

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text()[-3000:]}" for p in self.tmp_path.glob("*.log")
        )


@pytest.fixture
def environment(
    kafka_settings: KafkaSettings, opensearch: LocalOpenSearch, namespace: str, tmp_path: Path
) -> dict[str, str]:
    return {
        **os.environ,
        **kafka_env(kafka_settings),
        "RAQIB_ES_URL": opensearch.url,
        "RAQIB_ES_ENGINE": "opensearch",
        "RAQIB_ES_ARTICLES_ALIAS": f"{namespace}raqib-articles",
        "RAQIB_ES_ALERTS_ALIAS": f"{namespace}raqib-alerts",
        "RAQIB_ALERTING_STATE_FILE": str(tmp_path / "state" / "alerting.sqlite3"),
        "RAQIB_ALERTING_ALLOW_PRIVATE_TARGETS": "true",
        "RAQIB_ENRICHMENT_BATCH_TIMEOUT_S": "0.05",
        "RAQIB_INDEXER_BATCH_TIMEOUT_S": "0.05",
    }


@pytest.fixture
def pipeline(
    environment: dict[str, str], tmp_path: Path, webhook_receiver: WebhookReceiver
) -> Iterator[Pipeline]:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.format(port=webhook_receiver.port), encoding="utf-8")
    environment["RAQIB_ALERTING_RULES_FILE"] = str(rules)
    running = Pipeline(environment, tmp_path)
    try:
        yield running
    finally:
        running.stop_all()


def retag_command(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "retag", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_an_added_actor_reaches_the_archive_and_alerts_follow_the_mode(
    pipeline: Pipeline,
    kafka_settings: KafkaSettings,
    opensearch: LocalOpenSearch,
    namespace: str,
    tmp_path: Path,
) -> None:
    alias = f"{namespace}raqib-articles"
    old_kb = load_knowledge_base(None).version
    for name in ("enrichment", "indexer", "alerting"):
        pipeline.start(name)
    asyncio.run(publish_raw(kafka_settings, ARCHIVE))
    wait_for(lambda: len(documents(opensearch.url, alias)) == 4, "the archive to be indexed")
    before = documents(opensearch.url, alias)
    assert {doc["knowledge_base_version"] for doc in before.values()} == {old_kb}
    assert all(NEW_ACTOR not in doc["actors"] for doc in before.values())
    assert before[BOTH.id]["actors"] == [DETERRENCE]
    first_alerts = {alert_id("deterrence", BOTH.id)}
    wait_for(lambda: raised(kafka_settings, timeout=1) == first_alerts, "the first alert")

    # The knowledge base gains an actor; enrichment restarts with it.
    kb_file = tmp_path / "knowledge_base.yaml"
    kb_file.write_text(
        PACKAGED_KB.read_text(encoding="utf-8").replace("actors:\n", NEW_ACTOR_YAML, 1),
        encoding="utf-8",
    )
    new_kb = load_knowledge_base(kb_file).version
    assert new_kb != old_kb and NEW_ACTOR in load_knowledge_base(kb_file).actors
    pipeline.stop("enrichment")
    pipeline.start("enrichment", RAQIB_ENRICHMENT_KNOWLEDGE_BASE=str(kb_file))
    env = {**pipeline.env, "RAQIB_ENRICHMENT_KNOWLEDGE_BASE": str(kb_file)}

    done = retag_command(env, "--since", "2025-01-01", "--wait", "60")
    assert done.returncode == 0, done.stderr[-3000:] + pipeline.logs()
    *lines, last = done.stdout.strip().splitlines()
    summary = json.loads(last)
    assert lines == [f"{NEW_ACTOR}: +3 \u22120"]
    assert summary["matched"] == summary["published"] == summary["retagged"] == 4
    assert summary["knowledge_base_version"] == new_kb
    assert summary["alerts"] == {"none": 3, "new": 1}  # the recent one is past the cut-off
    assert summary["changed"] == {NEW_ACTOR: {"added": 3, "removed": 0}}
    assert '"progress": "retag"' in done.stderr  # the progress summary line

    after = documents(opensearch.url, alias)
    assert len(after) == 4  # replaced by id, in the same monthly indices
    assert {doc["knowledge_base_version"] for doc in after.values()} == {new_kb}
    named = {i for i, doc in after.items() if NEW_ACTOR in doc["actors"]}
    assert named == {BOTH.id, EAGLES.id, RECENT.id}
    assert DETERRENCE in after[BOTH.id]["actors"]
    assert after[NEITHER.id]["retag"]["id"] == summary["retag"]

    # By default no alert for the old articles; the recent one raises its new alert.
    recent_alert = alert_id("eagles", RECENT.id)
    wait_for(lambda: recent_alert in raised(kafka_settings, timeout=1), "the recent alert")
    time.sleep(3)  # time for alerts that must not come
    assert raised(kafka_settings) == first_alerts | {recent_alert}

    # --alerts new: the alerts that never existed, and only those, with today's ids.
    again = retag_command(env, "--since", "2025-01-01", "--alerts", "new", "--wait", "60")
    assert again.returncode == 0, again.stderr[-3000:] + pipeline.logs()
    assert json.loads(again.stdout.strip().splitlines()[-1])["alerts"] == {"none": 0, "new": 4}
    expected = first_alerts | {recent_alert} | {alert_id("eagles", a.id) for a in (BOTH, EAGLES)}
    wait_for(lambda: raised(kafka_settings, timeout=1) == expected, "the new alerts")
    time.sleep(3)
    alerts = asyncio.run(
        read_topic(kafka_settings.bootstrap_servers, kafka_settings.topic(ALERTS), timeout=3)
    )
    # Each alert raised once (later records of an alert are its delivery updates).
    created = {(r.key, json.loads(r.value)["created_at"]) for r in alerts if r.key and r.value}
    assert len(created) == len(expected)

    # Nothing in the range: a clear error, nothing published.
    empty = retag_command(env, "--since", "2031-01-01")
    assert empty.returncode == 1
    assert "no archived article matches the selection (since 2031-01-01" in empty.stderr

    # --older-than-kb: every document already carries the new version.
    current = retag_command(env, "--older-than-kb")
    assert current.returncode == 1 and "older than knowledge base" in current.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "--since 'yesterday' is not a date like 2026-11-01"),
        (["--until", "2026-02-30"], "--until '2026-02-30' is not a date"),
        (["--since", "2026-03-01", "--until", "2026-02-01"], "is not after --since"),
        (["--actor", "nobody-at-all"], "--actor 'nobody-at-all' is not an actor of the"),
        (["--alerts", "all"], "--alerts 'all' is not one of none, new"),
        (["--alerts-cutoff", "soon"], "--alerts-cutoff 'soon' is neither an age"),
    ],
)
def test_bad_options_are_refused_before_anything_is_read(args: list[str], message: str) -> None:
    env = {**os.environ, "RAQIB_ES_URL": f"http://127.0.0.1:{free_port()}"}
    done = retag_command(env, *args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_engine_down_and_no_index(
    environment: dict[str, str], opensearch: LocalOpenSearch, namespace: str
) -> None:
    down = retag_command({**environment, "RAQIB_ES_URL": f"http://127.0.0.1:{free_port()}"})
    assert down.returncode == 1
    assert "raqib retag: search engine at http://127.0.0.1:" in down.stderr
    assert "Traceback" not in down.stderr
    missing = retag_command(environment, "--since", "2025-01-01")
    assert missing.returncode == 1
    assert f"no articles indexed: {namespace}raqib-articles not found" in missing.stderr
