"""The engine layer's pure parts: which engine a root endpoint names, credentials, errors."""

from __future__ import annotations

import elasticsearch
import opensearchpy

from services.common.settings import ElasticsearchSettings
from services.indexer.engines import (
    DetectedEngine,
    ElasticsearchEngine,
    EngineRequestError,
    EngineUnavailable,
    OpenSearchEngine,
    engine_for,
    engine_kind_of,
    open_engine,
)

ES_ROOT = {"version": {"number": "8.17.4", "build_flavor": "default"}, "tagline": "You Know"}
OS_ROOT = {"version": {"distribution": "opensearch", "number": "2.19.2"}}


def test_the_root_endpoint_names_the_engine() -> None:
    assert engine_kind_of(OS_ROOT) == "opensearch"
    assert engine_kind_of(ES_ROOT) == "elasticsearch"
    assert engine_kind_of({}) == "elasticsearch"  # what answers like Elasticsearch is treated so
    assert engine_kind_of({"version": "weird"}) == "elasticsearch"


def test_auto_waits_for_the_server_and_a_named_engine_does_not() -> None:
    assert isinstance(open_engine(ElasticsearchSettings()), DetectedEngine)
    named = open_engine(ElasticsearchSettings(engine="opensearch"))
    assert isinstance(named, OpenSearchEngine)
    assert isinstance(
        open_engine(ElasticsearchSettings(engine="elasticsearch")), ElasticsearchEngine
    )


async def test_elasticsearch_client_takes_credentials_from_settings() -> None:
    settings = ElasticsearchSettings(url="https://es.example:9200", api_key="a2V5")
    keyed = engine_for(settings, "elasticsearch")
    basic = engine_for(
        ElasticsearchSettings(url="https://es.example:9200", username="raqib", password="pw"),
        "elasticsearch",
    )
    none = engine_for(ElasticsearchSettings(url="http://127.0.0.1:9200"), "elasticsearch")
    assert isinstance(keyed, ElasticsearchEngine) and isinstance(basic, ElasticsearchEngine)
    assert isinstance(none, ElasticsearchEngine)
    assert keyed.client._headers["authorization"] == "ApiKey a2V5"
    assert basic.client._headers["authorization"].startswith("Basic ")
    assert "authorization" not in none.client._headers
    for engine in (keyed, basic, none):
        await engine.close()


async def test_opensearch_client_takes_credentials_from_settings() -> None:
    settings = ElasticsearchSettings(url="https://os.example:9200", username="raqib", password="pw")
    engine = engine_for(settings, "opensearch")
    assert isinstance(engine, OpenSearchEngine)
    assert engine.client.transport.kwargs["http_auth"] == ("raqib", "pw")
    keyed = engine_for(ElasticsearchSettings(api_key="a2V5"), "opensearch")
    assert isinstance(keyed, OpenSearchEngine)
    assert keyed.client.transport.kwargs["headers"] == {"Authorization": "ApiKey a2V5"}
    await keyed.close()
    await engine.close()


def test_errors_say_whether_a_retry_may_help() -> None:
    refused = opensearchpy.ConnectionError("N/A", "refused", Exception("refused"))
    overloaded = opensearchpy.TransportError(429, "too_many_requests", {})
    failing = opensearchpy.TransportError(500, "internal_server_error", {})
    bad = opensearchpy.RequestError(400, "mapper_parsing_exception", {})
    assert isinstance(OpenSearchEngine._error(refused, "bulk"), EngineUnavailable)
    assert isinstance(OpenSearchEngine._error(overloaded, "bulk"), EngineUnavailable)
    assert isinstance(OpenSearchEngine._error(failing, "bulk"), EngineUnavailable)
    rejected = OpenSearchEngine._error(bad, "bulk")
    assert isinstance(rejected, EngineRequestError)
    assert (rejected.status, rejected.kind) == (400, "mapper_parsing_exception")
    down = ElasticsearchEngine._error(elasticsearch.ConnectionError("refused"), "bulk")
    assert isinstance(down, EngineUnavailable) and down.status is None
