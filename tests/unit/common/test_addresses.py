"""The request-forgery guard: schemes, resolved addresses, and every redirect hop."""

from __future__ import annotations

import httpx
import pytest

from services.common.addresses import (
    GuardedTransport,
    UnsafeURLError,
    check_url,
    check_url_syntax,
)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/feed",
        "gopher://x",
        "javascript:alert(1)",
        "http://",
    ],
)
def test_non_http_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeURLError):
        check_url_syntax(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.8.9.10:8080/x",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://localhost:9200/",
    ],
)
async def test_private_loopback_and_link_local_targets_are_refused(url: str) -> None:
    with pytest.raises(UnsafeURLError, match="allow-private"):
        await check_url(url, allow_private=False)


async def test_private_targets_pass_when_allowed() -> None:
    await check_url("http://127.0.0.1:9/", allow_private=True)


async def test_public_literal_address_passes() -> None:
    await check_url("https://93.184.215.14/feed.xml", allow_private=False)


async def test_transport_checks_every_redirect_hop() -> None:
    """A public URL that redirects to a loopback one is stopped at the second hop."""
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(302, headers={"Location": "http://127.0.0.1/admin"})

    transport = GuardedTransport(httpx.MockTransport(answer), allow_private=False)
    async with httpx.AsyncClient(transport=transport, follow_redirects=True) as client:
        with pytest.raises(UnsafeURLError, match=r"127\.0\.0\.1"):
            await client.get("http://93.184.215.14/feed")
    assert seen == ["http://93.184.215.14/feed"]


async def test_transport_passes_allowed_requests_through() -> None:
    transport = GuardedTransport(
        httpx.MockTransport(lambda request: httpx.Response(200, text="ok")), allow_private=True
    )
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get("http://127.0.0.1/feed")
    assert response.text == "ok"
