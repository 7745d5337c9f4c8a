"""Soak: ``python -m benchmarks.soak [--rate 200] [--minutes 10] [--interval 15]``.

Starts the local system as the pipeline benchmark does (Kafka, OpenSearch, an SMTP catcher, a
webhook receiver, the four services as separate processes), sends one warm-up article through
it, then publishes articles built from the seeds at a steady ``--rate`` for ``--minutes``
(three of the five seeds name the Deterrence force, so about 60% raise alerts, each delivered
by email and webhook). Every ``--interval`` seconds it prints the consumer lag of each stage
and the resident memory (RSS) of each server and service process. After the last article it
waits for the pipeline to drain, then prints: the highest lag of each stage, the lag when
publishing stopped, the time to drain, each process's memory growth after the warm-up (a
least-squares slope, and the last sample against the first after warm-up), and whether every
alert was delivered exactly once on each channel. The last line is the result as JSON.

Goal (issue 13): 200 articles/s for 10 minutes, lag bounded, memory flat, every alert
delivered once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from benchmarks.pipeline import (
    SEEDS,
    STAGES,
    WARM_UP_TIMEOUT_S,
    OffsetProbe,
    _descendants,
    load_templates,
    on_local_stack,
    this_machine,
    vary,
    wait_until_idle,
)
from services.common.kafka import ALERTS, ARTICLES_RAW, ensure_topics
from services.common.settings import KafkaSettings
from services.devstack.stack import LocalStack

REDELIVERY = "X-Raqib-Redelivery"
ALERT_ID = "X-Raqib-Alert-Id"


# --- pure core -------------------------------------------------------------------------------


def parse_vmrss_kb(status: str) -> int | None:
    """Current resident set size (``VmRSS``, in kB) from the text of /proc/<pid>/status."""
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def slope_per_minute(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, value) points, per minute; None with fewer than 3."""
    if len(points) < 3:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread == 0:
        return None
    return 60 * sum((t - mean_t) * (v - mean_v) for t, v in points) / spread


@dataclass
class Sample:
    at_s: float  # since publishing began
    published: int
    lag: dict[str, int]
    rss_mb: dict[str, float | None]
    deliveries: int  # emails and webhooks received so far


@dataclass
class MemoryGrowth:
    first_mb: float  # first sample after warm-up
    last_mb: float
    slope_mb_per_min: float | None

    @property
    def growth_mb(self) -> float:
        return self.last_mb - self.first_mb

    def flat(self, minutes_after_warm_up: float) -> bool:
        """Within noise: the fitted growth over the run after warm-up is under 10% of the
        process's size plus 20 MB (a collector's or an allocator's swing)."""
        allowed = 0.10 * self.first_mb + 20
        fitted = (self.slope_mb_per_min or 0) * minutes_after_warm_up
        return fitted <= allowed and self.growth_mb <= allowed


def memory_growth(samples: Sequence[Sample], warm_up_s: float) -> dict[str, MemoryGrowth]:
    after = [s for s in samples if s.at_s >= warm_up_s]
    result: dict[str, MemoryGrowth] = {}
    if not after:
        return result
    for name in after[0].rss_mb:
        points = [(s.at_s, v) for s in after if (v := s.rss_mb.get(name)) is not None]
        if points:
            result[name] = MemoryGrowth(points[0][1], points[-1][1], slope_per_minute(points))
    return result


@dataclass
class Receipts:
    """Per channel: receipts per alert id, and those marked as a possible redelivery."""

    by_channel: dict[str, Counter[str]] = field(default_factory=dict)
    marked: Counter[str] = field(default_factory=Counter)

    def add(self, channel: str, alert_id: str, redelivery: bool) -> None:
        self.by_channel.setdefault(channel, Counter())[alert_id] += 1
        if redelivery:
            self.marked[channel] += 1

    def check(self, raised: set[str]) -> dict[str, dict[str, int]]:
        """Per channel: alerts missing, received more than once (extra copies), and how
        many receipts were marked as redeliveries."""
        report: dict[str, dict[str, int]] = {}
        for channel, counts in self.by_channel.items():
            report[channel] = {
                "received": sum(counts[a] for a in raised),
                "missing": sum(1 for a in raised if counts[a] == 0),
                "extra_copies": sum(counts[a] - 1 for a in raised if counts[a] > 1),
                "marked_redelivery": self.marked[channel],
            }
        return report


