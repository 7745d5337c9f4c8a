"""Bytes → text for feeds and pages, deciding the encoding ourselves.

Arabic sites declare charsets badly: a server's default ``ISO-8859-1`` on UTF-8 pages, a
``windows-1256`` feed served as ``text/xml; charset=utf-8``, a UTF-8 BOM before a declaration
that says otherwise. The candidates are tried in order and the first that decodes the bytes
without error wins:

1. a byte-order mark (UTF-8, UTF-16, UTF-32) — unambiguous;
2. UTF-8 — bytes in any single-byte Arabic encoding are almost never valid UTF-8, so valid
   UTF-8 means UTF-8 whatever the labels say;
3. the document's own declaration (``<?xml encoding>``, ``<meta charset>``);
4. the HTTP ``Content-Type`` charset;
5. ``windows-1256``, the commonest legacy Arabic encoding, replacing undecodable bytes.

A single-byte charset decodes any bytes, so a wrong label after step 2 can still produce
mojibake; ISO-8859-6 leaves many bytes undefined and so falls through when it is wrong.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

FALLBACK_ENCODING = "windows-1256"
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_XML_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']")
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([A-Za-z0-9._:-]+)", re.IGNORECASE)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", re.IGNORECASE)
_DECLARATION_ENCODING = re.compile(r"^(\s*<\?xml[^>]*?encoding\s*=\s*)([\"'])[^\"']*\2")
_SCAN_BYTES = 4096


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str  # the codec that was used, as Python names it
    source: str  # which clue decided: bom, utf-8, document, http, fallback


def header_charset(content_type: str | None) -> str | None:
    match = _HEADER_CHARSET.search(content_type or "")
    return match.group(1) if match else None


def declared_charset(data: bytes, *, html: bool) -> str | None:
    """The charset the document names itself (XML declaration, or HTML ``<meta>``)."""
    head = data[:_SCAN_BYTES]
    match = _XML_DECLARATION.search(head) or (_META_CHARSET.search(head) if html else None)
    return match.group(1).decode("ascii") if match else None


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    # Like browsers (WHATWG): a page labelled Latin-1 or ASCII is really windows-1252.
    return "cp1252" if name in ("latin-1", "iso8859-1", "ascii") else name


def decode_document(data: bytes, *, content_type: str | None, html: bool = False) -> Decoded:
    """Decode feed or page bytes; see the module docstring for the order of clues."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return Decoded(data[len(bom) :].decode(name, errors="replace"), name, "bom")
    candidates: tuple[tuple[str | None, str], ...] = (
        ("utf-8", "utf-8"),
        (_codec(declared_charset(data, html=html)), "document"),
        (_codec(header_charset(content_type)), "http"),
    )
    for codec, source in candidates:
        if codec is None or codec.startswith(("utf-16", "utf-32")):
            continue  # without a BOM a UTF-16 label on these bytes is a lie
        try:
            # final=False: a body cut off inside a multi-byte character (a truncated
            # download) still counts as that encoding; the partial character is dropped.
            text = codecs.getincrementaldecoder(codec)().decode(data, final=False)
        except UnicodeDecodeError:
            continue
        return Decoded(text, codec, source)
    return Decoded(data.decode(FALLBACK_ENCODING, errors="replace"), "cp1256", "fallback")


def as_utf8_xml(text: str) -> bytes:
    """Decoded XML as UTF-8 bytes whose declaration says so, for parsers that re-detect."""
    return _DECLARATION_ENCODING.sub(r"\1\2utf-8\2", text, count=1).encode("utf-8")
