"""End-to-end pipeline throughput: ``python -m benchmarks.pipeline [--articles N] [--timeout S]``.

Starts the local system (Kafka, OpenSearch, SMTP catcher, webhook receiver and the four
services as separate processes, as ``raqib dev`` does), sends one warm-up article through it so
that consumer-group start-up is not counted, then publishes N synthetic articles built from the
fixture seeds and waits until every one is indexed and every consumer group has caught up.

Prints the machine, progress (on stderr), a results table and, last, one JSON line with the
numbers. Three of the five seeds mention the Deterrence force (one also Bashagha), so about 60%
of the articles raise alerts, each delivered by email and by webhook to the local receivers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from schemas import Alert, RawArticle, article_id, content_hash, utc_now
from services.common.kafka import ALERTS, ARTICLES_ENRICHED, ARTICLES_RAW, ensure_topics
from services.common.settings import KafkaSettings
from services.devstack.stack import ARTICLES_ALIAS, LocalStack, pipeline_idle, settled_alerts
from services.devstack.topics import end_offsets as topic_end_offsets
from services.devstack.topics import read_topic
from services.indexer.engines import EngineRequestError, SearchEngine
from services.replay.fixtures import fixture_paths, load_fixture

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
POLL_INTERVAL_S = 0.5
WARM_UP_TIMEOUT_S = 120.0
# Stage name -> (consumer group, topic it reads, the stage it waits for).
STAGES: dict[str, tuple[str, str, str | None]] = {
    "enrichment": ("raqib-enrichment", ARTICLES_RAW, None),
    "indexer": ("raqib-indexer", ARTICLES_ENRICHED, "enrichment"),
    "alerting": ("raqib-alerting", ARTICLES_ENRICHED, "enrichment"),
}


# --- pure core -------------------------------------------------------------------------------


def machine_info(cpuinfo: str | None = None) -> dict[str, Any]:
    """CPU model, logical cores and Python version; ``cpuinfo`` is /proc/cpuinfo's text."""
    model = platform.processor() or platform.machine()
    for line in (cpuinfo or "").splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version()}


def vary(template: RawArticle, serial: int) -> RawArticle:
    """A copy of ``template`` with one sentence appended, so its id and content hash differ.

    The sentence names no actor and no topic term, so the copy is tagged like its seed.
    """
    text = f"{template.text.rstrip()}\n\nأعيد نشر هذا التقرير في الأرشيف تحت الرقم {serial}.\n"
    return template.model_copy(
        update={
            "id": article_id(f"{template.source}\n{text}"),
            "text": text,
            "content_hash": content_hash(text),
        }
    )


def synthetic_articles(
    templates: Sequence[RawArticle], count: int, first_serial: int = 1
) -> list[RawArticle]:
    """``count`` distinct articles, taking the templates in turn (so each seed's share is equal)."""
    if not templates:
        raise ValueError("no template articles to vary")
    return [vary(templates[index % len(templates)], first_serial + index) for index in range(count)]


def parse_vmhwm_kb(status: str) -> int | None:
    """Peak resident set size (``VmHWM``, in kB) from the text of /proc/<pid>/status."""
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def cpu_seconds(stat: str, clock_ticks: int) -> float:
    """User + system CPU seconds from the text of /proc/<pid>/stat."""
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / clock_ticks  # utime, stime (fields 14, 15)


@dataclass
class StageClock:
    """When each stage finished: its group has no lag and the stage it waits for is done."""

    started: float
    done_at: dict[str, float] = field(default_factory=dict)

    def observe(self, lags: dict[str, int], now: float) -> None:
        for stage, (_group, _topic, upstream) in STAGES.items():
            if stage in self.done_at:
                continue
            if lags[stage] == 0 and (upstream is None or upstream in self.done_at):
                self.done_at[stage] = round(now - self.started, 2)

    @property
    def all_done(self) -> bool:
        return all(stage in self.done_at for stage in STAGES)


# --- adapters --------------------------------------------------------------------------------


def load_templates(seeds: Path) -> list[RawArticle]:
    now = utc_now()
    return [load_fixture(path, fetched_at=now) for path in fixture_paths(seeds)]


def _descendants(pid: int) -> Iterator[int]:
    yield pid
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                yield from _descendants(int(child))


