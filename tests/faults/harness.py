"""The fault harness: the whole pipeline on local servers, a fault injected mid-stream, and an
account of what came out.

A ``Pipeline`` runs enrichment, the indexer and alerting as ``raqib run NAME`` processes (one or
more replicas each, with static membership ids) against a real Kafka broker and OpenSearch
node, delivering alerts to a real SMTP catcher and a real HTTP webhook receiver. An experiment
streams articles built from the seeds (about 60% of them raise an alert), injects its fault
halfway, ends it, and ``Pipeline.outcome`` then waits, without touching a service, until
everything has come out or the deadline passes, and counts:

- articles lost (sent but not in the index) and duplicated (more than one document);
- alerts lost (an expected alert a receiver never got, per channel, or not delivered on the
  alert log);
- alert deliveries received more than once, split into those marked ``X-Raqib-Redelivery``
  (allowed by the guarantee, counted) and unmarked ones (never allowed);
- dead letters on every stage's dead-letter topic;
- whether a service died on its own or the pipeline stalled, which would have needed a
  manual restart.

Two variants (decision 54): the quick one (default) runs in the normal test command with
few articles and short outages; ``RAQIB_FAULTS=full`` runs hundreds of articles and 20 s
outages (``bash deploy/local.sh faults``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from benchmarks.pipeline import load_templates, synthetic_articles
from schemas import Alert, DeliveryStatus, RawArticle, alert_id
from services.common.kafka import ALERTS, ARTICLES_ENRICHED, ARTICLES_RAW
from services.common.settings import KafkaSettings
from services.devstack.opensearch_node import LocalOpenSearch
from services.devstack.receivers import ReceivedRequest, SmtpCatcher, WebhookReceiver
from services.devstack.servers import LocalKafka, free_port
from services.devstack.topics import group_lag, read_topic
from tests.conftest import SEEDS, start_service, stop_service

STAGES = ("enrichment", "indexer", "alerting")
# Which group reads which topic: caught up when none has lag.
GROUPS = (
    ("raqib-enrichment", ARTICLES_RAW),
    ("raqib-indexer", ARTICLES_ENRICHED),
    ("raqib-alerting", ARTICLES_ENRICHED),
)
RULE_ID = "deterrence"
WATCHED_ACTOR = "special-deterrence-force"
CHANNELS = ("email", "webhook")
REDELIVERY = "X-Raqib-Redelivery"


@dataclass(frozen=True)
class Variant:
    """How big an experiment is."""

    name: str
    articles: int
    rate: float  # articles/s once the pipeline is warm
    outage_s: float
    settle_s: float  # longest wait for everything to come out after the fault
    session_timeout_s: float  # a replica gone for good hands its partitions on after this
    quiet_s: float  # after catching up, how long to wait for a late duplicate
    # Alerting's delivery timings: production's in the full variant, scaled in the quick one.
    alerting_env: dict[str, str] = field(default_factory=dict)


QUICK = Variant(
    "quick",
    articles=40,
    rate=20.0,
    outage_s=6.0,
    settle_s=60.0,
    session_timeout_s=6.0,
    quiet_s=1.0,
    alerting_env={
        "RAQIB_ALERTING_BREAKER_PROBE_S": "1",
        "RAQIB_ALERTING_RETRY_BASE_DELAY_S": "0.5",
        "RAQIB_ALERTING_RETRY_MAX_DELAY_S": "2",
    },
)
FULL = Variant(
    "full",
    articles=400,
    rate=20.0,
    outage_s=20.0,
    settle_s=180.0,
    session_timeout_s=10.0,
    quiet_s=5.0,
)


def variant() -> Variant:
    """``RAQIB_FAULTS=full`` selects the full variant; anything else the quick one."""
    return FULL if os.environ.get("RAQIB_FAULTS", "").strip().lower() == "full" else QUICK


# --- the account of one experiment ------------------------------------------------------------


@dataclass
class Outcome:
    experiment: str
    variant: str
    sent: int = 0
    indexed: int = 0
    articles_lost: int = 0
    articles_duplicated: int = 0
    alerts_expected: int = 0  # alerts the indexed articles should raise (each on 2 channels)
    alerts_lost: int = 0  # (alert, channel) pairs never received, or not delivered in the log
    deliveries_duplicated_unflagged: int = 0
    deliveries_duplicated_flagged: int = 0
    redeliveries_flagged: int = 0  # receipts marked X-Raqib-Redelivery, duplicates or not
    dead_letters: int = 0
    dead_letters_expected: int = 0
    # From the later of the fault's end and the last article sent until everything came out.
    recovery_s: float | None = None
    services_died: list[str] = field(default_factory=list)  # exited without being killed
    caught_up: bool = False

    @property
    def manual_restart_needed(self) -> bool:
        return bool(self.services_died) or not self.caught_up

    @property
    def passed(self) -> bool:
        return (
            self.articles_lost == 0
            and self.articles_duplicated == 0
            and self.alerts_lost == 0
            and self.deliveries_duplicated_unflagged == 0
            and self.dead_letters == self.dead_letters_expected
            and not self.manual_restart_needed
            and self.sent > 0
            and self.alerts_expected > 0
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "manual_restart_needed": self.manual_restart_needed}

    def check(self) -> None:
        """Fail the experiment, naming every number that is wrong."""
        assert self.passed, f"{self.experiment}: {self.as_dict()}"


# Every outcome of this run, in order, for the summary table at the end.
OUTCOMES: list[Outcome] = []

TABLE_COLUMNS = (
    "experiment",
    "sent",
    "indexed",
    "alerts",
    "lost",
    "duplicates",
    "redeliveries flagged",
    "dead letters",
    "recovery time",
    "result",
)


def table_row(outcome: Outcome) -> list[str]:
    recovery = "—" if outcome.recovery_s is None else f"{outcome.recovery_s:.1f} s"
    lost = outcome.articles_lost + outcome.alerts_lost
    duplicates = outcome.articles_duplicated + outcome.deliveries_duplicated_unflagged
    return [
        outcome.experiment,
        str(outcome.sent),
        str(outcome.indexed),
        str(outcome.alerts_expected),
        str(lost),
        str(duplicates),
        str(outcome.redeliveries_flagged),
        f"{outcome.dead_letters} (expected {outcome.dead_letters_expected})",
        recovery,
        "pass" if outcome.passed else "FAIL",
    ]


def summary_table(outcomes: Sequence[Outcome]) -> str:
    """A Markdown table: one row per experiment."""
    rows = [list(TABLE_COLUMNS), *(table_row(o) for o in outcomes)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(TABLE_COLUMNS))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join([line(rows[0]), line(["-" * w for w in widths]), *(line(r) for r in rows[1:])])


def delivery_duplicates(receipts: Sequence[tuple[str, bool]]) -> tuple[int, int, int]:
    """From (alert id, marked as redelivery) per receipt on one channel: the duplicates
    without the mark, those with it, and every receipt with it. One unmarked receipt per
    alert is the delivery itself; any further unmarked one is a silent duplicate."""
    by_id: dict[str, list[bool]] = {}
    for alert, marked in receipts:
        by_id.setdefault(alert, []).append(marked)
    unflagged = flagged = 0
    for marks in by_id.values():
        extra = len(marks) - 1
        silent = max(0, marks.count(False) - 1)
        unflagged += silent
        flagged += extra - silent
    return unflagged, flagged, sum(marked for _, marked in receipts)


# --- publishing -------------------------------------------------------------------------------


class StreamPublisher:
    """Publishes one record at a time, each acknowledged by every replica. While the broker is
    away a send fails (bounded by a short request timeout); the publisher then drops its
    producer and tries again with a new one, as a client that reconnects would. A record whose
    acknowledgement was lost may so be written twice: at least once, as Kafka promises."""

    def __init__(self, bootstrap_servers: str, timeout: float = 60.0) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.timeout = timeout
        self.producer: AIOKafkaProducer | None = None
        self.failed_sends = 0
        self.acknowledged = 0

    async def send(
        self, topic: str, value: bytes, key: bytes, partition: int | None = None
    ) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                async with asyncio.timeout(10):
                    if self.producer is None:
                        self.producer = AIOKafkaProducer(
                            bootstrap_servers=self.bootstrap_servers,
                            acks="all",
                            enable_idempotence=True,
                            request_timeout_ms=3000,
                            retry_backoff_ms=200,
                            max_request_size=2 * 1024 * 1024,
                        )
                        await self.producer.start()
                    await self.producer.send_and_wait(topic, value, key=key, partition=partition)
                self.acknowledged += 1
                return
            except (KafkaError, TimeoutError, OSError):
                self.failed_sends += 1
                await self.close()
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)

    async def close(self) -> None:
        producer, self.producer = self.producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()


# --- the servers and the pipeline -------------------------------------------------------------


@dataclass
class Servers:
    """The broker and search node the experiments share (and may stop: they are their own)."""

    kafka: LocalKafka
    search: LocalOpenSearch


class Pipeline:
    """One experiment's pipeline: its namespace on the shared servers, its receivers, its
    service processes, its articles."""

    def __init__(
        self, servers: Servers, namespace: str, workdir: Path, serial: int, size: Variant
    ) -> None:
        self.servers = servers
        self.namespace = namespace
        self.workdir = workdir
        self.size = size
        self.kafka = KafkaSettings(
            bootstrap_servers=servers.kafka.bootstrap_servers, partitions=3, prefix=namespace
        )
        self.articles_alias = f"{namespace}raqib-articles"
        self.smtp_port = free_port()
        self.catchers: list[SmtpCatcher] = [SmtpCatcher(port=self.smtp_port).start()]
        self.smtp_up = True
        self.webhook_failing_until = 0.0
        self.webhooks = WebhookReceiver(responder=self._respond).start()
        self.processes: dict[tuple[str, int], subprocess.Popen[bytes]] = {}
        self.killed: set[tuple[str, int]] = set()
        templates = load_templates(SEEDS)
        self.articles = synthetic_articles(templates, size.articles, first_serial=serial)
        self.extra_records: list[tuple[bytes, bytes]] = []  # bad records, sent mid-stream
        self.publisher = StreamPublisher(self.kafka.bootstrap_servers)
        self.fault_ended_at: float | None = None
        self.stream_ended_at: float | None = None
        rules = workdir / "rules.yaml"
        rules.write_text(
            f"""
