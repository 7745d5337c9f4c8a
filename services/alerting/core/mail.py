"""The email around an alert's text and HTML: headers that survive every relay, one
Message-ID per alert (or digest) so a message sent again folds into the first."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from email.header import Header
from email.headerregistry import Address, BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import Policy
from email.policy import default as default_policy
from email.utils import format_datetime, formataddr, parseaddr
from functools import lru_cache

from schemas import Alert, EnrichedArticle
from services.alerting.core.content import NO_LINKS, Links
from services.alerting.core.render import render_html, render_text, subject


def message_id(key: str, sender: str, what: str = "alert") -> str:
    """Derived from the alert (or digest) id: a message sent again has the same id, so mail
    clients fold it."""
    return f"<{key}.{what}@{_domain(sender)}>"


@lru_cache(maxsize=64)
def _domain(sender: str) -> str:
    # Cached: a channel sends every alert from the same address, and parsing it each time
    # cost as much as a part of the message.
    return parseaddr(sender)[1].rpartition("@")[2] or "raqib.local"


class _EncodedSubject(UnstructuredHeader, BaseHeader):
    """A Subject folded as RFC 2047 requires: the space between two words inside the
    encoded-words. The standard folder puts it between two encoded-words, where readers
    must drop it (CPython gh-144156), so "قوة الردع" arrived as "قوةالردع"."""

    def fold(self, *, policy: Policy) -> str:
        value = str(self)
        if value.isascii():
            return str(super().fold(policy=policy))
        encoded = encoded_words(value, len(self.name) + 2).replace(CRLF, policy.linesep)
        return f"{self.name}: {encoded}{policy.linesep}"


_HEADERS = HeaderRegistry()
_HEADERS.map_to_type("subject", _EncodedSubject)
EMAIL_POLICY = default_policy.clone(header_factory=_HEADERS)


def render_email(
    alert: Alert,
    article: EnrichedArticle,
    *,
    sender: str,
    recipients: Sequence[str],
    links: Links = NO_LINKS,
) -> EmailMessage:
    """A multipart/alternative message, UTF-8 throughout (base64 parts survive any relay)."""
    message = EmailMessage(policy=EMAIL_POLICY)
    message["Subject"] = subject(alert, article)
    message["From"] = sender
    message["To"] = [Address(addr_spec=address) for address in recipients]
    message["Date"] = format_datetime(alert.created_at)
    message["Message-ID"] = message_id(alert.id, sender)
    message["X-Raqib-Alert-Id"] = alert.id
    message["X-Raqib-Rule"] = alert.rule.id
    message.set_content(render_text(alert, article, links), charset="utf-8", cte="base64")
    message.add_alternative(
        render_html(alert, article, links), subtype="html", charset="utf-8", cte="base64"
    )
    return message


# --- the wire form, built directly ----------------------------------------------------------
#
# ``render_email`` and flattening its message cost about 10 ms an alert (the policy parses
# every header it is given, then folds each again): more than the rest of a delivery. The
# channel sends what this writes instead: the same headers and parts (a test compares the
# two on the seeds' alerts), laid out by hand.

CRLF = "\r\n"
MAX_LINE = 78  # RFC 5322's limit for a header line, without its CRLF
MAX_ENCODED_WORD = 75  # RFC 2047
_WORD = "=?utf-8?b?{}?="
_WORD_OVERHEAD = len(_WORD) - 2
_MIN_WORD = _WORD_OVERHEAD + 8  # a word holding one 4-byte character


def encoded_words(value: str, first_line_used: int) -> str:
    """``value`` as RFC 2047 "B" encoded-words of UTF-8, folded: the first after
    ``first_line_used`` columns, each later one on a line of its own. The spaces are inside
    the words (readers drop those between them), and no word splits a character.

    Written for the hot path: ``email.header.Header`` measured each character's encoded
    length one by one, half of an alert email's rendering time with an Arabic subject."""
    data = value.encode("utf-8")
    room = min(MAX_ENCODED_WORD, MAX_LINE - first_line_used)
    words = [] if room >= _MIN_WORD else [""]  # no room on the first line: the next one
    if words:
        room = MAX_ENCODED_WORD
    start = 0
    while start < len(data):
        # Base64 writes 4 characters for every 3 bytes; a room of _MIN_WORD holds 6 bytes,
        # so a word always takes at least one whole character.
        end = min(len(data), start + (room - _WORD_OVERHEAD) // 4 * 3)
        while end < len(data) and data[end] & 0xC0 == 0x80:  # inside a character
            end -= 1
        words.append(_WORD.format(base64.b64encode(data[start:end]).decode("ascii")))
        start = end
        room = MAX_ENCODED_WORD  # a folded line: a space, then the word
    return f"{CRLF} ".join(words)


def _header(name: str, value: str) -> str:
    """``Name: value`` and its line ending: an ASCII value as it is (folded at spaces when
    long), any other as RFC 2047 encoded-words (as ``_EncodedSubject`` folds them)."""
    if any(c in value for c in "\r\n"):
        value = " ".join(value.split())
    if value.isascii():
        if len(name) + 2 + len(value) <= MAX_LINE:
            return f"{name}: {value}{CRLF}"
        folded = Header(value, "us-ascii", header_name=name).encode(linesep=CRLF)
        return f"{name}: {folded}{CRLF}"
    return f"{name}: {encoded_words(value, len(name) + 2)}{CRLF}"


@lru_cache(maxsize=64)
def _address(mailbox: str) -> str:
    """``Name <addr>`` with a non-ASCII name encoded (the address itself must be ASCII).
    Cached: every alert of a channel has the same sender."""
    name, addr = parseaddr(mailbox)
    if not addr:
        return mailbox
    if name.isascii():
        return formataddr((name, addr))
    # Encoded-words folded as the Subject's, the address on a line of its own.
    return f"{encoded_words(name, len('From: '))}{CRLF} <{addr}>"


def _base64_part(subtype: str, text: str) -> str:
    # As ``set_content(cte="base64")`` encodes text: lines joined with LF, one at the end.
    data = b"\n".join(text.encode("utf-8").splitlines()) + b"\n"
    body = base64.encodebytes(data).decode("ascii").replace("\n", CRLF)
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}'
        f"Content-Transfer-Encoding: base64{CRLF}{CRLF}{body}"
    )


