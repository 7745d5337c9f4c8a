"""Static group membership (KIP-345): each consumer group of a replica gets its own stable
instance id from ``RAQIB_KAFKA_INSTANCE_ID``; unset, membership stays dynamic."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any

from services.common.kafka import Record, group_instance_id, make_broker, subscribe_batches
from services.common.settings import BatchConsumerSettings, KafkaSettings


def test_no_instance_id_means_dynamic_membership() -> None:
    assert group_instance_id(KafkaSettings(), "raqib-enrichment") is None
    assert group_instance_id(KafkaSettings(instance_id=""), "raqib-enrichment") is None


def test_each_group_of_a_replica_has_its_own_instance_id() -> None:
    settings = KafkaSettings(instance_id="replica-1", prefix="staging-")
    articles, alerts = (
        group_instance_id(settings, settings.group(g)) for g in ("raqib-indexer", "raqib-alerts")
    )
    assert articles == "replica-1-staging-raqib-indexer"
    assert alerts == "replica-1-staging-raqib-alerts"


def test_hostname_stands_for_the_host_name() -> None:
    settings = KafkaSettings(instance_id="raqib-{hostname}")
    assert group_instance_id(settings, "g") == f"raqib-{socket.gethostname()}-g"


class _Handler:
    async def dead_letter(self, record: Record, error_type: str, error: str) -> None: ...

    async def __call__(self, records: Sequence[Record]) -> None: ...


def test_the_stage_consumer_gets_the_instance_id_and_session_timeout() -> None:
    kafka = KafkaSettings(instance_id="replica-1", session_timeout_s=30)
    consumer = BatchConsumerSettings(
        group_id="raqib-enrichment", batch_size=10, batch_timeout_s=0.1, kafka=kafka
    )
    broker = make_broker(kafka, stage="enrichment")
    subscribe_batches(broker, "articles.raw", consumer, _Handler())
    (subscriber,) = broker.subscribers
    options: dict[str, Any] = subscriber._connection_args  # type: ignore[attr-defined]
    assert options["group_instance_id"] == "replica-1-raqib-enrichment"
    assert options["session_timeout_ms"] == 30_000
    assert options["heartbeat_interval_ms"] == 3_000
