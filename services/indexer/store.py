"""Elasticsearch adapter: the client, the template/index/alias at start, bulk writes.

Failures are typed for the Kafka side: anything that means "Elasticsearch is briefly
unavailable" (connection refused, timeout, 429, 5xx) becomes ``TransientError`` so the batch is
not committed; per-document rejections are returned, not raised, so they can be dead-lettered
one by one while the rest of the batch is committed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from elasticsearch import ApiError, AsyncElasticsearch, BadRequestError, TransportError

from services.common.errors import TransientError
from services.common.settings import ElasticsearchSettings
from services.indexer.core import (
    ArticleDocument,
    BulkOutcome,
    classify_bulk_response,
    index_template,
    initial_index,
    is_transient_status,
)

log = logging.getLogger("raqib.indexer")


def make_client(settings: ElasticsearchSettings) -> AsyncElasticsearch:
    """An async client over httpx (no aiohttp needed), configured from ``settings``."""
    options: dict[str, Any] = {
        "node_class": "httpxasync",
        "request_timeout": settings.request_timeout,
        "verify_certs": settings.verify_certs,
        # The client's own retries cover a blip; longer outages are the consumer's backoff.
        "max_retries": 2,
        "retry_on_timeout": True,
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


class ArticleStore:
    """The articles behind one alias: its template, its write index, its bulk writes."""

    def __init__(self, client: AsyncElasticsearch, alias: str) -> None:
        self.client = client
        self.alias = alias

    async def ensure_index(self) -> None:
        """Install the template, then create the first index with the alias if none exists.

        Safe to run from several replicas at once: the template is overwritten with the same
        body, and losing the race to create the first index is not an error.
        """
        try:
            await self.client.indices.put_index_template(
                name=self.alias, **index_template(self.alias)
            )
            if await self.client.indices.exists_alias(name=self.alias):
                return
            first = initial_index(self.alias)
            try:
                await self.client.indices.create(
                    index=first, aliases={self.alias: {"is_write_index": True}}
                )
                log.info("created index", extra={"index": first, "alias": self.alias})
            except BadRequestError as error:
                if error.message != "resource_already_exists_exception":
                    raise
                # Lost a race with another replica, or the alias alone was removed.
                if not await self.client.indices.exists_alias(name=self.alias):
                    await self.client.indices.put_alias(
                        index=first, name=self.alias, is_write_index=True
                    )
        except ApiError as error:
            if is_transient_status(error.meta.status):
                raise _transient(error, "index set-up") from error
            raise  # a template the server refuses is a bug or a config error: fail loudly
        except TransportError as error:
            raise _transient(error, "index set-up") from error

    async def bulk_index(self, documents: Sequence[ArticleDocument]) -> BulkOutcome:
        """Index ``documents`` (each with its ``id``) through the alias; ``_id`` is the id.

        Raises ``TransientError`` when the request as a whole failed for a reason that may pass.
        """
        if not documents:
            return BulkOutcome()
        operations: list[dict[str, Any]] = []
        ids: list[str] = []
        for document in documents:
            ids.append(str(document["id"]))
            operations.append({"index": {"_index": self.alias, "_id": document["id"]}})
            operations.append(document)
        try:
            response = await self.client.bulk(operations=operations, require_alias=True)
        except (ApiError, TransportError) as error:
            # 429/5xx/connection errors pass; a whole-request 4xx is not caused by one
            # document either, so retrying (and alerting on the retry counter) is the safe side.
            raise _transient(error, "bulk") from error
        outcome = classify_bulk_response(ids, response.body)
        if outcome.index_missing:
            log.warning(
                "write alias missing, setting the index up again", extra={"alias": self.alias}
            )
            await self.ensure_index()
        return outcome

    async def close(self) -> None:
        await self.client.close()