def ascii_envelope(sender: str, recipients: Sequence[str]) -> bool:
    """Whether ``email_bytes`` can write this message: every address ASCII (else SMTPUTF8,
    and ``render_email`` is the way)."""
    return (parseaddr(sender)[1] or sender).isascii() and all(r.isascii() for r in recipients)


def email_bytes(
    alert: Alert,
    article: EnrichedArticle,
    *,
    sender: str,
    recipients: Sequence[str],
    links: Links = NO_LINKS,
    extra_headers: Sequence[tuple[str, str]] = (),
) -> bytes:
    """``render_email``'s message as it goes over SMTP (CRLF, 7 bits: both parts base64), for
    an ASCII envelope (``ascii_envelope``). ``extra_headers`` go after the alert's own."""
    # No base64 text holds "-" or "=" next to "_": the boundary never occurs in a part.
    boundary = f"=_raqib_{alert.id}_="
    headers = [
        _header("Subject", subject(alert, article)),
        f"From: {_address(sender)}{CRLF}",
        "To: " + f",{CRLF} ".join(recipients) + CRLF,
        _header("Date", format_datetime(alert.created_at)),
        _header("Message-ID", message_id(alert.id, sender)),
        _header("X-Raqib-Alert-Id", alert.id),
        _header("X-Raqib-Rule", alert.rule.id),
        *(_header(name, value) for name, value in extra_headers),
        f"MIME-Version: 1.0{CRLF}",
        f'Content-Type: multipart/alternative; boundary="{boundary}"{CRLF}',
    ]
    parts = [
        _base64_part("plain", render_text(alert, article, links)),
        _base64_part("html", render_html(alert, article, links)),
    ]
    body = "".join(f"--{boundary}{CRLF}{part}" for part in parts) + f"--{boundary}--{CRLF}"
    return ("".join(headers) + CRLF + body).encode("ascii")
