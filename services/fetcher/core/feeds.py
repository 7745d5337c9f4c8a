"""The feeds file: which feeds to poll, how often, in which language.

```yaml
feeds:
  - name: example-news        # unique; logged and stored as RawArticle.feed
    url: https://example.ly/rss.xml
    source: Example News      # optional publication name (RawArticle.source); default: name
    language: ar
    poll_interval_s: 600
    enabled: true
```
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, ValidationError

from services.common.errors import ConfigError


class FeedConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, pattern=r"^\S(.*\S)?$")
    url: AnyHttpUrl  # http or https, with a host
    source: str | None = Field(default=None, min_length=1)
    language: str = Field(default="ar", pattern=r"^[a-z]{2,3}$")
    poll_interval_s: float = Field(default=600.0, ge=1.0)
    enabled: bool = True

    @property
    def publication(self) -> str:
        return self.source or self.name


class FeedsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    feeds: list[FeedConfig]


def _location(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def parse_feeds(text: str, origin: str) -> list[FeedConfig]:
    """Validate a feeds YAML document; ``origin`` (the file name) prefixes every error."""
    try:
        document: Any = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as error:  # ValueError: a date like 2024-13-01
        raise ConfigError(f"{origin}: not valid YAML: {error}") from error
    if not isinstance(document, dict):
        raise ConfigError(f"{origin}: expected a mapping with a 'feeds' list")
    try:
        feeds = FeedsFile.model_validate(document).feeds
    except ValidationError as error:
        problems = "; ".join(
            f"{_location(e['loc'])}: {e['msg']}" for e in error.errors(include_url=False)
        )
        raise ConfigError(f"{origin}: {problems}") from error
    seen: dict[str, int] = {}
    for index, feed in enumerate(feeds):
        if feed.name in seen:
            raise ConfigError(
                f"{origin}: feeds[{index}].name: duplicate feed name {feed.name!r}"
                f" (also feeds[{seen[feed.name]}])"
            )
        seen[feed.name] = index
    return feeds


def feed_yaml_block(feed: FeedConfig, indent: str = "  ") -> str:
    """One feed as a YAML list item, to append to the ``feeds:`` list of a feeds file;
    ``indent`` is the indentation of the list's existing items.

    Appending text (rather than re-dumping the whole document) keeps the file's comments.
    """
    fields: dict[str, Any] = {"name": feed.name}
    if feed.source:
        fields["source"] = feed.source
    fields |= {
        "url": str(feed.url),
        "language": feed.language,
        "poll_interval_s": feed.poll_interval_s,
        "enabled": feed.enabled,
    }
    lines: list[str] = []
    for key, value in fields.items():
        # safe_dump of a one-item mapping quotes whatever YAML would misread.
        rendered = yaml.safe_dump({key: value}, allow_unicode=True, width=1000).strip()
        lines.append(indent + ("- " if not lines else "  ") + rendered)
    return "\n".join(lines) + "\n"
