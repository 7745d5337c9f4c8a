"""Kafka plumbing every stage shares: topic names, topic creation, the broker, dead letters.

Delivery is at-least-once: subscribers use ``AckPolicy.NACK_ON_ERROR``, so an offset is
committed only after the handler returned (its effect done). A batch stage validates each record
itself and dead-letters the bad ones (``publish_dead_letter``); a batch that fails as a whole is
re-raised after a backoff (``RetryBackoffMiddleware``), its offsets are not committed and it is
read again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import traceback
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeAlias

from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream import AckPolicy, BaseMiddleware
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.security import parse_security
from faststream.message import StreamMessage
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from prometheus_client import Counter

from services.common.errors import ConfigError
from services.common.settings import BatchConsumerSettings, KafkaSettings

ARTICLES_RAW = "articles.raw"
ARTICLES_ENRICHED = "articles.enriched"
ALERTS = "alerts"


MESSAGES = Counter(
    "raqib_messages_total",
    "Messages handled by a stage, by outcome (ok, dead_lettered, retried).",
    ["stage", "outcome"],
)

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
        metadata_max_age_ms=milliseconds(settings.metadata_max_age_s),  # see new partitions
    )


def make_broker(settings: KafkaSettings, *, stage: str) -> KafkaBroker:
    """The stage's broker, with its retry-backoff middleware already installed."""
    broker = KafkaBroker(
        settings.bootstrap_servers,
        client_id=f"raqib-{stage}",
        acks="all",
        enable_idempotence=settings.enable_idempotence,
        max_batch_size=settings.producer_batch_bytes,
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


async def _undecoded(msg: StreamMessage[Any]) -> None:
    # A batch stage validates every record itself, so one bad record does not fail its batch:
    # FastStream must not parse the batch as JSON.
    return None


def subscribe_batches(
    broker: KafkaBroker,
    topic: str,
    consumer: BatchConsumerSettings,
    handle: Callable[[tuple[Any, ...]], Awaitable[None]],
    *,
    group_id: str | None = None,
) -> None:
    """A batch stage's subscriber on ``topic`` (its cluster name): ``handle`` gets the raw
    records of each poll (aiokafka ``ConsumerRecord``s, undecoded) and the batch is committed
    only after it returned. A new group reads the topic from its start. ``group_id`` stands in
    for the consumer's own group where a stage reads two topics."""
    kafka = consumer.kafka

    @broker.subscriber(
        topic,
        group_id=kafka.group(group_id or consumer.group_id),
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        batch=True,
        max_records=consumer.batch_size,
        batch_timeout_ms=milliseconds(consumer.batch_timeout_s),
        fetch_max_wait_ms=milliseconds(kafka.fetch_max_wait_s),
        decoder=_undecoded,
    )
    async def handle_batch(msg: KafkaMessage) -> None:
        records = msg.raw_message
        await handle(records if isinstance(records, tuple) else (records,))


async def ensure_topics(settings: KafkaSettings, topics: Iterable[str]) -> None:
    """Create the topics a stage uses when they are missing; existing ones are left alone.

    ``topics`` are the cluster's names, prefix included (``settings.topic(...)``).
    """
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, settings.partitions, settings.replication_factor)
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


# A consumed record as a batch handler gets it, undecoded.
Record: TypeAlias = ConsumerRecord[Any, Any]
# Send one consumed record to the stage's dead-letter topic with its error type and message.
DeadLetter = Callable[[Record, str, str], Awaitable[None]]


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
    batch stages call this once per bad record.
    """
    key = getattr(source, "key", None)
    await broker.publish(
        value,
        settings.dead_letter_topic(stage),
        key=key,
        headers=dead_letter_headers(stage, source, error_type, error),
    )
    MESSAGES.labels(stage, "dead_lettered").inc()
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
        },
    )


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
