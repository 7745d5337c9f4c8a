"""What a person reads: the email (plain text + right-to-left HTML) and the webhook payloads."""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from datetime import UTC
from email.header import Header
from email.headerregistry import Address, BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import Policy
from email.policy import default as default_policy
from email.utils import format_datetime, parseaddr

from schemas import Alert, EnrichedArticle
from services.alerting.core.alerts import (
    DigestMessage,
    Passage,
    Span,
    entity_names,
    passages,
    title_marks,
)

RTL_LANGUAGES = frozenset({"ar", "fa", "ur", "he", "ps", "ckb", "yi", "dv"})
MAX_NAMES_IN_SUBJECT = 3
MAX_TITLE_IN_SUBJECT = 120
SLACK_HEADER_LIMIT = 150
SLACK_SECTION_LIMIT = 3000

LABELS = {
    "alert": "تنبيه رقيب",
    "source": "المصدر",
    "date": "التاريخ",
    "link": "الرابط",
    "actors": "الجهات",
    "topics": "المواضيع",
    "unknown": "غير معروف",
    "window": "النافذة",
    "digest": "ملخص رقيب",
}


def window_line(alert: Alert) -> str | None:
    """``12 articles 09:00–10:00 UTC (baseline 2 in 24h before)`` for window alerts."""
    window = alert.window
    if window is None:
        return None
    fmt = "%Y-%m-%d %H:%M"
    line = (
        f"{window.count} articles {window.start.astimezone(UTC).strftime(fmt)}"
        f" – {window.end.astimezone(UTC).strftime(fmt)} UTC"
    )
    if window.baseline_count is not None and window.baseline_start is not None:
        hours = (window.start - window.baseline_start).total_seconds() / 3600
        line += f" (baseline: {window.baseline_count} in the {hours:g} h before)"
    return line


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _names(alert: Alert, article: EnrichedArticle) -> list[str]:
    return [_one_line(name) for name in entity_names(article, alert.entities)]


def headline(alert: Alert, article: EnrichedArticle) -> str:
    """``Deterrence: قوة الردع الخاصة`` — the rule and the actors it saw."""
    names = _names(alert, article)
    shown = names[:MAX_NAMES_IN_SUBJECT]
    if len(names) > len(shown):
        shown.append(f"+{len(names) - len(shown)}")
    return f"{alert.rule.name}: {'، '.join(shown)}" if shown else alert.rule.name


def subject(alert: Alert, article: EnrichedArticle) -> str:
    title = _shorten(_one_line(article.title), MAX_TITLE_IN_SUBJECT)
    return f"[Raqib] {headline(alert, article)} — {title}"


def published(article: EnrichedArticle) -> str:
    if article.published_at is None:
        return LABELS["unknown"]
    return article.published_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def direction(language: str) -> str:
    return "rtl" if language in RTL_LANGUAGES else "ltr"


def _marked(
    text: str, marks: Sequence[Span], mark: Callable[[str], str], plain: Callable[[str], str]
) -> str:
    out, position = [], 0
    for start, end in marks:
        out.append(plain(text[position:start]))
        out.append(mark(text[start:end]))
        position = end
    out.append(plain(text[position:]))
    return "".join(out)


def _html_marked(text: str, marks: Sequence[Span]) -> str:
    return _marked(text, marks, lambda s: f"<mark>{html.escape(s)}</mark>", html.escape)


def render_text(alert: Alert, article: EnrichedArticle) -> str:
    lines = [
        headline(alert, article),
        _one_line(article.title),
        "",
        f"{LABELS['source']}: {article.source}",
        f"{LABELS['date']}: {published(article)}",
    ]
    if article.url is not None:
        lines.append(f"{LABELS['link']}: {article.url}")
    if alert.topics:
        lines.append(f"{LABELS['topics']}: {', '.join(alert.topics)}")
    if (line := window_line(alert)) is not None:
        lines.append(f"{LABELS['window']}: {line}")
    for passage in passages(article, alert.entities):
        lines += ["", _marked(passage.text, passage.marks, lambda s: f"«{s}»", str)]
    lines += ["", f"-- Raqib alert {alert.id} (rule {alert.rule.id})"]
    return "\n".join(lines) + "\n"


