"""What the chat channels post: Telegram (Bot API ``sendMessage``, HTML), Microsoft Teams (an
Adaptive Card for a Workflows webhook) and Mattermost (a Slack-compatible incoming-webhook
body), built from the same rendered alert as the email and the Slack payload.

Each API refuses a message over its size limit, so every payload is made to fit: the
excerpts are cut first, at a word, keeping their marks; in a digest, the alerts that do not
fit are counted instead of listed. Limits, as each API counts them:

- Telegram: 4096 characters of text after entity parsing (tags and ``&amp;`` do not count;
  characters are UTF-16 code units);
- Teams: about 28 KB for the whole message (the JSON, counted here in UTF-8 bytes);
- Mattermost: 16383 characters (code points) of ``text``.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from schemas import Alert, EnrichedArticle
from services.alerting.core.alerts import DigestMessage, Passage
from services.alerting.core.content import NO_LINKS, Links, alert_content, label
from services.alerting.core.render import (
    LABELS,
    RTL_LANGUAGES,
    actor_heading,
    headline,
    published_line,
    reasons_line,
    subject,
    topics_line,
    window_line,
)
from services.alerting.core.render_digest import groups, window_link, window_text

TELEGRAM_MAX_CHARS = 4096
TEAMS_MAX_BYTES = 27 * 1024  # Teams refuses messages over about 28 KB; a margin for the envelope
MATTERMOST_MAX_CHARS = 16383

MAX_HEADLINE = 200
MAX_TITLE = 300
MAX_FACT = 300
MAX_URL = 1000  # a longer link is left out rather than let it crowd out the text
ELLIPSIS = "…"
RLM = "\u200f"  # starts a paragraph right to left where the client guesses from the first letter

T = TypeVar("T")


# --- the content every format shows ------------------------------------------------------


@dataclass(frozen=True)
class ActorSection:
    """A watched actor that fired: its names and type, why it was tagged, its excerpts."""

    heading: str
    why: str | None
    passages: list[Passage]


@dataclass(frozen=True)
class Content:
    """One alert, ready to lay out: every field already clipped to its limit (the content
    every format carries, ``content.alert_content``)."""

    headline: str
    title: str
    url: str | None
    facts: list[tuple[str, str]]
    actors: list[ActorSection]
    links: list[tuple[str, str]]  # (label, URL): Kibana Discover on the article and alert
    footer: str
    rtl: bool

    @property
    def passages(self) -> list[Passage]:
        return [passage for actor in self.actors for passage in actor.passages]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary, ``…`` marking the cut."""
    if len(text) <= limit:
        return text
    if limit <= 1:
        return ELLIPSIS[:limit]
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:  # a word boundary not too far back; else cut inside the word
        cut = cut[:space]
    return cut.rstrip() + ELLIPSIS


def clip_passage(passage: Passage, limit: int) -> Passage:
    """A passage cut like ``clip``; marks past the cut are dropped, one across it shortened."""
    text = clip(passage.text, limit)
    if text == passage.text:
        return passage
    kept = len(text) - (1 if text.endswith(ELLIPSIS) else 0)
    marks = tuple((start, min(end, kept)) for start, end in passage.marks if start < kept)
    return Passage(text, marks)


def _url(article: EnrichedArticle) -> str | None:
    url = str(article.url) if article.url is not None else None
    return url if url is not None and len(url) <= MAX_URL else None


def content(
    alert: Alert, article: EnrichedArticle, budget: int | None = None, links: Links = NO_LINKS
) -> Content:
    """The alert's content with at most ``budget`` characters of excerpts (None: all of them),
    taken in order: the first excerpts whole, the last one that fits cut at a word."""
    full = alert_content(alert, article, links)
    facts = [
        (LABELS["source"], clip(_one_line(full.source), MAX_FACT)),
        (LABELS["date"], published_line(full)),
    ]
    if full.topics:
        facts.append((LABELS["topics"], clip(topics_line(full), MAX_FACT)))
    if (line := window_line(alert)) is not None:
        facts.append((LABELS["window"], line))
    sections: list[ActorSection] = []
    left = budget
    for actor in full.actors:
        shown: list[Passage] = []
        for excerpt in actor.excerpts:
            marks = tuple((start, end) for start, end in excerpt.marks)
            flat = Passage(excerpt.text.replace("\n", " "), marks)  # same offsets
            if left is None:
                shown.append(flat)
                continue
            if left < 20:  # a stub of a few words says nothing
                break
            cut = clip_passage(flat, left)
            shown.append(cut)
            left -= len(cut.text)
        why = f"{LABELS['why']}: {reasons_line(actor)}" if actor.reasons else None
        sections.append(
            ActorSection(
                heading=clip(actor_heading(actor), MAX_HEADLINE),
                why=clip(why, MAX_FACT) if why else None,
                passages=shown,
            )
        )
    kibana = [
        (f"{LABELS['kibana']} ({name})", url)
        for name, url in (
            (LABELS["open_article"], full.links.kibana_article),
            (LABELS["open_alert"], full.links.kibana_alert),
        )
        if url is not None and len(url) <= MAX_URL
    ]
    return Content(
        headline=clip(_one_line(headline(alert, article)), MAX_HEADLINE),
        title=clip(_one_line(article.title), MAX_TITLE),
        url=_url(article),
        facts=facts,
        actors=sections,
        links=kibana,
        footer=f"Raqib alert {alert.id} · rule {alert.rule.id}",
        rtl=article.language in RTL_LANGUAGES,
    )