def peak_rss_mb(pid: int) -> float | None:
    """Peak RSS of a process and its children (a launcher script may run the real server)."""
    total_kb = 0
    found = False
    for each in _descendants(pid):
        with contextlib.suppress(OSError, ValueError):
            kb = parse_vmhwm_kb(Path(f"/proc/{each}/status").read_text())
            if kb is not None:
                total_kb += kb
                found = True
    return round(total_kb / 1024, 1) if found else None


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds the process ``pid`` has used so far."""
    return cpu_seconds(Path(f"/proc/{pid}/stat").read_text(), os.sysconf("SC_CLK_TCK"))


def this_machine() -> dict[str, Any]:
    """``machine_info`` of the machine the benchmark runs on."""
    try:
        cpuinfo: str | None = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = None
    return machine_info(cpuinfo)


def process_peaks(stack: LocalStack) -> dict[str, float | None]:
    pids = {name: proc.pid for name, proc in stack.processes.items()}
    for name, server in (("kafka", stack.kafka), ("opensearch", stack.search)):
        if server.proc is not None:
            pids[name] = server.proc.pid
    return {name: peak_rss_mb(pid) for name, pid in pids.items()}


class OffsetProbe:
    """Committed offsets of the stage groups, read from the coordinator without joining."""

    def __init__(self, bootstrap_servers: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.consumers: dict[str, AIOKafkaConsumer] = {}

    async def start(self) -> None:
        for stage, (group, _topic, _up) in STAGES.items():
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap_servers, group_id=group, enable_auto_commit=False
            )
            await consumer.start()
            self.consumers[stage] = consumer

    async def stop(self) -> None:
        for consumer in self.consumers.values():
            with contextlib.suppress(Exception):
                await consumer.stop()

    @staticmethod
    async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        return [TopicPartition(topic, p) for p in sorted(partitions)]

    async def end_offsets(self, topics: set[str]) -> dict[str, int]:
        """Per topic, the sum of its partitions' end offsets."""
        return {
            topic: sum((await topic_end_offsets(self.bootstrap_servers, topic)).values())
            for topic in sorted(topics)
        }

    async def committed_and_ends(self) -> dict[str, tuple[int, int]]:
        """Per stage: (offsets its group committed, end offsets of its topic), summed. The
        committed offsets are read first: an end offset read before them could be passed by
        the time they are read, and the lag would come out negative."""
        committed: dict[str, int] = {}
        for stage, (_group, topic, _up) in STAGES.items():
            consumer = self.consumers[stage]
            committed[stage] = 0
            for tp in await self._partitions(consumer, topic):
                committed[stage] += await consumer.committed(tp) or 0
        ends = await self.end_offsets({topic for _group, topic, _up in STAGES.values()})
        return {stage: (committed[stage], ends[topic]) for stage, (_, topic, _) in STAGES.items()}


async def indexed_count(engine: SearchEngine, ids: list[str] | None = None) -> int:
    query = {"ids": {"values": ids}} if ids is not None else None
    with contextlib.suppress(EngineRequestError):  # 404 until the first index exists
        return await engine.count(ARTICLES_ALIAS, query)
    return 0


async def publish(bootstrap_servers: str, articles: list[RawArticle]) -> float:
    """Send every article with one producer (acks=all) without waiting in between, then wait
    for every acknowledgement."""
    payloads = [(a.id.encode(), a.model_dump_json().encode()) for a in articles]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
    await producer.start()
    try:
        began = time.monotonic()
        pending = [await producer.send(ARTICLES_RAW, value, key=key) for key, value in payloads]
        await asyncio.gather(*pending)
        return time.monotonic() - began
    finally:
        await producer.stop()


class DeliveryClock:
    """When the receivers last took a message (email or webhook), sampled every
    ``interval`` s: the time the last alert was delivered, to within the interval, however
    long the other stages take to catch up."""

    def __init__(self, stack: LocalStack, started: float, interval: float = 0.05) -> None:
        self.stack = stack
        self.started = started
        self.interval = interval
        self.last_at: float | None = None
        self._seen = self._count()

    def _count(self) -> int:
        return self.stack.smtp.count + len(self.stack.webhooks.requests)

    async def run(self) -> None:
        while True:
            count = self._count()
            if count != self._seen:
                self._seen, self.last_at = count, time.monotonic()
            await asyncio.sleep(self.interval)

    @property
    def last_s(self) -> float | None:
        return None if self.last_at is None else round(self.last_at - self.started, 2)


