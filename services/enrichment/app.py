"""Enrichment wiring: ``articles.raw`` → tag → ``articles.enriched``; bad input → DLQ."""

from __future__ import annotations

from faststream import FastStream

from schemas import EnrichedArticle, RawArticle, utc_now
from services.common.errors import PermanentError
from services.common.kafka import (
    ARTICLES_ENRICHED,
    ARTICLES_RAW,
    app_logger,
    dead_letter_topic,
    ensure_topics,
    make_broker,
    stage_subscriber,
)
from services.enrichment.core import Tagger, enrich, load_knowledge_base
from services.enrichment.settings import EnrichmentSettings

STAGE = "enrichment"


def build_app(
    settings: EnrichmentSettings | None = None, *, tagger: Tagger | None = None
) -> FastStream:
    settings = settings or EnrichmentSettings()
    tagger = tagger or Tagger(load_knowledge_base(settings.knowledge_base))
    broker = make_broker(settings.kafka, stage=STAGE)
    enriched = broker.publisher(ARTICLES_ENRICHED)

    @stage_subscriber(
        broker,
        ARTICLES_RAW,
        group_id=settings.group_id,
    )
    async def handle(article: RawArticle) -> None:
        try:
            result: EnrichedArticle = enrich(article, tagger, now=utc_now())
        except Exception as error:
            # The core is pure: an input that fails once fails every time. Retrying would
            # block the partition, so it is dead-lettered (a bug to fix, not data to lose).
            raise PermanentError(f"tagging article {article.id} failed: {error!r}") from error
        # Awaited before the handler returns, so the offset is committed only once published.
        await enriched.publish(result.model_dump_json().encode(), key=result.id.encode())

    app = FastStream(broker, logger=app_logger(STAGE))

    @app.on_startup
    async def create_topics() -> None:
        await ensure_topics(
            settings.kafka, [ARTICLES_RAW, ARTICLES_ENRICHED, dead_letter_topic(STAGE)]
        )

    return app
