"""Kafka plumbing every stage shares: topic names, topic creation, the broker, dead letters.

Delivery is at-least-once: subscribers use ``AckPolicy.NACK_ON_ERROR``, so an offset is
committed only after the handler returned (its effect done). A batch stage validates each record
itself and dead-letters the bad ones (``publish_dead_letter``). A batch that fails as a whole
because the world around it failed (``is_environmental``) is re-raised after a backoff
(``RetryBackoffMiddleware``), its offsets are not committed and it is read again; one that fails
for any other reason is split in halves until the record at fault is found, and that record
alone is dead-lettered (``PoisonIsolation``).

Sizes are one number, ``KafkaSettings.max_record_bytes``: the producers' largest request, the
``max.message.bytes`` of the topics Raqib creates, and the largest dead letter (a larger one
keeps its head, its size and its SHA-256: ``dead_letter_head``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import socket
import sqlite3
import ssl
import traceback
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, TypeAlias

from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    ProducerClosed,
    RecordListTooLargeError,
    TopicAlreadyExistsError,
)
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from faststream import AckPolicy, BaseMiddleware
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.security import parse_security
from faststream.message import StreamMessage
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from prometheus_client import Counter

from services.common.errors import ConfigError, TransientError
from services.common.settings import BatchConsumerSettings, KafkaSettings

ARTICLES_RAW = "articles.raw"
ARTICLES_ENRICHED = "articles.enriched"
ALERTS = "alerts"


MESSAGES = Counter(
    "raqib_messages_total",
    "Messages handled by a stage, by outcome (ok, dead_lettered, retried).",
    ["stage", "outcome"],
)
SPLIT_BATCHES = Counter(
    "raqib_split_batches_total",
    "Batches that failed for a reason other than their surroundings and were split in halves "
    "to find the record at fault, by consumer group.",
    ["group"],
)
DEAD_LETTERS = Counter(
    "raqib_dead_letters_total",
    "Records written to a stage's dead-letter topic, by stage and error type.",
    ["stage", "error_type"],
)
POISON_RECORDS = Counter(
    "raqib_poison_records_total",
    "Records dead-lettered because they failed on their own, again and again, by consumer group.",
    ["group"],
)

# A dead letter too large for its topic keeps this much of the value (at most a quarter of the
# record limit): enough to recognise the record, with its size and SHA-256 in the headers.
DEAD_LETTER_HEAD_BYTES = 64 * 1024

log = logging.getLogger("raqib.kafka")


_SASL_KINDS: dict[str, type[SASLPlaintext | SASLScram256 | SASLScram512]] = {
    "PLAIN": SASLPlaintext,
    "SCRAM-SHA-256": SASLScram256,
    "SCRAM-SHA-512": SASLScram512,
}


def kafka_security(settings: KafkaSettings) -> BaseSecurity | None:
    """TLS and SASL as the settings ask (None: plaintext); ConfigError for what we cannot do."""
    protocol = settings.security_protocol.upper()
    if protocol not in {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}:
        raise ConfigError(f"RAQIB_KAFKA_SECURITY_PROTOCOL: unknown protocol {protocol!r}")
    use_ssl = protocol in {"SSL", "SASL_SSL"}
    ssl_context = ssl.create_default_context() if use_ssl else None
    if settings.sasl_mechanism is None:
        if protocol.startswith("SASL_"):
            raise ConfigError(
                f"RAQIB_KAFKA_SECURITY_PROTOCOL={protocol} needs RAQIB_KAFKA_SASL_MECHANISM"
            )
        return BaseSecurity(ssl_context, use_ssl=True) if use_ssl else None
    kind = _SASL_KINDS.get(settings.sasl_mechanism.upper())
    if kind is None:
        raise ConfigError(
            f"RAQIB_KAFKA_SASL_MECHANISM: {settings.sasl_mechanism!r} is not one of "
            f"{sorted(_SASL_KINDS)}"
        )
    password = settings.sasl_password.get_secret_value() if settings.sasl_password else ""
    return kind(
        username=settings.sasl_username or "",
        password=password,
        ssl_context=ssl_context,
        use_ssl=use_ssl,
    )


def client_options(settings: KafkaSettings) -> dict[str, Any]:
    """Servers and security for an aiokafka client made outside the broker (topic admin,
    one-shot producers), so every connection authenticates the same way."""
    return {
        "bootstrap_servers": settings.bootstrap_servers,
        **parse_security(kafka_security(settings)),
    }


def standalone_producer(settings: KafkaSettings) -> AIOKafkaProducer:
    """A producer outside any stage's broker (``raqib replay``, ``raqib fetch``): the same
    servers and security, every replica acknowledging."""
    return AIOKafkaProducer(
        **client_options(settings),
        acks="all",
        enable_idempotence=settings.enable_idempotence,
        max_request_size=settings.max_record_bytes,
        metadata_max_age_ms=milliseconds(settings.metadata_max_age_s),  # see new partitions
    )


def make_broker(settings: KafkaSettings, *, stage: str) -> KafkaBroker:
    """The stage's broker, with its retry-backoff middleware already installed."""
    broker = KafkaBroker(
        settings.bootstrap_servers,
        client_id=f"raqib-{stage}",
        acks="all",
        enable_idempotence=settings.enable_idempotence,
        # A record larger than the limit is refused before it is sent; a batch of several is
        # never larger than the limit either, so the broker refuses none of them.
        max_request_size=settings.max_record_bytes,
        max_batch_size=min(settings.producer_batch_bytes, settings.max_record_bytes),
        linger_ms=milliseconds(settings.producer_linger_s),
        # Broker-level: FastStream hands it to the producer and to every subscriber's consumer.
        metadata_max_age_ms=milliseconds(settings.metadata_max_age_s),
        security=kafka_security(settings),
        logger=app_logger(stage),
        log_level=logging.DEBUG,  # per-message "Received/Processed" lines are noise at INFO
    )
    broker.add_middleware(retry_backoff_middleware(stage))
    return broker


