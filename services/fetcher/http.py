"""HTTP adapter for feeds: limits on time, redirects and size, and conditional GET.

Every failure becomes a ``FetchError`` whose ``reason`` is a short, fixed word (used as a
metrics label), with the details in its message.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from types import TracebackType

import httpx

from services.common.errors import RaqibError
from services.fetcher.settings import FetcherSettings

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)


class FetchError(RaqibError):
    """A feed could not be fetched; ``reason`` is one of ``REASONS``."""

    REASONS = frozenset(
        {"http_status", "timeout", "too_large", "too_many_redirects", "connection", "invalid_url"}
    )

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


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
class FeedResponse:
    url: str  # after redirects
    status: int
    body: bytes
    content_type: str | None
    validators: Validators


@dataclass(frozen=True)
class NotModified:
    url: str


class FeedClient:
    """Fetches feed documents; remembers validators per feed URL, in memory.

    Validators are stored only through ``remember``, which the caller invokes once the
    response was fully processed: a fetch whose articles failed to publish must not turn the
    next poll into a 304 that would lose them.
    """

    def __init__(
        self,
        settings: FetcherSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self._validators: dict[str, Validators] = {}
        self._client = httpx.AsyncClient(
            headers={"User-Agent": settings.user_agent, "Accept": ACCEPT},
            timeout=httpx.Timeout(settings.timeout_s),
            follow_redirects=True,
            max_redirects=settings.max_redirects,
            transport=transport,
        )

    def validators_for(self, url: str) -> Validators | None:
        return self._validators.get(url)

    def remember(self, url: str, validators: Validators) -> None:
        if validators.etag or validators.last_modified:
            self._validators[url] = validators
        else:
            self._validators.pop(url, None)

    async def fetch(self, url: str) -> FeedResponse | NotModified:
        """GET ``url`` with its validators; raises ``FetchError``."""
        known = self._validators.get(url)
        headers = known.request_headers() if known else {}
        try:
            # httpx's timeout bounds each network operation; this bounds the whole request,
            # so a server dripping bytes cannot hold a poll forever.
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
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as error:
            raise FetchError("invalid_url", str(error)) from error
        except httpx.HTTPError as error:
            raise FetchError("connection", f"{type(error).__name__}: {error}") from error

    async def _get(self, url: str, headers: dict[str, str]) -> FeedResponse | NotModified:
        limit = self.settings.max_body_bytes
        async with self._client.stream("GET", url, headers=headers) as response:
            final_url = str(response.url)
            if response.status_code == 304:
                return NotModified(final_url)
            if response.status_code >= 400 or response.status_code < 200:
                raise FetchError(
                    "http_status", f"HTTP {response.status_code} {response.reason_phrase}"
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
            return FeedResponse(
                url=final_url,
                status=response.status_code,
                body=b"".join(chunks),
                content_type=response.headers.get("Content-Type"),
                validators=Validators(
                    etag=response.headers.get("ETag"),
                    last_modified=response.headers.get("Last-Modified"),
                ),
            )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> FeedClient:
        return self

    async def __aexit__(
        self, exc: type[BaseException] | None, val: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
