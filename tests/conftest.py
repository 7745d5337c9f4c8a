"""Shared fixtures: real local servers on 127.0.0.1 with free ports.

The Kafka broker is a JVM that takes seconds to start, so one broker serves the whole session
and each test gets a namespace of its own: a prefix on its topics, consumer groups and index
aliases that no other test uses. No test sees another's records, offsets or indices.
"""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.common.settings import ElasticsearchSettings, KafkaSettings
from services.devstack.opensearch_node import LocalOpenSearch
from services.devstack.receivers import SmtpCatcher, WebhookReceiver
from services.devstack.servers import LocalElasticsearch, LocalKafka

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"


_namespaces = itertools.count(1)


@pytest.fixture
def namespace() -> str:
    """A name prefix no other test of this session uses."""
    return f"t{next(_namespaces)}-"


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    """The session's broker: share it through ``kafka_settings``, whose prefix keeps each
    test's topics and groups apart. A test that stops a broker starts its own."""
    workdir = tmp_path_factory.mktemp("kafka")
    with LocalKafka(data_dir=workdir / "data", log_path=workdir / "kafka.log") as server:
        yield server


@pytest.fixture
def kafka_settings(kafka: LocalKafka, namespace: str) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=kafka.bootstrap_servers, partitions=3, prefix=namespace)


def kafka_env(settings: KafkaSettings) -> dict[str, str]:
    """The environment that points a service process at ``settings``' broker and namespace."""
    return {
        "RAQIB_KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "RAQIB_KAFKA_PREFIX": settings.prefix,
    }


@pytest.fixture(scope="session")
def opensearch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalOpenSearch]:
    """The session's OpenSearch node; tests keep apart by the namespace on their aliases."""
    workdir = tmp_path_factory.mktemp("opensearch")
    with LocalOpenSearch(data_dir=workdir / "data", log_path=workdir / "opensearch.log") as node:
        yield node


@pytest.fixture
def elasticsearch(tmp_path: Path) -> Iterator[LocalElasticsearch]:
    """noida-db's Elasticsearch-8 API: it starts in a moment, so each test has its own."""
    server = LocalElasticsearch(data_dir=tmp_path / "es-data", log_path=tmp_path / "es.log")
    with server:
        yield server


@pytest.fixture(params=["opensearch", "elasticsearch"])
def search_server(request: pytest.FixtureRequest) -> LocalOpenSearch | LocalElasticsearch:
    """Each search test runs on both engines Raqib supports."""
    server: LocalOpenSearch | LocalElasticsearch = request.getfixturevalue(request.param)
    return server


@pytest.fixture
def es_settings(
    search_server: LocalOpenSearch | LocalElasticsearch, namespace: str
) -> ElasticsearchSettings:
    return ElasticsearchSettings(
        url=search_server.url,
        articles_alias=f"{namespace}raqib-articles",
        alerts_alias=f"{namespace}raqib-alerts",
    )


def rest(url: str, method: str, path: str, body: Any = None) -> Any:
    """One call to a search engine's REST API, outside the client under test."""
    answer = httpx.request(method, f"{url}/{path.lstrip('/')}", json=body, timeout=30)
    answer.raise_for_status()
    return answer.json()


@pytest.fixture
def smtp_catcher() -> Iterator[SmtpCatcher]:
    with SmtpCatcher() as catcher:
        yield catcher


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


def start_service(name: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``raqib run NAME`` as its own process, as in production, its output appended to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "services.cli", "run", name],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=out,
        )


def stop_service(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Send ``sig`` (SIGKILL for a crash, SIGTERM for a stop) and wait; kill after 20 s."""
    process.send_signal(sig)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