def app_logger(stage: str) -> logging.Logger:
    """The logger FastStream's app and broker write to, so their lines are JSON too."""
    return logging.getLogger(f"raqib.{stage}.faststream")


Handler = Callable[..., Awaitable[None]]


# A consumed record as a batch handler gets it, undecoded.
Record: TypeAlias = ConsumerRecord[Any, Any]
# Send one consumed record to the stage's dead-letter topic with its error type and message.
DeadLetter = Callable[[Record, str, str], Awaitable[None]]


class BatchHandler(Protocol):
    """A batch stage's handler: it dead-letters the records it finds bad itself (with
    ``dead_letter``), and raises when the batch must not be committed."""

    @property
    def dead_letter(self) -> DeadLetter: ...

    async def __call__(self, records: Sequence[Record]) -> None: ...


async def _undecoded(msg: StreamMessage[Any]) -> None:
    # A batch stage validates every record itself, so one bad record does not fail its batch:
    # FastStream must not parse the batch as JSON.
    return None


def subscribe_batches(
    broker: KafkaBroker,
    topic: str,
    consumer: BatchConsumerSettings,
    handle: BatchHandler,
    *,
    group_id: str | None = None,
) -> None:
    """A batch stage's subscriber on ``topic`` (its cluster name): ``handle`` gets the raw
    records of each poll (aiokafka ``ConsumerRecord``s, undecoded) and the batch is committed
    only after it returned. A batch ``handle`` cannot get past is split to find the record at
    fault, which goes to ``handle.dead_letter`` (``PoisonIsolation``). A new group reads the
    topic from its start. ``group_id`` stands in for the consumer's own group where a stage
    reads two topics. With ``KafkaSettings.instance_id`` the consumer is a static member of
    its group: a replica restarted within the session timeout gets its partitions back
    without a rebalance (and, as a static member, does not leave the group when it stops)."""
    kafka = consumer.kafka
    group = kafka.group(group_id or consumer.group_id)
    isolated = PoisonIsolation(handle, attempts=kafka.poison_attempts, group=group)

    @broker.subscriber(
        topic,
        group_id=group,
        auto_offset_reset="earliest",
        # A transaction that did not commit (an interrupted ``raqib dlq replay``) is never read.
        isolation_level="read_committed",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        batch=True,
        max_records=consumer.batch_size,
        batch_timeout_ms=milliseconds(consumer.batch_timeout_s),
        fetch_max_wait_ms=milliseconds(kafka.fetch_max_wait_s),
        group_instance_id=group_instance_id(kafka, group),
        session_timeout_ms=milliseconds(kafka.session_timeout_s),
        heartbeat_interval_ms=milliseconds(min(3.0, kafka.session_timeout_s / 3)),
        decoder=_undecoded,
    )
    async def handle_batch(msg: KafkaMessage) -> None:
        records = msg.raw_message
        await isolated(records if isinstance(records, tuple) else (records,))


