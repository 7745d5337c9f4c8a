"""Decoding feeds and pages whatever their labels say."""

from __future__ import annotations

import codecs

import pytest

from services.fetcher.core import decode_document
from services.fetcher.core.encoding import as_utf8_xml

ARABIC = "اشتباكات في طرابلس بين قوة الردع ومجموعة مسلحة"


def _xml(encoding: str) -> str:
    return f'<?xml version="1.0" encoding="{encoding}"?><rss><title>{ARABIC}</title></rss>'


@pytest.mark.parametrize("encoding", ["utf-8", "windows-1256", "iso-8859-6"])
def test_the_declaration_decides_when_the_header_is_silent(encoding: str) -> None:
    decoded = decode_document(_xml(encoding).encode(encoding), content_type="text/xml")
    assert ARABIC in decoded.text
    assert codecs.lookup(decoded.encoding).name == codecs.lookup(encoding).name


def test_utf8_with_a_bom_before_a_declaration_that_says_otherwise() -> None:
    data = codecs.BOM_UTF8 + _xml("windows-1256").encode()
    decoded = decode_document(data, content_type="text/xml; charset=windows-1256")
    assert (decoded.source, decoded.encoding) == ("bom", "utf-8")
    assert decoded.text.startswith("<?xml")  # the BOM is not part of the text
    assert ARABIC in decoded.text


def test_a_header_that_says_latin1_on_utf8_arabic_is_not_believed() -> None:
    decoded = decode_document(
        _xml("iso-8859-1").encode(), content_type="application/rss+xml; charset=ISO-8859-1"
    )
    assert ARABIC in decoded.text
    assert decoded.source == "utf-8"


def test_a_header_that_says_utf8_on_windows_1256_bytes_falls_through() -> None:
    data = f"<html><body><p>{ARABIC}</p></body></html>".encode("windows-1256")
    decoded = decode_document(data, content_type="text/html; charset=utf-8", html=True)
    assert ARABIC in decoded.text
    assert decoded.source == "fallback"


@pytest.mark.parametrize(
    "meta",
    [
        '<meta charset="windows-1256">',
        '<meta http-equiv="Content-Type" content="text/html; charset=windows-1256">',
    ],
)
def test_html_meta_charset(meta: str) -> None:
    data = f"<html><head>{meta}</head><body>{ARABIC}</body></html>".encode("windows-1256")
    decoded = decode_document(data, content_type="text/html", html=True)
    assert (decoded.source, ARABIC in decoded.text) == ("document", True)


def test_iso_8859_6_labelled_wrongly_as_iso_8859_6_on_cp1256_bytes_falls_back() -> None:
    # ISO-8859-6 leaves many bytes undefined, so a wrong ISO-8859-6 label fails loudly.
    data = _xml("iso-8859-6").encode("windows-1256").replace(b"\xc7", b"\xc7\xe1\xf0")
    decoded = decode_document(data, content_type=None)
    assert decoded.source == "fallback"


def test_unknown_labels_are_ignored() -> None:
    decoded = decode_document(_xml("x-klingon").encode(), content_type="text/xml; charset=bogus")
    assert ARABIC in decoded.text


def test_as_utf8_xml_rewrites_the_declaration() -> None:
    data = as_utf8_xml(_xml("windows-1256"))
    assert data.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    assert ARABIC.encode() in data
    assert as_utf8_xml("<rss/>") == b"<rss/>"


def test_utf8_cut_inside_a_character_is_still_utf8() -> None:
    data = _xml("utf-8").encode()
    cut = data[: data.index("طرابلس".encode()) + 1]  # half of a two-byte letter
    decoded = decode_document(cut, content_type=None)
    assert decoded.encoding == "utf-8"
    assert decoded.text.endswith("في ")