# --- adapters --------------------------------------------------------------------------------


def rss_mb(pid: int) -> float | None:
    """Current RSS of a process and its children."""
    total_kb, found = 0, False
    for each in _descendants(pid):
        with contextlib.suppress(OSError, ValueError):
            kb = parse_vmrss_kb(Path(f"/proc/{each}/status").read_text())
            if kb is not None:
                total_kb, found = total_kb + kb, True
    return round(total_kb / 1024, 1) if found else None


def process_ids(stack: LocalStack) -> dict[str, int]:
    pids = {}
    for name, server in (("kafka", stack.kafka), ("opensearch", stack.search)):
        if server.proc is not None:
            pids[name] = server.proc.pid
    pids.update({name: proc.pid for name, proc in stack.processes.items()})
    return pids


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def publish_steadily(
    bootstrap_servers: str, rate: float, seconds: float, counter: list[int]
) -> None:
    """Publish ``rate`` articles a second for ``seconds``, made on the fly (so memory does not
    hold them all); ``counter[0]`` is the number acknowledged so far."""
    templates = load_templates(SEEDS)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all", linger_ms=5)
    await producer.start()
    try:
        began = time.monotonic()
        sent = 0
        pending: list[asyncio.Future[Any]] = []
        while (elapsed := time.monotonic() - began) < seconds:
            due = min(int(rate * elapsed) + 1, int(rate * seconds))
            while sent < due:
                article = vary(templates[sent % len(templates)], 1_000_000 + sent)
                value = article.model_dump_json().encode()
                pending.append(await producer.send(ARTICLES_RAW, value, key=article.id.encode()))
                sent += 1
            if len(pending) >= 200:
                await asyncio.gather(*pending)
                counter[0] += len(pending)
                pending = []
            await asyncio.sleep(0.02)
        await asyncio.gather(*pending)
        counter[0] += len(pending)
    finally:
        await producer.stop()


