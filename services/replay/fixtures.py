"""Pure loading of fixture articles: a UTF-8 ``NAME.txt`` and an optional ``NAME.json`` sidecar.

The sidecar gives what the text alone does not say reliably: ``title``, ``source``,
``language``, ``published_at`` (a date or date-time, or null), ``url``. Without a sidecar the
title is the first non-empty line. The source is the outlet the sidecar names; where it names
none (or ``unknown``), the fixture's file (``seeds/000_b3f3ca892e7a279c.txt``), so an alert
always says where its text came from. The article id follows
docs/design.md: the canonical URL when there is one, otherwise ``source + "\\n" + text``, so a
replay always yields the same ids.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, ValidationError

from schemas import RawArticle, article_id, content_hash
from services.common.errors import ConfigError


class FixtureMetadata(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = None
    source: str | None = None
    language: str = "ar"
    published_at: date | datetime | None = None
    url: AnyHttpUrl | None = None
    notes: str | None = None


def _read_metadata(sidecar: Path) -> FixtureMetadata:
    if not sidecar.exists():
        return FixtureMetadata()
    try:
        data: Any = json.loads(sidecar.read_text(encoding="utf-8"))
        return FixtureMetadata.model_validate(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{sidecar}: not valid UTF-8 JSON: {error}") from error
    except ValidationError as error:
        fields = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in error.errors()
        )
        raise ConfigError(f"{sidecar}: {fields}") from error


def _as_datetime(value: datetime | date | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        # A sidecar date-time without an offset is taken as UTC, as the schema needs one.
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def fixture_source(named: str | None, path: Path) -> str:
    """The outlet the sidecar names, else the fixture's folder and file name."""
    if named is not None and named.strip() and named.strip().lower() != "unknown":
        return named.strip()
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


def load_fixture(path: Path, *, fetched_at: datetime) -> RawArticle:
    """One fixture as a RawArticle; raises ConfigError naming the file when it is unusable."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text ({error})") from error
    if not text.strip():
        raise ConfigError(f"{path}: empty article")
    meta = _read_metadata(path.with_suffix(".json"))
    title = meta.title or next(line.strip() for line in text.splitlines() if line.strip())
    source = fixture_source(meta.source, path)
    identity = str(meta.url) if meta.url else f"{source}\n{text}"
    try:
        return RawArticle(
            id=article_id(identity),
            url=meta.url,
            source=source,
            feed=f"replay:{path.parent.name}",
            title=title,
            text=text,
            language=meta.language,
            published_at=_as_datetime(meta.published_at),
            fetched_at=fetched_at,
            content_hash=content_hash(text),
        )
    except ValidationError as error:
        raise ConfigError(f"{path}: {error}") from error


def fixture_paths(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise ConfigError(f"{directory}: not a directory of fixture articles")
    return sorted(directory.glob("*.txt"))
