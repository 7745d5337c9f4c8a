"""What a person reads in an email: plain text and right-to-left HTML, laid out from the
alert's content (``content.alert_content``): per watched actor its names in Arabic and
English, why it was tagged and up to three excerpts with the mentions marked; the topics and
actor types as labels; the source, the time in UTC and in Tripoli; the links.

The email message around them is in ``mail``; Slack and the JSON webhook in ``slack``;
digests in ``render_digest``.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from datetime import UTC

from schemas import Alert, AlertActor, AlertContent, EnrichedArticle, MarkedText
from services.alerting.core.alerts import DigestMessage, Span, entity_names, title_marks
from services.alerting.core.content import NO_LINKS, Links, alert_content, label, when
from services.alerting.core.excerpts import text_direction

RTL_LANGUAGES = frozenset({"ar", "fa", "ur", "he", "ps", "ckb", "yi", "dv"})
MAX_NAMES_IN_SUBJECT = 3
MAX_TITLE_IN_SUBJECT = 120

# Field names as analysts read them: Arabic first, English after.
LABELS = {
    "alert": "تنبيه رقيب · Raqib alert",
    "source": "المصدر · Source",
    "date": "التاريخ · Published",
    "link": "الرابط · Link",
    "kibana": "كيبانا · Kibana",
    "actors": "الجهات · Actors",
    "topics": "المواضيع · Topics",
    "why": "لماذا · Why",
    "unknown": "غير معروف · unknown",
    "window": "النافذة · Window",
    "digest": "ملخص رقيب · Raqib digest",
    "title_only": "مذكور في العنوان فقط · named in the title only",
    "open_article": "المقال · article",
    "open_alert": "التنبيه · alert",
    "open_window": "تنبيهات النافذة · the window's alerts",
}
FONT = "Tahoma,'Noto Naskh Arabic','Noto Sans Arabic',Arial,sans-serif"


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


def one_line(text: str) -> str:
    return " ".join(text.split())


def shorten(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a space when one is near, ``…`` marking the cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def _names(alert: Alert, article: EnrichedArticle) -> list[str]:
    return [one_line(name) for name in entity_names(article, alert.entities)]


def headline(alert: Alert, article: EnrichedArticle) -> str:
    """``Deterrence: Special Deterrence Force (قوة الردع الخاصة)`` — the rule and its actors."""
    names = _names(alert, article)
    shown = names[:MAX_NAMES_IN_SUBJECT]
    if len(names) > len(shown):
        shown.append(f"+{len(names) - len(shown)}")
    return f"{alert.rule.name}: {'، '.join(shown)}" if shown else alert.rule.name


def subject(alert: Alert, article: EnrichedArticle) -> str:
    title = shorten(one_line(article.title), MAX_TITLE_IN_SUBJECT)
    return f"[Raqib] {headline(alert, article)} — {title}"


def digest_subject(digest: DigestMessage) -> str:
    return f"[Raqib] {digest.rule.name}: {len(digest.items)} alerts (digest)"


def published(article: EnrichedArticle) -> str:
    if article.published_at is None:
        return LABELS["unknown"]
    return article.published_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def published_line(content: AlertContent) -> str:
    return when(content) or LABELS["unknown"]


def direction(language: str) -> str:
    return "rtl" if language in RTL_LANGUAGES else "ltr"


def marked(
    text: str, marks: Sequence[Span], mark: Callable[[str], str], plain: Callable[[str], str]
) -> str:
    out, position = [], 0
    for start, end in sorted(marks):
        if start < position or end > len(text):
            continue
        out.append(plain(text[position:start]))
        out.append(mark(text[start:end]))
        position = end
    out.append(plain(text[position:]))
    return "".join(out)


def html_marked(text: str, marks: Sequence[Span]) -> str:
    return marked(text, marks, lambda s: f"<mark>{html.escape(s)}</mark>", html.escape)


def excerpt_marks(excerpt: MarkedText) -> list[Span]:
    return [(start, end) for start, end in excerpt.marks]


# --- plain text ---------------------------------------------------------------------------


def actor_heading(actor: AlertActor) -> str:
    """``قوة الردع الخاصة — Special Deterrence Force · جماعة مسلحة / Armed group · 7 mentions``"""
    parts = [
        f"{actor.name.ar} — {actor.name.en}" if actor.name.ar != actor.name.en else actor.name.en
    ]
    parts.append(label(actor.type_labels, str(actor.type)))
    parts.append(mentions_count(actor))
    return " · ".join(parts)


def mentions_count(actor: AlertActor) -> str:
    return f"{actor.mentions} {'mention' if actor.mentions == 1 else 'mentions'}"


def reasons_line(actor: AlertActor) -> str:
    return "; ".join(
        r.explanation + (f" (×{r.count})" if r.count > 1 else "") for r in actor.reasons
    )


def topics_line(content: AlertContent) -> str:
    return "، ".join(label(topic.labels, topic.id) for topic in content.topics)


def text_actor(actor: AlertActor) -> list[str]:
    lines = ["", f"■ {actor_heading(actor)}"]
    if actor.reasons:
        lines.append(f"  {LABELS['why']}: {reasons_line(actor)}")
    for excerpt in actor.excerpts:
        lines.append("  " + marked(excerpt.text, excerpt_marks(excerpt), lambda s: f"«{s}»", str))
    if not actor.excerpts:
        lines.append(f"  ({LABELS['title_only']})")
    return lines


def render_text(alert: Alert, article: EnrichedArticle, links: Links = NO_LINKS) -> str:
    content = alert_content(alert, article, links)
    lines = [
        headline(alert, article),
        one_line(article.title),
        "",
        f"{LABELS['source']}: {content.source}",
        f"{LABELS['date']}: {published_line(content)}",
    ]
    if content.links.article is not None:
        lines.append(f"{LABELS['link']}: {content.links.article}")
    if content.links.kibana_article:
        lines.append(
            f"{LABELS['kibana']} ({LABELS['open_article']}): {content.links.kibana_article}"
        )
    if content.links.kibana_alert:
        lines.append(f"{LABELS['kibana']} ({LABELS['open_alert']}): {content.links.kibana_alert}")
    if content.topics:
        lines.append(f"{LABELS['topics']}: {topics_line(content)}")
    if (line := window_line(alert)) is not None:
        lines.append(f"{LABELS['window']}: {line}")
    for actor in content.actors:
        lines += text_actor(actor)
    lines += ["", f"-- Raqib alert {alert.id} (rule {alert.rule.id})"]
    return "\n".join(lines) + "\n"


# --- HTML ---------------------------------------------------------------------------------

_esc = html.escape


def bdi(text: str) -> str:
    """Text of either direction isolated inside a line of the other."""
    return f"<bdi>{_esc(text)}</bdi>"


def html_link(url: str, text: str | None = None) -> str:
    return f'<a href="{_esc(url)}" dir="ltr">{_esc(text or url)}</a>'


def html_labels(ar: str, en: str) -> str:
    if ar == en:
        return bdi(en)
    return f'{bdi(ar)} <span style="color:#666">·</span> <bdi dir="ltr">{_esc(en)}</bdi>'


def chip(inner: str) -> str:
    """A label in a box of its own, so labels of both directions never run together."""
    return (
        '<span style="display:inline-block;border:1px solid #ccc;border-radius:4px;'
        f'padding:0 6px;margin:2px 0">{inner}</span>'
    )


def html_excerpt(excerpt: MarkedText) -> str:
    side = excerpt.direction
    align = "right" if side == "rtl" else "left"
    return (
        f'<p dir="{side}" style="text-align:{align};margin:6px 0">'
        f"{html_marked(excerpt.text, excerpt_marks(excerpt))}</p>"
    )


def html_reasons(actor: AlertActor) -> str:
    items = "".join(
        f"<li>{html_explanation(r.explanation)}"
        + (f" <span style='color:#666'>(×{r.count})</span>" if r.count > 1 else "")
        + "</li>"
        for r in actor.reasons
    )
    return (
        f'<div dir="ltr" style="text-align:left;color:#444;font-size:90%">'
        f"{_esc(LABELS['why'])}:<ul style='margin:2px 0 6px 0'>{items}</ul></div>"
    )


def html_explanation(text: str) -> str:
    """English with «Arabic» quoted inside: each quoted piece isolated (and bold) so the
    line reads left to right and every name keeps its own direction."""
    out, rest = [], text
    while "«" in rest and "»" in rest.split("«", 1)[1]:
        before, _, tail = rest.partition("«")
        quoted, _, rest = tail.partition("»")
        # Bold instead of quotes: a guillemet beside an isolate of the other direction
        # is drawn mirrored (Chromium showed «name« at the end of a left-to-right line).
        out.append(_esc(before) + f"<b><bdi>{_esc(quoted)}</bdi></b>")
    return "".join(out) + _esc(rest)


def html_actor(actor: AlertActor, side: str) -> str:
    align = "right" if side == "rtl" else "left"
    kind = actor.type_labels
    type_html = html_labels(kind.ar, kind.en) if kind else _esc(str(actor.type))
    excerpts = "\n".join(html_excerpt(e) for e in actor.excerpts) or (
        f'<p style="color:#666">{_esc(LABELS["title_only"])}</p>'
    )
    return f"""<div style="border-{align}:4px solid #c33;margin:14px 0;padding:2px 12px">