channels:
  desk-email: {{kind: email, to: ["desk@raqib.example"]}}
  desk-hook: {{kind: webhook, url: "{self.webhooks.url}", timeout_s: 5}}
rules:
  - id: {RULE_ID}
    name: Deterrence
    match: {{actors: {{any: [{WATCHED_ACTOR}]}}}}
    channels: [desk-email, desk-hook]
""",
            encoding="utf-8",
        )
        self.rules = rules

    def _respond(self, _seen: list[ReceivedRequest], _request: ReceivedRequest) -> int:
        return 500 if time.monotonic() < self.webhook_failing_until else 200

    # --- services

    def env(self, stage: str, replica: int) -> dict[str, str]:
        return {
            **os.environ,
            "RAQIB_KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap_servers,
            "RAQIB_KAFKA_PREFIX": self.namespace,
            "RAQIB_KAFKA_INSTANCE_ID": f"{stage}-{replica}",
            "RAQIB_KAFKA_SESSION_TIMEOUT_S": str(self.size.session_timeout_s),
            "RAQIB_ES_URL": self.servers.search.url,
            "RAQIB_ES_ARTICLES_ALIAS": self.articles_alias,
            "RAQIB_ES_ALERTS_ALIAS": f"{self.namespace}raqib-alerts",
            "RAQIB_ALERTING_RULES_FILE": str(self.rules),
            "RAQIB_ALERTING_STATE_FILE": str(self.workdir / f"alerting-{replica}.sqlite3"),
            "RAQIB_ALERTING_ALLOW_PRIVATE_TARGETS": "true",
            "RAQIB_SMTP_HOST": "127.0.0.1",
            "RAQIB_SMTP_PORT": str(self.smtp_port),
            "RAQIB_SMTP_TIMEOUT_S": "5",
            "PYTHONUNBUFFERED": "1",
            **self.size.alerting_env,
        }

    def log(self, stage: str, replica: int) -> Path:
        return self.workdir / f"{stage}-{replica}.log"

    def start(self, stage: str, replica: int = 0) -> None:
        self.processes[(stage, replica)] = start_service(
            stage, self.env(stage, replica), self.log(stage, replica)
        )
        self.killed.discard((stage, replica))

    def start_all(self, replicas: int = 1) -> None:
        for stage in STAGES:
            for replica in range(replicas):
                self.start(stage, replica)

    def kill(self, stage: str, replica: int = 0) -> None:
        """kill -9: a crash."""
        self.killed.add((stage, replica))
        stop_service(self.processes[(stage, replica)], signal.SIGKILL)

    def restart(self, stage: str, replica: int = 0) -> None:
        self.kill(stage, replica)
        self.start(stage, replica)

    def died(self) -> list[str]:
        """Services that exited although no experiment stopped them."""
        return [
            f"{stage}-{replica} (code {proc.returncode})"
            for (stage, replica), proc in self.processes.items()
            if (stage, replica) not in self.killed and proc.poll() is not None
        ]

    def close(self) -> None:
        for key, proc in self.processes.items():
            if proc.poll() is None:
                stop_service(proc, signal.SIGTERM)
            self.killed.add(key)
        self.webhooks.stop()
        for catcher in self.catchers:
            with contextlib.suppress(Exception):
                catcher.stop()

    # --- faults on the receivers

    def smtp_down(self) -> None:
        self.catchers[-1].stop()
        self.smtp_up = False

    def smtp_back(self) -> None:
        self.catchers.append(SmtpCatcher(port=self.smtp_port).start())
        self.smtp_up = True

    @property
    def emails(self) -> list[EmailMessage]:
        return [message for catcher in self.catchers for message in catcher.messages]

    # --- the stream

    async def stream(self, fault: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Publish the articles: a tenth first, until one is indexed and its alert delivered
        (the pipeline is warm), then the rest at the variant's rate; ``fault`` runs once half
        are out, while the stream goes on. Bad records (``extra_records``) go out halfway."""
        topic = self.kafka.topic(ARTICLES_RAW)
        warm = max(1, len(self.articles) // 10)
        half = len(self.articles) // 2
        for article in self.articles[:warm]:
            await self._send(topic, article)
        await self._until_warm()
        faulting: asyncio.Task[None] | None = None
        try:
            for index, article in enumerate(self.articles[warm:], warm):
                if index == half:
                    for key, value in self.extra_records:
                        await self.publisher.send(topic, value, key)
                    faulting = asyncio.create_task(fault())
                await self._send(topic, article)
                await asyncio.sleep(1 / self.size.rate)
            self.stream_ended_at = time.monotonic()
            if faulting is not None:
                await faulting
        finally:
            if faulting is not None and not faulting.done():
                faulting.cancel()
            await self.publisher.close()

    async def _send(self, topic: str, article: RawArticle) -> None:
        await self.publisher.send(topic, article.model_dump_json().encode(), article.id.encode())

    async def _until_warm(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert not self.died(), f"a service died while starting: {self.died()}"
            if await self._indexed_ids() and self.webhooks.accepted:
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"the pipeline did not warm up in {timeout:.0f}s: {self.workdir}")

    # --- what came out

    async def _indexed(self) -> list[dict[str, Any]]:
        """Every document of the articles alias (``_id`` and actors), duplicates kept."""
        url = self.servers.search.url
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            await http.post(f"/{self.articles_alias}/_refresh")
            answer = await http.post(
                f"/{self.articles_alias}/_search",
                json={
                    "size": 10 * len(self.articles) + 100,
                    "_source": ["actors"],
                    "query": {"match_all": {}},
                },
            )
            if answer.status_code == 404:  # no index yet
                return []
            answer.raise_for_status()
            hits: list[dict[str, Any]] = answer.json()["hits"]["hits"]
            return hits

    async def _indexed_ids(self) -> list[str]:
        with contextlib.suppress(httpx.HTTPError):
            return [hit["_id"] for hit in await self._indexed()]
        return []

    def expected_alerts(self, hits: list[dict[str, Any]]) -> set[str]:
        sent = {a.id for a in self.articles}
        return {
            alert_id(RULE_ID, hit["_id"])
            for hit in hits
            if hit["_id"] in sent and WATCHED_ACTOR in hit["_source"].get("actors", [])
        }

    def receipts(self) -> dict[str, list[tuple[str, bool]]]:
        """Per channel: (alert id, marked as a redelivery) for every message received."""
        return {
            "email": [
                (str(m["X-Raqib-Alert-Id"]), str(m.get(REDELIVERY, "")) == "true")
                for m in self.emails
            ],
            "webhook": [
                (r.headers.get("X-Raqib-Alert-Id", ""), r.headers.get(REDELIVERY) == "true")
                for r in self.webhooks.accepted
            ],
        }

    async def _caught_up(self) -> bool:
        hits = await self._indexed()
        sent = {a.id for a in self.articles}
        if not sent <= {hit["_id"] for hit in hits}:
            return False
        expected = self.expected_alerts(hits)
        for receipts in self.receipts().values():
            if not expected <= {alert for alert, _ in receipts}:
                return False
        for group, topic in GROUPS:
            lag = await group_lag(
                self.kafka.bootstrap_servers, self.kafka.group(group), self.kafka.topic(topic)
            )
            if lag:
                return False
        return True

    async def outcome(self, experiment: str, dead_letters_expected: int = 0) -> Outcome:
        """Wait (no service touched) until everything came out or the deadline passed,
        wait a little more for late duplicates, then count."""
        ended = max(self.fault_ended_at or 0.0, self.stream_ended_at or 0.0) or time.monotonic()
        deadline = time.monotonic() + self.size.settle_s
        caught_up = False
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):  # a server may still be coming back
                if await self._caught_up():
                    caught_up = True
                    break
            if self.died():
                break
            await asyncio.sleep(0.5)
        recovery = round(time.monotonic() - ended, 1) if caught_up else None
        await asyncio.sleep(self.size.quiet_s)  # time for a late duplicate to show up
        hits = await self._indexed()
        sent = {a.id for a in self.articles}
        counts = Counter(hit["_id"] for hit in hits if hit["_id"] in sent)
        expected = self.expected_alerts(hits)
        outcome = Outcome(
            experiment,
            self.size.name,
            sent=len(sent),
            indexed=len(counts),
            articles_lost=len(sent - set(counts)),
            articles_duplicated=sum(n - 1 for n in counts.values()),
            alerts_expected=len(expected),
            dead_letters_expected=dead_letters_expected,
            recovery_s=recovery,
            services_died=self.died(),
            caught_up=caught_up,
        )
        for receipts in self.receipts().values():
            ours = [(alert, marked) for alert, marked in receipts if alert in expected]
            outcome.alerts_lost += len(expected - {alert for alert, _ in ours})
            unflagged, flagged, marked = delivery_duplicates(ours)
            outcome.deliveries_duplicated_unflagged += unflagged
            outcome.deliveries_duplicated_flagged += flagged
            outcome.redeliveries_flagged += marked
        outcome.alerts_lost += await self._undelivered_on_the_log(expected)
        for stage in STAGES:
            outcome.dead_letters += len(
                await read_topic(
                    self.kafka.bootstrap_servers, self.kafka.dead_letter_topic(stage), timeout=3
                )
            )
        OUTCOMES.append(outcome)
        return outcome

    async def _undelivered_on_the_log(self, expected: set[str]) -> int:
        """(alert, channel) pairs the alert log does not show delivered in the end."""
        latest: dict[str, Alert] = {}
        for record in await read_topic(
            self.kafka.bootstrap_servers, self.kafka.topic(ALERTS), timeout=5
        ):
            if record.value is not None:
                state = Alert.model_validate_json(record.value)
                latest[state.id] = state
        missing = 0
        for expected_id in expected:
            found = latest.get(expected_id)
            delivered = (
                0
                if found is None
                else sum(d.status is DeliveryStatus.DELIVERED for d in found.deliveries)
            )
            missing += len(CHANNELS) - delivered
        return missing


@contextlib.asynccontextmanager
async def pipeline(
    servers: Servers, namespace: str, workdir: Path, serial: int
) -> AsyncIterator[Pipeline]:
    running = Pipeline(servers, namespace, workdir, serial, variant())
    try:
        yield running
    finally:
        running.close()


async def outage(pipe: Pipeline, down: Callable[[], object], back: Callable[[], object]) -> None:
    """``down``, the variant's outage, ``back`` (each may block: run in a thread)."""
    await asyncio.to_thread(down)
    await asyncio.sleep(pipe.size.outage_s)
    await asyncio.to_thread(back)
    pipe.fault_ended_at = time.monotonic()