def group_instance_id(settings: KafkaSettings, group: str) -> str | None:
    """The static membership id (KIP-345) of this replica in ``group`` (its cluster name),
    or None for dynamic membership. The group is part of it, so the groups of one process
    (the indexer has two) each have their own; ``{hostname}`` in the setting becomes the
    host's name, which Docker keeps across a container's restarts and gives each replica of
    ``--scale`` its own."""
    if not settings.instance_id:
        return None
    instance = settings.instance_id.replace("{hostname}", socket.gethostname())
    return f"{instance}-{group}"


async def ensure_topics(settings: KafkaSettings, topics: Iterable[str]) -> None:
    """Create the topics a stage uses when they are missing; existing ones are left alone.

    ``topics`` are the cluster's names, prefix included (``settings.topic(...)``). A topic is
    created to take records up to ``max_record_bytes``, the producers' limit.
    """
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(
                name,
                settings.partitions,
                settings.replication_factor,
                topic_configs=topic_configs(settings),
            )
            for name in dict.fromkeys(topics)
            if name not in existing
        ]
        if missing:
            # Another replica may create one between our list and our create.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
            log.info("created topics", extra={"topics": [t.name for t in missing]})
    finally:
        await admin.close()


def topic_configs(settings: KafkaSettings) -> dict[str, str]:
    """The configuration of a topic Raqib creates."""
    return {"max.message.bytes": str(settings.max_record_bytes)}


def is_too_large(error: BaseException) -> bool:
    """The producer or the broker refused a record for its size: sending it again cannot help."""
    return isinstance(error, MessageSizeTooLargeError | RecordListTooLargeError)


def record_bytes(key: bytes | None, value: bytes, headers: Mapping[str, str]) -> int:
    """The size of a record sent alone, as the producer counts it against its limit."""
    return int(
        DefaultRecordBatchBuilder.estimate_size_in_bytes(
            key, value, [(name, text.encode()) for name, text in headers.items()]
        )
    )


