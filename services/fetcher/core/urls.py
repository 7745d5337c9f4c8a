"""URL canonicalisation: one article, one URL, one id.

The same story reaches us under many URLs (tracking parameters, AMP variants, a trailing
slash, upper-case hosts, default ports). The article id is a hash of the canonical URL, so
every rule here decides whether two fetches count as one article. The function is idempotent.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from services.common.errors import PermanentError


class InvalidUrl(PermanentError, ValueError):
    """The text is not an absolute http(s) URL."""


# Parameters that identify a campaign or a click, never the document.
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "ocid",
        "ncid",
        "cmpid",
        "ref_src",
        "ref_url",
        "s_cid",
        "__twitter_impression",
        "at_medium",
        "at_campaign",
        "at_custom1",
        "at_custom2",
        "at_custom3",
        "at_custom4",
    }
)
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_")
# ``?amp``, ``?amp=1`` and ``?outputType=amp`` select the AMP rendering of the same article.
AMP_PARAMS = frozenset({"amp"})
DEFAULT_PORTS = {"http": 80, "https": 443}

# Characters left as they are in a path: RFC 3986 pchar plus "/" and existing escapes.
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
# In a query only non-ASCII and spaces need escaping before it is split into pairs.
_QUERY_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))
_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")


_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _normalize_escape(match: re.Match[str]) -> str:
    # RFC 3986 6.2.2: escapes of unreserved characters mean the characters themselves,
    # and the hex digits of the others are upper case.
    char = chr(int(match.group(0)[1:], 16))
    return char if char in _UNRESERVED else match.group(0).upper()


def _upper_escapes(text: str) -> str:
    return _ESCAPE.sub(_normalize_escape, text)


def _is_tracking(key: str, value: str) -> bool:
    name = key.lower()
    if name in TRACKING_PARAMS or name in AMP_PARAMS or name.startswith(TRACKING_PREFIXES):
        return True
    return name == "outputtype" and value.lower() == "amp"


def _canonical_host(hostname: str) -> str:
    host = hostname.lower().rstrip(".")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError as error:
        raise InvalidUrl(f"invalid host name {hostname!r}: {error}") from error
    if host.startswith("amp.") and host.count(".") >= 2:
        host = host[len("amp.") :]
    return host


def _canonical_path(path: str) -> str:
    path = _upper_escapes(quote(path, safe=_PATH_SAFE))
    segments = path.split("/")
    # AMP variants: /amp/... , .../amp , .../article.amp
    while len(segments) > 1 and segments[1].lower() == "amp":
        del segments[1]
    while segments and segments[-1] == "":
        segments.pop()
    if len(segments) > 1 and segments[-1].lower() == "amp":
        segments.pop()
    if len(segments) > 1 and segments[-1].lower().endswith(".amp"):
        segments[-1] = segments[-1][: -len(".amp")]
    path = "/".join(segments)
    return path if path.startswith("/") else "/" + path


def _canonical_query(query: str) -> str:
    # Latin-1 maps every byte to one character, so escapes survive the round trip byte-exact
    # whatever charset the site used.
    escaped = quote(query, safe=_QUERY_SAFE)
    pairs = parse_qsl(escaped, keep_blank_values=True, encoding="latin-1")
    kept = sorted((k, v) for k, v in pairs if not _is_tracking(k, v))
    return urlencode(kept, quote_via=quote, safe="", encoding="latin-1")


def canonical_url(url: str) -> str:
    """The canonical form of an absolute http(s) URL; raises ``InvalidUrl`` otherwise."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as error:
        raise InvalidUrl(f"invalid URL {url!r}: {error}") from error
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise InvalidUrl(f"not an http(s) URL: {url!r}")
    if not parts.hostname:
        raise InvalidUrl(f"URL without a host: {url!r}")
    host = _canonical_host(parts.hostname)
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    # The user-info part is dropped: credentials never belong in an article's identity.
    return urlunsplit(
        (scheme, netloc, _canonical_path(parts.path), _canonical_query(parts.query), "")
    )