def delivery_ratio(delivered_s: float | None, alerting_s: float | None) -> float | None:
    """Every alert delivered, in multiples of the time alerting took to catch up (goal ≤ 1.3)."""
    if delivered_s is None or not alerting_s:
        return None
    return round(delivered_s / alerting_s, 2)


def doubled(message_ids: list[str]) -> int:
    """Messages received more than once (by Message-ID)."""
    return len(message_ids) - len(set(message_ids))


async def wait_until_idle(
    stack: LocalStack, engine: SearchEngine, ids: list[str], timeout: float
) -> bool:
    began = time.monotonic()
    while not await pipeline_idle(stack, engine, ids):
        if time.monotonic() - began > timeout:
            return False
        await asyncio.sleep(POLL_INTERVAL_S)
    return True


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def measure(stack: LocalStack, count: int, timeout: float, seeds: Path) -> dict[str, Any]:
    bootstrap = stack.kafka.bootstrap_servers
    templates = load_templates(seeds)
    warm_up = vary(templates[-1], 0)
    articles = synthetic_articles(templates, count)
    ids = [a.id for a in articles]
    es = stack.engine()
    settings = KafkaSettings(bootstrap_servers=bootstrap)
    await ensure_topics(settings, [ARTICLES_RAW])

    _progress("warm-up: one article through every stage (consumer groups join first) ...")
    began = time.monotonic()
    await publish(bootstrap, [warm_up])
    if not await wait_until_idle(stack, es, [warm_up.id], WARM_UP_TIMEOUT_S):
        raise RuntimeError(f"the warm-up article was not processed in {WARM_UP_TIMEOUT_S:.0f}s")
    _progress(f"warm-up done in {time.monotonic() - began:.1f}s")

    probe = OffsetProbe(bootstrap)
    await probe.start()
    try:
        baseline = await probe.committed_and_ends()
        emails_before = len(stack.smtp.messages)
        webhooks_before = len(stack.webhooks.accepted)
        started = time.monotonic()
        deliveries = DeliveryClock(stack, started)
        sampler = asyncio.create_task(deliveries.run())
        publish_s = await publish(bootstrap, articles)
        _progress(f"published {count} articles in {publish_s:.2f}s")
        clock = StageClock(started)
        complete = False
        delivered_s: float | None = None
        while True:
            stack.check_services()
            offsets = await probe.committed_and_ends()
            now = time.monotonic()
            clock.observe({s: ends - done for s, (done, ends) in offsets.items()}, now)
            done = {s: offsets[s][0] - baseline[s][0] for s in STAGES}
            _progress(
                f"  {now - started:6.1f}s  enriched {done['enrichment']}/{count}  "
                f"indexed {await indexed_count(es) - 1}/{count}  "
                f"alerted {done['alerting']}/{count}  emails {stack.smtp.count - emails_before}  "
                f"webhooks {len(stack.webhooks.requests) - webhooks_before}"
            )
            if clock.all_done and await pipeline_idle(stack, es, ids):
                # Alerting delivers from its outbox after committing: wait for the mail too.
                _alerts, settled = await settled_alerts(bootstrap)
                if settled:
                    # The receivers' last message, not this (coarse, later) check.
                    delivered_s = deliveries.last_s or round(time.monotonic() - started, 2)
                    complete = True
                    break
            if now - started > timeout:
                break
            await asyncio.sleep(POLL_INTERVAL_S)
        end_to_end_s = time.monotonic() - started
        sampler.cancel()
        peaks = process_peaks(stack)
        alert_records = (await probe.end_offsets({ALERTS}))[ALERTS]
    finally:
        await probe.stop()

    records = await read_topic(bootstrap, ALERTS, min_count=alert_records, timeout=60)
    ours = set(ids)
    alert_ids = {
        alert.id
        for alert in (Alert.model_validate_json(r.value) for r in records if r.value is not None)
        if alert.article.id in ours
    }
    processed = await indexed_count(es, ids)
    await es.close()
    emails = stack.smtp.messages[emails_before:]
    alerting_s = clock.done_at.get("alerting")
    return {
        "machine": this_machine(),
        "complete": complete,
        "articles": count,
        "published": count,
        "processed": processed,
        "mean_article_kb": round(sum(len(a.text.encode()) for a in articles) / count / 1000, 2),
        "publish_s": round(publish_s, 3),
        "end_to_end_s": round(end_to_end_s, 2),
        "articles_per_s": round(processed / end_to_end_s, 1),
        "stage_completion_s": {stage: clock.done_at.get(stage) for stage in STAGES},
        "alerts_delivered_s": delivered_s,
        "delivered_vs_alerting": delivery_ratio(delivered_s, alerting_s),
        "alerts": len(alert_ids),
        "emails": len(emails),
        "emails_doubled": doubled([str(m["Message-ID"]) for m in emails]),
        "webhooks": len(stack.webhooks.accepted) - webhooks_before,
        "peak_rss_mb": peaks,
    }


