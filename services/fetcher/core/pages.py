"""An article page's main text: the story without menus, footers, comments and share bars.

trafilatura finds the main content block (and falls back to readability/jusText when its
own heuristics find too little), so navigation, related-story lists and cookie banners stay
out of the text the tagger reads.
"""

from __future__ import annotations

import trafilatura

from services.common.errors import PermanentError
from services.fetcher.core.encoding import decode_document
from services.fetcher.core.parsing import refuse_entity_declarations
from services.fetcher.core.text import normalize_whitespace

HTML_TYPES = ("text/html", "application/xhtml+xml")


class NoMainText(PermanentError):
    """The page is not HTML, or no article text could be found in it."""


def page_main_text(data: bytes, *, url: str, content_type: str | None) -> str:
    """The main text of an HTML page; raises ``NoMainText`` (or ``UnsafeDocument``)."""
    media_type = (content_type or "text/html").split(";", 1)[0].strip().lower()
    if media_type not in HTML_TYPES:
        raise NoMainText(f"{url}: not an HTML page ({media_type})")
    decoded = decode_document(data, content_type=content_type, html=True)
    refuse_entity_declarations(decoded.text, url)
    text = trafilatura.extract(
        decoded.text,
        url=url,
        include_comments=False,
        include_tables=False,
        include_images=False,
        include_links=False,
    )
    text = normalize_whitespace(text or "")
    if not text:
        raise NoMainText(f"{url}: no article text found on the page")
    return text
