"""Shared fixtures: real local servers on 127.0.0.1 with free ports, stopped after each test.

Tansu and noida-db start in well under a second, so each test gets its own broker and
Elasticsearch: no test sees another's topics, offsets or indices.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.settings import ElasticsearchSettings, KafkaSettings
from services.devstack.receivers import SmtpCatcher, WebhookReceiver
from services.devstack.servers import LocalElasticsearch, LocalKafka

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"


@pytest.fixture
def kafka(tmp_path: Path) -> Iterator[LocalKafka]:
    with LocalKafka(log_path=tmp_path / "kafka.log") as server:
        yield server


@pytest.fixture
def kafka_settings(kafka: LocalKafka) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=kafka.bootstrap_servers, partitions=3)


@pytest.fixture
def elasticsearch(tmp_path: Path) -> Iterator[LocalElasticsearch]:
    server = LocalElasticsearch(data_dir=tmp_path / "es-data", log_path=tmp_path / "es.log")
    with server:
        yield server


@pytest.fixture
def es_settings(elasticsearch: LocalElasticsearch) -> ElasticsearchSettings:
    return ElasticsearchSettings(url=elasticsearch.url)


@pytest.fixture
def smtp_catcher() -> Iterator[SmtpCatcher]:
    with SmtpCatcher() as catcher:
        yield catcher


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver
