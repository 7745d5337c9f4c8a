"""The search engine behind the indexer and ``raqib search``: Elasticsearch 8 or OpenSearch 2.

One small interface, ``SearchEngine``, with the handful of calls Raqib makes; two clients
behind it, each the engine's own: elasticsearch-py 8 (it refuses to talk to OpenSearch) and
opensearch-py. Nothing above this module knows which engine it writes to. Which one a URL
serves is read from the server's root endpoint unless ``RAQIB_ES_ENGINE`` names it.

Failures come out as two types the Kafka side can route: ``EngineUnavailable`` (no answer, a
timeout, 429 or 5xx: it may pass) and ``EngineRequestError`` (the engine answered 4xx: the
request itself is wrong).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

import elasticsearch
import httpx
import opensearchpy

from services.common.settings import ElasticsearchSettings
from services.indexer.core import is_transient_status

EngineKind = Literal["elasticsearch", "opensearch"]

# Whole-request answers both clients retry themselves.
CLIENT_RETRY_STATUSES = (429, 502, 503, 504)


class EngineError(Exception):
    """A call to the search engine failed; ``status`` is the HTTP status when it answered."""

    def __init__(self, message: str, *, status: int | None = None, kind: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind  # the engine's error type, e.g. ``index_not_found_exception``


class EngineUnavailable(EngineError):
    """No answer, a timeout, 429 or 5xx: trying again later may succeed."""


class EngineRequestError(EngineError):
    """The engine answered 4xx: this request will not succeed as it is."""


def _engine_error(status: int | None, kind: str, message: str) -> EngineError:
    """The error for an answer of ``status`` (None: no answer), typed by whether it may pass."""
    if status is None or is_transient_status(status):
        return EngineUnavailable(message, status=status, kind=kind)
    return EngineRequestError(message, status=status, kind=kind)


class SearchEngine(Protocol):
    """What Raqib asks of a search engine."""

    async def put_index_template(self, name: str, body: Mapping[str, Any]) -> None: ...

    async def put_mapping(self, index: str, mappings: Mapping[str, Any]) -> None:
        """Add the fields of ``mappings`` that the indices behind ``index`` lack."""
        ...

    async def create_index(
        self, index: str, mappings: Mapping[str, Any], aliases: Mapping[str, Any]
    ) -> bool:
        """Create ``index``; False when it already exists."""
        ...

    async def bulk(self, operations: Sequence[Any]) -> dict[str, Any]:
        """Send bulk ``operations`` (action dicts and sources, a source may be JSON bytes)."""
        ...

    async def search(self, index: str, body: Mapping[str, Any]) -> dict[str, Any]: ...

    async def count(self, index: str, query: Mapping[str, Any] | None = None) -> int: ...

    async def refresh(self, index: str) -> None: ...

    async def exists_alias(self, name: str) -> bool: ...

    async def close(self) -> None: ...


def _ndjson(operations: Sequence[Any]) -> bytes:
    lines = [op if isinstance(op, bytes) else json.dumps(op).encode() for op in operations]
    return b"\n".join(lines) + b"\n"


class ElasticsearchEngine:
    def __init__(self, client: elasticsearch.AsyncElasticsearch) -> None:
        self.client = client

    @staticmethod
    def _error(error: Exception, action: str) -> EngineError:
        if isinstance(error, elasticsearch.ApiError):
            return _engine_error(error.meta.status, str(error.message), f"{action}: {error}")
        return EngineUnavailable(f"{action}: {type(error).__name__}: {error}")

    async def put_index_template(self, name: str, body: Mapping[str, Any]) -> None:
        try:
            await self.client.indices.put_index_template(name=name, body=dict(body))
        except (elasticsearch.ApiError, elasticsearch.TransportError) as error:
            raise self._error(error, f"index template {name}") from error

    async def put_mapping(self, index: str, mappings: Mapping[str, Any]) -> None:
        try:
            await self.client.indices.put_mapping(index=index, body=dict(mappings))
        except (elasticsearch.ApiError, elasticsearch.TransportError) as error:
            raise self._error(error, f"mapping of {index}") from error

    async def create_index(
        self, index: str, mappings: Mapping[str, Any], aliases: Mapping[str, Any]
    ) -> bool:
        try:
            await self.client.indices.create(
                index=index, mappings=dict(mappings), aliases=dict(aliases)
            )
        except elasticsearch.BadRequestError as error:
            if error.message == "resource_already_exists_exception":
                return False
            raise self._error(error, f"create index {index}") from error
        except (elasticsearch.ApiError, elasticsearch.TransportError) as error:
            raise self._error(error, f"create index {index}") from error
        return True

    async def bulk(self, operations: Sequence[Any]) -> dict[str, Any]:
        try:
            answer = await self.client.bulk(operations=list(operations))
        except (elasticsearch.ApiError, elasticsearch.TransportError) as error:
            raise self._error(error, "bulk") from error
        return dict(answer.body)

    async def search(self, index: str, body: Mapping[str, Any]) -> dict[str, Any]:
        try:
            # The wire body as it is: both engines read the same JSON.
            answer = await self.client.search(index=index, body=dict(body))
        except (elasticsearch.ApiError, elasticsearch.TransportError) as error:
            raise self._error(error, f"search {index}") from error
        return dict(answer.body)

    async def count(self, index: str, query: Mapping[str, Any] | None = None) -> int:
        try:
            answer = await self.client.count(index=index, query=dict(query or {"match_all": {}}))
        except (elasticsearch.ApiError, elasticsearch.TransportError) as error:
            raise self._error(error, f"count {index}") from error
        return int(answer["count"])

    async def refresh(self, index: str) -> None:
        try:
            await self.client.indices.refresh(index=index)
        except (elasticsearch.ApiError, elasticsearch.TransportError) as error:
            raise self._error(error, f"refresh {index}") from error

    async def exists_alias(self, name: str) -> bool:
        try:
            return bool((await self.client.indices.exists_alias(name=name)).body)
        except (elasticsearch.ApiError, elasticsearch.TransportError) as error:
            raise self._error(error, f"alias {name}") from error

    async def close(self) -> None:
        await self.client.close()


class OpenSearchEngine:
    def __init__(self, client: opensearchpy.AsyncOpenSearch) -> None:
        self.client = client

    @staticmethod
    def _error(error: opensearchpy.TransportError, action: str) -> EngineError:
        # opensearch-py reports "no answer" as status "N/A".
        status = error.status_code if isinstance(error.status_code, int) else None
        return _engine_error(status, str(error.error), f"{action}: {error}")

    async def put_index_template(self, name: str, body: Mapping[str, Any]) -> None:
        try:
            await self.client.indices.put_index_template(name=name, body=dict(body))
        except opensearchpy.TransportError as error:
            raise self._error(error, f"index template {name}") from error

    async def put_mapping(self, index: str, mappings: Mapping[str, Any]) -> None:
        try:
            await self.client.indices.put_mapping(index=index, body=dict(mappings))
        except opensearchpy.TransportError as error:
            raise self._error(error, f"mapping of {index}") from error

    async def create_index(
        self, index: str, mappings: Mapping[str, Any], aliases: Mapping[str, Any]
    ) -> bool:
        body = {"mappings": dict(mappings), "aliases": dict(aliases)}
        try:
            await self.client.indices.create(index=index, body=body)
        except opensearchpy.RequestError as error:
            if error.error == "resource_already_exists_exception":
                return False
            raise self._error(error, f"create index {index}") from error
        except opensearchpy.TransportError as error:
            raise self._error(error, f"create index {index}") from error
        return True

    async def bulk(self, operations: Sequence[Any]) -> dict[str, Any]:
        try:
            answer: dict[str, Any] = await self.client.bulk(body=_ndjson(operations))
        except opensearchpy.TransportError as error:
            raise self._error(error, "bulk") from error
        return answer

    async def search(self, index: str, body: Mapping[str, Any]) -> dict[str, Any]:
        try:
            answer: dict[str, Any] = await self.client.search(index=index, body=dict(body))
        except opensearchpy.TransportError as error:
            raise self._error(error, f"search {index}") from error
        return answer

    async def count(self, index: str, query: Mapping[str, Any] | None = None) -> int:
        body = {"query": dict(query or {"match_all": {}})}
        try:
            answer = await self.client.count(index=index, body=body)
        except opensearchpy.TransportError as error:
            raise self._error(error, f"count {index}") from error
        return int(answer["count"])

    async def refresh(self, index: str) -> None:
        try:
            await self.client.indices.refresh(index=index)
        except opensearchpy.TransportError as error:
            raise self._error(error, f"refresh {index}") from error

    async def exists_alias(self, name: str) -> bool:
        try:
            return bool(await self.client.indices.exists_alias(name=name))
        except opensearchpy.TransportError as error:
            raise self._error(error, f"alias {name}") from error

    async def close(self) -> None:
        await self.client.close()


def _auth(settings: ElasticsearchSettings) -> dict[str, Any]:
    if settings.api_key is not None:
        return {"api_key": settings.api_key.get_secret_value()}
    if settings.username:
        password = settings.password.get_secret_value() if settings.password else ""
        return {"basic_auth": (settings.username, password)}
    return {}


def engine_kind_of(root: Mapping[str, Any]) -> EngineKind:
    """Which engine answered ``GET /``: OpenSearch names its distribution, Elasticsearch not."""
    version = root.get("version")
    distribution = version.get("distribution") if isinstance(version, Mapping) else None
    return "opensearch" if distribution == "opensearch" else "elasticsearch"


async def detect_engine(settings: ElasticsearchSettings) -> EngineKind:
    """Ask the server at ``settings.url`` which engine it is."""
    auth = _auth(settings)
    headers = {"Authorization": f"ApiKey {auth['api_key']}"} if "api_key" in auth else {}
    verify: Any = settings.ca_certs or settings.verify_certs
    try:
        async with httpx.AsyncClient(
            verify=verify, timeout=settings.request_timeout_s, auth=auth.get("basic_auth")
        ) as client:
            answer = await client.get(settings.url.rstrip("/") + "/", headers=headers)
            answer.raise_for_status()
            root = answer.json()
    except httpx.HTTPStatusError as error:
        raise _engine_error(error.response.status_code, "", f"detect engine: {error}") from error
    except (httpx.HTTPError, ValueError) as error:
        raise EngineUnavailable(f"detect engine at {settings.url}: {error}") from error
    return engine_kind_of(root if isinstance(root, Mapping) else {})


def engine_for(
    settings: ElasticsearchSettings,
    kind: EngineKind,
    *,
    max_retries: int = 2,
) -> SearchEngine:
    """A client of ``kind`` for ``settings``; its own retries (429/5xx/timeouts) cover a blip,
    a longer outage is the consumer's: the batch is not committed and is read again."""
    auth = _auth(settings)
    if kind == "elasticsearch":
        options: dict[str, Any] = {
            "node_class": "httpxasync",  # no aiohttp needed
            "request_timeout": settings.request_timeout_s,
            "verify_certs": settings.verify_certs,
            "max_retries": max_retries,
            "retry_on_timeout": True,
            "retry_on_status": CLIENT_RETRY_STATUSES,
            **auth,
        }
        if settings.ca_certs:
            options["ca_certs"] = settings.ca_certs
        return ElasticsearchEngine(elasticsearch.AsyncElasticsearch(settings.url, **options))
    os_options: dict[str, Any] = {
        "timeout": settings.request_timeout_s,
        "verify_certs": settings.verify_certs,
        "max_retries": max_retries,
        "retry_on_timeout": True,
        "retry_on_status": CLIENT_RETRY_STATUSES,
    }
    if "basic_auth" in auth:
        os_options["http_auth"] = auth["basic_auth"]
    elif "api_key" in auth:
        os_options["headers"] = {"Authorization": f"ApiKey {auth['api_key']}"}
    if settings.ca_certs:
        os_options["ca_certs"] = settings.ca_certs
    return OpenSearchEngine(opensearchpy.AsyncOpenSearch([settings.url], **os_options))