def _seconds(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.2f} s"


def _ratio(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.2f}× (goal ≤ 1.3×)"


def render_table(result: dict[str, Any]) -> str:
    machine = result["machine"]
    stages = result["stage_completion_s"]
    rows = [
        ("articles", f"{result['articles']} (mean {result['mean_article_kb']:.1f} KB)"),
        ("processed (indexed)", f"{result['processed']}"),
        ("publish", f"{result['publish_s']:.2f} s"),
        *((f"{stage} caught up", _seconds(stages[stage])) for stage in STAGES),
        ("every alert delivered", _seconds(result["alerts_delivered_s"])),
        ("delivered / alerting caught up", _ratio(result["delivered_vs_alerting"])),
        ("end to end", f"{result['end_to_end_s']:.2f} s"),
        ("throughput (end to end)", f"{result['articles_per_s']:,.1f} articles/s"),
        ("alerts raised", str(result["alerts"])),
        ("emails / webhooks", f"{result['emails']} / {result['webhooks']}"),
        ("emails received twice", str(result["emails_doubled"])),
        *(
            (f"peak RSS {name}", "?" if mb is None else f"{mb:.0f} MB")
            for name, mb in result["peak_rss_mb"].items()
        ),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [f"machine: {machine['cpu']}, {machine['cores']} cores, Python {machine['python']}"]
    lines += [f"  {label:<{width}}  {value}" for label, value in rows]
    if not result["complete"]:
        lines.append("  PIPELINE DID NOT CATCH UP before the timeout")
    return "\n".join(lines)


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # so the finally blocks stop every child process


def on_local_stack(
    prefix: str, keep: bool, run: Callable[[LocalStack], dict[str, Any]]
) -> dict[str, Any] | None:
    """``run`` one measurement on a LocalStack in a fresh temporary directory. Every process
    is stopped at the end, SIGTERM and Ctrl-C included (then None); the service logs are kept
    when asked, when the run raised, or when its result is not ``complete``."""
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    stack: LocalStack | None = None
    try:
        stack = LocalStack(workdir / "stack")
        stack.start()
        result = run(stack)
        keep = keep or not result.get("complete", True)
    except KeyboardInterrupt:
        _progress("interrupted; stopping every process")
        return None
    except Exception:
        keep = True
        raise
    finally:
        if stack is not None:
            stack.stop()
        if keep:
            _progress(f"service logs kept under {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=2000, help="Articles to publish.")
    parser.add_argument("--timeout", type=float, default=600.0, help="Seconds to wait.")
    parser.add_argument("--seeds", type=Path, default=SEEDS, help="Template articles.")
    parser.add_argument(
        "--keep", action="store_true", help="Keep the work directory (service logs)."
    )
    args = parser.parse_args(argv)
    if args.articles < 1:
        parser.error("--articles must be at least 1")
    result = on_local_stack(
        "raqib-bench-",
        args.keep,
        lambda stack: asyncio.run(measure(stack, args.articles, args.timeout, args.seeds)),
    )
    if result is None:
        return 130
    print(render_table(result))
    print(json.dumps(result, ensure_ascii=False), flush=True)
    return 0 if result["complete"] else 1


if __name__ == "__main__":
    sys.exit(main())