def dead_letter_head(
    value: bytes, headers: Mapping[str, str], max_record_bytes: int
) -> tuple[bytes, dict[str, str]]:
    """What goes to a dead-letter topic instead of a value too large for it: its first bytes,
    with headers that say so and carry the whole value's size and SHA-256."""
    head = value[: min(DEAD_LETTER_HEAD_BYTES, max_record_bytes // 4)]
    return head, {
        **headers,
        "x-raqib-value-truncated": "true",
        "x-raqib-value-bytes": str(len(value)),
        "x-raqib-value-sha256": hashlib.sha256(value).hexdigest(),
    }


def dead_letter_headers(stage: str, source: Any, error_type: str, error: str) -> dict[str, str]:
    """The ``x-raqib-*`` headers of a dead-letter record; ``source`` is the consumed record."""
    return {
        "x-raqib-stage": stage,
        "x-raqib-error-type": error_type,
        "x-raqib-error": error[:4000],
        "x-raqib-source-topic": str(getattr(source, "topic", "")),
        "x-raqib-source-partition": str(getattr(source, "partition", "")),
        "x-raqib-source-offset": str(getattr(source, "offset", "")),
        "x-raqib-failed-at": datetime.now(UTC).isoformat(),
    }


def dead_letterer(broker: KafkaBroker, settings: KafkaSettings, stage: str) -> DeadLetter:
    """The stage's ``DeadLetter``: the record's own bytes to ``<stage>.dlq``."""

    async def dead_letter(record: Record, error_type: str, error: str) -> None:
        await publish_dead_letter(
            broker, settings, stage, record, record.value or b"", error_type, error
        )

    return dead_letter


async def publish_dead_letter(
    broker: KafkaBroker,
    settings: KafkaSettings,
    stage: str,
    source: Any,
    value: bytes,
    error_type: str,
    error: str,
) -> None:
    """Write ``value`` (the consumed bytes, untouched) to the stage's dead-letter topic.

    Keeping the value as it was lets an operator re-drive it; the error travels in
    ``x-raqib-*`` headers. ``source`` is the consumed record (topic, partition, offset, key);
    batch stages call this once per bad record. A value the topic cannot take (larger than
    ``max_record_bytes``, or refused by a topic made with a smaller limit) is written as its
    head, size and SHA-256 (``dead_letter_head``), so a dead letter is never refused for its
    size.
    """
    key = getattr(source, "key", None)
    topic = settings.dead_letter_topic(stage)
    headers = dead_letter_headers(stage, source, error_type, error)
    whole = record_bytes(key, value, headers) <= settings.max_record_bytes
    sent, sent_headers = (
        (value, headers) if whole else dead_letter_head(value, headers, settings.max_record_bytes)
    )
    try:
        await broker.publish(sent, topic, key=key, headers=sent_headers)
    except Exception as refused:
        if not (whole and is_too_large(refused)):
            raise
        whole = False
        sent, sent_headers = dead_letter_head(value, headers, settings.max_record_bytes)
        await broker.publish(sent, topic, key=key, headers=sent_headers)
    MESSAGES.labels(stage, "dead_lettered").inc()
    DEAD_LETTERS.labels(stage, error_type).inc()
    log.warning(
        "dead-lettered message",
        extra={
            "stage": stage,
            "source_topic": getattr(source, "topic", None),
            "partition": getattr(source, "partition", None),
            "offset": getattr(source, "offset", None),
            "key": key.decode("utf-8", "replace") if isinstance(key, bytes) else key,
            "error_type": error_type,
            "error": error[:500],
            "bytes": len(value),
            "truncated": not whole,
        },
    )


def is_environmental(error: BaseException) -> bool:
    """A failure of what surrounds the stage (a server, the network, the disk, a shutdown):
    the batch is read again as it is, and no record of it is suspected."""
    if isinstance(
        error,
        TransientError | OSError | sqlite3.OperationalError | KafkaTimeoutError | ProducerClosed,
    ):
        return True
    return isinstance(error, KafkaError) and bool(error.retriable)


RecordId: TypeAlias = tuple[str, int, int]  # topic, partition, offset


class PoisonIsolation:
    """A stage's batch handler, made to get past a record it fails on again and again.

    A batch that fails for a reason other than its surroundings (``is_environmental``: those
    are retried whole, after the backoff) is split in halves, and each half handled on its
    own, halving again what fails, until the records that fail alone are found. The halves
    that succeed are done; a record that fails alone is tried alone again at once, and after
    ``attempts`` failures in a row, the same way, it is dead-lettered (its head if it is too
    large) with the error; then the batch returns and is committed. A record that comes alone
    cannot be compared with others: it is dead-lettered after failing the same way in
    ``attempts`` deliveries in a row (the backoff between them), which these instances count.
    When every record of a batch fails alone, the stage, not a record, is at fault: nothing is
    dead-lettered and the batch is read again after the backoff. So a handler's outputs are
    published at most once per half that contains them, within one delivery, never in a loop.
    """

    def __init__(
        self, handle: BatchHandler, *, attempts: int, group: str, remembered: int = 1024
    ) -> None:
        self.handle = handle
        self.attempts = attempts
        self.group = group
        self.remembered = remembered
        # Records that came alone and failed: (error type, deliveries in a row it failed).
        self._alone: OrderedDict[RecordId, tuple[str, int]] = OrderedDict()

    async def __call__(self, records: Sequence[Record]) -> None:
        failure = await self._attempt(records)
        if failure is None:
            return
        if len(records) == 1:
            await self._came_alone(records[0], failure)
            return
        SPLIT_BATCHES.labels(self.group).inc()
        log.warning(
            "batch failed; splitting it to find the record at fault",
            extra={
                "group": self.group,
                "records": len(records),
                "first_offset": records[0].offset,
                "error": f"{type(failure).__name__}: {failure}",
            },
        )
        suspects = await self._split(records)
        if len(suspects) == len(records):
            raise failure  # each fails alone: the stage is at fault, not a record
        for record, error in suspects:
            await self._try_alone(record, error, batch=len(records))

    async def _attempt(self, records: Sequence[Record]) -> Exception | None:
        """Handle ``records``; the error if it failed, unless their surroundings failed."""
        try:
            await self.handle(records)
        except Exception as error:
            if is_environmental(error):
                raise
            return error
        if self._alone:
            for record in records:
                self._alone.pop(_record_id(record), None)
        return None

    async def _split(self, records: Sequence[Record]) -> list[tuple[Record, Exception]]:
        """The records of a failed batch that fail alone, with their error, found by handling
        halves (those that succeed are done)."""
        middle = len(records) // 2
        suspects: list[tuple[Record, Exception]] = []
        for half in (records[:middle], records[middle:]):
            error = await self._attempt(half)
            if error is None:
                continue
            suspects += [(half[0], error)] if len(half) == 1 else await self._split(half)
        return suspects

    async def _try_alone(self, record: Record, error: Exception, *, batch: int) -> None:
        """Try a record that failed alone again until it succeeds or has failed ``attempts``
        times in a row the same way (twice that in all, whatever the ways); then it is
        dead-lettered."""
        same = failures = 1
        while same < self.attempts and failures < 2 * self.attempts:
            again = await self._attempt((record,))
            if again is None:
                return
            failures += 1
            same = same + 1 if type(again) is type(error) else 1
            error = again
        await self._dead_letter(record, error, failures=failures, batch=batch)

    async def _came_alone(self, record: Record, error: Exception) -> None:
        key = _record_id(record)
        kind, count = self._alone.pop(key, ("", 0))
        count = count + 1 if kind == type(error).__name__ else 1
        if count < self.attempts:
            self._alone[key] = (type(error).__name__, count)
            while len(self._alone) > self.remembered:
                self._alone.popitem(last=False)
            raise error
        await self._dead_letter(record, error, failures=count, batch=1)

    async def _dead_letter(
        self, record: Record, error: Exception, *, failures: int, batch: int
    ) -> None:
        where = "it came alone" if batch == 1 else f"it came in a batch of {batch}"
        message = f"failed {failures} times on its own ({where}): {error}"
        await self.handle.dead_letter(record, type(error).__name__, message)
        POISON_RECORDS.labels(self.group).inc()
        log.error(
            "dead-lettered the record at fault in a failing batch",
            extra={
                "group": self.group,
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "failures": failures,
                "batch": batch,
                "error": f"{type(error).__name__}: {error}",
            },
        )


def _record_id(record: Record) -> RecordId:
    return (record.topic, record.partition, record.offset)


def retry_backoff_middleware(stage: str, *, max_backoff: float = 30.0) -> type[BaseMiddleware]:
    """The middleware that counts a stage's batches and, when one fails as a whole, waits
    before it is read again: 0.4 s, doubling with each failure in a row, at most ``max_backoff``.
    """
    failures = 0  # consecutive failures of this stage: drives the backoff

    class RetryBackoffMiddleware(BaseMiddleware):
        async def consume_scope(self, call_next: Any, msg: StreamMessage[Any]) -> Any:
            nonlocal failures
            try:
                result = await call_next(msg)
            except Exception as error:
                failures += 1
                delay = min(max_backoff, 0.2 * 2 ** min(failures, 8))
                MESSAGES.labels(stage, "retried").inc()
                log.warning(
                    "processing failed, will retry",
                    extra={
                        "stage": stage,
                        "offset": getattr(msg.raw_message, "offset", None),
                        "error": f"{type(error).__name__}: {error}",
                        "retry_in_s": delay,
                        "trace": traceback.format_exc(limit=3),
                    },
                )
                await asyncio.sleep(delay)
                raise
            failures = 0
            MESSAGES.labels(stage, "ok").inc()
            return result

    return RetryBackoffMiddleware


def milliseconds(seconds: float) -> int:
    """A duration in seconds (Raqib's settings) as the Kafka clients take it."""
    return round(seconds * 1000)
