"""Which URLs Raqib may fetch or post to: the guard against server-side request forgery.

A feed, an article page or a webhook target comes from configuration or from the web; left
unchecked, a URL such as ``http://169.254.169.254/`` or ``http://localhost:9200/`` would let a
feed entry or a rules file reach the metadata service or our own Elasticsearch. So only
``http`` and ``https`` are allowed, and every address the host name resolves to must be a
public one, unless the configuration allows private targets (local runs and tests).

``GuardedTransport`` runs the check on every request an httpx client sends, redirects
included, because httpx hands each hop to the transport. A name can still resolve to a
different address between our check and httpcore's own lookup (DNS rebinding); closing that
would mean connecting to the checked address ourselves, which TLS host checking makes awkward.
We accept that gap and note it in docs/decisions.md.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import httpx

ALLOWED_SCHEMES = frozenset({"http", "https"})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeURLError(ValueError):
    """The URL may not be fetched: wrong scheme, no host, or a non-public address."""


def is_public_address(address: IPAddress) -> bool:
    """True for globally routable unicast addresses; false for private, loopback, link-local,
    multicast, reserved and unspecified ones (IPv4-mapped IPv6 addresses are unwrapped)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def check_url_syntax(url: str) -> httpx.URL:
    """Parse ``url`` and refuse anything but an absolute http(s) URL with a host."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as error:
        raise UnsafeURLError(f"{url!r} is not a valid URL: {error}") from error
    if parsed.scheme not in ALLOWED_SCHEMES:
        raise UnsafeURLError(f"{url!r}: only http and https URLs are allowed")
    if not parsed.host:
        raise UnsafeURLError(f"{url!r} has no host")
    return parsed


def check_addresses(url: str, addresses: list[str]) -> None:
    """Refuse ``url`` if any address it resolved to is not public."""
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id
        if not is_public_address(address):
            raise UnsafeURLError(
                f"{url!r} resolves to {address}, a private, loopback or link-local address; "
                "set the service's allow-private setting to reach it"
            )


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (an IP literal resolves to itself)."""
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


async def check_url(url: str, *, allow_private: bool) -> None:
    """The whole check for one URL: syntax, then (unless allowed) its resolved addresses.

    A name that does not resolve raises ``OSError`` (``socket.gaierror``): a transient
    failure for the caller, not an unsafe URL.
    """
    parsed = check_url_syntax(url)
    if allow_private:
        return
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    check_addresses(url, await resolve(parsed.host, port))


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that checks every request's URL, redirect hops included."""

    def __init__(self, inner: httpx.AsyncBaseTransport, *, allow_private: bool) -> None:
        self._inner = inner
        self._allow_private = allow_private

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            await check_url(str(request.url), allow_private=self._allow_private)
        except OSError as error:
            raise httpx.ConnectError(
                f"cannot resolve {request.url.host}: {error}", request=request
            ) from error
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
