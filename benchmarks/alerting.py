"""Alerting latency and delivery rate: ``python -m benchmarks.alerting [--rate 200 --seconds 60
--rules 100] [--channel webhook|email] [--burst N] [--article-kb KB] [--without PARTS]``.

Starts the local Apache Kafka broker, the alerting service as its own process (``raqib run
alerting``) with ``--rules`` match rules delivering by webhook (or by email, ``--channel
email``), and an asyncio receiver in this process (HTTP, or SMTP with aiosmtpd). Publishes
enriched articles to ``articles.enriched`` at a steady rate, each matching exactly one rule,
and reports the latency from publish to receipt (p50, p99, max), alerts expected vs received
(missed, doubled), the CPU seconds the alerting process used and the CPU a message cost it,
the broker and this process (the receiver and the publisher). ``--burst N`` publishes N
articles at once instead and reports the delivery rate: messages received per second, from
the first to the last; by email it then measures the receiver's own ceiling, the rate at
which it takes N copies of an alert from four plain smtplib clients in processes of their own
(the most any sender could get from it on this machine). ``--without render,replication,
alert-log`` takes those parts of alerting's work out (``benchmarks.alerting_without``): what
a part costs is the difference. Prints progress on stderr and one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import email.parser
import json
import multiprocessing
import os
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiosmtpd.smtp import SMTP

from benchmarks.alerting_without import PARTS, parse_parts
from benchmarks.pipeline import process_cpu_s, this_machine
from schemas import EnrichedArticle, Entity, EntityType, Mention, alert_id, utc_now
from services.common.kafka import ARTICLES_ENRICHED, ensure_topics
from services.common.settings import KafkaSettings
from services.devstack.servers import LocalKafka
from tests.factories import enriched_article

TEXT = "قال مصدر أمني إن {name} انتشرت قرب مطار معيتيقة في طرابلس صباح اليوم."
# What ``--article-kb`` adds to the text, as often as it takes.
MORE_TEXT = " وأضاف المصدر أن الوضع في المدينة هادئ بعد اشتباكات متقطعة ليلة أمس."


def rules_yaml(rules: int, port: int, channel: str = "webhook") -> str:
    target = (
        f"{{kind: webhook, url: 'http://127.0.0.1:{port}/hook', give_up_after: 1d}}"
        if channel == "webhook"
        else "{kind: email, to: [analysts@raqib.example], give_up_after: 1d}"
    )
    lines = ["channels:", f"  hook: {target}", "rules:"]
    for i in range(rules):
        lines.append(
            f"  - {{id: rule-{i}, name: Rule {i}, match: {{actors: {{any: [actor-{i}]}}}},"
            " channels: [hook]}"
        )
    return "\n".join(lines) + "\n"


def article(serial: int, rules: int, kb: float = 0.0) -> EnrichedArticle:
    """Matching rule ``serial % rules``; with ``kb``, a text of at least that many KB."""
    actor = serial % rules
    name = f"قوة رقم {actor}"
    text = TEXT.format(name=name)
    while len(text.encode()) < kb * 1024:
        text += MORE_TEXT
    start = text.index(name)
    mention = Mention(
        start=start, end=start + len(name), text=name, alias=name, rule="unambiguous-alias"
    )
    entity = Entity(id=f"actor-{actor}", name=name, type=EntityType.ARMED_GROUP, mentions=[mention])
    return enriched_article(
        f"خبر {serial}", text, entities=[entity], url=f"https://bench.example/{serial}"
    )


class Receiver:
    """A minimal HTTP/1.1 server: records (alert id, receipt time), answers 204."""

    def __init__(self) -> None:
        self.received: list[tuple[str, float]] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (
                        line.decode("latin-1").partition(":") for line in head.split(b"\r\n")[1:]
                    )
                    if k
                }
                await reader.readexactly(int(headers.get("content-length", "0")))
                self.received.append((headers.get("x-raqib-alert-id", ""), time.time()))
                writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            writer.close()

    def stop(self) -> None:
        if self.server is not None:
            self.server.close()


class MailReceiver:
    """An SMTP server (aiosmtpd) in this process's loop: records (alert id, receipt time),
    and keeps the first message as a sample for ``catcher_ceiling``."""

    def __init__(self) -> None:
        self.received: list[tuple[str, float]] = []
        self.server: asyncio.Server | None = None
        self.sample: bytes | None = None
        self._headers = email.parser.BytesHeaderParser()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        headers = self._headers.parsebytes(envelope.content)
        self.received.append((str(headers.get("X-Raqib-Alert-Id", "")), time.time()))
        if self.sample is None:
            self.sample = envelope.content
        return "250 OK"

    async def start(self) -> int:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: SMTP(self), "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    def stop(self) -> None:
        if self.server is not None:
            self.server.close()


def per_message(cpu_s: float, messages: int) -> float | None:
    return round(cpu_s * 1000 / messages, 3) if messages else None


def _send_copies(port: int, content: bytes, count: int) -> None:
    """One plain smtplib session sending ``count`` copies (a client process of its own)."""
    with smtplib.SMTP("127.0.0.1", port) as session:
        for _ in range(count):
            session.sendmail("bench@localhost", ["analyst@localhost"], content)


async def catcher_ceiling(receiver: MailReceiver, count: int, clients: int = 4) -> float | None:
    """What the same receiver takes from clients that cost next to nothing: ``count`` copies
    of an alert email over ``clients`` sessions, each in its own process. The bound on any
    sender's delivery rate on this machine."""
    assert receiver.server is not None and receiver.sample is not None
    port = int(receiver.server.sockets[0].getsockname()[1])
    receiver.received.clear()
    context = multiprocessing.get_context("spawn")
    senders = [
        context.Process(target=_send_copies, args=(port, receiver.sample, count // clients))
        for _ in range(clients)
    ]
    for sender in senders:
        sender.start()
    for sender in senders:
        await asyncio.to_thread(sender.join)
    return delivery_rate([at for _, at in receiver.received])


def delivery_rate(times: list[float]) -> float | None:
    """Messages per second between the first receipt and the last."""
    if len(times) < 2 or max(times) == min(times):
        return None
    return round((len(times) - 1) / (max(times) - min(times)), 1)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def run(
    rate: float,
    seconds: float,
    rules: int,
    workdir: Path,
    machine: dict[str, Any],
    *,
    channel: str = "webhook",
    burst: int | None = None,
    article_kb: float = 0.0,
    without: Sequence[str] = (),
) -> dict[str, Any]:
    receiver: Receiver | MailReceiver = Receiver() if channel == "webhook" else MailReceiver()
    port = await receiver.start()
    rules_file = workdir / "rules.yaml"
    rules_file.write_text(rules_yaml(rules, port, channel), encoding="utf-8")
    with LocalKafka(data_dir=workdir / "kafka", log_path=workdir / "kafka.log") as kafka:
        settings = KafkaSettings(bootstrap_servers=kafka.bootstrap_servers)
        await ensure_topics(settings, [ARTICLES_ENRICHED])
        env = {
            **os.environ,
            "RAQIB_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "RAQIB_ALERTING_RULES_FILE": str(rules_file),
            "RAQIB_ALERTING_STATE_FILE": str(workdir / "alerting.sqlite3"),
            "RAQIB_ALERTING_ALLOW_PRIVATE_TARGETS": "true",
            "RAQIB_SMTP_HOST": "127.0.0.1",
            "RAQIB_SMTP_PORT": str(port),
            "RAQIB_LOG_LEVEL": "WARNING",
        }
        with (workdir / "alerting.log").open("wb") as log:
            command = (
                ["-m", "benchmarks.alerting_without", ",".join(without)]
                if without
                else ["-m", "services.cli", "run", "alerting"]
            )
            service = subprocess.Popen(  # noqa: ASYNC220 - started once, before timing
                [sys.executable, *command],
                env=env,
                stdout=log,
                stderr=log,
            )
        producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, linger_ms=0)
        await producer.start()
        try:
            # Warm up: the first alert shows the service joined its group and delivers.
            warm = article(10**9, rules, article_kb)
            await producer.send_and_wait(ARTICLES_ENRICHED, warm.model_dump_json().encode())
            deadline = time.monotonic() + 60
            while not receiver.received:
                if time.monotonic() > deadline or service.poll() is not None:
                    raise RuntimeError("alerting service did not deliver the warm-up alert")
                await asyncio.sleep(0.1)
            receiver.received.clear()

            total = burst if burst is not None else int(rate * seconds)
            if burst is not None:
                rate = float("inf")  # every article at once: the delivery rate is the measure
            payloads = [article(i, rules, article_kb) for i in range(total)]
            published: dict[str, float] = {}
            assert kafka.proc is not None
            cpu_start, t0 = process_cpu_s(service.pid), time.monotonic()
            broker_cpu_start, own_cpu_start = process_cpu_s(kafka.proc.pid), time.process_time()
            last_report = t0
            for i, item in enumerate(payloads):
                delay = t0 + i / rate - time.monotonic() if burst is None else 0
                if delay > 0:
                    await asyncio.sleep(delay)
                published[alert_id(f"rule-{i % rules}", item.id)] = time.time()
                await producer.send(
                    ARTICLES_ENRICHED, item.model_dump_json().encode(), key=item.id.encode()
                )
                if time.monotonic() - last_report > 5:
                    last_report = time.monotonic()
                    print(
                        f"published {i + 1}/{total}, received {len(receiver.received)}",
                        file=sys.stderr,
                        flush=True,
                    )
            await producer.flush()
            publish_s = time.monotonic() - t0
            deadline = time.monotonic() + 60
            while len({a for a, _ in receiver.received}) < total:
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            await asyncio.sleep(1)  # a late duplicate would show up now
            cpu_used = process_cpu_s(service.pid) - cpu_start
            broker_cpu = process_cpu_s(kafka.proc.pid) - broker_cpu_start
            own_cpu = time.process_time() - own_cpu_start
            elapsed = time.monotonic() - t0
            received = list(receiver.received)
            ceiling = None
            mail = receiver if isinstance(receiver, MailReceiver) else None
            sample = mail.sample if mail is not None else None
            # Not with rendering taken out: the stand-in message is not what a sender sends.
            if mail is not None and sample and burst is not None and "render" not in without:
                service.send_signal(signal.SIGTERM)  # its CPU back for the clients
                ceiling = await catcher_ceiling(mail, total)
        finally:
            await producer.stop()
            service.send_signal(signal.SIGTERM)
            try:
                service.wait(timeout=30)
            except subprocess.TimeoutExpired:
                service.kill()
            receiver.stop()
    seen: dict[str, int] = {}
    latencies = []
    for alert, at in received:
        seen[alert] = seen.get(alert, 0) + 1
        if alert in published and seen[alert] == 1:
            latencies.append((at - published[alert]) * 1000)
    return {
        "machine": machine,
        "rate": None if burst is not None else rate,
        "burst": burst,
        "seconds": seconds,
        "rules": rules,
        "article_bytes": len(payloads[0].model_dump_json().encode()) if payloads else None,
        "published": total,
        "publish_s": round(publish_s, 2),
        "alerts_expected": total,
        "alerts_received": len(set(published) & set(seen)),
        "missed": len(set(published) - set(seen)),
        "doubled": sum(1 for count in seen.values() if count > 1),
        "latency_ms": {
            "p50": round(percentile(latencies, 0.50), 1),
            "p99": round(percentile(latencies, 0.99), 1),
            "max": round(max(latencies, default=float("nan")), 1),
        },
        "channel": channel,
        # Parts of alerting's work taken out (benchmarks.alerting_without): not a real run.
        "without": list(without),
        "delivered_per_s": delivery_rate([at for _, at in received]),
        # The first email as the receiver took it (with --without render, the stand-in).
        "email_bytes": len(sample) if sample else None,
        # --channel email --burst: the same receiver's rate from near-free clients.
        "catcher_ceiling_per_s": ceiling,
        "alerting_cpu_s": round(cpu_used, 2),
        "alerting_cpu_share": round(cpu_used / elapsed, 2),
        # What one message costs each process: their sum, times a rate, is the cores it needs.
        "cpu_ms_per_message": {
            "alerting": per_message(cpu_used, total),
            "broker": per_message(broker_cpu, total),
            "receiver_and_publisher": per_message(own_cpu, total),
        },
        "finished_at": utc_now().isoformat(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=200.0, help="Articles per second.")
    parser.add_argument("--seconds", type=float, default=60.0, help="How long to publish.")
    parser.add_argument("--rules", type=int, default=100, help="Match rules loaded.")
    parser.add_argument("--quick", action="store_true", help="5 s at 50/s: a smoke run.")
    parser.add_argument(
        "--channel", choices=["webhook", "email"], default="webhook", help="How alerts go out."
    )
    parser.add_argument(
        "--burst", type=int, help="Publish this many articles at once; report the delivery rate."
    )
    parser.add_argument(
        "--article-kb",
        type=float,
        default=0.0,
        help="Lengthen each article's text to this many KB (the seeds average 3.7).",
    )
    parser.add_argument(
        "--without",
        default="",
        help="Take these parts of alerting's work out, comma-separated, to measure what they "
        f"cost: {', '.join(PARTS)} (benchmarks.alerting_without).",
    )
    args = parser.parse_args(argv)
    try:
        without = parse_parts(args.without)
    except ValueError as error:
        parser.error(f"--without: {error}")
    if args.quick:
        args.rate, args.seconds = 50.0, 5.0
    with tempfile.TemporaryDirectory(prefix="raqib-bench-alerting-") as workdir:
        result = asyncio.run(
            run(
                args.rate,
                args.seconds,
                args.rules,
                Path(workdir),
                this_machine(),
                channel=args.channel,
                burst=args.burst,
                article_kb=args.article_kb,
                without=without,
            )
        )
    print(json.dumps(result, ensure_ascii=False))
    return 0 if result["missed"] == 0 and result["doubled"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
