"""Bulk indexing throughput: ``python -m benchmarks.indexer [--documents N] [--quick]``.

Starts the local Apache Kafka broker and OpenSearch node, publishes N
enriched articles of about 4 KB to ``articles.enriched``, then starts the indexer
(``raqib run indexer``) as its own process and waits until every article is in the index.
The clock and the CPU counters run from the first indexed document to the last, so the
consumer group's start-up is not counted.

Reports documents/s, the indexer's CPU seconds and peak memory, the server's CPU seconds (from
/proc/<pid>/stat), and the indexer's CPU as a share of the server's: the goal is that the
indexer is never the bottleneck, under 25% of the server's CPU at full rate. Progress goes to
stderr; the last line of stdout is one JSON object with the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from benchmarks.pipeline import peak_rss_mb, process_cpu_s, this_machine
from schemas import (
    EnrichedArticle,
    Entity,
    EntityType,
    Mention,
    Topic,
    article_id,
    content_hash,
)
from services.common.kafka import ARTICLES_ENRICHED, ensure_topics
from services.common.settings import KafkaSettings
from services.devstack.opensearch_node import LocalOpenSearch
from services.devstack.servers import LocalKafka

ALIAS = "raqib-articles"
TARGET_SHARE = 0.25
POLL_S = 0.2
SENTENCES = [
    "أعلن جهاز الردع في طرابلس عن عملية أمنية جديدة في محيط مطار معيتيقة.",
    "وقال المتحدث باسم الجهاز إن العملية استهدفت خلية مرتبطة بتنظيم داعش.",
    "من جهته دعا فتحي باشاغا إلى التهدئة وحل الخلافات عبر الحوار.",
    "وتشهد العاصمة الليبية توترا أمنيا منذ أسابيع بين مجموعات مسلحة متنافسة.",
]


# --- pure core -------------------------------------------------------------------------------


def synthetic_article(serial: int, *, target_bytes: int = 4096) -> EnrichedArticle:
    """An enriched article of about ``target_bytes`` of text, tagged like the enrichment would."""
    parts: list[str] = []
    while len("\n".join(parts).encode()) < target_bytes - 200:
        parts.append(SENTENCES[len(parts) % len(SENTENCES)])
    parts.append(f"رقم التقرير في الأرشيف {serial}.")
    text = "\n".join(parts)
    start = text.index("الردع")
    bashagha = text.index("باشاغا")
    published = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=serial % 8000)
    url = f"https://bench.example/news/{serial}"
    return EnrichedArticle(
        id=article_id(url),
        url=url,
        source="Bench Agency",
        title=f"جهاز الردع يعلن عملية أمنية ({serial})",
        text=text,
        published_at=published,
        fetched_at=published,
        content_hash=content_hash(text),
        entities=[
            Entity(
                id="special-deterrence-force",
                name="Special Deterrence Force",
                type=EntityType.ARMED_GROUP,
                mentions=[
                    Mention(start=start, end=start + 5, text="الردع", alias="الردع", rule="r")
                ],
            ),
            Entity(
                id="fathi-bashagha",
                name="Fathi Bashagha",
                type=EntityType.PERSON,
                mentions=[
                    Mention(
                        start=bashagha, end=bashagha + 6, text="باشاغا", alias="باشاغا", rule="r"
                    )
                ],
            ),
        ],
        topics=[Topic(id="terrorism", evidence=["داعش"])],
        normalized_title=f"جهاز الردع يعلن عمليه امنيه ({serial})",
        knowledge_base_version="bench",
        tagger_version="bench",
        enriched_at=published,
    )


def summarise(
    documents: int, seconds: float, indexer_cpu: float, server_cpu: float
) -> dict[str, Any]:
    share = indexer_cpu / server_cpu if server_cpu > 0 else None
    return {
        "documents": documents,
        "seconds": round(seconds, 2),
        "documents_per_s": round(documents / seconds, 1) if seconds > 0 else None,
        "indexer_cpu_s": round(indexer_cpu, 2),
        "server_cpu_s": round(server_cpu, 2),
        "indexer_cpu_share_of_server": round(share, 3) if share is not None else None,
        "indexer_time_share": round(indexer_cpu / (indexer_cpu + server_cpu), 3)
        if indexer_cpu + server_cpu > 0
        else None,
        "goal_met": share is not None and share < TARGET_SHARE,
    }


# --- measurement -----------------------------------------------------------------------------


async def publish(bootstrap: str, count: int) -> float:
    await ensure_topics(KafkaSettings(bootstrap_servers=bootstrap), [ARTICLES_ENRICHED])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
    await producer.start()
    total_bytes = 0
    try:
        for serial in range(count):
            article = synthetic_article(serial)
            value = article.model_dump_json().encode()
            total_bytes += len(article.text.encode())
            await producer.send(ARTICLES_ENRICHED, value, key=article.id.encode())
            if serial and serial % 10_000 == 0:
                print(f"published {serial}/{count}", file=sys.stderr, flush=True)
        await producer.flush()
    finally:
        await producer.stop()
    return total_bytes / count / 1024


def indexed(es: httpx.Client) -> int:
    if es.head(f"/_alias/{ALIAS}").status_code != 200:
        return 0
    es.post(f"/{ALIAS}/_refresh")  # what is acknowledged, not what the last refresh showed
    return int(es.get(f"/{ALIAS}/_count").json()["count"])


def run(documents: int, timeout: float, batch_size: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="raqib-bench-") as work:
        logs = Path(work)
        with (
            LocalKafka(data_dir=logs / "kafka", log_path=logs / "kafka.log") as kafka,
            LocalOpenSearch(data_dir=logs / "search", log_path=logs / "search.log") as es_server,
        ):
            print(f"publishing {documents} articles", file=sys.stderr, flush=True)
            mean_kb = asyncio.run(publish(kafka.bootstrap_servers, documents))
            environment = {
                **os.environ,
                "RAQIB_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
                "RAQIB_ES_URL": es_server.url,
                "RAQIB_INDEXER_BATCH_SIZE": str(batch_size),
                "RAQIB_LOG_LEVEL": "WARNING",
            }
            with open(logs / "indexer.log", "wb") as log:
                indexer = subprocess.Popen(
                    [sys.executable, "-m", "services.cli", "run", "indexer"],
                    env=environment,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            assert es_server.proc is not None
            server_pid = es_server.proc.pid
            es = httpx.Client(base_url=es_server.url, timeout=30)

            def reading() -> tuple[float, float, float]:
                """(time, indexer CPU s, server CPU s) now."""
                return time.monotonic(), process_cpu_s(indexer.pid), process_cpu_s(server_pid)

            try:
                deadline = time.monotonic() + timeout
                # The reading at the last poll that saw no document yet:
                # the window starts there, so start-up is left out and no document is.
                started: tuple[float, float, float] | None = None
                before = reading()
                count, shown = 0, 0.0
                while time.monotonic() < deadline and count < documents:
                    if indexer.poll() is not None:
                        raise RuntimeError(f"the indexer exited; see {logs / 'indexer.log'}")
                    count = indexed(es)
                    if count and started is None:
                        started = before
                    before = reading()
                    if time.monotonic() - shown >= 2 or count >= documents:
                        print(f"indexed {count}/{documents}", file=sys.stderr, flush=True)
                        shown = time.monotonic()
                    time.sleep(POLL_S)
                if started is None or count < documents:
                    raise RuntimeError(f"only {count} of {documents} indexed in {timeout:.0f}s")
                finished = reading()
                peak = peak_rss_mb(indexer.pid)
            finally:
                es.close()
                indexer.terminate()
                indexer.wait(30)
            result = summarise(
                documents,
                finished[0] - started[0],
                finished[1] - started[1],
                finished[2] - started[2],
            )
            return {
                "machine": this_machine(),
                "mean_article_kb": round(mean_kb, 2),
                "indexer_peak_rss_mb": peak,
                **result,
            }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--quick", action="store_true", help="500 documents, as a smoke run.")
    args = parser.parse_args(argv)
    documents = 500 if args.quick else args.documents
    result = run(documents, args.timeout, args.batch_size)
    print(f"documents indexed      {result['documents']} of ~{result['mean_article_kb']} KB")
    print(f"documents/s            {result['documents_per_s']}")
    print(f"indexer CPU            {result['indexer_cpu_s']} s")
    print(f"server CPU             {result['server_cpu_s']} s")
    print(f"indexer / server CPU   {result['indexer_cpu_share_of_server']} (goal < {TARGET_SHARE})")
    print(f"indexer peak memory    {result['indexer_peak_rss_mb']} MB")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
