"""One record limit for producers, topics and dead letters; a dead letter too large for its
topic keeps its head, its size and its SHA-256."""

from __future__ import annotations

import hashlib
from typing import cast

import pytest
from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError
from faststream.kafka import KafkaBroker

from services.common.kafka import (
    DEAD_LETTER_HEAD_BYTES,
    dead_letter_head,
    is_too_large,
    publish_dead_letter,
    record_bytes,
    standalone_producer,
    topic_configs,
)
from services.common.settings import KafkaSettings

MIB = 1024 * 1024


def _source(value: bytes) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic="articles.raw",
        partition=2,
        offset=9,
        timestamp=0,
        timestamp_type=0,
        key=b"0123456789abcdef",
        value=value,
        checksum=None,
        serialized_key_size=16,
        serialized_value_size=len(value),
        headers=(),
    )


class FakeBroker:
    """Records what is published; refuses what is larger than its topics take."""

    def __init__(self, topic_limit: int | None = None, error: Exception | None = None) -> None:
        self.topic_limit = topic_limit
        self.error = error
        self.sent: list[tuple[bytes, str, bytes | None, dict[str, str]]] = []

    async def publish(
        self, value: bytes, topic: str, *, key: bytes | None, headers: dict[str, str]
    ) -> None:
        if self.error is not None:
            raise self.error
        if self.topic_limit is not None and record_bytes(key, value, headers) > self.topic_limit:
            raise MessageSizeTooLargeError("refused by the topic")
        self.sent.append((value, topic, key, headers))

    def as_broker(self) -> KafkaBroker:
        return cast(KafkaBroker, self)


async def _dead_letter(broker: FakeBroker, value: bytes, settings: KafkaSettings) -> None:
    await publish_dead_letter(
        broker.as_broker(),
        settings,
        "enrichment",
        _source(value),
        value,
        "MessageSizeTooLargeError",
        "enriched article too large",
    )


def test_the_record_limit_is_kafkas_own_by_default() -> None:
    settings = KafkaSettings()
    assert settings.max_record_bytes == MIB
    assert topic_configs(settings) == {"max.message.bytes": str(MIB)}
    assert topic_configs(KafkaSettings(max_record_bytes=5 * MIB)) == {
        "max.message.bytes": str(5 * MIB)
    }


async def test_the_standalone_producer_refuses_what_the_topics_would() -> None:
    producer = standalone_producer(KafkaSettings(max_record_bytes=2 * MIB))
    try:
        assert producer._max_request_size == 2 * MIB
    finally:
        await producer.stop()


def test_record_bytes_counts_key_value_and_headers_as_the_producer_does() -> None:
    bare = record_bytes(b"k", b"v" * 1000, {})
    assert 1000 < bare < 1100
    assert record_bytes(b"k", b"v" * 1000, {"x-raqib-error": "e" * 500}) > bare + 500


def test_a_head_keeps_the_start_the_size_and_the_hash() -> None:
    value = bytes(range(256)) * 20_000  # 5 MB, not UTF-8
    head, headers = dead_letter_head(value, {"x-raqib-stage": "enrichment"}, MIB)
    assert head == value[:DEAD_LETTER_HEAD_BYTES]
    assert headers["x-raqib-stage"] == "enrichment"
    assert headers["x-raqib-value-truncated"] == "true"
    assert headers["x-raqib-value-bytes"] == str(len(value))
    assert headers["x-raqib-value-sha256"] == hashlib.sha256(value).hexdigest()
    small_limit_head, _ = dead_letter_head(value, {}, 128 * 1024)
    assert len(small_limit_head) == 32 * 1024  # a quarter of a small limit


async def test_a_dead_letter_that_fits_is_the_whole_value() -> None:
    broker = FakeBroker()
    value = b"\xff\xfe not UTF-8" * 1000
    await _dead_letter(broker, value, KafkaSettings())
    ((sent, topic, key, headers),) = broker.sent
    assert sent == value and topic == "enrichment.dlq" and key == b"0123456789abcdef"
    assert "x-raqib-value-truncated" not in headers
    assert headers["x-raqib-source-offset"] == "9"


@pytest.mark.parametrize("size", [MIB - 100, MIB + 1, 5 * MIB])
async def test_a_dead_letter_larger_than_the_limit_is_its_head(size: int) -> None:
    broker = FakeBroker(topic_limit=MIB)
    value = b"x" * size
    await _dead_letter(broker, value, KafkaSettings())
    ((sent, _, _, headers),) = broker.sent
    assert sent == value[:DEAD_LETTER_HEAD_BYTES]
    assert headers["x-raqib-value-bytes"] == str(size)
    assert headers["x-raqib-value-sha256"] == hashlib.sha256(value).hexdigest()
    assert headers["x-raqib-error-type"] == "MessageSizeTooLargeError"


async def test_a_topic_made_with_a_smaller_limit_gets_the_head() -> None:
    broker = FakeBroker(topic_limit=200 * 1024)  # someone else created it
    value = b"y" * (500 * 1024)
    await _dead_letter(broker, value, KafkaSettings())
    ((sent, _, _, headers),) = broker.sent
    assert len(sent) == DEAD_LETTER_HEAD_BYTES
    assert headers["x-raqib-value-bytes"] == str(500 * 1024)


async def test_a_dead_letter_refused_for_another_reason_fails() -> None:
    broker = FakeBroker(error=KafkaConnectionError("unreachable"))
    with pytest.raises(KafkaConnectionError):
        await _dead_letter(broker, b"z" * 10, KafkaSettings())


def test_too_large_means_refused_for_its_size() -> None:
    assert is_too_large(MessageSizeTooLargeError())
    assert not is_too_large(KafkaConnectionError())
    assert not is_too_large(ValueError())