def render_html(alert: Alert, article: EnrichedArticle) -> str:
    esc = html.escape
    lang, side = esc(article.language), direction(article.language)
    align = "right" if side == "rtl" else "left"
    rows = [
        (LABELS["source"], esc(article.source)),
        (LABELS["date"], esc(published(article))),
    ]
    if article.url is not None:
        url = esc(str(article.url))
        rows.append((LABELS["link"], f'<a href="{url}" dir="ltr">{url}</a>'))
    if alert.entities:
        rows.append((LABELS["actors"], esc("، ".join(_names(alert, article)))))
    if alert.topics:
        rows.append((LABELS["topics"], esc(", ".join(alert.topics))))
    if (line := window_line(alert)) is not None:
        rows.append((LABELS["window"], f'<span dir="ltr">{esc(line)}</span>'))
    table = "\n".join(
        f'<tr><th style="text-align:{align};padding:2px 8px">{label}</th><td>{value}</td></tr>'
        for label, value in rows
    )
    quoted = "\n".join(_html_passage(p) for p in passages(article, alert.entities))
    # Title spans index the original title; it is shown unflattened so they stay valid.
    title = _html_marked(article.title, title_marks(article, alert.entities))
    footer = esc(f"Raqib alert {alert.id} · rule {alert.rule.id}")
    return f"""<!DOCTYPE html>
<html dir="{side}" lang="{lang}">
<head><meta charset="utf-8"><title>{esc(subject(alert, article))}</title></head>
<body dir="{side}" style="font-family:Tahoma,Arial,sans-serif;text-align:{align};line-height:1.7">
<p style="color:#555">{LABELS["alert"]} — {esc(headline(alert, article))}</p>
<h2>{title}</h2>
<table>
{table}
</table>
<blockquote style="border-{align}:4px solid #c33;margin:12px 0;padding:4px 12px">
{quoted}
</blockquote>
<p style="color:#888;font-size:small" dir="ltr">{footer}</p>
</body>
</html>
"""


def _html_passage(passage: Passage) -> str:
    return f"<p>{_html_marked(passage.text, passage.marks)}</p>"


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
    alert: Alert, article: EnrichedArticle, *, sender: str, recipients: Sequence[str]
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
    message.set_content(render_text(alert, article), charset="utf-8", cte="base64")
    message.add_alternative(
        render_html(alert, article), subtype="html", charset="utf-8", cte="base64"
    )
    return message


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_section(text: str) -> dict[str, object]:
    shown = _shorten(text, SLACK_SECTION_LIMIT)
    return {"type": "section", "text": {"type": "mrkdwn", "text": shown}}


def _slack_title(article: EnrichedArticle) -> str:
    """The article's title in bold, linked to the article when it has a URL."""
    title = _slack_escape(_one_line(article.title))
    return f"*<{article.url}|{title}>*" if article.url is not None else f"*{title}*"


def slack_payload(alert: Alert, article: EnrichedArticle) -> dict[str, object]:
    """A Slack-compatible incoming-webhook body: ``text`` as fallback, ``blocks`` to show."""
    link = _slack_title(article)
    quote = "\n".join(
        # Newline → space keeps every offset, so the marks stay valid.
        "> "
        + _marked(
            p.text.replace("\n", " "), p.marks, lambda s: f"*{_slack_escape(s)}*", _slack_escape
        )
        for p in passages(article, alert.entities)
    )
    header = _shorten(headline(alert, article), SLACK_HEADER_LIMIT)
    blocks: list[dict[str, object]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header}},
        _slack_section(link),
    ]
    if quote:
        blocks.append(_slack_section(quote))
    context = _slack_escape(" · ".join([article.source, published(article), f"alert {alert.id}"]))
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    return {"text": subject(alert, article), "blocks": blocks}


def webhook_body(alert: Alert, article: EnrichedArticle, fmt: str) -> bytes:
    """The exact bytes POSTed (and signed)."""
    if fmt == "slack":
        return json.dumps(slack_payload(alert, article), ensure_ascii=False).encode("utf-8")
    return alert.model_dump_json().encode("utf-8")


