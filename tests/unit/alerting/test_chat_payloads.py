"""Chat payloads within each API's size limit: long Arabic excerpts cut at a word, marks kept,
markup still well-formed, the message never over the limit (so never refused for its size)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest

from schemas import Alert, EnrichedArticle, EntityType
from services.alerting.core import DigestMessage, Passage, Rule, build_alert, evaluate_rules
from services.alerting.core.chat_payloads import (
    MATTERMOST_MAX_CHARS,
    TEAMS_MAX_BYTES,
    TELEGRAM_MAX_CHARS,
    MattermostOptions,
    clip,
    clip_passage,
    excerpt_chars,
    fit,
    json_bytes,
    mattermost_digest_payload,
    mattermost_payload,
    teams_digest_payload,
    teams_payload,
    telegram_digest_payload,
    telegram_length,
    telegram_payload,
)
from tests.unit.alerting.articles import deterrence_alert, enriched

FILLER = (
    "وقال شهود عيان إن الاشتباكات اندلعت في ساعات الصباح الأولى واستمرت حتى المساء "
    "وسط انتشار كثيف للآليات المسلحة في الشوارع الرئيسية والأحياء المجاورة للمطار "
)
ACTORS = [
    (f"armed-group-{k}", f"كتيبة الشهيد رقم {k}", EntityType.ARMED_GROUP) for k in range(1, 25)
]


def _long_alert() -> tuple[Alert, EnrichedArticle]:
    """24 watched actors, each named in three long sentences of Arabic: far more excerpt
    text than any chat API takes in one message."""
    sentences = [
        f"{FILLER}{FILLER}و{name} {FILLER}{FILLER}." for _, name, _ in ACTORS for _ in range(3)
    ]
    article = enriched(
        " ".join(sentences),
        title="اشتباكات واسعة في طرابلس " * 30,  # a title far longer than any headline
        actors={actor: [actor[1]] for actor in ACTORS},
    )
    rule = Rule.model_validate(
        {
            "id": "armed-groups",
            "name": "Armed groups",
            "match": {"actors": {"any": [actor_id for actor_id, _, _ in ACTORS]}},
            "channels": ["c"],
        }
    )
    (match,) = evaluate_rules([rule], article)
    return build_alert(match, article, [("c", "telegram")], now=datetime.now(UTC)), article


def _digest(count: int) -> DigestMessage:
    article = enriched(title="اشتباكات واسعة في طرابلس " * 30)
    alert = deterrence_alert(article, [("c", "telegram")])
    items = [
        (
            alert.model_copy(update={"id": f"{alert.id}{n:04d}"}),
            article.model_copy(update={"id": f"{article.id}-{n}"}),
        )
        for n in range(count)
    ]
    start = datetime(2026, 1, 5, 8, tzinfo=UTC)
    return DigestMessage("d1", alert.rule, start, start + timedelta(hours=1), items)


class _Balanced(HTMLParser):
    """Fails on a tag closed that was not open; ``open`` lists those left open."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open}"
        self.open.pop()


def _well_formed(text: str) -> bool:
    parser = _Balanced()
    parser.feed(text)
    parser.close()
    return not parser.open


# --- the cutting -------------------------------------------------------------------------


def test_clip_cuts_long_arabic_at_a_word_and_marks_the_cut() -> None:
    text = FILLER * 10
    cut = clip(text, 100)
    assert len(cut) <= 100 and cut.endswith("…")
    kept = cut.removesuffix("…")
    assert text.startswith(kept) and text[len(kept)] == " "  # ends where a word ends
    assert clip("قصير", 100) == "قصير"
    assert clip("كلمةواحدةطويلةجدابلامسافات" * 5, 20).endswith("…")  # no space: cut anyway
    assert len(clip("كلمةواحدةطويلةجدابلامسافات" * 5, 20)) == 20


def test_a_cut_passage_keeps_the_marks_before_the_cut_and_shortens_one_across_it() -> None:
    text = "قوة الردع " + FILLER + "قوة الردع " + FILLER
    second = text.index("قوة الردع", 5)
    passage = Passage(text, ((0, 9), (second, second + 9)))
    cut = clip_passage(passage, second + 5)
    assert cut.marks == ((0, 9), (second, min(second + 9, len(cut.text) - 1)))[: len(cut.marks)]
    assert all(end <= len(cut.text) - 1 for _, end in cut.marks)  # never over the ellipsis
    assert clip_passage(passage, 50).marks == ((0, 9),)


