"""The indices behind the read aliases: templates, monthly indices, bulk writes.

Failures are typed for the Kafka side: anything that means "the engine is briefly
unavailable" (connection refused, timeout, 429, 5xx) becomes ``TransientError`` so the batch is
not committed; per-document rejections are returned, not raised, so they can be dead-lettered
one by one while the rest of the batch is committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from services.common.errors import TransientError
from services.indexer.core import (
    INDEX_NOT_FOUND,
    BulkOutcome,
    IndexedDocument,
    IndexLayout,
    classify_bulk_response,
)
from services.indexer.engines import EngineError, EngineUnavailable, SearchEngine

log = logging.getLogger("raqib.indexer")


def _now() -> datetime:
    return datetime.now(UTC)


class IndexStore:
    """The monthly indices behind the read aliases: templates, index creation, bulk writes."""

    def __init__(
        self,
        engine: SearchEngine,
        layouts: Sequence[IndexLayout],
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.engine = engine
        self.layouts = list(layouts)
        self.clock = clock
        self._known_indices: set[str] = set()  # indices this process created or found

    async def ensure_index(self) -> None:
        """Install the templates, create this month's indices and bring the mappings of the
        indices behind the aliases up to date, so the aliases exist from the start (Kibana and
        ``raqib search`` read them before the first document).

        Safe to run from several replicas at once: a template is overwritten with the same
        body, and losing the race to create an index is not an error.
        """
        try:
            for layout in self.layouts:
                await self.engine.put_index_template(layout.alias, layout.template())
            self._known_indices.clear()
            for layout in self.layouts:
                await self._ensure_monthly(layout, layout.index_for(self.clock()))
                # Indices made by an older release lack the fields added since (a strict
                # mapping would reject every document that has one): add them.
                await self.engine.put_mapping(layout.alias, layout.mappings)
        except EngineUnavailable as error:
            raise TransientError(f"index set-up failed: {error}") from error
        # An EngineRequestError (a template the server refuses) is a bug or a config error:
        # it fails loudly.

    def _layout_of(self, index: str) -> IndexLayout:
        for layout in self.layouts:
            if layout.owns(index):
                return layout
        raise ValueError(f"index {index!r} belongs to none of {[x.alias for x in self.layouts]}")

    async def _ensure_monthly(self, layout: IndexLayout, index: str) -> None:
        # The mappings travel with the request: an index with guessed mappings cannot appear
        # even if the template was deleted.
        if await self.engine.create_index(index, layout.mappings, {layout.alias: {}}):
            log.info("created index", extra={"index": index, "alias": layout.alias})
        self._known_indices.add(index)

    async def bulk_index(self, documents: Sequence[IndexedDocument]) -> BulkOutcome:
        """Index ``documents`` into their monthly indices, ``_id`` = the event's id.

        Raises ``TransientError`` when the request as a whole failed for a reason that may pass.
        """
        if not documents:
            return BulkOutcome()
        operations: list[Any] = []
        for document in documents:
            operations.append({"index": {"_index": document.index, "_id": document.id}})
            operations.append(document.source)  # bytes: sent as they are
        try:
            for index in sorted({d.index for d in documents} - self._known_indices):
                await self._ensure_monthly(self._layout_of(index), index)
            response = await self.engine.bulk(operations)
        except EngineError as error:
            # 429/5xx/connection errors pass; a whole-request 4xx is not caused by one
            # document either, so retrying (and alerting on the retry counter) is the safe side.
            raise TransientError(f"bulk failed: {error}") from error
        outcome = classify_bulk_response([d.id for d in documents], response)
        if outcome.index_missing:
            lost = {
                documents[item.position].index
                for item in outcome.transient
                if item.kind == INDEX_NOT_FOUND
            }
            log.warning("indices missing, creating them again", extra={"indices": sorted(lost)})
            self._known_indices -= lost
        return outcome

    async def close(self) -> None:
        await self.engine.close()
