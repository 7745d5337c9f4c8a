"""What a webhook receives: the ``Alert`` JSON with its ``content``, or Slack blocks laying
out the same content (per actor its names, why, and excerpts; labels, source, time, links)."""

from __future__ import annotations

import json

from schemas import Alert, AlertActor, AlertContent, EnrichedArticle
from services.alerting.core.content import NO_LINKS, Links, alert_content
from services.alerting.core.render import (
    LABELS,
    actor_heading,
    excerpt_marks,
    headline,
    marked,
    one_line,
    published_line,
    reasons_line,
    shorten,
    subject,
    topics_line,
    window_line,
)

SLACK_HEADER_LIMIT = 150
SLACK_SECTION_LIMIT = 3000
SLACK_MAX_BLOCKS = 50


def slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_link(url: str, text: str) -> str:
    return f"<{url}|{slack_escape(text)}>"


def slack_section(text: str) -> dict[str, object]:
    shown = shorten(text, SLACK_SECTION_LIMIT)
    return {"type": "section", "text": {"type": "mrkdwn", "text": shown}}


def slack_title(article: EnrichedArticle) -> str:
    """The article's title in bold, linked to the article when it has a URL."""
    title = slack_escape(one_line(article.title))
    return f"*<{article.url}|{title}>*" if article.url is not None else f"*{title}*"


def slack_actor(actor: AlertActor) -> str:
    lines = [f"*{slack_escape(actor_heading(actor))}*"]
    if actor.reasons:
        lines.append(f"_{slack_escape(LABELS['why'])}:_ {slack_escape(reasons_line(actor))}")
    for excerpt in actor.excerpts:
        # A newline inside would end the quote: a space keeps every offset.
        flat = excerpt.text.replace("\n", " ")
        lines.append(
            "> "
            + marked(flat, excerpt_marks(excerpt), lambda s: f"*{slack_escape(s)}*", slack_escape)
        )
    if not actor.excerpts:
        lines.append(f"_{slack_escape(LABELS['title_only'])}_")
    return "\n".join(lines)


def slack_facts(content: AlertContent, alert: Alert | None = None) -> str:
    parts = [
        f"{LABELS['source']}: {slack_escape(content.source)}",
        f"{LABELS['date']}: {slack_escape(published_line(content))}",
    ]
    if content.topics:
        parts.append(f"{LABELS['topics']}: {slack_escape(topics_line(content))}")
    if alert is not None and (line := window_line(alert)) is not None:
        parts.append(f"{LABELS['window']}: {slack_escape(line)}")
    kibana = [
        slack_link(url, name)
        for url, name in (
            (content.links.kibana_article, LABELS["open_article"]),
            (content.links.kibana_alert, LABELS["open_alert"]),
        )
        if url
    ]
    if kibana:
        parts.append(f"{LABELS['kibana']}: {' · '.join(kibana)}")
    return "\n".join(parts)


def slack_payload(
    alert: Alert, article: EnrichedArticle, links: Links = NO_LINKS
) -> dict[str, object]:
    """A Slack-compatible incoming-webhook body: ``text`` as fallback, ``blocks`` to show."""
    content = alert_content(alert, article, links)
    header = shorten(headline(alert, article), SLACK_HEADER_LIMIT)
    blocks: list[dict[str, object]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header}},
        slack_section(slack_title(article)),
        slack_section(slack_facts(content, alert)),
    ]
    blocks += [slack_section(slack_actor(actor)) for actor in content.actors]
    blocks = blocks[: SLACK_MAX_BLOCKS - 1]
    footer = slack_escape(f"Raqib alert {alert.id} · rule {alert.rule.id}")
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]})
    return {"text": subject(alert, article), "blocks": blocks}


def webhook_body(
    alert: Alert, article: EnrichedArticle, fmt: str, links: Links = NO_LINKS
) -> bytes:
    """The exact bytes POSTed (and signed): Slack blocks, or the alert with its content."""
    if fmt == "slack":
        return json.dumps(slack_payload(alert, article, links), ensure_ascii=False).encode()
    with_content = alert.model_copy(update={"content": alert_content(alert, article, links)})
    return with_content.model_dump_json().encode("utf-8")