def excerpt_chars(alert: Alert, article: EnrichedArticle, links: Links = NO_LINKS) -> int:
    actors = alert_content(alert, article, links).actors
    return sum(len(excerpt.text) for actor in actors for excerpt in actor.excerpts)


def fit(build: Callable[[int], T], size: Callable[[T], int], limit: int, most: int) -> T:
    """``build(n)`` for the largest ``n`` in ``[0, most]`` whose ``size`` is within ``limit``;
    ``size(build(n))`` must grow with ``n``. Raises ValueError when not even ``build(0)`` fits
    (the fixed parts are clipped so that it always does)."""
    best = build(most)
    if size(best) <= limit:
        return best
    low, high = 0, most  # build(low) fits (checked below), build(high) does not
    best = build(0)
    if size(best) > limit:
        raise ValueError(f"even the shortest message is over the limit of {limit}")
    while high - low > 1:
        middle = (low + high) // 2
        candidate = build(middle)
        if size(candidate) <= limit:
            low, best = middle, candidate
        else:
            high = middle
    return best


def _marked(passage: Passage, mark: Callable[[str], str], plain: Callable[[str], str]) -> str:
    out, position = [], 0
    for start, end in passage.marks:
        if start < position:
            continue
        out.append(plain(passage.text[position:start]))
        out.append(mark(passage.text[start:end]))
        position = end
    out.append(plain(passage.text[position:]))
    return "".join(out)


def _digest_lines(
    digest: DigestMessage, links: Links = NO_LINKS
) -> list[tuple[str, str, str | None, str]]:
    """Per alert, grouped by watched actor (most alerts first) and newest first in a group:
    the actor and its count, the title, link, and ``source · date`` with the first excerpt,
    clipped. An alert naming two watched actors is listed under each."""
    lines = []
    for group in groups(digest, links):
        head = clip(f"{label(group.name, group.id)} ({len(group.entries)})", MAX_HEADLINE)
        for entry in group.entries:
            meta = f"{clip(_one_line(entry.content.source), MAX_FACT)} · "
            meta += published_line(entry.content)
            if entry.actor is not None and entry.actor.excerpts:
                first = entry.actor.excerpts[0].text.replace("\n", " ")
                meta += f"\n{clip(first, MAX_FACT)}"
            lines.append(
                (head, clip(_one_line(entry.article.title), MAX_TITLE), _url(entry.article), meta)
            )
    return lines


def _window_line(digest: DigestMessage, links: Links) -> str:
    """``Window: 2026-01-05 08:00 – 09:00 UTC``, with the window's Kibana link when set."""
    line = f"{LABELS['window']}: {window_text(digest)}"
    link = window_link(digest, links)
    return f"{line} · {link}" if link and len(link) <= MAX_URL else line


def digest_subject(digest: DigestMessage) -> str:
    return f"[Raqib] {digest.rule.name}: {len(digest.items)} alerts (digest)"


def _more(count: int) -> str:
    return f"{ELLIPSIS} +{count} more alerts in this digest"


# --- Telegram ------------------------------------------------------------------------------

_TAG = re.compile(r"<[^>]*>")


def telegram_length(text: str) -> int:
    """The length Telegram checks: the text after entity parsing, in UTF-16 code units."""
    visible = html.unescape(_TAG.sub("", text))
    return len(visible.encode("utf-16-le")) // 2


def _tg(text: str) -> str:
    return html.escape(text, quote=False)


def _tg_link(text: str, url: str | None) -> str:
    if url is None:
        return f"<b>{_tg(text)}</b>"
    return f'<a href="{html.escape(url, quote=True)}">{_tg(text)}</a>'


