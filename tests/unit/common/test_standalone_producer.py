"""``raqib fetch`` and ``raqib replay`` publish through a producer configured like the
services' broker."""

from __future__ import annotations

from pydantic import SecretStr

from services.common.kafka import standalone_producer
from services.common.settings import KafkaSettings


async def test_the_standalone_producer_uses_the_kafka_security_settings() -> None:
    producer = standalone_producer(
        KafkaSettings(
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="PLAIN",
            sasl_username="raqib",
            sasl_password=SecretStr("s3cret"),
        )
    )
    try:
        # aiokafka keeps the connection options on its client; nothing connects before start().
        client = producer.client
        assert (client._security_protocol, client._sasl_mechanism) == ("SASL_PLAINTEXT", "PLAIN")
        assert client._sasl_plain_username == "raqib"
    finally:
        await producer.stop()


async def test_the_standalone_producer_refreshes_metadata_like_the_stages() -> None:
    # A producer that kept Kafka's 5-minute default would not see partitions added meanwhile.
    producer = standalone_producer(KafkaSettings(metadata_max_age_s=7))
    try:
        assert producer.client._metadata_max_age_ms == 7_000
    finally:
        await producer.stop()
