"""Elasticsearch adapter: the client, the templates and monthly indices, bulk writes.

Failures are typed for the Kafka side: anything that means "Elasticsearch is briefly
unavailable" (connection refused, timeout, 429, 5xx) becomes ``TransientError`` so the batch is
not committed; per-document rejections are returned, not raised, so they can be dead-lettered
one by one while the rest of the batch is committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from elasticsearch import ApiError, AsyncElasticsearch, BadRequestError, TransportError

from services.common.errors import TransientError
from services.common.settings import ElasticsearchSettings
from services.indexer.core import (
    INDEX_NOT_FOUND,
    BulkOutcome,
    IndexedDocument,
    IndexLayout,
    classify_bulk_response,
    is_transient_status,
)

log = logging.getLogger("raqib.indexer")

# Whole-request answers the client retries itself, with jittered exponential backoff.
RETRY_ON_STATUS = (429, 502, 503, 504)


def make_client(
    settings: ElasticsearchSettings,
    *,
    max_retries: int = 2,
    backoff_base_s: float = 0.5,
    backoff_cap_s: float = 10.0,
) -> AsyncElasticsearch:
    """An async client over httpx (no aiohttp needed), configured from ``settings``.

    The client's own retries (429/5xx/timeouts, with backoff) cover a blip; a longer outage is
    the consumer's: the batch is not committed and is read again.
    """
    options: dict[str, Any] = {
        "node_class": "httpxasync",
        "request_timeout": settings.request_timeout,
        "verify_certs": settings.verify_certs,
        "max_retries": max_retries,
        "retry_on_timeout": True,
        "retry_on_status": RETRY_ON_STATUS,
        "retry_backoff_base": backoff_base_s,
        "retry_backoff_cap": backoff_cap_s,
    }
    if settings.ca_certs:
        options["ca_certs"] = settings.ca_certs
    if settings.api_key is not None:
        options["api_key"] = settings.api_key.get_secret_value()
    elif settings.username:
        password = settings.password.get_secret_value() if settings.password else ""
        options["basic_auth"] = (settings.username, password)
    return AsyncElasticsearch(settings.url, **options)


def _transient(error: Exception, action: str) -> TransientError:
    return TransientError(f"elasticsearch {action} failed: {type(error).__name__}: {error}")


def _now() -> datetime:
    return datetime.now(UTC)


class IndexStore:
    """The monthly indices behind the read aliases: templates, index creation, bulk writes."""

    def __init__(
        self,
        client: AsyncElasticsearch,
        layouts: Sequence[IndexLayout],
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.client = client
        self.layouts = list(layouts)
        self.clock = clock
        self._known: set[str] = set()  # indices this process created or found

    async def ensure_index(self) -> None:
        """Install the templates and create this month's indices, so the aliases exist from
        the start (Kibana and ``raqib search`` read them before the first document).

        Safe to run from several replicas at once: a template is overwritten with the same
        body, and losing the race to create an index is not an error.
        """
        try:
            for layout in self.layouts:
                await self.client.indices.put_index_template(name=layout.alias, **layout.template())
            self._known.clear()
            for layout in self.layouts:
                await self._ensure_monthly(layout, layout.index_for(self.clock()))
        except ApiError as error:
            if is_transient_status(error.meta.status):
                raise _transient(error, "index set-up") from error
            raise  # a template the server refuses is a bug or a config error: fail loudly
        except TransportError as error:
            raise _transient(error, "index set-up") from error

    def _layout_of(self, index: str) -> IndexLayout:
        for layout in self.layouts:
            if layout.owns(index):
                return layout
        raise ValueError(f"index {index!r} belongs to none of {[x.alias for x in self.layouts]}")

    async def _ensure_monthly(self, layout: IndexLayout, index: str) -> None:
        # The mappings travel with the request: an index with guessed mappings cannot appear
        # even if the template was deleted.
        try:
            await self.client.indices.create(
                index=index, mappings=dict(layout.mappings), aliases={layout.alias: {}}
            )
            log.info("created index", extra={"index": index, "alias": layout.alias})
        except BadRequestError as error:
            if error.message != "resource_already_exists_exception":
                raise
        self._known.add(index)

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
            for index in sorted({d.index for d in documents} - self._known):
                await self._ensure_monthly(self._layout_of(index), index)
            response = await self.client.bulk(operations=operations)
        except (ApiError, TransportError) as error:
            # 429/5xx/connection errors pass; a whole-request 4xx is not caused by one
            # document either, so retrying (and alerting on the retry counter) is the safe side.
            raise _transient(error, "bulk") from error
        outcome = classify_bulk_response([d.id for d in documents], response.body)
        if outcome.index_missing:
            lost = {
                documents[item.position].index
                for item in outcome.transient
                if item.kind == INDEX_NOT_FOUND
            }
            log.warning("indices missing, creating them again", extra={"indices": sorted(lost)})
            self._known -= lost
        return outcome

    async def close(self) -> None:
        await self.client.close()
