"""The fetcher killed (SIGKILL) in the middle of a round of polls, as its own process against
the real broker: started again, it publishes what it had not, and nothing is lost."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest

from schemas import RawArticle, article_id
from services.common.kafka import ARTICLES_RAW
from services.common.settings import KafkaSettings
from services.devstack.topics import end_offsets, read_topic
from services.fetcher.core import canonical_url
from tests.conftest import kafka_env, start_service, stop_service
from tests.integration.fetcher.feed_server import FeedServer, Route
from tests.unit.fetcher.samples import rss_feed

pytestmark = pytest.mark.integration

FEEDS, ITEMS = 8, 15


def _items(feed: int) -> list[dict[str, str]]:
    return [
        {
            "title": f"خبر {feed}-{n}",
            "link": f"https://news.example.ly/ar/{feed}/{n}",  # as in _id
            "description": f"نص الخبر {n} من الموقع {feed} عن الاشتباكات في طرابلس.",
            "pub_date": "Mon, 03 Mar 2025 10:00:00 +0200",
            "guid": f"{feed}-{n}",
        }
        for n in range(ITEMS)
    ]


def _id(feed: int, n: int) -> str:
    return article_id(canonical_url(f"https://news.example.ly/ar/{feed}/{n}"))


def _recorded_feeds(state_file: Path) -> set[int]:
    """The feeds whose poll the state file has recorded (a reader beside the running
    fetcher: the file is in WAL mode)."""
    if not state_file.exists():
        return set()
    with contextlib.closing(sqlite3.connect(state_file)) as db:
        try:
            rows = db.execute("SELECT name FROM feeds WHERE last_success_at IS NOT NULL")
            return {int(name.removeprefix("site-")) for (name,) in rows}
        except sqlite3.OperationalError:  # not created yet
            return set()


async def _published(kafka: KafkaSettings) -> int:
    offsets = await end_offsets(kafka.bootstrap_servers, kafka.topic(ARTICLES_RAW))
    return sum(offsets.values())


async def test_a_killed_fetcher_loses_nothing_and_resumes_where_it_stopped(
    tmp_path: Path, kafka_settings: KafkaSettings
) -> None:
    with FeedServer() as server:
        lines = ["feeds:"]
        for feed in range(FEEDS):
            # Slow answers, two at a time per host: the round takes seconds, feed by feed.
            server.routes[f"/{feed}.xml"] = Route(body=rss_feed(_items(feed)), delay_s=0.4)
            lines.append(f"  - {{name: site-{feed}, url: '{server.url(f'/{feed}.xml')}'}}")
        feeds_file, state_file = tmp_path / "feeds.yaml", tmp_path / "fetcher.sqlite3"
        feeds_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        env = {
            **os.environ,
            **kafka_env(kafka_settings),
            "RAQIB_FETCHER_FEEDS_FILE": str(feeds_file),
            "RAQIB_FETCHER_STATE_FILE": str(state_file),
            "RAQIB_FETCHER_ALLOW_PRIVATE": "true",
            "RAQIB_FETCHER_HOST_DELAY_S": "0",
            "RAQIB_FETCHER_INTERVAL_JITTER": "0",
            "RAQIB_FETCHER_MIN_TEXT_CHARS": "0",
        }
        log = tmp_path / "fetcher.log"
        fetcher = start_service("fetcher", env, log)
        try:
            # Killed once some feeds are published and recorded, and others are not.
            while len(recorded := _recorded_feeds(state_file)) < 2:
                assert fetcher.poll() is None, log.read_text()
                await asyncio.sleep(0.02)
            stop_service(fetcher, signal.SIGKILL)
            published_at_kill = await _published(kafka_settings)
            requests_at_kill = len(server.requests)
            recorded = _recorded_feeds(state_file)
            assert len(recorded) < FEEDS, "the round ended before the kill"
            fetcher = start_service("fetcher", env, log)
            expected = {_id(feed, n) for feed in range(FEEDS) for n in range(ITEMS)}
            ids: Counter[str] = Counter()
            deadline = time.monotonic() + 60
            while set(ids) != expected:  # nothing lost
                assert time.monotonic() < deadline, f"missing {len(expected - set(ids))}"
                await asyncio.sleep(0.2)
                records = await read_topic(
                    kafka_settings.bootstrap_servers, kafka_settings.topic(ARTICLES_RAW)
                )
                ids = Counter(RawArticle.model_validate_json(r.value).id for r in records)
            polled_after = {request.path for request in server.requests[requests_at_kill:]}
        finally:
            stop_service(fetcher, signal.SIGTERM)
    # What was recorded before the kill is neither polled nor published again (its next poll
    # is ten minutes away); what was published and not yet recorded may be, once.
    assert not {f"/{feed}.xml" for feed in recorded} & polled_after
    for feed in recorded:
        assert all(ids[_id(feed, n)] == 1 for n in range(ITEMS))
    assert max(ids.values()) <= 2
    assert sum(ids.values()) - len(ids) <= published_at_kill - ITEMS * len(recorded)
