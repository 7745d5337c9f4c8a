"""The changelog shipper against the real broker: changes go out in order, in as many
producer batches as their size needs, and the recorded offset is the topic's end."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.alerting.replication import CHANGELOG, Changelog, Shipper, ensure_replication_topics
from services.alerting.state import AlertingState
from services.common.kafka import standalone_producer
from services.common.settings import KafkaSettings
from services.devstack.topics import end_offsets, read_topic
from tests.unit.alerting.articles import deterrence_alert, enriched

pytestmark = pytest.mark.integration


async def test_changes_ship_in_order_across_batches(
    tmp_path: Path, kafka_settings: KafkaSettings
) -> None:
    # 64 KB producer batches, 200 alerts of about 20 KB: dozens of batches in one round.
    settings = kafka_settings.model_copy(update={"producer_batch_bytes": 64 * 1024})
    topic = settings.topic(CHANGELOG)
    await ensure_replication_topics(settings)
    article = enriched(" ".join(["قوة الردع الخاصة انتشرت في طرابلس."] * 250))
    with AlertingState(tmp_path / "active.sqlite3") as state:
        changelog = Changelog(state.db)
        changelog.capture(True)
        with state.transaction():
            for n in range(200):
                alert = deterrence_alert(article).model_copy(update={"id": f"{n:016x}"})
                state.add_alert(alert, article)
        expected = [(change.key, change.row) for change in changelog.pending()]
        producer = standalone_producer(settings)
        await producer.start()
        shipper = Shipper(changelog, producer, topic)
        shipper.start()
        try:
            await shipper.flush()
        finally:
            await shipper.stop()
            await producer.stop()
        assert changelog.pending() == []
        assert changelog.offset() == (await end_offsets(settings.bootstrap_servers, topic))[0]
    records = await read_topic(settings.bootstrap_servers, topic, min_count=len(expected))
    assert [(r.key, r.value) for r in records] == expected
    assert [r.offset for r in records] == list(range(len(expected)))
