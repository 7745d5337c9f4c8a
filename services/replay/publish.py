"""Publish fixture articles to ``articles.raw``, keyed by article id."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from schemas import RawArticle, utc_now
from services.common.kafka import ARTICLES_RAW, ensure_topics, standalone_producer
from services.common.progress import Progress
from services.common.settings import KafkaSettings
from services.replay.fixtures import fixture_paths, load_fixture

log = logging.getLogger("raqib.replay")


async def replay(
    directory: Path,
    settings: KafkaSettings,
    *,
    on_published: Callable[[Path, RawArticle], None] | None = None,
    progress: Callable[[int], Progress] | None = None,
) -> list[RawArticle]:
    """Load every fixture first (a broken one stops the replay before anything is sent),
    then publish them and wait until the broker acknowledged each. ``progress`` makes the
    ``Progress`` of the publishing, given the number of articles. Publishing is idempotent
    (ids are stable; every stage overwrites by id), so an interrupted replay is resumed by
    running it again."""
    now = utc_now()
    loaded = [(path, load_fixture(path, fetched_at=now)) for path in fixture_paths(directory)]
    await ensure_topics(settings, [settings.topic(ARTICLES_RAW)])
    producer = standalone_producer(settings)
    await producer.start()
    bar = progress(len(loaded)) if progress else None
    try:
        with bar if bar is not None else contextlib.nullcontext():
            for path, article in loaded:
                await producer.send_and_wait(
                    settings.topic(ARTICLES_RAW),
                    article.model_dump_json().encode(),
                    key=article.id.encode(),
                )
                log.info("replayed", extra={"path": path.name, "article_id": article.id})
                if on_published:
                    on_published(path, article)
                if bar is not None:
                    bar.advance()
    finally:
        await producer.stop()
    return [article for _, article in loaded]