class DetectedEngine:
    """An engine whose kind is asked of the server on the first call (``RAQIB_ES_ENGINE=auto``),
    so a service can be built before the server is up; a failed detection is tried again."""

    def __init__(self, settings: ElasticsearchSettings, options: Mapping[str, Any]) -> None:
        self.settings = settings
        self.options = dict(options)
        self._engine: SearchEngine | None = None

    async def _resolved(self) -> SearchEngine:
        if self._engine is None:
            kind = await detect_engine(self.settings)
            self._engine = engine_for(self.settings, kind, **self.options)
        return self._engine

    async def put_index_template(self, name: str, body: Mapping[str, Any]) -> None:
        await (await self._resolved()).put_index_template(name, body)

    async def put_mapping(self, index: str, mappings: Mapping[str, Any]) -> None:
        await (await self._resolved()).put_mapping(index, mappings)

    async def create_index(
        self, index: str, mappings: Mapping[str, Any], aliases: Mapping[str, Any]
    ) -> bool:
        return await (await self._resolved()).create_index(index, mappings, aliases)

    async def bulk(self, operations: Sequence[Any]) -> dict[str, Any]:
        return await (await self._resolved()).bulk(operations)

    async def search(self, index: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return await (await self._resolved()).search(index, body)

    async def count(self, index: str, query: Mapping[str, Any] | None = None) -> int:
        return await (await self._resolved()).count(index, query)

    async def refresh(self, index: str) -> None:
        await (await self._resolved()).refresh(index)

    async def exists_alias(self, name: str) -> bool:
        return await (await self._resolved()).exists_alias(name)

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.close()


def open_engine(settings: ElasticsearchSettings, **options: Any) -> SearchEngine:
    """The engine ``settings`` name (``RAQIB_ES_ENGINE``), or one that asks the server."""
    if settings.engine == "auto":
        return DetectedEngine(settings, options)
    return engine_for(settings, settings.engine, **options)
