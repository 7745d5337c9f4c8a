from __future__ import annotations

import codecs
import tracemalloc
from datetime import UTC, datetime

import pytest

from services.fetcher.core import NotAFeed, UnsafeDocument, html_to_text, parse_feed
from tests.unit.fetcher.samples import ATOM_FEED, RDF_FEED, RSS_ITEMS, rss_feed


def test_rss20_entries() -> None:
    parsed = parse_feed(rss_feed(), url="https://news.example.ly/rss.xml")
    assert parsed.version == "rss20"
    assert parsed.title == "أخبار ليبيا"
    assert [e.title for e in parsed.entries] == [item["title"] for item in RSS_ITEMS]
    first = parsed.entries[0]
    assert first.link == RSS_ITEMS[0]["link"]
    assert first.guid == "clashes-1"
    assert first.text == "اندلعت اشتباكات قرب مطار معيتيقة.\nوأعلنت قوة الردع السيطرة."
    assert first.html is not None and "<b>اشتباكات</b>" in first.html
    # +0200 is converted to UTC
    assert first.published_at == datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
    assert parsed.entries[1].text == "التقى فتحي باشاغا وفداً من تركيا في مصراتة & بحث الأوضاع."


def test_windows_1256_feed_is_decoded_from_its_xml_declaration() -> None:
    data = rss_feed(encoding="windows-1256")
    assert "اشتباكات".encode() not in data  # really not UTF-8 on the wire
    parsed = parse_feed(data)
    assert parsed.encoding.lower() in {"windows-1256", "cp1256"}
    assert [e.title for e in parsed.entries] == [item["title"] for item in RSS_ITEMS]
    assert "قوة الردع" in parsed.entries[0].text


@pytest.mark.parametrize(
    "content_type", ["text/xml", "application/rss+xml; charset=utf-8", "application/xml"]
)
def test_windows_1256_feed_with_a_wrong_or_missing_http_charset(content_type: str) -> None:
    # Servers often send a bare text/xml (US-ASCII by RFC 3023) or claim UTF-8; the XML
    # declaration must still decide.
    parsed = parse_feed(rss_feed(encoding="windows-1256"), content_type=content_type)
    assert parsed.entries[0].title == RSS_ITEMS[0]["title"]


def test_atom_entries_prefer_full_content_and_resolve_relative_links() -> None:
    parsed = parse_feed(ATOM_FEED, url="https://agency.example.org/feeds/ar.atom")
    assert parsed.version == "atom10"
    first, second = parsed.entries
    assert first.title == "صدام حفتر يزور القاهرة"  # type="html" title reduced to text
    assert first.link == "https://agency.example.org/ar/news/saddam-cairo"
    assert first.text == "وصل صدام حفتر إلى القاهرة.\nوالتقى مسؤولين مصريين."
    assert "track()" not in first.text
    assert first.published_at == datetime(2025, 3, 5, 6, 0, tzinfo=UTC)
    # no <published>: <updated> is used; plain-text summary has no HTML
    assert second.published_at == datetime(2025, 3, 5, 7, 0, tzinfo=UTC)
    assert second.text == "أصدرت المحكمة الجنائية الدولية بياناً بشأن أسامة المصري."
    assert second.html is None


def test_rdf_rss10_entries() -> None:
    parsed = parse_feed(RDF_FEED)
    assert parsed.version == "rss10"
    (entry,) = parsed.entries
    assert entry.title == "هدوء حذر في سرت"
    assert entry.link == "https://rdf.example.ly/news/sirte"
    assert entry.text == "عاد الهدوء إلى مدينة سرت بعد أيام من التوتر."
    assert entry.published_at == datetime(2025, 3, 2, 10, 0, tzinfo=UTC)


def test_a_feed_without_entries_is_still_a_feed() -> None:
    parsed = parse_feed(rss_feed([]))
    assert parsed.version == "rss20"
    assert parsed.entries == []


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not xml at all",
        b'{"items": []}',
        b"<html><head><title>x</title></head><body><p>Page</p></body></html>",
        b'<?xml version="1.0"?><catalog><book/></catalog>',
        b"\x00\xff\xfe garbage",
    ],
)
def test_non_feeds_are_rejected(data: bytes) -> None:
    with pytest.raises(NotAFeed):
        parse_feed(data)


def test_html_to_text_keeps_blocks_and_drops_scripts() -> None:
    html = (
        "<div><h2>عنوان</h2><p>الفقرة &amp; الأولى</p>"
        "<script>var x = '<p>no</p>';</script><style>p{}</style>"
        "<ul><li>بند ١</li><li>بند   ٢</li></ul>نص<br/>أخير</div>"
    )
    assert html_to_text(html) == "عنوان\nالفقرة & الأولى\nبند ١\nبند ٢\nنص\nأخير"


def test_html_to_text_of_broken_html_does_not_raise() -> None:
    assert html_to_text("<p>نص <b>غير مغلق") == "نص غير مغلق"
    assert html_to_text("") == ""


def _billion_laughs(levels: int = 10) -> bytes:
    entities = '<!ENTITY lol "lol">\n' + "".join(
        f'<!ENTITY lol{n} "{("&lol%s;" % ("" if n == 1 else n - 1)) * 10}">\n'
        for n in range(1, levels)
    )
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n{entities}]>\n'
        f'<rss version="2.0"><channel><title>&lol{levels - 1};</title>'
        "<item><title>x</title><description>&lol9;</description></item></channel></rss>"
    ).encode()


def test_a_billion_laughs_feed_is_refused_with_bounded_memory() -> None:
    tracemalloc.start()
    try:
        with pytest.raises(UnsafeDocument, match="declares XML entities"):
            parse_feed(_billion_laughs(), url="https://evil.example/rss")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024  # fully expanded it would be about 3 GB


def test_an_external_doctype_without_entities_is_still_read() -> None:
    # RSS 0.91 feeds name Netscape's DTD; that declares nothing and must not be refused.
    doctype = (
        '<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
        '"http://my.netscape.com/publish/formats/rss-0.91.dtd">'
    )
    data = rss_feed().replace(b"?>\n", b"?>\n" + doctype.encode(), 1)
    assert parse_feed(data).entries[0].title == RSS_ITEMS[0]["title"]


@pytest.mark.parametrize("encoding", ["iso-8859-6", "windows-1256"])
def test_legacy_arabic_feeds_with_a_lying_utf8_header(encoding: str) -> None:
    items = [dict(RSS_ITEMS[0], description="وأعلنت قوة الردع السيطرة")]
    parsed = parse_feed(
        rss_feed(items, encoding=encoding), content_type="application/rss+xml; charset=utf-8"
    )
    assert parsed.entries[0].title == RSS_ITEMS[0]["title"]
    assert parsed.entries[0].text == "وأعلنت قوة الردع السيطرة"


def test_utf8_feed_with_bom_and_a_header_claiming_latin1() -> None:
    data = codecs.BOM_UTF8 + rss_feed()
    parsed = parse_feed(data, content_type="text/xml; charset=ISO-8859-1")
    assert parsed.entries[0].title == RSS_ITEMS[0]["title"]
    assert parsed.encoding == "utf-8"


def test_a_truncated_feed_keeps_the_entries_that_arrived_whole_or_is_refused() -> None:
    data = rss_feed()
    cut = data[: data.index(b"</item>") + len(b"</item>") + 20]
    parsed = parse_feed(cut)
    assert parsed.warning  # feedparser notes the broken document
    assert [e.title for e in parsed.entries][:1] == [RSS_ITEMS[0]["title"]]
    with pytest.raises(NotAFeed):
        parse_feed(data[:30])
