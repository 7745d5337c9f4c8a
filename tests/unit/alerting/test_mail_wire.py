"""The email's wire form, written directly (``email_bytes``), is the message ``render_email``
makes, flattened; an alert's content is built once per alert and article."""

from __future__ import annotations

import email
import email.base64mime
import email.policy
import re
from email.header import decode_header, make_header
from email.message import EmailMessage

import pytest
from aiosmtplib.email import flatten_message

from schemas import Alert, EnrichedArticle
from services.alerting.core import REDELIVERY_HEADER, Links, alert_content, render_email
from services.alerting.core.mail import ascii_envelope, email_bytes, encoded_words
from tests.alerts_on_seeds import KIBANA, seed_alerts

ALERTS = seed_alerts()
IDS = [f"{seed}-{alert.rule.id}" for seed, alert, _ in ALERTS]
ENVELOPES = [
    ("Raqib <raqib@localhost>", ["analysts@raqib.example"]),
    ("رقيب · المراقبة <raqib@raqib.example>", ["a@raqib.example", "b@raqib.example"]),
    ("raqib@raqib.example", [f"analyst{i}@raqib.example" for i in range(8)]),
]


def _parsed(wire: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(wire, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _headers(message: EmailMessage) -> list[tuple[str, str]]:
    # The boundary differs; every other header reads the same.
    return sorted((k, str(v)) for k, v in message.items() if k != "Content-Type")


def _parts(message: EmailMessage) -> list[tuple[str, str, str, object]]:
    return [
        (
            part.get_content_type(),
            str(part.get_param("charset")),
            str(part["Content-Transfer-Encoding"]),
            part.get_payload(decode=True),
        )
        for part in message.iter_parts()
    ]


@pytest.mark.parametrize(("seed", "alert", "article"), ALERTS, ids=IDS)
@pytest.mark.parametrize(("sender", "recipients"), ENVELOPES)
def test_the_wire_form_is_the_rendered_message_flattened(
    seed: str, alert: Alert, article: EnrichedArticle, sender: str, recipients: list[str]
) -> None:
    assert ascii_envelope(sender, recipients)
    rendered = render_email(alert, article, sender=sender, recipients=recipients, links=KIBANA)
    expected = _parsed(flatten_message(rendered, utf8=False, cte_type="7bit"))
    wire = email_bytes(alert, article, sender=sender, recipients=recipients, links=KIBANA)
    got = _parsed(wire)
    assert _headers(got) == _headers(expected)
    assert got.get_content_type() == "multipart/alternative"
    assert _parts(got) == _parts(expected)
    assert all(len(line) <= 78 for line in wire.split(b"\r\n"))
    assert b"\n" not in wire.replace(b"\r\n", b"")  # CRLF only
    assert "Subject" in got and "الردع" in str(got["Subject"]) + str(expected["Subject"])


def test_a_redelivery_carries_its_header_and_the_same_message_id() -> None:
    _, alert, article = ALERTS[0]
    sender, recipients = ENVELOPES[0]
    first = _parsed(email_bytes(alert, article, sender=sender, recipients=recipients))
    again = _parsed(
        email_bytes(
            alert,
            article,
            sender=sender,
            recipients=recipients,
            extra_headers=[(REDELIVERY_HEADER, "true")],
        )
    )
    assert first[REDELIVERY_HEADER] is None
    assert again[REDELIVERY_HEADER] == "true"
    assert again["Message-ID"] == first["Message-ID"]


def test_an_address_outside_ascii_needs_the_rendered_message() -> None:
    assert not ascii_envelope("raqib@رقيب.ly", ["analysts@raqib.example"])
    assert not ascii_envelope("raqib@raqib.example", ["محلل@raqib.example"])
    assert ascii_envelope("رقيب <raqib@raqib.example>", ["analysts@raqib.example"])


def test_content_is_built_once_per_alert_article_and_links() -> None:
    _, alert, article = ALERTS[0]
    alert = alert.model_copy()  # an object no other test asked about
    first = alert_content(alert, article, KIBANA)
    assert alert_content(alert, article, KIBANA) is first
    # Another article object, other links, another alert object: built again, and right.
    other_article = article.model_copy(update={"source": "another outlet"})
    assert alert_content(alert, other_article, KIBANA).source == "another outlet"
    assert alert_content(alert, article, Links()).links.kibana_alert is None
    assert alert_content(alert.model_copy(), article, KIBANA) is not first
    assert alert_content(alert.model_copy(), article, KIBANA) == first


HEADER_VALUES = [
    "قوة الردع الخاصة",
    "تنبيه رقيب · قوة الردع الخاصة، جهاز دعم الاستقرار: اشتباكات قرب مطار معيتيقة في طرابلس "
    "بين قوة الردع وجهاز دعم الاستقرار ليلة أمس",
    "Raqib alert: الردع in Tripoli — 2026 ✓ emoji 🛰️ and Latin text mixed together " * 3,
    "ا",
    "🛰️" * 40,
    " spaces  at both ends ",
]


@pytest.mark.parametrize("value", HEADER_VALUES)
@pytest.mark.parametrize("name", ["Subject", "X-A-Rather-Long-Header-Name-For-A-Test"])
def test_encoded_words_read_back_as_the_value_within_the_line_limits(value: str, name: str) -> None:
    folded = f"{name}: {encoded_words(value, len(name) + 2)}"
    lines = folded.split("\r\n")
    assert all(len(line) <= 78 for line in lines)
    assert all(line.startswith(" ") for line in lines[1:])
    words = re.findall(r"=\?utf-8\?b\?([^?]*)\?=", folded)
    assert len(words) == len(lines)
    assert all(len(f"=?utf-8?b?{word}?=") <= 75 for word in words)
    # Each word is whole characters (RFC 2047), so readers that decode word by word agree.
    for word in words:
        email.base64mime.decode(word).decode("utf-8")
    assert str(make_header(decode_header(folded.partition(": ")[2]))) == value


@pytest.mark.parametrize("used", [55, 58, 59, 62, 63, 70, 76])
def test_a_first_line_too_short_for_a_character_leaves_it_to_the_next(used: int) -> None:
    folded = encoded_words("🛰ا" * 30, used)
    lines = folded.split("\r\n")
    assert used + len(lines[0]) <= 78
    assert all(len(line) <= 78 for line in lines[1:])
    assert str(make_header(decode_header(folded))) == "🛰ا" * 30
