"""One batch of ``articles.enriched`` records → one bulk request.

Records are validated one by one: a record that is not an ``EnrichedArticle``, or that
Elasticsearch rejects, goes alone to ``indexer.dlq`` with its original bytes and the error,
while the rest of its batch is indexed. When Elasticsearch is unavailable (connection, 429,
5xx) ``TransientError`` is raised: the batch is not committed and is read again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeAlias

from aiokafka import ConsumerRecord
from prometheus_client import Counter

from services.common.errors import TransientError
from services.indexer.core import ArticleDocument, BulkOutcome, article_document, parse_batch

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
