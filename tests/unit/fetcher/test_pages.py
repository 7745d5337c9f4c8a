"""Main-text extraction from article pages: the story without the page furniture."""

from __future__ import annotations

import pytest

from services.fetcher.core import NoMainText, UnsafeDocument, page_main_text

STORY = [
    "اندلعت اشتباكات عنيفة مساء الاثنين في العاصمة طرابلس بين قوة الردع الخاصة ومجموعة"
    " مسلحة أخرى قرب مطار معيتيقة الدولي، ما أدى إلى تعليق الرحلات لساعات.",
    "وقال مصدر أمني إن الاشتباكات اندلعت بعد خلاف على نقطة تفتيش، فيما دعت حكومة الوحدة"
    " الوطنية إلى التهدئة وضبط النفس.",
]
FURNITURE = ["الرئيسية", "اقرأ أيضا", "جميع الحقوق محفوظة", "اشترك في النشرة"]


def page(charset: str = "utf-8") -> str:
    paragraphs = "".join(f"<p>{p}</p>" for p in STORY)
    return (
        f'<html><head><meta charset="{charset}"><title>خبر</title>'
        "<script>var tracker = 1;</script></head><body>"
        f'<nav><ul><li><a href="/">{FURNITURE[0]}</a></li></ul></nav>'
        f"<article><h1>اشتباكات في طرابلس</h1>{paragraphs}</article>"
        f'<aside><h3>{FURNITURE[1]}</h3><ul><li><a href="/x">خبر آخر</a></li></ul></aside>'
        f"<footer>{FURNITURE[2]} - <a href='/n'>{FURNITURE[3]}</a></footer></body></html>"
    )


@pytest.mark.parametrize(
    ("charset", "header"),
    [
        ("utf-8", "text/html; charset=utf-8"),
        ("windows-1256", "text/html"),
        ("windows-1256", "text/html; charset=ISO-8859-1"),  # the header lies
        ("iso-8859-6", "text/html"),
    ],
)
def test_main_text_without_furniture_in_every_arabic_encoding(charset: str, header: str) -> None:
    text = page_main_text(page(charset).encode(charset), url="https://x.ly/a", content_type=header)
    for paragraph in STORY:
        assert paragraph in text
    for furniture in [*FURNITURE, "tracker"]:
        assert furniture not in text


def test_not_html_or_no_text_is_reported() -> None:
    with pytest.raises(NoMainText, match="not an HTML page"):
        page_main_text(b"%PDF-1.7", url="https://x.ly/a.pdf", content_type="application/pdf")
    with pytest.raises(NoMainText, match="no article text"):
        page_main_text(b"<html><body></body></html>", url="https://x.ly/e", content_type=None)


def test_entity_declarations_in_a_page_are_refused() -> None:
    data = b'<!DOCTYPE html [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><html><p>&b;</p></html>'
    with pytest.raises(UnsafeDocument):
        page_main_text(data, url="https://x.ly/bomb", content_type="text/html")