def _telegram_text(item: Content) -> str:
    lines = [f"<b>{_tg(item.headline)}</b>", _tg_link(item.title, item.url)]
    lines += [f"{_tg(label)}: {_tg(value)}" for label, value in item.facts]
    lines += [_tg_link(label, url) for label, url in item.links]
    for actor in item.actors:
        lines.append(f"<b>■ {_tg(actor.heading)}</b>")
        if actor.why:
            lines.append(f"<i>{_tg(actor.why)}</i>")
        for passage in actor.passages:
            quoted = _marked(passage, lambda s: f"<b>{_tg(s)}</b>", _tg)
            lines.append(f"<blockquote>{quoted}</blockquote>")
    lines.append(f"<i>{_tg(item.footer)}</i>")
    return "\n".join(lines)


def telegram_payload(
    alert: Alert, article: EnrichedArticle, chat_id: str, links: Links = NO_LINKS
) -> dict[str, Any]:
    """The ``sendMessage`` body: HTML parse mode, cut to Telegram's 4096 characters."""
    text = fit(
        lambda budget: _telegram_text(content(alert, article, budget, links)),
        telegram_length,
        TELEGRAM_MAX_CHARS,
        excerpt_chars(alert, article, links),
    )
    return {"chat_id": chat_id, "text": text, "parse_mode": "HTML"}


def telegram_digest_payload(
    digest: DigestMessage, chat_id: str, links: Links = NO_LINKS
) -> dict[str, Any]:
    lines = _digest_lines(digest, links)

    def build(count: int) -> str:
        out = [f"<b>{_tg(digest_subject(digest))}</b>", _tg(_window_line(digest, links)), ""]
        for number, (head, title, url, meta) in enumerate(lines[:count], 1):
            out.append(f"{number}. <b>{_tg(head)}</b> — {_tg_link(title, url)}")
            out.append(f"{_tg(meta)}")
        if count < len(lines):
            out.append(_tg(_more(len(lines) - count)))
        out.append(f"<i>{_tg(f'Raqib digest {digest.id}')}</i>")
        return "\n".join(out)

    text = fit(build, telegram_length, TELEGRAM_MAX_CHARS, len(lines))
    return {"chat_id": chat_id, "text": text, "parse_mode": "HTML"}


# --- Mattermost ----------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~#])")


def _md(text: str) -> str:
    """Markdown's special characters escaped, so an article's text shows as written."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def _md_link(text: str, url: str | None) -> str:
    if url is None:
        return f"**{_md(text)}**"
    target = url.replace(" ", "%20").replace("(", "%28").replace(")", "%29")
    return f"**[{_md(text)}]({target})**"


def _markdown_text(item: Content) -> str:
    lines = [f"#### {_md(item.headline)}", _md_link(item.title, item.url), ""]
    lines += [f"{_md(label)}: {_md(value)}" for label, value in item.facts]
    lines += [_md_link(label, url) for label, url in item.links]
    for actor in item.actors:
        lines += ["", f"**■ {_md(actor.heading)}**"]
        if actor.why:
            lines.append(f"_{_md(actor.why)}_")
        for passage in actor.passages:
            lines += ["", "> " + _marked(passage, lambda s: f"**{_md(s)}**", _md)]
    lines += ["", f"_{_md(item.footer)}_"]
    return "\n".join(lines)


def _mattermost_body(text: str, options: MattermostOptions) -> dict[str, Any]:
    """The text, and each option that is set (unset, the webhook's own default holds)."""
    return {"text": text, **{key: value for key, value in asdict(options).items() if value}}


@dataclass(frozen=True)
class MattermostOptions:
    channel: str | None = None
    username: str | None = None
    icon_url: str | None = None


def mattermost_payload(
    alert: Alert,
    article: EnrichedArticle,
    options: MattermostOptions | None = None,
    links: Links = NO_LINKS,
) -> dict[str, Any]:
    """An incoming-webhook body: Markdown ``text``, cut to Mattermost's 16383 characters."""
    text = fit(
        lambda budget: _markdown_text(content(alert, article, budget, links)),
        len,
        MATTERMOST_MAX_CHARS,
        excerpt_chars(alert, article, links),
    )
    return _mattermost_body(text, options or MattermostOptions())


def mattermost_digest_payload(
    digest: DigestMessage, options: MattermostOptions | None = None, links: Links = NO_LINKS
) -> dict[str, Any]:
    lines = _digest_lines(digest, links)

    def build(count: int) -> str:
        out = [f"#### {_md(digest_subject(digest))}", _md(_window_line(digest, links)), ""]
        for number, (head, title, url, meta) in enumerate(lines[:count], 1):
            out.append(f"{number}. **{_md(head)}** — {_md_link(title, url)}  ")
            out.append(f"   {_md(meta)}")
        if count < len(lines):
            out.append(_md(_more(len(lines) - count)))
        out += ["", f"_{_md(f'Raqib digest {digest.id}')}_"]
        return "\n".join(out)

    text = fit(build, len, MATTERMOST_MAX_CHARS, len(lines))
    return _mattermost_body(text, options or MattermostOptions())


# --- Microsoft Teams -------------------------------------------------------------------------

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
CARD_VERSION = "1.4"


def json_bytes(payload: dict[str, Any]) -> bytes:
    """The exact bytes posted: UTF-8 JSON, Arabic as written."""
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def _text_block(text: str, rtl: bool, **style: Any) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "TextBlock", "text": text, "wrap": True, **style}
    if rtl:
        # Version 1.4 cards have no `rtl`: the mark sets the paragraph's direction and the
        # block is aligned right.
        block["text"] = RLM + text
        block["horizontalAlignment"] = "Right"
    return block


