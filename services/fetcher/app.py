"""Fetcher wiring: feeds file → ``Poller`` (``poller.py``) → ``articles.raw``; a changed
feeds file is read again every ``FEEDS_RELOAD_S``.

The service only produces, so it joins no consumer group. Its state (validators, schedule,
published ids and hashes) lives in ``RAQIB_FETCHER_STATE_FILE``.
"""

from __future__ import annotations

import asyncio
import contextlib

from faststream import FastStream

from schemas import RawArticle
from services.common.kafka import ARTICLES_RAW, app_logger, ensure_topics, make_broker
from services.fetcher.http import HttpClient
from services.fetcher.poller import Poller, WatchedFeedsFile
from services.fetcher.settings import FetcherSettings
from services.fetcher.store import FetcherStore

STAGE = "fetcher"


def build_app(settings: FetcherSettings | None = None) -> FastStream:
    settings = settings or FetcherSettings()
    feeds_file = WatchedFeedsFile(settings.feeds_file, settings.feeds_reload_s)
    feeds = feeds_file.read()
    broker = make_broker(settings.kafka, stage=STAGE)
    raw = broker.publisher(settings.kafka.topic(ARTICLES_RAW))
    app = FastStream(broker, logger=app_logger(STAGE))
    store = FetcherStore(settings.state_file, capacity=settings.seen_capacity)
    running: list[tuple[asyncio.Task[None], HttpClient]] = []

    async def publish(article: RawArticle) -> None:
        await raw.publish(article.model_dump_json().encode(), key=article.id.encode())

    @app.on_startup
    async def open_state_and_topics() -> None:
        store.open()  # fails at once if another fetcher owns the state file
        await ensure_topics(settings.kafka, [settings.kafka.topic(ARTICLES_RAW)])

    @app.after_startup
    async def start_polling() -> None:
        client = HttpClient(settings)
        poller = Poller(feeds, client, store, publish, settings)
        task = asyncio.create_task(poller.run_forever(feeds_file), name="raqib-fetcher-poller")
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
        store.close()

    return app
