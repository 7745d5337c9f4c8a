"""HTTP adapter for feeds and pages: safety, politeness, limits on time, redirects and size.

Every request goes through ``GuardedTransport`` (http(s) only; no private, loopback or
link-local address unless allowed, checked again on each redirect hop), waits for a free slot
on its host (at most ``max_requests_per_host`` at once, ``host_delay_s`` between starts) and
in the whole client (``max_concurrent_requests``), and must complete within ``timeout_s``.

Every failure becomes a ``FetchError`` whose ``reason`` is a short, fixed word (used as a
metrics label), with the details in its message.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType

import httpx

from services.common.addresses import GuardedTransport, UnsafeURLError
from services.common.errors import RaqibError
from services.fetcher.core import parse_retry_after
from services.fetcher.settings import FetcherSettings

ACCEPT_FEED = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
ACCEPT_PAGE = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"


class FetchError(RaqibError):
    """A feed or page could not be fetched. ``reason`` (a metrics label) is one of http_status,
    rate_limited, timeout, too_large, too_many_redirects, connection, invalid_url, unsafe_url."""

    def __init__(self, reason: str, detail: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.retry_after_s = retry_after_s  # what a 429/503 asked for, in seconds


@dataclass(frozen=True)
class Validators:
    """What the server said identifies this version of the feed (for If-None-Match etc.)."""

    etag: str | None = None
    last_modified: str | None = None

    def request_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    status: int
    body: bytes
    content_type: str | None
    validators: Validators


@dataclass(frozen=True)
class NotModified:
    url: str


class HostGate:
    """Per-host concurrency and spacing, plus a global limit, for every request we send."""

    def __init__(
        self,
        *,
        total: int,
        per_host: int,
        delay_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._total = asyncio.Semaphore(total)
        self._per_host = per_host
        self._delay_s = delay_s
        self._clock = clock
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._next_start: dict[str, float] = {}

    @contextlib.asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        host_limit = self._hosts.setdefault(host, asyncio.Semaphore(self._per_host))
        async with host_limit:
            # Reserve the next start time before sleeping (no await in between), so
            # concurrent callers line up one ``delay_s`` apart.
            now = self._clock()
            start = max(now, self._next_start.get(host, now))
            self._next_start[host] = start + self._delay_s
            if start > now:
                await asyncio.sleep(start - now)
            # Host first, then the global slot: a request waiting out its host's delay
            # must not hold a global slot that another host could use.
            async with self._total:
                yield


class HttpClient:
    """Fetches feed and page documents within the configured limits."""

    def __init__(
        self,
        settings: FetcherSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        inner = transport or httpx.AsyncHTTPTransport(
            limits=httpx.Limits(
                max_connections=settings.max_concurrent_requests,
                max_keepalive_connections=settings.max_concurrent_requests,
            )
        )
        self.gate = HostGate(
            total=settings.max_concurrent_requests,
            per_host=settings.max_requests_per_host,
            delay_s=settings.host_delay_s,
        )
        self._client = httpx.AsyncClient(
            headers={"User-Agent": settings.user_agent},
            timeout=httpx.Timeout(settings.timeout_s),
            follow_redirects=True,
            max_redirects=settings.max_redirects,
            transport=GuardedTransport(inner, allow_private=settings.allow_private),
        )

    async def fetch(
        self, url: str, validators: Validators | None = None, *, accept: str = ACCEPT_FEED
    ) -> Fetched | NotModified:
        """GET ``url`` (conditionally, with ``validators``); raises ``FetchError``."""
        headers = {"Accept": accept, **(validators.request_headers() if validators else {})}
        try:
            host = httpx.URL(url).host
            async with self.gate.slot(host):
                # httpx's timeout bounds each network operation; this bounds the whole
                # request, so a server dripping bytes cannot hold a poll forever.
                async with asyncio.timeout(self.settings.timeout_s):
                    return await self._get(url, headers)
        except TimeoutError as error:
            raise FetchError(
                "timeout", f"no complete answer in {self.settings.timeout_s}s"
            ) from error
        except httpx.TimeoutException as error:
            raise FetchError("timeout", f"{type(error).__name__}: {error}") from error
        except httpx.TooManyRedirects as error:
            raise FetchError(
                "too_many_redirects", f"more than {self.settings.max_redirects} redirects"
            ) from error
        except UnsafeURLError as error:
            raise FetchError("unsafe_url", str(error)) from error
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as error:
            raise FetchError("invalid_url", str(error)) from error
        except httpx.HTTPError as error:
            raise FetchError("connection", f"{type(error).__name__}: {error}") from error

    async def _get(self, url: str, headers: dict[str, str]) -> Fetched | NotModified:
        limit = self.settings.max_body_bytes
        async with self._client.stream("GET", url, headers=headers) as response:
            final_url = str(response.url)
            status = response.status_code
            if status == 304:
                return NotModified(final_url)
            if status >= 400 or status < 200:
                retry_after = None
                if status in (429, 503):
                    retry_after = parse_retry_after(
                        response.headers.get("Retry-After"), datetime.now(UTC)
                    )
                raise FetchError(
                    "rate_limited" if status == 429 else "http_status",
                    f"HTTP {status} {response.reason_phrase}"
                    + (f", Retry-After {retry_after:.0f}s" if retry_after is not None else ""),
                    retry_after_s=retry_after,
                )
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > limit:
                raise FetchError("too_large", f"Content-Length {declared} > {limit} bytes")
            chunks: list[bytes] = []
            size = 0
            # Decoded bytes are counted, so a small compressed body cannot expand unbounded.
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise FetchError("too_large", f"body exceeds {limit} bytes")
                chunks.append(chunk)
            return Fetched(
                url=final_url,
                status=status,
                body=b"".join(chunks),
                content_type=response.headers.get("Content-Type"),
                validators=Validators(
                    etag=response.headers.get("ETag"),
                    last_modified=response.headers.get("Last-Modified"),
                ),
            )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(
        self, exc: type[BaseException] | None, val: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
