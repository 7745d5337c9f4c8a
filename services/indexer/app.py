"""Indexer wiring: ``articles.enriched`` and ``alerts`` → Elasticsearch.

Two subscribers, each in its own consumer group, write to the monthly indices behind
``raqib-articles`` and ``raqib-alerts`` (``_id`` = article id / alert id). What a batch does is
in ``batch.py``. Offsets are committed only after Elasticsearch acknowledged the batch;
replays overwrite, never duplicate; an alert's later state overwrites its earlier one.
"""

from __future__ import annotations

from faststream import FastStream

from services.common.kafka import (
    ALERTS,
    ARTICLES_ENRICHED,
    app_logger,
    dead_letterer,
    ensure_topics,
    make_broker,
    subscribe_batches,
)
from services.indexer.batch import BatchIndexer
from services.indexer.core import alert_builder, alert_layout, article_builder, article_layout
from services.indexer.engines import open_engine
from services.indexer.settings import IndexerSettings
from services.indexer.store import IndexStore

STAGE = "indexer"


def build_app(settings: IndexerSettings | None = None) -> FastStream:
    settings = settings or IndexerSettings()
    broker = make_broker(settings.kafka, stage=STAGE)
    es = settings.elasticsearch
    articles, alerts = article_layout(es.articles_alias), alert_layout(es.alerts_alias)
    limits = settings.bulk_limits()
    store = IndexStore(open_engine(es), [articles, alerts])

    dead_letter = dead_letterer(broker, settings.kafka, STAGE)

    article_indexer = BatchIndexer(
        store, dead_letter, article_builder(articles), kind="articles", limits=limits
    )
    alert_indexer = BatchIndexer(
        store, dead_letter, alert_builder(alerts), kind="alerts", limits=limits
    )
    kafka = settings.kafka
    subscribe_batches(broker, kafka.topic(ARTICLES_ENRICHED), settings, article_indexer)
    subscribe_batches(
        broker, kafka.topic(ALERTS), settings, alert_indexer, group_id=settings.alerts_group_id
    )

    async def set_up() -> None:
        await ensure_topics(
            kafka,
            [kafka.topic(ARTICLES_ENRICHED), kafka.topic(ALERTS), kafka.dead_letter_topic(STAGE)],
        )
        await store.ensure_index()

    return FastStream(
        broker, logger=app_logger(STAGE), on_startup=[set_up], after_shutdown=[store.close]
    )
