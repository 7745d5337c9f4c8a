"""One batch of Kafka records → bulk requests bounded by size → dead letters for the rejects.

Records are validated one by one: a record that breaks the event contract, or that
Elasticsearch rejects, goes alone to ``indexer.dlq`` with its original bytes and the error,
while the rest of its batch is indexed. Documents Elasticsearch could not take yet (429, 5xx,
no answer) are sent again with backoff; if they still fail, ``TransientError`` is raised: the
batch is not committed and is read again later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from prometheus_client import Counter

from services.common.errors import TransientError
from services.common.kafka import DeadLetter, Record
from services.indexer.core import (
    BulkOutcome,
    DocumentBuilder,
    IndexedDocument,
    RejectedDocument,
    backoff_delay,
    chunk_documents,
    parse_batch,
)

DOCUMENTS = Counter(
    "raqib_indexer_documents_total",
    "Records handled by the indexer, by kind (articles, alerts) and outcome "
    "(indexed, dead_lettered).",
    ["kind", "outcome"],
)
RETRIED_BATCHES = Counter(
    "raqib_indexer_retried_batches_total",
    "Batches left uncommitted for a retry because Elasticsearch was unavailable.",
)
RETRIED_REQUESTS = Counter(
    "raqib_indexer_retried_requests_total",
    "Bulk requests sent again (whole or their 429/5xx documents) after a backoff.",
)

log = logging.getLogger("raqib.indexer")

Sleep = Callable[[float], Awaitable[None]]


class DocumentStore(Protocol):
    async def bulk_index(self, documents: Sequence[IndexedDocument]) -> BulkOutcome: ...


@dataclass(frozen=True)
class BulkLimits:
    """How a batch is cut into bulk requests, and how often one is tried before giving up."""

    max_documents: int = 500
    max_bytes: int = 5 * 1024 * 1024
    attempts: int = 3
    backoff_base_s: float = 0.5
    backoff_max_s: float = 10.0


class BatchIndexer:
    """Index one batch of records; dead-letter the bad ones; raise when it must be retried."""

    def __init__(
        self,
        store: DocumentStore,
        dead_letter: DeadLetter,
        build: DocumentBuilder,
        *,
        kind: str,
        limits: BulkLimits | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.store = store
        self.dead_letter = dead_letter
        self.build = build
        self.kind = kind
        self.limits = limits or BulkLimits()
        self.sleep = sleep

    async def __call__(self, records: Sequence[Record]) -> None:
        parsed = parse_batch([record.value for record in records], self.build)
        documents = [document for _, document in parsed.documents]
        try:
            indexed, rejected = await self._write(documents)
        except TransientError:
            RETRIED_BATCHES.inc()
            raise
        # Dead letters only after every bulk request succeeded: a retried batch would repeat them.
        for invalid in parsed.invalid:
            await self._dead_letter(records[invalid.position], "ValidationError", invalid.error)
        for failed in rejected:
            record = records[parsed.documents[failed.position][0]]
            await self._dead_letter(
                record, "DocumentRejected", f"status {failed.status}: {failed.error}"
            )
        DOCUMENTS.labels(self.kind, "indexed").inc(indexed)
        log.info(
            "indexed batch",
            extra={
                "kind": self.kind,
                "records": len(records),
                "indexed": indexed,
                "invalid": len(parsed.invalid),
                "rejected": len(rejected),
                "first_offset": records[0].offset if records else None,
            },
        )

    async def _dead_letter(self, record: Record, error_type: str, error: str) -> None:
        await self.dead_letter(record, error_type, error)
        DOCUMENTS.labels(self.kind, "dead_lettered").inc()

    async def _write(
        self, documents: Sequence[IndexedDocument]
    ) -> tuple[int, list[RejectedDocument]]:
        """Send ``documents`` in bounded bulk requests; returns how many were indexed and the
        rejected ones (``position`` into ``documents``)."""
        limits = self.limits
        indexed = 0
        rejected: list[RejectedDocument] = []
        chunks = chunk_documents(
            documents, max_documents=limits.max_documents, max_bytes=limits.max_bytes
        )
        for chunk in chunks:
            pending = chunk
            for attempt in range(1, limits.attempts + 1):
                last_try = attempt == limits.attempts
                try:
                    outcome = await self.store.bulk_index([documents[p] for p in pending])
                except TransientError:
                    if last_try:
                        raise
                    await self._back_off(attempt)
                    continue
                indexed += len(outcome.indexed)
                rejected += [replace(r, position=pending[r.position]) for r in outcome.rejected]
                if not outcome.transient:
                    break
                if last_try:
                    first = outcome.transient[0]
                    raise TransientError(
                        f"{len(outcome.transient)} of {len(pending)} documents not stored after "
                        f"{attempt} attempts, e.g. {first.id}: status {first.status} {first.error}"
                    )
                pending = [pending[t.position] for t in outcome.transient]
                await self._back_off(attempt)
        return indexed, rejected

    async def _back_off(self, attempt: int) -> None:
        RETRIED_REQUESTS.inc()
        limits = self.limits
        await self.sleep(
            backoff_delay(attempt, base_s=limits.backoff_base_s, max_s=limits.backoff_max_s)
        )
