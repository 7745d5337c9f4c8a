"""What analysts read: snippet, subject, right-to-left HTML with marks, plain text, Slack."""

from __future__ import annotations

import email
import email.policy
import json
import re
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import EmailMessage
from html.parser import HTMLParser

from schemas import Alert, AlertRule, EnrichedArticle
from services.alerting.core import (
    DigestMessage,
    digest_webhook_body,
    passages,
    render_digest_email,
    render_email,
    render_html,
    render_text,
    slack_payload,
    snippet,
    subject,
    webhook_body,
)
from tests.unit.alerting.articles import (
    BASHAGHA,
    DETERRENCE,
    DETERRENCE_RULE,
    deterrence_alert,
    enriched,
)

NOW = datetime(2026, 1, 2, 10, 5, tzinfo=UTC)


def _alert(article: EnrichedArticle) -> Alert:
    return deterrence_alert(article, [("mail", "email")], now=NOW)


class _Marks(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.marked: list[str] = []
        self.roots: list[dict[str, str | None]] = []
        self._in_mark = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "html":
            self.roots.append(dict(attrs))
        self._in_mark = tag == "mark"

    def handle_endtag(self, tag: str) -> None:
        if tag == "mark":
            self._in_mark = False

    def handle_data(self, data: str) -> None:
        if self._in_mark:
            self.marked.append(data)


def test_the_snippet_is_the_sentence_around_the_first_mention() -> None:
    article = enriched()
    assert snippet(article, ["special-deterrence-force"]) == (
        "وقال مصدر إن قوة الردع الخاصة انتشرت قرب مطار معيتيقة في طرابلس!"
    )


def test_one_passage_per_entity_sentence_with_every_mention_marked() -> None:
    text = (
        "خبر أول لا علاقة له. قال فتحي باشاغا إن الوضع هادئ. جملة ثالثة. "
        "وأكدت قوة الردع الخاصة أن قوة الردع الخاصة جاهزة."
    )
    article = enriched(text, actors={DETERRENCE: ["قوة الردع الخاصة"], BASHAGHA: ["فتحي باشاغا"]})
    found = passages(article, ["special-deterrence-force", "fathi-bashagha"])
    assert [p.text for p in found] == [
        "قال فتحي باشاغا إن الوضع هادئ.",
        "وأكدت قوة الردع الخاصة أن قوة الردع الخاصة جاهزة.",
    ]
    assert [[p.text[s:e] for s, e in p.marks] for p in found] == [
        ["فتحي باشاغا"],
        ["قوة الردع الخاصة", "قوة الردع الخاصة"],
    ]


def test_a_long_sentence_is_cut_to_a_window_around_the_mention() -> None:
    filler = "كلمة " * 200
    text = filler + "ثم ظهرت قوة الردع الخاصة " + filler
    (passage,) = passages(enriched(text), ["special-deterrence-force"])
    assert len(passage.text) < 400
    assert passage.text.startswith("…") and passage.text.endswith("…")
    ((start, end),) = passage.marks
    assert passage.text[start:end] == "قوة الردع الخاصة"


def test_without_mentions_in_the_text_the_snippet_opens_the_article() -> None:
    article = enriched("الجملة الأولى. الجملة الثانية.", actors={})
    assert snippet(article, []) == "الجملة الأولى."


def test_the_alert_carries_the_rule_entities_summary_and_pending_deliveries() -> None:
    article = enriched()
    alert = _alert(article)
    assert alert.rule.id == "deterrence" and alert.rule.name == "Deterrence"
    assert alert.entities == ["special-deterrence-force"]
    assert alert.article.id == article.id and alert.article.url == article.url
    assert "قوة الردع الخاصة" in alert.article.snippet
    assert [(d.channel, d.kind, d.status.value, d.attempts) for d in alert.deliveries] == [
        ("mail", "email", "pending", 0)
    ]


def test_subject_names_the_rule_the_actors_and_the_title() -> None:
    article = enriched(title="انتشار أمني\nفي طرابلس")
    assert subject(_alert(article), article) == (
        "[Raqib] Deterrence: قوة الردع الخاصة — انتشار أمني في طرابلس"
    )


def test_html_is_right_to_left_arabic_with_the_mentions_marked() -> None:
    article = enriched(title="قوة الردع الخاصة تنتشر <بقوة> & تهدد")
    page = render_html(_alert(article), article)
    parser = _Marks()
    parser.feed(page)
    assert parser.roots == [{"dir": "rtl", "lang": "ar"}]
    assert parser.marked == ["قوة الردع الخاصة", "قوة الردع الخاصة"]  # title and sentence
    assert "&lt;بقوة&gt; &amp; تهدد" in page  # article text is escaped, never markup
    assert "https://news.example/1" in page and "Libya Observer" in page
    assert "2026-01-02 09:30 UTC" in page


def test_html_of_a_latin_script_article_is_left_to_right() -> None:
    article = enriched("Rada deployed.", actors={DETERRENCE: ["Rada"]}, language="en")
    assert '<html dir="ltr" lang="en">' in render_html(_alert(article), article)


def test_plain_text_has_title_source_date_link_and_the_sentence() -> None:
    article = enriched()
    text = render_text(_alert(article), article)
    assert "Deterrence: قوة الردع الخاصة" in text
    assert "المصدر · Source: Libya Observer" in text
    assert "التاريخ · Published: 2026-01-02 09:30 UTC · 11:30 Tripoli" in text
    assert "الرابط · Link: https://news.example/1" in text
    assert "Why: named as «قوة الردع الخاصة»" in text
    assert "Kibana" not in text  # no RAQIB_KIBANA_URL, no Kibana links
    assert "وقال مصدر إن «قوة الردع الخاصة» انتشرت" in text
    assert "<" not in text


def test_a_long_arabic_subject_keeps_every_space_on_the_wire() -> None:
    title = "قائد ميليشيا الردع يكشف للمخابرات الأمريكية تفاصيل نقل مقاتلي سوريا إلى ليبيا"
    article = enriched(title=title)
    alert = _alert(article)
    message = render_email(
        alert, article, sender="Raqib <alerts@raqib.example>", recipients=["desk@example.org"]
    )
    wire = message.as_bytes(policy=email.policy.SMTP)
    assert all(len(line) <= 78 for line in wire.split(b"\r\n"))
    folded = re.search(rb"^Subject: (.*?)\r\n(?! )", wire, re.M | re.S)
    assert folded is not None
    # Decoded the way RFC 2047 says (whitespace between encoded-words is dropped).
    raw = re.sub(r"\r\n[ \t]", " ", folded.group(1).decode("ascii"))
    assert str(make_header(decode_header(raw))) == subject(alert, article)
    assert "قوة الردع الخاصة" in subject(alert, article)


def test_email_is_multipart_utf8_and_the_arabic_survives_the_wire() -> None:
    article = enriched()
    alert = _alert(article)
    message = render_email(
        alert, article, sender="Raqib <alerts@raqib.example>", recipients=["desk@example.org"]
    )
    wire = message.as_bytes(policy=email.policy.SMTP)
    assert wire.isascii()  # headers RFC 2047-encoded, bodies base64: safe on any relay
    parsed = email.message_from_bytes(wire, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed["Subject"] == subject(alert, article)
    assert parsed["Message-ID"] == f"<{alert.id}.alert@raqib.example>"
    assert parsed["X-Raqib-Alert-Id"] == alert.id
    assert parsed["To"] == "desk@example.org"
    plain = parsed.get_body(("plain",))
    rich = parsed.get_body(("html",))
    assert plain is not None and rich is not None
    assert "«قوة الردع الخاصة»" in plain.get_content()
    assert '<html dir="rtl" lang="ar">' in rich.get_content()
    assert rich.get_content_charset() == "utf-8"


def test_slack_payload_has_fallback_text_and_blocks() -> None:
    article = enriched(title="قوة الردع الخاصة <تنتشر>")
    payload = slack_payload(_alert(article), article)
    assert payload["text"] == subject(_alert(article), article)
    blocks = payload["blocks"]
    assert isinstance(blocks, list)
    assert [b["type"] for b in blocks] == ["header", "section", "section", "section", "context"]
    assert blocks[0]["text"] == {"type": "plain_text", "text": "Deterrence: قوة الردع الخاصة"}
    assert blocks[1]["text"]["text"] == (
        "*<https://news.example/1|قوة الردع الخاصة &lt;تنتشر&gt;>*"
    )
    assert "Source: Libya Observer" in blocks[2]["text"]["text"]
    actor = blocks[3]["text"]["text"]
    assert actor.startswith("*قوة الردع الخاصة · ")
    assert "\n> وقال مصدر إن *قوة الردع الخاصة* انتشرت" in actor
    json.dumps(payload)  # serialisable as is


def test_webhook_body_formats() -> None:
    article = enriched()
    alert = _alert(article)
    posted = Alert.model_validate_json(webhook_body(alert, article, "raqib"))
    assert posted.model_copy(update={"content": None}) == alert
    assert posted.content is not None and posted.content.source == "Libya Observer"
    assert "content" not in json.loads(alert.model_dump_json())  # not on the alerts topic
    slack = json.loads(webhook_body(alert, article, "slack"))
    assert set(slack) == {"text", "blocks"}
    assert "قوة الردع الخاصة" in webhook_body(alert, article, "slack").decode("utf-8")


def test_a_line_is_a_sentence_and_is_not_marked_as_cut() -> None:
    article = enriched("عنوان الخبر\nثم انتشرت قوة الردع الخاصة\nسطر آخر")
    assert snippet(article, ["special-deterrence-force"]) == "ثم انتشرت قوة الردع الخاصة"


def _digest() -> tuple[DigestMessage, list[Alert]]:
    linked = enriched(title="قوة الردع الخاصة <تنتشر>")
    unlinked = enriched(n=2).model_copy(update={"url": None, "title": "خبر بلا رابط"})
    items = [(_alert(article), article) for article in (linked, unlinked)]
    digest = DigestMessage(
        id="d" * 16,
        rule=AlertRule(id=DETERRENCE_RULE.id, name=DETERRENCE_RULE.name),
        start=NOW,
        end=NOW.replace(hour=11),
        items=items,
    )
    return digest, [alert for alert, _ in items]


def test_a_slack_digest_lists_each_article_linked_when_it_has_a_url() -> None:
    digest, _ = _digest()
    payload = json.loads(digest_webhook_body(digest, "slack"))
    assert payload["text"] == "[Raqib] Deterrence: 2 alerts (digest)"
    (group,) = [b["text"]["text"] for b in payload["blocks"][2:]]
    assert group.startswith("*قوة الردع الخاصة* — 2 alerts\n")
    assert "• <https://news.example/1|قوة الردع الخاصة &lt;تنتشر&gt;>" in group
    assert "\n• خبر بلا رابط _(Libya Observer" in group


def test_a_raqib_digest_carries_every_alert_whole() -> None:
    digest, alerts = _digest()
    body = json.loads(digest_webhook_body(digest, "raqib"))
    assert (body["digest_id"], body["rule"]["id"]) == (digest.id, "deterrence")
    posted = [Alert.model_validate(item) for item in body["alerts"]]
    by_id = {a.id: a for a in alerts}
    assert [a.model_copy(update={"content": None}) for a in posted] == [by_id[a.id] for a in posted]
    assert len(posted) == len(alerts)
    assert all(a.content is not None for a in posted)


def test_a_digest_email_is_one_message_with_its_own_id() -> None:
    digest, _ = _digest()
    message = render_digest_email(
        digest, sender="Raqib <alerts@raqib.example>", recipients=["d@x.org"]
    )
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert parsed["Message-ID"] == f"<{digest.id}.digest@raqib.example>"
    assert parsed["X-Raqib-Digest-Id"] == digest.id
    plain = parsed.get_body(("plain",))
    assert plain is not None
    assert all(f"{n}. " in plain.get_content() for n in (1, 2))