def test_telegram_counts_the_text_after_entities_in_utf16_units() -> None:
    assert telegram_length("<b>قوة &amp; ردع</b>") == len("قوة & ردع")
    assert telegram_length('<a href="https://x.example/?a=1&amp;b=2">رابط</a>') == 4
    assert telegram_length("🙂") == 2  # outside the BMP: two UTF-16 units


def test_fit_takes_the_largest_that_fits_and_refuses_what_never_can() -> None:
    assert fit(lambda n: "x" * n, len, 10, 100) == "x" * 10
    assert fit(lambda n: "x" * n, len, 10, 5) == "x" * 5
    with pytest.raises(ValueError, match="over the limit of 10"):
        fit(lambda n: "x" * (n + 11), len, 10, 100)


# --- each API's limit, with very long Arabic ------------------------------------------------


def test_a_very_long_arabic_alert_fits_every_chat_api() -> None:
    alert, article = _long_alert()
    # The whole content is over every limit, so each format has to cut.
    assert excerpt_chars(alert, article) > MATTERMOST_MAX_CHARS

    text = telegram_payload(alert, article, "-100123")["text"]
    assert telegram_length(text) <= TELEGRAM_MAX_CHARS
    assert _well_formed(text) and "…" in text
    assert "Raqib alert" in text  # the footer survives the cut
    assert len(text.split("\n")[0]) < 300  # the headline and title are clipped on their own

    card = teams_payload(alert, article)
    assert len(json_bytes(card)) <= TEAMS_MAX_BYTES
    assert "Raqib alert" in json.dumps(card, ensure_ascii=False)

    markdown = mattermost_payload(alert, article)["text"]
    assert len(markdown) <= MATTERMOST_MAX_CHARS
    assert "Raqib alert" in markdown and "…" in markdown

    # Cut to fit, not more: each keeps most of what it may carry.
    assert telegram_length(text) > TELEGRAM_MAX_CHARS * 0.8
    assert len(json_bytes(card)) > TEAMS_MAX_BYTES * 0.8
    assert len(markdown) > MATTERMOST_MAX_CHARS * 0.8


def test_a_digest_of_a_hundred_and_fifty_alerts_fits_and_counts_what_it_leaves_out() -> None:
    digest = _digest(150)
    text = telegram_digest_payload(digest, "-100123")["text"]
    assert telegram_length(text) <= TELEGRAM_MAX_CHARS and _well_formed(text)
    assert "more alerts in this digest" in text
    assert len(json_bytes(teams_digest_payload(digest))) <= TEAMS_MAX_BYTES
    markdown = mattermost_digest_payload(digest)["text"]
    assert len(markdown) <= MATTERMOST_MAX_CHARS and "more alerts in this digest" in markdown


def test_a_short_alert_is_sent_whole_with_its_text_escaped() -> None:
    article = enriched("قالت <قوة الردع الخاصة> إن *الوضع* هادئ & مستقر.", title="عنوان [قصير]")
    alert = deterrence_alert(article, [("c", "telegram")])
    text = telegram_payload(alert, article, "1")["text"]
    assert "…" not in text and _well_formed(text)
    assert "&lt;" in text and "&amp;" in text  # the article's own < and & are text
    markdown = mattermost_payload(alert, article)["text"]
    assert r"\[قصير\]" in markdown  # Markdown's brackets escaped
    card = json.dumps(teams_payload(alert, article), ensure_ascii=False)
    assert "عنوان" in card


def test_mattermost_sends_only_the_options_that_are_set() -> None:
    article = enriched()
    alert = deterrence_alert(article, [("c", "mattermost")])
    body = mattermost_payload(alert, article, MattermostOptions(channel="town-square"))
    assert set(body) == {"text", "channel"} and body["channel"] == "town-square"
    every = MattermostOptions(channel="ops", username="Raqib", icon_url="https://x.example/i.png")
    body = mattermost_payload(alert, article, every)
    assert {k: body[k] for k in ("channel", "username", "icon_url")} == {
        "channel": "ops",
        "username": "Raqib",
        "icon_url": "https://x.example/i.png",
    }
    assert set(mattermost_payload(alert, article)) == {"text"}
