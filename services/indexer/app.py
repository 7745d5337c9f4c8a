"""Indexer wiring: ``articles.enriched`` → Elasticsearch (bulk, ``_id`` = article id).

Records arrive in batches and are validated one by one: a record that is not an
``EnrichedArticle``, or that Elasticsearch rejects, goes alone to ``indexer.dlq`` with its
original bytes and the error, while the rest of its batch is indexed. When Elasticsearch is
unavailable (connection, 429, 5xx) the handler raises ``TransientError``: the batch is not
committed and is read again after the dead-letter middleware's backoff. Offsets are committed
only after Elasticsearch acknowledged the batch; replays overwrite, never duplicate.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeAlias

from aiokafka import ConsumerRecord
from faststream import AckPolicy, FastStream
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage
from prometheus_client import Counter

from services.common.errors import TransientError
from services.common.kafka import (
    ARTICLES_ENRICHED,
    app_logger,
    dead_letter_topic,
    ensure_topics,
    make_broker,
    publish_dead_letter,
)
from services.indexer.core import ArticleDocument, BulkOutcome, article_document, parse_batch
from services.indexer.settings import IndexerSettings
from services.indexer.store import ArticleStore, make_client

STAGE = "indexer"

ARTICLES = Counter(
    "raqib_indexer_articles_total",
    "Enriched-article records handled by the indexer, by outcome (indexed, dead_lettered).",
    ["outcome"],
)
RETRIED_BATCHES = Counter(
    "raqib_indexer_retried_batches_total",
    "Batches left uncommitted for a retry because Elasticsearch was unavailable.",
)

log = logging.getLogger("raqib.indexer")

Record: TypeAlias = ConsumerRecord[Any, Any]
DeadLetter = Callable[[Record, str, str], Awaitable[None]]


class DocumentStore(Protocol):
    async def bulk_index(self, documents: Sequence[ArticleDocument]) -> BulkOutcome: ...


class BatchIndexer:
    """Index one batch of records; dead-letter the bad ones; raise when it must be retried."""

    def __init__(self, store: DocumentStore, dead_letter: DeadLetter) -> None:
        self.store = store
        self.dead_letter = dead_letter

    async def __call__(self, records: Sequence[Record]) -> None:
        parsed = parse_batch([record.value for record in records])
        documents = [article_document(article) for _, article in parsed.articles]
        try:
            outcome = await self.store.bulk_index(documents)
            if outcome.transient:
                first = outcome.transient[0]
                raise TransientError(
                    f"{len(outcome.transient)} of {len(documents)} documents not stored yet, "
                    f"e.g. {first.id}: status {first.status} {first.error}"
                )
        except TransientError:
            RETRIED_BATCHES.inc()
            raise
        # Dead letters only after the bulk succeeded: a retried batch would repeat them.
        for invalid in parsed.invalid:
            await self.dead_letter(records[invalid.position], "ValidationError", invalid.error)
        for rejected in outcome.rejected:
            record = records[parsed.articles[rejected.position][0]]
            await self.dead_letter(
                record, "DocumentRejected", f"status {rejected.status}: {rejected.error}"
            )
        ARTICLES.labels("indexed").inc(len(outcome.indexed))
        log.info(
            "indexed batch",
            extra={
                "records": len(records),
                "indexed": len(outcome.indexed),
                "invalid": len(parsed.invalid),
                "rejected": len(outcome.rejected),
                "first_offset": records[0].offset if records else None,
            },
        )


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

    @broker.subscriber(
        ARTICLES_ENRICHED,
        group_id=settings.group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
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
