"""Fetcher wiring: feeds file → ``Poller`` (``poller.py``) → ``articles.raw``.

The service only produces, so it joins no consumer group.
"""

from __future__ import annotations

import asyncio
import contextlib

from faststream import FastStream

from schemas import RawArticle
from services.common.kafka import ARTICLES_RAW, app_logger, ensure_topics, make_broker
from services.fetcher.http import FeedClient
from services.fetcher.poller import Poller, load_feeds_file
from services.fetcher.settings import FetcherSettings

STAGE = "fetcher"


def build_app(settings: FetcherSettings | None = None) -> FastStream:
    settings = settings or FetcherSettings()
    feeds = load_feeds_file(settings.feeds_file)
    broker = make_broker(settings.kafka, stage=STAGE)
    raw = broker.publisher(ARTICLES_RAW)
    app = FastStream(broker, logger=app_logger(STAGE))
    running: list[tuple[asyncio.Task[None], FeedClient]] = []

    async def publish(article: RawArticle) -> None:
        await raw.publish(article.model_dump_json().encode(), key=article.id.encode())

    @app.on_startup
    async def create_topics() -> None:
        await ensure_topics(settings.kafka, [ARTICLES_RAW])

    @app.after_startup
    async def start_polling() -> None:
        client = FeedClient(settings)
        poller = Poller(feeds, client, publish, settings)
        task = asyncio.create_task(poller.run_forever(), name="raqib-fetcher-poller")
        running.append((task, client))

    # on_shutdown runs before the broker closes, so no publish races a closed producer.
    @app.on_shutdown
    async def stop_polling() -> None:
        while running:
            task, client = running.pop()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await client.aclose()

    return app
