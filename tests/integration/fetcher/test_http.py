"""The HTTP adapter against a real local server: limits, redirects, conditional GET."""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from services.devstack.servers import free_port
from services.fetcher.http import Fetched, FetchError, HttpClient, NotModified, Validators
from services.fetcher.settings import FetcherSettings
from tests.integration.fetcher.feed_server import FeedServer, Route
from tests.unit.fetcher.samples import rss_feed

pytestmark = pytest.mark.integration

SETTINGS = FetcherSettings(
    user_agent="raqib-test/1.0",
    timeout_s=1.0,
    max_body_bytes=64 * 1024,
    max_redirects=2,
    allow_private=True,
    host_delay_s=0.0,
)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running


async def test_fetch_then_not_modified_with_the_validators(server: FeedServer) -> None:
    server.routes["/rss.xml"] = Route(
        body=rss_feed(), etag='"v1"', last_modified="Wed, 05 Mar 2025 10:00:00 GMT"
    )
    url = server.url("/rss.xml")
    async with HttpClient(SETTINGS) as client:
        first = await client.fetch(url)
        assert isinstance(first, Fetched)
        assert first.body == rss_feed()
        assert first.validators == Validators('"v1"', "Wed, 05 Mar 2025 10:00:00 GMT")
        again = await client.fetch(url, first.validators)
        assert isinstance(again, NotModified)
    sent = server.seen("/rss.xml")
    assert [r.status for r in sent] == [200, 304]
    assert "If-None-Match" not in sent[0].headers
    assert sent[1].headers["If-None-Match"] == '"v1"'
    assert sent[1].headers["If-Modified-Since"] == "Wed, 05 Mar 2025 10:00:00 GMT"
    assert sent[0].headers["User-Agent"] == "raqib-test/1.0"
    assert "gzip" in sent[0].headers["Accept-Encoding"]


@pytest.mark.parametrize(("status", "reason"), [(429, "rate_limited"), (503, "http_status")])
async def test_retry_after_in_seconds_and_as_an_http_date(
    server: FeedServer, status: int, reason: str
) -> None:
    server.routes["/seconds.xml"] = Route(status=status, retry_after="120")
    in_an_hour = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    server.routes["/date.xml"] = Route(status=status, retry_after=in_an_hour)
    server.routes["/nonsense.xml"] = Route(status=status, retry_after="soon")
    seconds = await _error(server.url("/seconds.xml"))
    assert (seconds.reason, seconds.retry_after_s) == (reason, 120.0)
    dated = await _error(server.url("/date.xml"))
    assert dated.retry_after_s is not None and 3500 < dated.retry_after_s <= 3600
    assert (await _error(server.url("/nonsense.xml"))).retry_after_s is None


async def test_loopback_feed_is_refused_unless_allowed(server: FeedServer) -> None:
    server.routes["/rss.xml"] = Route(body=rss_feed())
    error = await _error(
        server.url("/rss.xml"), SETTINGS.model_copy(update={"allow_private": False})
    )
    assert error.reason == "unsafe_url"
    assert "allow-private" in error.detail
    assert server.seen("/rss.xml") == []  # refused before any connection


async def test_fifty_megabytes_are_cut_off_while_streaming(server: FeedServer) -> None:
    server.routes["/huge.xml"] = Route(stream_bytes=50 * 1024 * 1024)
    settings = SETTINGS.model_copy(update={"max_body_bytes": 1024 * 1024, "timeout_s": 10.0})
    tracemalloc.start()
    try:
        error = await _error(server.url("/huge.xml"), settings)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.reason == "too_large"
    assert peak < 8 * 1024 * 1024  # the limit plus buffers, nowhere near 50 MB


@pytest.mark.parametrize(
    ("route", "timeout_s", "within_s"),
    [
        # No answer at all before the deadline.
        (Route(body=rss_feed(), delay_s=1.5), 0.3, 1.2),
        # Each byte arrives well within the per-read timeout; only the whole-request one
        # stops it.
        (Route(body=rss_feed(), drip_s=0.05), 0.5, 1.5),
    ],
    ids=["slow", "drip"],
)
async def test_a_slow_or_dripping_server_hits_the_deadline(
    server: FeedServer, route: Route, timeout_s: float, within_s: float
) -> None:
    server.routes["/slow.xml"] = route
    settings = SETTINGS.model_copy(update={"timeout_s": timeout_s})
    began = time.monotonic()
    error = await _error(server.url("/slow.xml"), settings)
    assert error.reason == "timeout"
    assert time.monotonic() - began < within_s


async def test_requests_to_one_host_are_spaced_by_the_politeness_delay(server: FeedServer) -> None:
    server.routes["/a.xml"] = Route(body=b"a")
    settings = SETTINGS.model_copy(update={"host_delay_s": 0.2, "max_requests_per_host": 2})
    async with HttpClient(settings) as client:
        began = time.monotonic()
        await asyncio.gather(*(client.fetch(server.url("/a.xml")) for _ in range(3)))
        elapsed = time.monotonic() - began
    assert len(server.seen("/a.xml")) == 3
    assert elapsed >= 0.4  # three starts, 0.2 s apart


async def test_http_error_status(server: FeedServer) -> None:
    server.routes["/gone.xml"] = Route(body=b"gone", status=410)
    async with HttpClient(SETTINGS) as client:
        for path in ("/missing.xml", "/gone.xml"):
            with pytest.raises(FetchError) as caught:
                await client.fetch(server.url(path))
            assert caught.value.reason == "http_status"
    assert "404" in str(await _error(server.url("/missing.xml")))


async def _error(url: str, settings: FetcherSettings = SETTINGS) -> FetchError:
    async with HttpClient(settings) as client:
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
    async with HttpClient(SETTINGS) as client:
        response = await client.fetch(server.url("/exact.xml"))
    assert isinstance(response, Fetched)
    assert len(response.body) == SETTINGS.max_body_bytes


async def test_redirects_are_followed_up_to_the_limit(server: FeedServer) -> None:
    server.routes["/old.xml"] = Route(redirect_to="/moved.xml")
    server.routes["/moved.xml"] = Route(redirect_to="/rss.xml")
    server.routes["/rss.xml"] = Route(body=rss_feed())
    server.routes["/loop.xml"] = Route(redirect_to="/loop.xml")
    async with HttpClient(SETTINGS) as client:
        response = await client.fetch(server.url("/old.xml"))
    assert isinstance(response, Fetched)
    assert response.url == server.url("/rss.xml")
    error = await _error(server.url("/loop.xml"))
    assert error.reason == "too_many_redirects"
    assert len(server.seen("/loop.xml")) == SETTINGS.max_redirects + 1


async def test_redirect_to_another_scheme_is_refused(server: FeedServer) -> None:
    server.routes["/ftp.xml"] = Route(redirect_to="ftp://127.0.0.1/feed.xml")
    error = await _error(server.url("/ftp.xml"))
    assert error.reason == "unsafe_url"
    assert "only http and https" in error.detail


async def test_nothing_listening_is_a_connection_error() -> None:
    error = await _error(f"http://127.0.0.1:{free_port()}/rss.xml")
    assert error.reason == "connection"


async def test_malformed_url_is_an_invalid_url_error() -> None:
    error = await _error("http://exa mple.ly:xx/rss")
    assert error.reason == "invalid_url"
