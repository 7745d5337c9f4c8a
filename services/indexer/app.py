"""Indexer wiring: ``articles.enriched`` → Elasticsearch (bulk, ``_id`` = article id).

What a batch does is in ``batch.py``. Offsets are committed only after Elasticsearch
acknowledged the batch; replays overwrite, never duplicate.
"""

from __future__ import annotations

from typing import Any

from faststream import FastStream
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage

from services.common.kafka import (
    ARTICLES_ENRICHED,
    app_logger,
    dead_letter_topic,
    ensure_topics,
    make_broker,
    publish_dead_letter,
    stage_subscriber,
)
from services.indexer.batch import ARTICLES, BatchIndexer, Record
from services.indexer.settings import IndexerSettings
from services.indexer.store import ArticleStore, make_client

STAGE = "indexer"


async def _raw_values(msg: StreamMessage[Any]) -> None:
    # The handler validates each record itself; FastStream must not parse the batch as JSON.
    return None


def build_app(settings: IndexerSettings | None = None) -> FastStream:
    settings = settings or IndexerSettings()
    broker = make_broker(settings.kafka, stage=STAGE)
    store = ArticleStore(make_client(settings.elasticsearch), settings.elasticsearch.articles_alias)

    async def dead_letter(record: Record, error_type: str, error: str) -> None:
        await publish_dead_letter(broker, STAGE, record, record.value or b"", error_type, error)
        ARTICLES.labels("dead_lettered").inc()

    indexer = BatchIndexer(store, dead_letter)

    @stage_subscriber(
        broker,
        ARTICLES_ENRICHED,
        group_id=settings.group_id,
        batch=True,
        max_records=settings.batch_size,
        batch_timeout_ms=settings.batch_timeout_ms,
        decoder=_raw_values,
    )
    async def index_batch(msg: KafkaMessage) -> None:
        records = msg.raw_message
        await indexer(records if isinstance(records, tuple) else (records,))

    async def set_up() -> None:
        await ensure_topics(settings.kafka, [ARTICLES_ENRICHED, dead_letter_topic(STAGE)])
        await store.ensure_index()

    return FastStream(
        broker, logger=app_logger(STAGE), on_startup=[set_up], after_shutdown=[store.close]
    )
