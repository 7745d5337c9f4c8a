"""``raqib fetch`` as a real process against the local feed server, and ``raqib feeds``."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from schemas import RawArticle
from services.cli import app
from services.common.kafka import ARTICLES_RAW
from services.common.settings import KafkaSettings
from services.devstack.topics import read_topic
from services.fetcher.http import Validators
from services.fetcher.store import FeedState, FetcherStore
from tests.conftest import REPO, kafka_env
from tests.integration.fetcher.feed_server import FeedServer, Route
from tests.unit.fetcher.samples import ATOM_FEED, RSS_ITEMS, rss_feed

pytestmark = pytest.mark.integration


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        running.routes["/rss.xml"] = Route(body=rss_feed(encoding="windows-1256"))
        running.routes["/atom.xml"] = Route(body=ATOM_FEED, content_type="application/atom+xml")
        yield running


def _fetch(
    *args: str, to_stdout: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    output = ["--stdout"] if to_stdout else []
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "fetch", "--once", *output, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "RAQIB_FETCHER_HOST_DELAY_S": "0", **(env or {})},
    )


def test_fetch_prints_articles_of_good_feeds_and_reports_the_failed_one(
    server: FeedServer,
) -> None:
    done = _fetch(
        "--allow-private",
        server.url("/rss.xml"),
        server.url("/missing.xml"),
        server.url("/atom.xml"),
        server.url("/rss.xml"),  # the same feed twice: each story still once
    )
    assert done.returncode == 1, done.stderr
    articles = [RawArticle.model_validate_json(line) for line in done.stdout.splitlines()]
    assert len(articles) == 4
    assert len({a.id for a in articles}) == 4
    assert {a.title for a in articles} >= {item["title"] for item in RSS_ITEMS}
    assert {a.feed for a in articles} == {server.url("/rss.xml"), server.url("/atom.xml")}
    failed = [line for line in done.stderr.splitlines() if line.startswith("raqib fetch:")]
    assert failed == [
        f"raqib fetch: {server.url('/missing.xml')}: failed (http_status): HTTP 404 Not Found"
    ]


def test_fetch_refuses_loopback_without_allow_private_and_bad_urls(server: FeedServer) -> None:
    done = _fetch(server.url("/rss.xml"), "ftp://example.ly/feed")
    assert done.returncode == 1
    assert done.stdout == ""
    assert f"{server.url('/rss.xml')}: failed (unsafe_url)" in done.stderr
    assert "ftp://example.ly/feed: failed (invalid_url)" in done.stderr
    assert server.seen("/rss.xml") == []


def test_fetch_exits_0_when_every_feed_worked(server: FeedServer) -> None:
    done = _fetch("--allow-private", server.url("/atom.xml"))
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 2


async def test_fetch_without_stdout_publishes_to_articles_raw(
    server: FeedServer, kafka_settings: KafkaSettings
) -> None:
    done = _fetch(
        "--allow-private",
        server.url("/atom.xml"),
        to_stdout=False,
        env=kafka_env(kafka_settings),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    records = await read_topic(
        kafka_settings.bootstrap_servers, kafka_settings.topic(ARTICLES_RAW), min_count=2
    )
    articles = [RawArticle.model_validate_json(r.value) for r in records]
    assert len(articles) == 2
    assert {a.feed for a in articles} == {server.url("/atom.xml")}
    assert [r.key for r in records] == [a.id.encode() for a in articles]


runner = CliRunner()


def test_feeds_add_list_and_status(tmp_path: Path) -> None:
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(
        "# Our feeds; keep this comment.\nfeeds:\n  - name: one\n    url: https://one.example/rss\n",
        "utf-8",
    )
    added = runner.invoke(
        app,
        [
            "feeds",
            "add",
            "two",
            "https://two.example/feed?x=1",
            "--source",
            "صحيفة",
            "--interval",
            "900",
            "--file",
            str(feeds),
        ],
    )
    assert added.exit_code == 0, added.output
    assert feeds.read_text("utf-8").startswith("# Our feeds; keep this comment.\n")
    for bad, message in (
        (["one", "https://x.example/rss"], "already exists"),
        (["three", "file:///etc/passwd"], "invalid feed"),
        (["four", "https://x.example/rss", "--language", "Arabic"], "invalid feed"),
    ):
        refused = runner.invoke(app, ["feeds", "add", *bad, "--file", str(feeds)])
        assert refused.exit_code == 2
        assert message in refused.output

    listed = runner.invoke(app, ["feeds", "list", "--json", "--file", str(feeds)])
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["name"], r["url"], r["poll_interval_s"]) for r in rows] == [
        ("one", "https://one.example/rss", 600.0),
        ("two", "https://two.example/feed?x=1", 900.0),
    ]
    assert rows[1]["source"] == "صحيفة"

    state_file = tmp_path / "fetcher.sqlite3"
    with FetcherStore(state_file) as store:
        store.save_feed_state(
            FeedState(
                "one", "https://one.example/rss", Validators(), failures=3,
                last_poll_at=1_700_000_000.0, next_poll_at=1_700_000_600.0,
                last_status="failed", last_error="http_status: HTTP 503",
            )
        )  # fmt: skip
        # status reads the file while the owner holds it
        status = runner.invoke(
            app,
            ["feeds", "status", "--json", "--file", str(feeds), "--state-file", str(state_file)],
        )
    assert status.exit_code == 0, status.output
    one, two = (json.loads(line) for line in status.stdout.splitlines())
    assert (one["failures"], one["last_error"], one["last_status"]) == (
        3,
        "http_status: HTTP 503",
        "failed",
    )
    assert one["next_poll"] == "2023-11-14T22:23:20+00:00"
    assert (two["name"], two["last_poll"], two["failures"]) == ("two", None, 0)


def test_feeds_status_refuses_a_state_file_that_is_not_one(tmp_path: Path) -> None:
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - name: one\n    url: https://one.example/rss\n", "utf-8")
    state_file = tmp_path / "feeds-copy.yaml"
    state_file.write_text(feeds.read_text("utf-8") * 20, "utf-8")  # the wrong file passed
    status = runner.invoke(
        app, ["feeds", "status", "--file", str(feeds), "--state-file", str(state_file)]
    )
    assert status.exit_code == 2
    assert f"{state_file}: not a fetcher state file" in status.output
