"""Kafka plumbing every stage shares: topic names, topic creation, the broker, dead letters.

Delivery is at-least-once: subscribers use ``AckPolicy.NACK_ON_ERROR``, so an offset is
committed only after the handler returned (its effect done). ``DeadLetterMiddleware`` turns a
permanent failure into a dead-letter record and lets the offset advance; a transient failure is
re-raised after a backoff, the offset is not committed and the message is read again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import traceback
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import MessageSizeTooLargeError, TopicAlreadyExistsError
from faststream import AckPolicy, BaseMiddleware
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.security import parse_security
from faststream.message import StreamMessage
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from prometheus_client import Counter
from pydantic import ValidationError

from services.common.errors import ConfigError, PermanentError
from services.common.settings import KafkaSettings

ARTICLES_RAW = "articles.raw"
ARTICLES_ENRICHED = "articles.enriched"
ALERTS = "alerts"


# Failures that no retry can cure: the message goes to the dead-letter topic.
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (
    ValidationError,  # the message breaks the event contract
    PermanentError,  # a stage said so
    UnicodeDecodeError,
    MessageSizeTooLargeError,  # what the stage would publish can never fit the broker's limit
)


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
        metadata_max_age_ms=settings.metadata_max_age_ms,  # see partitions added in time
    )


def make_broker(settings: KafkaSettings, *, stage: str) -> KafkaBroker:
    """The stage's broker, with its dead-letter middleware already installed."""
    broker = KafkaBroker(
        settings.bootstrap_servers,
        client_id=f"raqib-{stage}",
        acks="all",
        enable_idempotence=settings.enable_idempotence,
        max_batch_size=settings.producer_batch_bytes,
        linger_ms=settings.producer_linger_ms,
        # Broker-level: FastStream hands it to the producer and to every subscriber's consumer.
        metadata_max_age_ms=settings.metadata_max_age_ms,
        security=kafka_security(settings),
        logger=app_logger(stage),
        log_level=logging.DEBUG,  # per-message "Received/Processed" lines are noise at INFO
    )
    broker.add_middleware(dead_letter_middleware(stage, broker, settings))
    return broker


def app_logger(stage: str) -> logging.Logger:
    """The logger FastStream's app and broker write to, so their lines are JSON too."""
    return logging.getLogger(f"raqib.{stage}.faststream")


Handler = Callable[..., Awaitable[None]]


def stage_subscriber(
    broker: KafkaBroker, topic: str, *, group_id: str, **options: Any
) -> Callable[[Handler], object]:
    """A stage's subscriber, with the delivery policy every stage shares: a new group reads
    the topic from its start, and an offset is committed only after the handler returned."""
    subscriber: Callable[[Handler], object] = broker.subscriber(
        topic,
        group_id=group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        **options,
    )
    return subscriber


async def _undecoded(msg: StreamMessage[Any]) -> None:
    # A batch stage validates every record itself, so one bad record does not fail its batch:
    # FastStream must not parse the batch as JSON.
    return None


def subscribe_batches(
    broker: KafkaBroker,
    topic: str,
    *,
    group_id: str,
    max_records: int,
    batch_timeout_ms: int,
    fetch_max_wait_ms: int,
    handle: Callable[[tuple[Any, ...]], Awaitable[None]],
) -> None:
    """A batch stage's subscriber: ``handle`` gets the raw records of each poll (aiokafka
    ``ConsumerRecord``s, undecoded), and the batch is committed only after it returned."""

    @stage_subscriber(
        broker,
        topic,
        group_id=group_id,
        batch=True,
        max_records=max_records,
        batch_timeout_ms=batch_timeout_ms,
        fetch_max_wait_ms=fetch_max_wait_ms,
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


def dead_letter_middleware(
    stage: str, broker: KafkaBroker, settings: KafkaSettings, *, max_backoff: float = 30.0
) -> type[BaseMiddleware]:
    """Build the middleware class that routes one stage's failures (see module docstring)."""
    failures = 0  # consecutive transient failures of this stage: drives the backoff

    class DeadLetterMiddleware(BaseMiddleware):
        async def consume_scope(self, call_next: Any, msg: StreamMessage[Any]) -> Any:
            nonlocal failures
            try:
                result = await call_next(msg)
            except PERMANENT_ERRORS as error:
                await publish_dead_letter(
                    broker,
                    settings,
                    stage,
                    msg.raw_message,
                    msg.body,
                    type(error).__name__,
                    str(error),
                )
                failures = 0
                return None
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

    return DeadLetterMiddleware
