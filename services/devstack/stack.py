"""``raqib demo`` / ``raqib dev``: the whole system on one machine, no Docker.

Starts the servers (Apache Kafka, OpenSearch, an SMTP catcher, a webhook receiver), runs the four
services as separate processes (``raqib run NAME``, as in production), replays the fixtures and
waits until every article is indexed and every consumer group has caught up, then shows the
articles, the alerts and what the catcher and the receiver received.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from schemas import Alert, DeliveryStatus, RawArticle
from services.common.kafka import ALERTS, ARTICLES_ENRICHED, ARTICLES_RAW
from services.common.settings import ElasticsearchSettings, KafkaSettings
from services.devstack.opensearch_node import LocalOpenSearch
from services.devstack.receivers import ReceivedRequest, SmtpCatcher, WebhookReceiver
from services.devstack.servers import LocalKafka, die_with_parent
from services.devstack.topics import group_lag, read_topic
from services.indexer.engines import EngineUnavailable, SearchEngine, open_engine
from services.replay.publish import replay

SERVICES = ("enrichment", "indexer", "alerting", "fetcher")
# Which consumer group reads which topic: the pipeline is idle when all have caught up.
GROUPS = (
    ("raqib-enrichment", ARTICLES_RAW),
    ("raqib-indexer", ARTICLES_ENRICHED),
    ("raqib-alerting", ARTICLES_ENRICHED),
)
ARTICLES_ALIAS = ElasticsearchSettings().articles_alias
WEBHOOK_SECRET = "local-dev-secret"  # only for the local receiver; production sets its own

console = Console(stderr=True)


@dataclass
class LocalStack:
    workdir: Path
    kafka: LocalKafka = field(init=False)
    search: LocalOpenSearch = field(init=False)
    smtp: SmtpCatcher = field(default_factory=SmtpCatcher)
    webhooks: WebhookReceiver = field(default_factory=WebhookReceiver)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        logs = self.workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.kafka = LocalKafka(data_dir=self.workdir / "kafka", log_path=logs / "kafka.log")
        self.search = LocalOpenSearch(
            data_dir=self.workdir / "opensearch", log_path=logs / "opensearch.log"
        )

    def service_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "RAQIB_KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap_servers,
            "RAQIB_ES_URL": self.search.url,
            "RAQIB_SMTP_HOST": "127.0.0.1",
            "RAQIB_SMTP_PORT": str(self.smtp.port),
            "RAQIB_WEBHOOK_URL": self.webhooks.url,
            "RAQIB_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "RAQIB_ALERTING_STATE_FILE": str(self.workdir / "alerting.sqlite3"),
            "RAQIB_ALERTING_ALLOW_PRIVATE_TARGETS": "true",  # the local receivers are on 127.0.0.1
            "RAQIB_FETCHER_STATE_FILE": str(self.workdir / "fetcher.sqlite3"),
            "PYTHONUNBUFFERED": "1",
        }

    def start(self) -> None:
        steps: list[tuple[Callable[[], str], Callable[[], object]]] = [
            (lambda: f"Apache Kafka {self.kafka.version}", self.kafka.start),
            (lambda: f"OpenSearch {self.search.version}", self.search.start),
            (lambda: "SMTP catcher", self.smtp.start),
            (lambda: "webhook receiver", self.webhooks.start),
        ]
        for describe, start in steps:
            began = time.monotonic()
            start()
            console.print(f"[green]✓[/] {describe()} ({time.monotonic() - began:.1f}s)")
        env = self.service_env()
        for name in SERVICES:
            log = open(self.workdir / "logs" / f"{name}.log", "ab")  # noqa: SIM115
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "run", name],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent(signal.SIGTERM),
            )
            log.close()
        console.print(f"[green]✓[/] services started: {', '.join(SERVICES)}")

    def check_services(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                log = (self.workdir / "logs" / f"{name}.log").read_text(errors="replace")
                raise RuntimeError(
                    f"service {name} exited with code {proc.returncode}; last log lines:\n"
                    + "\n".join(log.splitlines()[-15:])
                )

    def stop(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        for stop in (self.webhooks.stop, self.smtp.stop, self.search.stop, self.kafka.stop):
            with contextlib.suppress(Exception):
                stop()

    def engine(self) -> SearchEngine:
        """A client of the local search engine, as the services see it."""
        return open_engine(ElasticsearchSettings(url=self.search.url))


async def pipeline_idle(stack: LocalStack, engine: SearchEngine, ids: list[str]) -> bool:
    stack.check_services()
    bootstrap = stack.kafka.bootstrap_servers
    try:
        if not await engine.exists_alias(ARTICLES_ALIAS):
            return False
        found = await engine.count(ARTICLES_ALIAS, {"ids": {"values": ids}})
    except EngineUnavailable:
        return False  # a new month's index answers 503 until its shard has started
    if found < len(ids):
        return False
    for group, topic in GROUPS:
        if await group_lag(bootstrap, group, topic) != 0:
            return False
    return True


async def settled_alerts(bootstrap_servers: str) -> tuple[list[Alert], bool]:
    """The alerts raised so far, and whether every delivery of every one has finished.

    Alerting commits an article once its alerts are safely in the outbox and delivers them in
    the background, so a caught-up consumer group does not yet mean the mail went out.
    """
    alerts = latest_alerts(await read_topic(bootstrap_servers, ALERTS, timeout=5))
    pending = any(d.status is DeliveryStatus.PENDING for a in alerts for d in a.deliveries)
    return alerts, not pending


def latest_alerts(records: list[Any]) -> list[Alert]:
    latest: dict[str, Alert] = {}
    for record in records:
        alert = Alert.model_validate_json(record.value)
        latest[alert.id] = alert  # the last record of an alert holds its final deliveries
    return sorted(latest.values(), key=lambda a: (a.rule.id, a.article.id))


async def _show(
    engine: SearchEngine, articles: list[RawArticle], alerts: list[Alert], stack: LocalStack
) -> None:
    table = Table(title=f"Articles indexed in OpenSearch (alias {ARTICLES_ALIAS})")
    for column in ("id", "title", "actors", "topics"):
        table.add_column(column, overflow="fold")
    # The alias spans monthly indices, so look documents up with a search, not a GET by id.
    found = await engine.search(
        ARTICLES_ALIAS,
        {
            "query": {"ids": {"values": [article.id for article in articles]}},
            "size": len(articles),
            "_source": ["actors", "topics"],
        },
    )
    sources = {hit["_id"]: hit["_source"] for hit in found["hits"]["hits"]}
    for article in articles:
        doc = sources.get(article.id, {})
        table.add_row(
            article.id,
            article.title[:60],
            ", ".join(doc.get("actors", [])),
            ", ".join(doc.get("topics", [])),
        )
    console.print(table)
    table = Table(title="Alerts (topic 'alerts')")
    for column in ("rule", "article", "title", "deliveries"):
        table.add_column(column, overflow="fold")
    for alert in alerts:
        deliveries = ", ".join(
            f"{d.channel}: {d.status.value} ({d.attempts})" for d in alert.deliveries
        )
        table.add_row(alert.rule.name, alert.article.id, alert.article.title[:50], deliveries)
    console.print(table)
    mail, hooks = save_received(stack)
    console.print(f"[bold]Emails received by the SMTP catcher:[/] {len(stack.smtp.messages)}")
    for message in stack.smtp.messages:
        console.print(f"  • {message['Subject']}  →  {message['To']}")
    console.print(f"[bold]Webhooks received:[/] {len(stack.webhooks.accepted)}")
    for request in stack.webhooks.accepted:
        console.print(
            f"  • {request.headers.get('X-Raqib-Alert-Id', '?')}  "
            f"signature {request.headers.get('X-Raqib-Signature', 'none')[:23]}…"
        )
    console.print(
        "\n[bold]Where to look next[/]\n"
        f"  OpenSearch     {stack.search.url}/{ARTICLES_ALIAS}/_search\n"
        f"  Kafka          {stack.kafka.bootstrap_servers}  topics: articles.raw, "
        "articles.enriched, alerts, *.dlq\n"
        f"  Emails         {mail}  (open the .eml files in a mail reader)\n"
        f"  Webhooks       {hooks}\n"
        f"  Service logs   {stack.workdir / 'logs'}\n"
    )


def save_received(stack: LocalStack) -> tuple[Path, Path]:
    """Keep what the catcher and the receiver got, to read in full after the run."""
    mail, hooks = stack.workdir / "mail", stack.workdir / "webhooks"
    mail.mkdir(exist_ok=True)
    hooks.mkdir(exist_ok=True)
    for number, message in enumerate(stack.smtp.messages, 1):
        (mail / f"{number:03d}.eml").write_bytes(message.as_bytes())
    for number, request in enumerate(stack.webhooks.accepted, 1):
        (hooks / f"{number:03d}.json").write_text(
            json.dumps(webhook_record(request), ensure_ascii=False, indent=2), encoding="utf-8"
        )
    return mail, hooks


def webhook_record(request: ReceivedRequest) -> dict[str, Any]:
    """A received webhook as saved: its headers and its JSON body (a body that is not JSON
    is kept as text rather than ending the run)."""
    try:
        body: Any = json.loads(request.body)
    except ValueError:
        body = request.body.decode("utf-8", errors="replace")
    return {"headers": request.headers, "body": body}


async def _run(
    stack: LocalStack, seeds: Path, keep_running: bool, timeout: float
) -> dict[str, Any]:
    settings = KafkaSettings(bootstrap_servers=stack.kafka.bootstrap_servers)
    fixture_of: dict[str, str] = {}

    def published(path: Path, article: RawArticle) -> None:
        fixture_of[article.id] = path.stem
        console.print(f"  replayed {path.name} → {article.id}")

    articles = await replay(seeds, settings, on_published=published)
    engine = stack.engine()
    try:
        return await _watch(stack, engine, articles, fixture_of, keep_running, timeout)
    finally:
        await engine.close()


async def _watch(
    stack: LocalStack,
    engine: SearchEngine,
    articles: list[RawArticle],
    fixture_of: dict[str, str],
    keep_running: bool,
    timeout: float,
) -> dict[str, Any]:
    ids = [a.id for a in articles]
    began = time.monotonic()
    with console.status("waiting for every article to be enriched, indexed and alerted…"):
        while not await pipeline_idle(stack, engine, ids):
            if time.monotonic() - began > timeout:
                break
            await asyncio.sleep(0.5)
        alerts, settled = await settled_alerts(stack.kafka.bootstrap_servers)
        while not settled and time.monotonic() - began <= timeout:
            await asyncio.sleep(0.5)
            alerts, settled = await settled_alerts(stack.kafka.bootstrap_servers)
    complete = settled and await pipeline_idle(stack, engine, ids)
    console.print(
        f"[{'green' if complete else 'red'}]pipeline "
        f"{'caught up' if complete else 'did NOT catch up'} in {time.monotonic() - began:.1f}s"
    )
    await _show(engine, articles, alerts, stack)
    summary = {
        "indexed": await engine.count(ARTICLES_ALIAS),
        "alerts": [
            {
                "rule": a.rule.name,
                "article": a.article.id,
                "fixture": fixture_of.get(a.article.id),
                "title": a.article.title,
            }
            for a in alerts
        ],
        "emails": len(stack.smtp.messages),
        "webhooks": len(stack.webhooks.accepted),
    }
    if keep_running:
        print(json.dumps(summary, ensure_ascii=False), flush=True)
        console.print("[bold]Running. Press Ctrl-C to stop everything.[/]")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        while not stop.is_set():
            stack.check_services()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1)
        console.print("stopping…")
    return {"summary": summary, "complete": complete}


def run_local(
    seeds: Path, *, keep_running: bool, timeout: float, workdir: Path | None = None
) -> tuple[dict[str, Any], bool]:
    """Run the local system; returns the summary and whether the pipeline caught up.

    Logs and server data go to ``workdir`` (default ``.raqib/demo`` or ``.raqib/dev``),
    emptied at start and kept afterwards so the logs can be read.
    """
    workdir = workdir or Path(".raqib") / ("dev" if keep_running else "demo")
    shutil.rmtree(workdir, ignore_errors=True)
    stack = LocalStack(workdir.resolve())
    try:
        stack.start()
        result = asyncio.run(_run(stack, seeds, keep_running, timeout))
    except KeyboardInterrupt:
        console.print("stopping…")
        return {}, True
    finally:
        stack.stop()
    return result["summary"], bool(result["complete"])