async def raised_alerts(bootstrap_servers: str) -> set[str]:
    """The id of every alert on the ``alerts`` topic (keys only; values are not kept)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(ALERTS)
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(ALERTS) or set()
        assigned = [TopicPartition(ALERTS, p) for p in sorted(partitions)]
        if not assigned:
            return set()
        consumer.assign(assigned)
        ends = await consumer.end_offsets(assigned)
        await consumer.seek_to_beginning(*assigned)
        ids: set[str] = set()
        while [tp for tp in assigned if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batch.values():
                ids.update(r.key.decode() for r in records if r.key is not None)
        return ids
    finally:
        await consumer.stop()


def receipts_of(stack: LocalStack) -> Receipts:
    receipts = Receipts()
    for message in stack.smtp.messages:
        receipts.add("email", str(message[ALERT_ID]), str(message.get(REDELIVERY, "")) == "true")
    for request in stack.webhooks.accepted:
        receipts.add(
            "webhook",
            request.headers.get(ALERT_ID, ""),
            request.headers.get(REDELIVERY) == "true",
        )
    return receipts


async def soak(
    stack: LocalStack,
    rate: float,
    minutes: float,
    interval: float,
    warm_up_s: float,
    drain_timeout_s: float,
) -> dict[str, Any]:
    bootstrap = stack.kafka.bootstrap_servers
    await ensure_topics(KafkaSettings(bootstrap_servers=bootstrap), [ARTICLES_RAW])
    es = stack.engine()
    templates = load_templates(SEEDS)
    warm_up = vary(templates[-1], 0)
    _progress("warm-up: one article through every stage ...")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    await producer.send_and_wait(ARTICLES_RAW, warm_up.model_dump_json().encode(), b"warm-up")
    await producer.stop()
    if not await wait_until_idle(stack, es, [warm_up.id], WARM_UP_TIMEOUT_S):
        raise RuntimeError(f"the warm-up article was not processed in {WARM_UP_TIMEOUT_S:.0f}s")
    await es.close()

    pids = process_ids(stack)
    probe = OffsetProbe(bootstrap)
    await probe.start()
    samples: list[Sample] = []
    published = [0]
    load_start = load_average()
    seconds = minutes * 60

    async def sample(began: float) -> Sample:
        stack.check_services()
        offsets = await probe.committed_and_ends()
        taken = Sample(
            at_s=round(time.monotonic() - began, 1),
            published=published[0],
            lag={s: max(0, ends - done) for s, (done, ends) in offsets.items()},
            rss_mb={name: rss_mb(pid) for name, pid in pids.items()},
            deliveries=len(stack.smtp.messages) + len(stack.webhooks.accepted),
        )
        samples.append(taken)
        lags = " ".join(f"{s} {taken.lag[s]}" for s in STAGES)
        memory = " ".join(f"{n} {v:.0f}" for n, v in taken.rss_mb.items() if v is not None)
        _progress(
            f"{taken.at_s:7.1f}s published {taken.published:>7} | lag {lags} | "
            f"delivered {taken.deliveries:>7} | RSS MB {memory}"
        )
        return taken

    try:
        began = time.monotonic()
        publishing = asyncio.create_task(publish_steadily(bootstrap, rate, seconds, published))
        await sample(began)
        while not publishing.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(publishing), interval)
            if not publishing.done():
                await sample(began)
        await publishing
        publish_s = time.monotonic() - began
        at_stop = await sample(began)
        # Drain: every stage caught up, then every alert delivered on both channels.
        drained_s: float | None = None
        deadline = time.monotonic() + drain_timeout_s
        raised: set[str] = set()
        while time.monotonic() < deadline:
            offsets = await probe.committed_and_ends()
            if all(ends == done for done, ends in offsets.values()):
                raised = await raised_alerts(bootstrap)
                receipts = receipts_of(stack)
                if raised and all(
                    not any(counts[a] == 0 for a in raised)
                    for counts in receipts.by_channel.values()
                ):
                    drained_s = round(time.monotonic() - began - publish_s, 1)
                    break
            await asyncio.sleep(2)
        await asyncio.sleep(5)  # time for a late duplicate
        final = await sample(began)
        raised = await raised_alerts(bootstrap)
    finally:
        await probe.stop()
    load_end = load_average()
    deliveries = receipts_of(stack).check(raised)
    growth = memory_growth(samples[:-1], warm_up_s)  # the drain's sample is not under load
    minutes_after = max((publish_s - warm_up_s) / 60, 0)
    half = publish_s / 2
    return {
        "machine": this_machine(),
        "load_average_start": load_start,
        "load_average_end": load_end,
        "rate_target": rate,
        "minutes": minutes,
        "published": published[0],
        "publish_s": round(publish_s, 1),
        "rate_achieved": round(published[0] / publish_s, 1),
        "max_lag": {s: max(x.lag[s] for x in samples) for s in STAGES},
        "max_lag_second_half": {
            s: max((x.lag[s] for x in samples if half <= x.at_s <= publish_s), default=0)
            for s in STAGES
        },
        "lag_when_publishing_stopped": at_stop.lag,
        "lag_at_end": final.lag,
        "drained_after_s": drained_s,
        "warm_up_s": warm_up_s,
        "memory": {
            name: {
                "first_after_warm_up_mb": g.first_mb,
                "last_mb": g.last_mb,
                "growth_mb": round(g.growth_mb, 1),
                "slope_mb_per_min": None
                if g.slope_mb_per_min is None
                else round(g.slope_mb_per_min, 2),
                "flat": g.flat(minutes_after),
            }
            for name, g in growth.items()
        },
        "alerts_raised": len(raised),
        "deliveries": deliveries,
        "samples": [
            {"at_s": s.at_s, "published": s.published, "lag": s.lag, "rss_mb": s.rss_mb}
            for s in samples
        ],
    }


def verdict(result: dict[str, Any]) -> dict[str, bool]:
    """Lag bounded: no stage's lag in the second half above 10 s of input, and the pipeline
    drained; memory flat: every process within noise (``MemoryGrowth.flat``); every alert
    once: none missing, no unmarked extra copy."""
    bound = 10 * result["rate_target"]
    deliveries = result["deliveries"].values()
    return {
        "rate_kept": result["rate_achieved"] >= 0.95 * result["rate_target"],
        "lag_bounded": result["drained_after_s"] is not None
        and all(v <= bound for v in result["max_lag_second_half"].values()),
        "memory_flat": all(m["flat"] for m in result["memory"].values()),
        "alerts_once": bool(deliveries)
        and all(
            d["missing"] == 0 and d["extra_copies"] <= d["marked_redelivery"] for d in deliveries
        ),
    }


def render(result: dict[str, Any]) -> str:
    machine = result["machine"]
    lines = [
        f"machine: {machine['cpu']}, {machine['cores']} cores, Python {machine['python']}; "
        f"load average {result['load_average_start']} at start, "
        f"{result['load_average_end']} at end",
        f"published {result['published']} articles in {result['publish_s']} s "
        f"({result['rate_achieved']}/s, target {result['rate_target']}/s)",
        "stage        max lag   max lag 2nd half   lag at stop   lag at end",
    ]
    for s in STAGES:
        lines.append(
            f"{s:<12} {result['max_lag'][s]:>7}   {result['max_lag_second_half'][s]:>16}   "
            f"{result['lag_when_publishing_stopped'][s]:>11}   {result['lag_at_end'][s]:>10}"
        )
    drained = result["drained_after_s"]
    lines.append(
        "drained "
        + ("NOT within the timeout" if drained is None else f"{drained} s after publishing")
    )
    lines.append(f"memory after warm-up ({result['warm_up_s']:.0f} s), RSS MB:")
    for name, m in result["memory"].items():
        slope = "?" if m["slope_mb_per_min"] is None else f"{m['slope_mb_per_min']:+.2f}"
        lines.append(
            f"  {name:<11} {m['first_after_warm_up_mb']:>7.0f} -> {m['last_mb']:>7.0f} "
            f"({m['growth_mb']:+.0f}; slope {slope} MB/min) {'flat' if m['flat'] else 'GROWS'}"
        )
    lines.append(f"alerts raised: {result['alerts_raised']}")
    for channel, d in result["deliveries"].items():
        lines.append(
            f"  {channel:<8} received {d['received']}, missing {d['missing']}, extra copies "
            f"{d['extra_copies']} (marked as redelivery: {d['marked_redelivery']})"
        )
    lines.append(
        "verdict: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in result["verdict"].items())
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=200.0, help="Articles per second.")
    parser.add_argument("--minutes", type=float, default=10.0, help="How long to publish.")
    parser.add_argument("--interval", type=float, default=15.0, help="Seconds between samples.")
    parser.add_argument(
        "--warm-up",
        type=float,
        default=None,
        help="Seconds of the run before memory is judged (default: a fifth, at most 120).",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=300.0,
        help="Longest wait, after the last article, for every stage and delivery to finish.",
    )
    parser.add_argument(
        "--keep", action="store_true", help="Keep the work directory (service logs)."
    )
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.minutes <= 0 or args.interval <= 0:
        parser.error("--rate, --minutes and --interval must be positive")
    warm_up_s = args.warm_up if args.warm_up is not None else min(120.0, args.minutes * 12)
    result = on_local_stack(
        "raqib-soak-",
        args.keep,
        lambda stack: asyncio.run(
            soak(stack, args.rate, args.minutes, args.interval, warm_up_s, args.drain_timeout)
        ),
    )
    if result is None:
        return 130
    result["verdict"] = verdict(result)
    print(render(result))
    print(json.dumps(result, ensure_ascii=False), flush=True)
    return 0 if all(result["verdict"].values()) else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
