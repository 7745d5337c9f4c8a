"""Enrichment wiring: ``articles.raw`` → tag → ``articles.enriched``; bad input → DLQ.

A batch subscriber: what a batch does is in ``batch.py``. Its offsets are committed once,
after every output of the batch was acknowledged by the broker and every bad record
dead-lettered.
"""

from __future__ import annotations

from collections.abc import Awaitable

from faststream import FastStream

from schemas import utc_now
from services.common.kafka import (
    ARTICLES_ENRICHED,
    ARTICLES_RAW,
    app_logger,
    dead_letterer,
    ensure_topics,
    make_broker,
    subscribe_batches,
)
from services.enrichment.batch import BatchEnricher
from services.enrichment.core import Tagger, load_knowledge_base
from services.enrichment.settings import EnrichmentSettings

STAGE = "enrichment"


def build_app(
    settings: EnrichmentSettings | None = None, *, tagger: Tagger | None = None
) -> FastStream:
    settings = settings or EnrichmentSettings()
    tagger = tagger or Tagger(load_knowledge_base(settings.knowledge_base))
    broker = make_broker(settings.kafka, stage=STAGE)
    topics = settings.kafka
    enriched = broker.publisher(topics.topic(ARTICLES_ENRICHED))

    async def publish(value: bytes, key: bytes) -> Awaitable[object]:
        # Queued now, acknowledged later: the batch awaits every acknowledgement before it
        # is committed.
        ack: Awaitable[object] = await enriched.publish(value, key=key, no_confirm=True)
        return ack

    dead_letter = dead_letterer(broker, settings.kafka, STAGE)

    enrich_batch = BatchEnricher(tagger, publish, dead_letter, now=utc_now)

    subscribe_batches(broker, topics.topic(ARTICLES_RAW), settings, enrich_batch)

    app = FastStream(broker, logger=app_logger(STAGE))

    @app.on_startup
    async def create_topics() -> None:
        await ensure_topics(
            topics,
            [
                topics.topic(ARTICLES_RAW),
                topics.topic(ARTICLES_ENRICHED),
                topics.dead_letter_topic(STAGE),
            ],
        )

    return app