def digest_subject(digest: DigestMessage) -> str:
    return f"[Raqib] {digest.rule.name}: {len(digest.items)} alerts (digest)"


def render_digest_text(digest: DigestMessage) -> str:
    lines = [digest_subject(digest), ""]
    for number, (alert, article) in enumerate(digest.items, 1):
        lines.append(f"{number}. {headline(alert, article)} — {_one_line(article.title)}")
        lines.append(f"   {LABELS['source']}: {article.source} · {published(article)}")
        if article.url is not None:
            lines.append(f"   {article.url}")
        lines.append("")
    lines.append(f"-- Raqib digest {digest.id} (rule {digest.rule.id})")
    return "\n".join(lines) + "\n"


def render_digest_html(digest: DigestMessage) -> str:
    esc = html.escape
    languages = {article.language for _, article in digest.items}
    side = "rtl" if languages & RTL_LANGUAGES else "ltr"
    align = "right" if side == "rtl" else "left"
    entries = []
    for alert, article in digest.items:
        link = (
            f' · <a href="{esc(str(article.url))}" dir="ltr">{esc(str(article.url))}</a>'
            if article.url is not None
            else ""
        )
        quoted = "".join(_html_passage(p) for p in passages(article, alert.entities))
        entries.append(
            f"<li><p><b>{esc(headline(alert, article))}</b> — "
            f"{_html_marked(article.title, title_marks(article, alert.entities))}</p>"
            f'<p style="color:#555">{esc(article.source)} · {esc(published(article))}{link}</p>'
            f"{quoted}</li>"
        )
    items = "\n".join(entries)
    return f"""<!DOCTYPE html>
<html dir="{side}">
<head><meta charset="utf-8"><title>{esc(digest_subject(digest))}</title></head>
<body dir="{side}" style="font-family:Tahoma,Arial,sans-serif;text-align:{align};line-height:1.7">
<p style="color:#555">{LABELS["digest"]} — {esc(digest.rule.name)}</p>
<ol>
{items}
</ol>
<p style="color:#888;font-size:small" dir="ltr">{esc(f"Raqib digest {digest.id}")}</p>
</body>
</html>
"""


def render_digest_email(
    digest: DigestMessage, *, sender: str, recipients: Sequence[str]
) -> EmailMessage:
    message = EmailMessage(policy=EMAIL_POLICY)
    message["Subject"] = digest_subject(digest)
    message["From"] = sender
    message["To"] = [Address(addr_spec=address) for address in recipients]
    message["Date"] = format_datetime(digest.end)
    message["Message-ID"] = message_id(digest.id, sender, "digest")
    message["X-Raqib-Digest-Id"] = digest.id
    message["X-Raqib-Rule"] = digest.rule.id
    message.set_content(render_digest_text(digest), charset="utf-8", cte="base64")
    message.add_alternative(
        render_digest_html(digest), subtype="html", charset="utf-8", cte="base64"
    )
    return message


def digest_webhook_body(digest: DigestMessage, fmt: str) -> bytes:
    """One POST for the whole digest: the alerts as JSON, or Slack blocks listing them."""
    if fmt == "slack":
        lines = [f"• {_slack_title(article)}" for _, article in digest.items]
        payload: dict[str, object] = {
            "text": digest_subject(digest),
            "blocks": [
                {
                    "type": "header",
                    "text": {
                        "type": "plain_text",
                        "text": _shorten(digest_subject(digest), SLACK_HEADER_LIMIT),
                    },
                },
                _slack_section("\n".join(lines)),
            ],
        }
        return json.dumps(payload, ensure_ascii=False).encode("utf-8")
    alerts = ",".join(alert.model_dump_json() for alert, _ in digest.items)
    head = json.dumps(
        {
            "digest_id": digest.id,
            "rule": digest.rule.model_dump(mode="json"),
            "start": digest.start.isoformat(),
            "end": digest.end.isoformat(),
        },
        ensure_ascii=False,
    )
    return (head[:-1] + f', "alerts": [{alerts}]}}').encode("utf-8")
