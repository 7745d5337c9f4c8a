"""Fetcher throughput on loopback: ``python -m benchmarks.fetcher [--feeds N] [--quick]``.

A separate process serves N RSS feeds of 20 items each (asyncio streams, HTTP/1.1 keep-alive,
an ETag per feed). Feed i lives on its own loopback address (127.0.x.y; Linux routes all of
127/8 to lo) so the per-host politeness delay, kept at its default, does not serialise the
run, as it would not for feeds spread over many news sites. Every item carries its full text,
so no article page is fetched.

Round 1 polls every feed once (download, parse, dedup against the SQLite state, publish);
round 2 polls them again and the server answers 304. Articles go to a null sink that
serialises each to JSON as the Kafka publisher would, so the broker's cost is not included
(the pipeline benchmark measures publishing). Prints the numbers and, last, one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from benchmarks.pipeline import this_machine
from schemas import RawArticle
from services.devstack.servers import free_port
from services.fetcher.core import FeedConfig
from services.fetcher.http import HttpClient
from services.fetcher.poller import Poller
from services.fetcher.settings import FetcherSettings
from services.fetcher.store import FetcherStore

ITEMS_PER_FEED = 20
PARAGRAPH = (
    "اندلعت اشتباكات في طرابلس بين قوة الردع ومجموعة مسلحة قرب مطار معيتيقة، "
    "وقالت مصادر محلية إن الهدوء عاد إلى المنطقة بعد ساعات من التوتر. "
)


def feed_host(index: int) -> str:
    """A distinct loopback address per feed: 127.0.1.1, 127.0.1.2, ... 127.0.1.250, 127.0.2.1."""
    return f"127.0.{1 + index // 250}.{1 + index % 250}"


def feed_document(index: int) -> bytes:
    items = "".join(
        "<item>"
        f"<title>خبر {index}-{n}: تطورات الوضع الأمني</title>"
        f"<link>https://news{index}.example.ly/ar/story/{n}?utm_source=rss</link>"
        f"<guid>story-{index}-{n}</guid>"
        "<pubDate>Mon, 03 Mar 2025 10:00:00 GMT</pubDate>"
        f"<description><![CDATA[<p>{PARAGRAPH * 4}</p><p>الخبر {index}-{n}.</p>]]></description>"
        "</item>"
        for n in range(ITEMS_PER_FEED)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>موقع {index}</title><link>https://news{index}.example.ly/</link>"
        f"{items}</channel></rss>"
    ).encode()


def serve(feeds: int, ready: Connection) -> None:
    """The feed server (in its own process): /feed/<i>.xml with ETag "<i>"."""
    documents = [feed_document(i) for i in range(feeds)]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (line.partition(":") for line in lines[1:] if line)
                }
                index = int(path.rsplit("/", 1)[1].split(".")[0])
                etag = f'"{index}"'
                if headers.get("if-none-match") == etag:
                    writer.write(f"HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\n\r\n".encode())
                else:
                    body = documents[index]
                    writer.write(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml; charset=utf-8\r\n"
                        f"Content-Length: {len(body)}\r\nETag: {etag}\r\n\r\n".encode()
                        + body
                    )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        hosts = sorted({feed_host(i) for i in range(feeds)})
        # One port on every address (port 0 would pick a different one per address).
        port = free_port()
        server = await asyncio.start_server(handle, host=hosts, port=port, backlog=1024)
        ready.send(port)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def run(feeds: int, port: int, state_dir: Path) -> dict[str, Any]:
    configs = [
        FeedConfig.model_validate(
            {"name": f"feed-{i}", "url": f"http://{feed_host(i)}:{port}/feed/{i}.xml"}
        )
        for i in range(feeds)
    ]
    settings = FetcherSettings(allow_private=True)  # loopback; politeness etc. at defaults
    published = 0

    async def null_sink(article: RawArticle) -> None:
        nonlocal published
        article.model_dump_json().encode()  # what publishing costs us before the broker
        published += 1

    result: dict[str, Any] = {}
    with FetcherStore(state_dir / "fetcher.sqlite3", capacity=settings.seen_capacity) as store:
        async with HttpClient(settings) as client:
            poller = Poller(configs, client, store, null_sink, settings)
            for round_name in ("round1", "round2"):
                began = time.perf_counter()
                polls = await asyncio.gather(*(poller.poll(feed) for feed in configs))
                seconds = time.perf_counter() - began
                statuses = [p.status for p in polls]
                result[round_name] = {
                    "seconds": round(seconds, 3),
                    "feeds_per_s": round(feeds / seconds, 1),
                    "fetched": statuses.count("fetched"),
                    "not_modified": statuses.count("not_modified"),
                    "failed": statuses.count("failed"),
                    "articles_published": published,
                }
                published = 0
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="50 feeds, as a smoke run.")
    args = parser.parse_args(argv)
    feeds = 50 if args.quick else args.feeds

    receive, send = multiprocessing.Pipe(duplex=False)
    server = multiprocessing.get_context("spawn").Process(
        target=serve, args=(feeds, send), daemon=True
    )
    server.start()
    try:
        if not receive.poll(60):
            print("the feed server did not start", file=sys.stderr)
            return 1
        port = int(receive.recv())
        with tempfile.TemporaryDirectory(prefix="raqib-bench-fetcher-") as state_dir:
            result = asyncio.run(run(feeds, port, Path(state_dir)))
    finally:
        server.terminate()
        server.join(10)
    summary = {
        "machine": this_machine(),
        "feeds": feeds,
        "items_per_feed": ITEMS_PER_FEED,
        "hosts": len({feed_host(i) for i in range(feeds)}),
        "sink": "null (JSON serialisation only, no broker)",
        **result,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    for name in ("round1", "round2"):
        r = result[name]
        print(
            f"{name}: {r['seconds']:.2f} s, {r['feeds_per_s']:.0f} feeds/s, fetched "
            f"{r['fetched']}, not modified {r['not_modified']}, failed {r['failed']}, "
            f"articles {r['articles_published']}"
        )
    print(f"peak RSS of the fetcher process: {summary['peak_rss_mb']} MB")
    print(json.dumps(summary, ensure_ascii=False))
    failed = result["round1"]["failed"] + result["round2"]["failed"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
