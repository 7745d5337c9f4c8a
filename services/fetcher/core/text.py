"""HTML to plain text with the standard library: block elements become line breaks."""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Elements whose boundaries separate lines of text.
_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt",
        "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header",
        "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr",
        "ul",
    }
)  # fmt: skip
# Elements whose content is never text a reader sees.
_HIDDEN = frozenset({"script", "style", "noscript", "template", "head", "title", "svg"})
_SPACES = re.compile(r"[ \t\f\v\u00a0\u200b]+")


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden_depth += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden_depth = max(0, self.hidden_depth - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden_depth:
            self.parts.append(data)


def normalize_whitespace(text: str) -> str:
    """Collapse runs of spaces inside lines, drop blank lines, trim; keeps line breaks."""
    lines = (_SPACES.sub(" ", line).strip() for line in text.replace("\r", "\n").split("\n"))
    return "\n".join(line for line in lines if line)


def html_to_text(html: str) -> str:
    """The visible text of an HTML fragment, one block element per line."""
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    return normalize_whitespace("".join(collector.parts))