<h3 style="margin:4px 0">{html_labels(actor.name.ar, actor.name.en)}</h3>
<p style="color:#555;margin:0 0 4px 0">{type_html} <span style="color:#666">·</span> \
<bdi dir="ltr">{mentions_count(actor)}</bdi></p>
{html_reasons(actor) if actor.reasons else ""}
{excerpts}
</div>"""


def html_rows(content: AlertContent, alert: Alert | None) -> list[tuple[str, str]]:
    rows = [
        (LABELS["source"], bdi(content.source)),
        (LABELS["date"], f'<bdi dir="ltr">{_esc(published_line(content))}</bdi>'),
    ]
    if content.links.article is not None:
        rows.append((LABELS["link"], html_link(str(content.links.article))))
    kibana = [
        chip(html_link(url, name))
        for url, name in (
            (content.links.kibana_article, LABELS["open_article"]),
            (content.links.kibana_alert, LABELS["open_alert"]),
        )
        if url
    ]
    if kibana:
        rows.append((LABELS["kibana"], " ".join(kibana)))
    if content.topics:
        chips = " ".join(
            chip(html_labels(t.labels.ar, t.labels.en) if t.labels else bdi(t.id))
            for t in content.topics
        )
        rows.append((LABELS["topics"], chips))
    if alert is not None and (line := window_line(alert)) is not None:
        rows.append((LABELS["window"], f'<span dir="ltr">{_esc(line)}</span>'))
    return rows


def html_table(rows: list[tuple[str, str]], align: str) -> str:
    return "\n".join(
        f'<tr><th style="text-align:{align};padding:2px 8px;vertical-align:top;'
        f'white-space:nowrap">{_esc(name)}</th><td>{value}</td></tr>'
        for name, value in rows
    )


def page(title: str, side: str, lang: str, body: str) -> str:
    align = "right" if side == "rtl" else "left"
    return f"""<!DOCTYPE html>