def _card(body: list[dict[str, Any]], fallback: str, url: str | None) -> dict[str, Any]:
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "fallbackText": fallback,
        "msteams": {"width": "Full"},
        "body": body,
    }
    if url is not None:
        card["actions"] = [{"type": "Action.OpenUrl", "title": LABELS["link"], "url": url}]
    return {
        "type": "message",
        "attachments": [{"contentType": ADAPTIVE_CARD, "contentUrl": None, "content": card}],
    }


def _teams_card(item: Content, fallback: str) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        _text_block(_md(item.headline), item.rtl, weight="Bolder", size="Medium"),
        _text_block(_md_link(item.title, item.url), item.rtl),
        {
            "type": "FactSet",
            "facts": [{"title": label, "value": _md(value)} for label, value in item.facts],
        },
    ]
    if item.links:
        shown = " · ".join(_md_link(label, url) for label, url in item.links)
        body.append(_text_block(shown, item.rtl, size="Small"))
    for actor in item.actors:
        body.append(_text_block(_md(actor.heading), item.rtl, weight="Bolder"))
        if actor.why:
            body.append(_text_block(_md(actor.why), False, isSubtle=True, spacing="None"))
        for passage in actor.passages:
            quoted = _marked(passage, lambda s: f"**{_md(s)}**", _md)
            body.append(
                {
                    "type": "Container",
                    "style": "emphasis",
                    "items": [_text_block(quoted, item.rtl)],
                }
            )
    body.append(_text_block(_md(item.footer), False, isSubtle=True, size="Small"))
    return _card(body, fallback, item.url)


def teams_payload(
    alert: Alert, article: EnrichedArticle, links: Links = NO_LINKS
) -> dict[str, Any]:
    """A message with one Adaptive Card, cut to fit Teams' 28 KB."""
    fallback = clip(_one_line(subject(alert, article)), MAX_TITLE)
    return fit(
        lambda budget: _teams_card(content(alert, article, budget, links), fallback),
        lambda payload: len(json_bytes(payload)),
        TEAMS_MAX_BYTES,
        excerpt_chars(alert, article, links),
    )


def teams_digest_payload(digest: DigestMessage, links: Links = NO_LINKS) -> dict[str, Any]:
    lines = _digest_lines(digest, links)
    rtl = any(article.language in RTL_LANGUAGES for _, article in digest.items)
    window = _window_line(digest, links)

    def build(count: int) -> dict[str, Any]:
        body = [_text_block(_md(digest_subject(digest)), rtl, weight="Bolder", size="Medium")]
        body.append(_text_block(_md(window), False, isSubtle=True, spacing="None"))
        for number, (head, title, url, meta) in enumerate(lines[:count], 1):
            body.append(_text_block(f"{number}. **{_md(head)}** — {_md_link(title, url)}", rtl))
            body.append(_text_block(_md(meta), rtl, isSubtle=True, spacing="None"))
        if count < len(lines):
            body.append(_text_block(_md(_more(len(lines) - count)), rtl))
        body.append(_text_block(_md(f"Raqib digest {digest.id}"), False, isSubtle=True))
        return _card(body, digest_subject(digest), None)

    return fit(build, lambda payload: len(json_bytes(payload)), TEAMS_MAX_BYTES, len(lines))
