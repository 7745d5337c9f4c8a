"""The email around an alert's text and HTML: headers that survive every relay, one
Message-ID per alert (or digest) so a message sent again folds into the first."""

from __future__ import annotations

from collections.abc import Sequence
from email.header import Header
from email.headerregistry import Address, BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import Policy
from email.policy import default as default_policy
from email.utils import format_datetime, parseaddr

from schemas import Alert, EnrichedArticle
from services.alerting.core.content import NO_LINKS, Links
from services.alerting.core.render import render_html, render_text, subject


def message_id(key: str, sender: str, what: str = "alert") -> str:
    """Derived from the alert (or digest) id: a message sent again has the same id, so mail
    clients fold it."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "raqib.local"
    return f"<{key}.{what}@{domain}>"


class _EncodedSubject(UnstructuredHeader, BaseHeader):
    """A Subject folded as RFC 2047 requires: the space between two words inside the
    encoded-words. The standard folder puts it between two encoded-words, where readers
    must drop it (CPython gh-144156), so "قوة الردع" arrived as "قوةالردع"."""

    def fold(self, *, policy: Policy) -> str:
        value = str(self)
        if value.isascii():
            return str(super().fold(policy=policy))
        encoded = Header(value, "utf-8", header_name=self.name).encode(linesep=policy.linesep)
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
