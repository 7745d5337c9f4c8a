from __future__ import annotations

from services.common.settings import ElasticsearchSettings
from services.indexer.store import make_client


async def test_client_takes_credentials_from_settings() -> None:
    keyed = make_client(ElasticsearchSettings(url="https://es.example:9200", api_key="a2V5"))
    basic = make_client(
        ElasticsearchSettings(url="https://es.example:9200", username="raqib", password="pw")
    )
    assert keyed._headers["authorization"] == "ApiKey a2V5"
    assert basic._headers["authorization"].startswith("Basic ")
    await keyed.close()
    await basic.close()


async def test_client_without_credentials_sends_none() -> None:
    client = make_client(ElasticsearchSettings(url="http://127.0.0.1:9200"))
    assert "authorization" not in client._headers
    await client.close()