<html dir="{side}" lang="{_esc(lang)}">
<head><meta charset="utf-8"><title>{_esc(title)}</title></head>
<body dir="{side}" style="font-family:{FONT};text-align:{align};line-height:1.7;\
max-width:760px;margin:16px auto;padding:0 12px">
{body}
</body>
</html>
"""


def render_html(alert: Alert, article: EnrichedArticle, links: Links = NO_LINKS) -> str:
    content = alert_content(alert, article, links)
    side = direction(article.language)
    align = "right" if side == "rtl" else "left"
    # Title spans index the original title; it is shown unflattened so they stay valid.
    title = html_marked(article.title, title_marks(article, alert.entities))
    title_side = text_direction(article.title, side)  # type: ignore[arg-type]
    actors = "\n".join(html_actor(actor, side) for actor in content.actors)
    footer = _esc(f"Raqib alert {alert.id} · rule {alert.rule.id}")
    head = f"{_esc(LABELS['alert'])} — <bdi>{_esc(headline(alert, article))}</bdi>"
    body = f"""<p style="color:#555">{head}</p>
<h2 dir="{title_side}">{title}</h2>
<table>
{html_table(html_rows(content, alert), align)}
</table>
{actors}
<p style="color:#888;font-size:small" dir="ltr">{footer}</p>"""
    return page(subject(alert, article), side, article.language, body)
