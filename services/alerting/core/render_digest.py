"""A digest: the alerts one rule raised in one window, as one message per channel, grouped
by watched actor (most alerts first), each group's articles newest first, with the same
excerpts as a single alert and a link to the window in Kibana."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from schemas import Alert, AlertActor, AlertContent, EnrichedArticle, Labels
from services.alerting.core.alerts import DigestMessage
from services.alerting.core.content import NO_LINKS, Links, alert_content, article_time, label
from services.alerting.core.mail import EMAIL_POLICY, message_id
from services.alerting.core.render import (
    LABELS,
    RTL_LANGUAGES,
    bdi,
    chip,
    digest_subject,
    excerpt_marks,
    html_excerpt,
    html_explanation,
    html_labels,
    html_link,
    html_table,
    marked,
    one_line,
    page,
    published_line,
    reasons_line,
    shorten,
)
from services.alerting.core.slack import (
    SLACK_HEADER_LIMIT,
    SLACK_MAX_BLOCKS,
    slack_escape,
    slack_link,
    slack_section,
)
from services.common.discover import rule_window_link

NO_ACTOR = Labels(ar="بلا جهة محددة", en="No watched actor")


@dataclass(frozen=True)
class Entry:
    alert: Alert
    article: EnrichedArticle
    content: AlertContent
    actor: AlertActor | None  # this group's actor in the alert


@dataclass(frozen=True)
class Group:
    """One watched actor and the digest's alerts that name it, newest first."""

    id: str
    name: Labels
    entries: list[Entry]


def groups(digest: DigestMessage, links: Links = NO_LINKS) -> list[Group]:
    """The digest's alerts per watched actor, the actor with most alerts first; an alert
    naming two watched actors is listed under each."""
    found: dict[str, Group] = {}
    for alert, article in digest.items:
        content = alert_content(alert, article, links)
        actors: list[AlertActor | None] = list(content.actors) or [None]
        for actor in actors:
            key, name = (actor.id, actor.name) if actor else ("", NO_ACTOR)
            group = found.setdefault(key, Group(key, name, []))
            group.entries.append(Entry(alert, article, content, actor))
    for group in found.values():
        group.entries.sort(key=lambda e: (article_time(e.article), e.alert.id), reverse=True)
    return sorted(found.values(), key=lambda g: (-len(g.entries), g.name.en))


def window_text(digest: DigestMessage) -> str:
    fmt = "%Y-%m-%d %H:%M"
    return f"{digest.start.astimezone(UTC):{fmt}} – {digest.end.astimezone(UTC):{fmt}} UTC"


def window_link(digest: DigestMessage, links: Links) -> str | None:
    if not links.kibana_url:
        return None
    return rule_window_link(links.kibana_url, digest.rule.id, digest.start, digest.end)


def _count(group: Group) -> str:
    return f"{len(group.entries)} {'alert' if len(group.entries) == 1 else 'alerts'}"


def render_digest_text(digest: DigestMessage, links: Links = NO_LINKS) -> str:
    lines = [digest_subject(digest), f"{LABELS['window']}: {window_text(digest)}"]
    if (link := window_link(digest, links)) is not None:
        lines.append(f"{LABELS['kibana']}: {link}")
    for group in groups(digest, links):
        lines += ["", f"■ {label(group.name, group.id)} — {_count(group)}"]
        for number, entry in enumerate(group.entries, 1):
            lines.append(f"  {number}. {one_line(entry.article.title)}")
            lines.append(f"     {entry.content.source} · {published_line(entry.content)}")
            if entry.content.links.article is not None:
                lines.append(f"     {entry.content.links.article}")
            if entry.actor is not None:
                if entry.actor.reasons:
                    lines.append(f"     {LABELS['why']}: {reasons_line(entry.actor)}")
                for excerpt in entry.actor.excerpts:
                    text = marked(excerpt.text, excerpt_marks(excerpt), lambda s: f"«{s}»", str)
                    lines.append(f"     {text}")
    lines += ["", f"-- Raqib digest {digest.id} (rule {digest.rule.id})"]
    return "\n".join(lines) + "\n"


def _html_entry(entry: Entry) -> str:
    esc = html.escape
    url = entry.content.links.article
    title = esc(one_line(entry.article.title))
    heading = f'<a href="{esc(str(url))}">{title}</a>' if url is not None else title
    meta = [bdi(entry.content.source), f'<bdi dir="ltr">{esc(published_line(entry.content))}</bdi>']
    if entry.content.links.kibana_article:
        meta.append(html_link(entry.content.links.kibana_article, "Kibana"))
    parts = [f'<p style="margin:8px 0 0 0"><b dir="auto">{heading}</b></p>']
    parts.append(f'<p style="color:#555;margin:0">{" · ".join(meta)}</p>')
    if entry.actor is not None:
        if entry.actor.reasons:
            why = "; ".join(html_explanation(r.explanation) for r in entry.actor.reasons)
            parts.append(
                f'<p dir="ltr" style="color:#444;font-size:90%;margin:0;text-align:left">'
                f"{esc(LABELS['why'])}: {why}</p>"
            )
        parts += [html_excerpt(excerpt) for excerpt in entry.actor.excerpts]
    return f"<li>{''.join(parts)}</li>"


