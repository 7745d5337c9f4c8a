"""The HTTP adapter against a real local server: limits, redirects, conditional GET."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from services.devstack.servers import free_port
from services.fetcher.http import FeedClient, FeedResponse, FetchError, NotModified
from services.fetcher.settings import FetcherSettings
from tests.integration.fetcher.feed_server import FeedServer, Route
from tests.unit.fetcher.samples import rss_feed

pytestmark = pytest.mark.integration

SETTINGS = FetcherSettings(
    user_agent="raqib-test/1.0", timeout_s=1.0, max_body_bytes=64 * 1024, max_redirects=2
)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running


async def test_fetch_then_not_modified_once_validators_are_remembered(server: FeedServer) -> None:
    server.routes["/rss.xml"] = Route(
        body=rss_feed(), etag='"v1"', last_modified="Wed, 05 Mar 2025 10:00:00 GMT"
    )
    url = server.url("/rss.xml")
    async with FeedClient(SETTINGS) as client:
        first = await client.fetch(url)
        assert isinstance(first, FeedResponse)
        assert first.body == rss_feed()
        assert first.validators.etag == '"v1"'
        # not remembered yet: the caller decides once the articles are handled
        again = await client.fetch(url)
        assert isinstance(again, FeedResponse)
        client.remember(url, first.validators)
        third = await client.fetch(url)
        assert isinstance(third, NotModified)
    sent = server.seen("/rss.xml")
    assert [r.status for r in sent] == [200, 200, 304]
    assert "If-None-Match" not in sent[1].headers
    assert sent[2].headers["If-None-Match"] == '"v1"'
    assert sent[2].headers["If-Modified-Since"] == "Wed, 05 Mar 2025 10:00:00 GMT"
    assert sent[0].headers["User-Agent"] == "raqib-test/1.0"


async def test_http_error_status(server: FeedServer) -> None:
    server.routes["/gone.xml"] = Route(body=b"gone", status=410)
    async with FeedClient(SETTINGS) as client:
        for path in ("/missing.xml", "/gone.xml"):
            with pytest.raises(FetchError) as caught:
                await client.fetch(server.url(path))
            assert caught.value.reason == "http_status"
    assert "404" in str(await _error(server.url("/missing.xml")))


async def _error(url: str, settings: FetcherSettings = SETTINGS) -> FetchError:
    async with FeedClient(settings) as client:
        with pytest.raises(FetchError) as caught:
            await client.fetch(url)
    return caught.value


async def test_body_larger_than_the_limit_by_content_length(server: FeedServer) -> None:
    server.routes["/big.xml"] = Route(body=b"x" * (SETTINGS.max_body_bytes + 1))
    error = await _error(server.url("/big.xml"))
    assert error.reason == "too_large"
    assert "Content-Length" in error.detail


async def test_body_larger_than_the_limit_without_content_length_is_cut_off(
    server: FeedServer,
) -> None:
    server.routes["/stream.xml"] = Route(
        body=b"x" * (4 * SETTINGS.max_body_bytes), send_length=False
    )
    error = await _error(server.url("/stream.xml"))
    assert error.reason == "too_large"
    assert "exceeds" in error.detail


async def test_body_at_the_limit_is_accepted(server: FeedServer) -> None:
    server.routes["/exact.xml"] = Route(body=b"y" * SETTINGS.max_body_bytes, send_length=False)
    async with FeedClient(SETTINGS) as client:
        response = await client.fetch(server.url("/exact.xml"))
    assert isinstance(response, FeedResponse)
    assert len(response.body) == SETTINGS.max_body_bytes


async def test_redirects_are_followed_up_to_the_limit(server: FeedServer) -> None:
    server.routes["/old.xml"] = Route(redirect_to="/moved.xml")
    server.routes["/moved.xml"] = Route(redirect_to="/rss.xml")
    server.routes["/rss.xml"] = Route(body=rss_feed())
    server.routes["/loop.xml"] = Route(redirect_to="/loop.xml")
    async with FeedClient(SETTINGS) as client:
        response = await client.fetch(server.url("/old.xml"))
    assert isinstance(response, FeedResponse)
    assert response.url == server.url("/rss.xml")
    error = await _error(server.url("/loop.xml"))
    assert error.reason == "too_many_redirects"
    assert len(server.seen("/loop.xml")) == SETTINGS.max_redirects + 1


async def test_redirect_to_another_scheme_is_refused(server: FeedServer) -> None:
    server.routes["/ftp.xml"] = Route(redirect_to="ftp://127.0.0.1/feed.xml")
    error = await _error(server.url("/ftp.xml"))
    assert error.reason == "invalid_url"


async def test_slow_server_times_out(server: FeedServer) -> None:
    server.routes["/slow.xml"] = Route(body=rss_feed(), delay_s=1.5)
    settings = SETTINGS.model_copy(update={"timeout_s": 0.3})
    began = time.monotonic()
    error = await _error(server.url("/slow.xml"), settings)
    assert error.reason == "timeout"
    assert time.monotonic() - began < 1.2


async def test_nothing_listening_is_a_connection_error() -> None:
    error = await _error(f"http://127.0.0.1:{free_port()}/rss.xml")
    assert error.reason == "connection"


async def test_malformed_url_is_an_invalid_url_error() -> None:
    error = await _error("http://exa mple.ly:xx/rss")
    assert error.reason == "invalid_url"
