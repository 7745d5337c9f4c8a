"""One batch of ``articles.raw`` records → enriched articles published → dead letters.

Each record is parsed and enriched on its own: one that breaks the event contract, or that
the tagger fails on, goes alone to ``enrichment.dlq`` with its original bytes and the error,
and so does a record whose output the broker can never take (larger than
``RAQIB_KAFKA_MAX_RECORD_BYTES``: text and mentions can grow several times over); a record too
large to be a dead letter whole keeps its head, size and SHA-256 there. Every
other output is handed to the producer as soon as it is ready, so the network carries the
first outputs while the rest are tagged, and the batch returns only when the broker has
acknowledged each of them; any other publish failure raises ``TransientError``, so the batch
is not committed and is read again (outputs already published are published again: their
key and content are the same, and every consumer is idempotent by article id).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from prometheus_client import Counter
from pydantic import ValidationError

from schemas import RawArticle
from services.common.errors import TransientError
from services.common.kafka import DeadLetter, Record, is_too_large
from services.enrichment.core import Tagger, enrich

# Records tagged between two chances for the producer to send what is queued (a chance costs
# an event-loop turn; tagging one record costs about half a millisecond).
_RECORDS_BETWEEN_SENDS = 16

ARTICLES = Counter(
    "raqib_enrichment_articles_total",
    "Records handled by the enrichment stage, by outcome (enriched, dead_lettered).",
    ["outcome"],
)
RETAGGED = Counter(
    "raqib_enrichment_retagged_total",
    "Archived articles enriched again for raqib retag (they carry its marker).",
)
RETRIED_BATCHES = Counter(
    "raqib_enrichment_retried_batches_total",
    "Batches left uncommitted for a retry because publishing their outputs failed.",
)

log = logging.getLogger("raqib.enrichment")

# Hand ``value`` to the producer for articles.enriched under ``key``; returns, once queued,
# what to await for the broker's acknowledgement.
Publish = Callable[[bytes, bytes], Awaitable[Awaitable[object]]]


class BatchEnricher:
    """Enrich one batch of records; dead-letter the bad ones; raise when it must be retried."""

    def __init__(
        self,
        tagger: Tagger,
        publish: Publish,
        dead_letter: DeadLetter,
        now: Callable[[], datetime],
    ) -> None:
        self.tagger = tagger
        self.publish = publish
        self.dead_letter = dead_letter
        self.now = now

    async def __call__(self, records: Sequence[Record]) -> None:
        acks: list[tuple[int, Awaitable[object]]] = []  # (position, acknowledgement)
        failed: dict[int, tuple[str, str]] = {}  # position -> (error type, error)
        refused: BaseException | None = None
        for position, record in enumerate(records):
            try:
                key, value = self._enrich(record)
            except _Rejected as rejected:
                failed[position] = (rejected.error_type, rejected.error)
                continue
            try:
                acks.append((position, await self.publish(value, key)))
            except Exception as error:
                if not is_too_large(error):  # the producer refused it: retry the batch
                    refused = error
                    break
                failed[position] = (type(error).__name__, f"enriched article: {error}")
            if position % _RECORDS_BETWEEN_SENDS == _RECORDS_BETWEEN_SENDS - 1:
                await asyncio.sleep(0)  # let the producer send what is queued
        results = await asyncio.gather(*(ack for _, ack in acks), return_exceptions=True)
        unacknowledged = [
            r for r in results if isinstance(r, BaseException) and not is_too_large(r)
        ]
        if refused is not None or unacknowledged:
            RETRIED_BATCHES.inc()
            first = refused or unacknowledged[0]
            missing = len(unacknowledged) + (refused is not None)
            raise TransientError(
                f"{missing} of {len(acks) + (refused is not None)} enriched articles not "
                f"published (batch from offset {records[0].offset}): "
                f"{type(first).__name__}: {first}"
            ) from first
        for (position, _), result in zip(acks, results, strict=True):
            if isinstance(result, BaseException):
                failed[position] = (type(result).__name__, f"enriched article: {result}")
        # Dead letters only once every output is published (a retried batch would repeat
        # them), in the order the records came.
        for position in sorted(failed):
            await self.dead_letter(records[position], *failed[position])
        ARTICLES.labels("enriched").inc(len(records) - len(failed))
        ARTICLES.labels("dead_lettered").inc(len(failed))
        log.info(
            "enriched batch",
            extra={
                "records": len(records),
                "enriched": len(records) - len(failed),
                "dead_lettered": len(failed),
                "first_offset": records[0].offset if records else None,
            },
        )

    def _enrich(self, record: Record) -> tuple[bytes, bytes]:
        """The output's key and value, or ``_Rejected`` with why the record cannot be one."""
        try:
            article = RawArticle.model_validate_json(record.value or b"")
        except ValidationError as error:
            raise _Rejected("ValidationError", str(error)) from error
        try:
            result = enrich(article, self.tagger, now=self.now())
        except Exception as error:
            # The core is pure: an input that fails once fails every time. Retrying would
            # block the partition, so it is dead-lettered (a bug to fix, not data to lose).
            raise _Rejected(
                "PermanentError", f"tagging article {article.id} failed: {error!r}"
            ) from error
        if result.retag is not None:  # carried from the raw article (raqib retag)
            RETAGGED.inc()
        return result.id.encode(), result.model_dump_json().encode()


class _Rejected(Exception):
    def __init__(self, error_type: str, error: str) -> None:
        super().__init__(error)
        self.error_type = error_type
        self.error = error