def render_digest_html(digest: DigestMessage, links: Links = NO_LINKS) -> str:
    esc = html.escape
    rtl = any(article.language in RTL_LANGUAGES for _, article in digest.items)
    side, align = ("rtl", "right") if rtl else ("ltr", "left")
    sections = []
    for group in groups(digest, links):
        entries = "\n".join(_html_entry(entry) for entry in group.entries)
        sections.append(
            f'<div style="border-{align}:4px solid #c33;margin:14px 0;padding:2px 12px">'
            f'<h3 style="margin:4px 0">{html_labels(group.name.ar, group.name.en)} '
            f'<span style="color:#666;font-weight:normal">· <bdi dir="ltr">{_count(group)}'
            f"</bdi></span></h3>\n<ol>\n{entries}\n</ol></div>"
        )
    rows = [(LABELS["window"], f'<bdi dir="ltr">{esc(window_text(digest))}</bdi>')]
    if (link := window_link(digest, links)) is not None:
        rows.append((LABELS["kibana"], chip(html_link(link, LABELS["open_window"]))))
    body = f"""<p style="color:#555">{esc(LABELS["digest"])} — <bdi>{esc(digest.rule.name)}</bdi> \
· <bdi dir="ltr">{len(digest.items)} alerts</bdi></p>
<table>
{html_table(rows, align)}
</table>
{"".join(sections)}
<p style="color:#888;font-size:small" dir="ltr">{esc(f"Raqib digest {digest.id}")}</p>"""
    return page(digest_subject(digest), side, "ar" if rtl else "en", body)


def render_digest_email(
    digest: DigestMessage, *, sender: str, recipients: Sequence[str], links: Links = NO_LINKS
) -> EmailMessage:
    message = EmailMessage(policy=EMAIL_POLICY)
    message["Subject"] = digest_subject(digest)
    message["From"] = sender
    message["To"] = [Address(addr_spec=address) for address in recipients]
    message["Date"] = format_datetime(digest.end)
    message["Message-ID"] = message_id(digest.id, sender, "digest")
    message["X-Raqib-Digest-Id"] = digest.id
    message["X-Raqib-Rule"] = digest.rule.id
    message.set_content(render_digest_text(digest, links), charset="utf-8", cte="base64")
    message.add_alternative(
        render_digest_html(digest, links), subtype="html", charset="utf-8", cte="base64"
    )
    return message


def _slack_group(group: Group) -> str:
    lines = [f"*{slack_escape(label(group.name, group.id))}* — {_count(group)}"]
    for entry in group.entries:
        title = one_line(entry.article.title)
        url = entry.content.links.article
        link = slack_link(str(url), title) if url is not None else slack_escape(title)
        meta = f"{entry.content.source} · {published_line(entry.content)}"
        lines.append(f"• {link} _({slack_escape(meta)})_")
        for excerpt in (entry.actor.excerpts if entry.actor else [])[:1]:
            flat = excerpt.text.replace("\n", " ")
            quote = marked(
                flat, excerpt_marks(excerpt), lambda s: f"*{slack_escape(s)}*", slack_escape
            )
            lines.append(f"> {quote}")
    return "\n".join(lines)


def digest_slack_payload(digest: DigestMessage, links: Links = NO_LINKS) -> dict[str, object]:
    window = slack_escape(f"{LABELS['window']}: {window_text(digest)}")
    if (link := window_link(digest, links)) is not None:
        window += f" · {slack_link(link, 'Kibana')}"
    blocks: list[dict[str, object]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": shorten(digest_subject(digest), SLACK_HEADER_LIMIT),
            },
        },
        slack_section(window),
    ]
    blocks += [slack_section(_slack_group(group)) for group in groups(digest, links)]
    return {"text": digest_subject(digest), "blocks": blocks[:SLACK_MAX_BLOCKS]}


def digest_webhook_body(digest: DigestMessage, fmt: str, links: Links = NO_LINKS) -> bytes:
    """One POST for the whole digest: the alerts (each with its content) as JSON, newest
    first, or Slack blocks grouped by actor."""
    if fmt == "slack":
        return json.dumps(digest_slack_payload(digest, links), ensure_ascii=False).encode()
    ordered = sorted(digest.items, key=lambda item: article_time(item[1]), reverse=True)
    alerts = ",".join(
        alert.model_copy(update={"content": alert_content(alert, article, links)}).model_dump_json()
        for alert, article in ordered
    )
    head = json.dumps(
        {
            "digest_id": digest.id,
            "rule": digest.rule.model_dump(mode="json"),
            "start": digest.start.isoformat(),
            "end": digest.end.isoformat(),
            "kibana": window_link(digest, links),
        },
        ensure_ascii=False,
    )
    return (head[:-1] + f', "alerts": [{alerts}]}}').encode("utf-8")
