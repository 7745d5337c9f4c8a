"""Setting groups shared by several services; each has its own environment prefix.

A service's ``Settings`` class composes the groups it needs, so ``RAQIB_KAFKA_BOOTSTRAP_SERVERS``
means the same thing to every service.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAQIB_KAFKA_", extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    partitions: int = Field(default=3, ge=1, description="Partitions of topics created at start.")
    replication_factor: int = Field(default=1, ge=1)
    # Off by default: the local Tansu broker rejects InitProducerId; turn it on for real Kafka.
    enable_idempotence: bool = False
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    # A batch stage publishes hundreds of ~10 KB records at once; aiokafka's 16 KiB default
    # batch sends them one request each (200 records: 125 ms, against 20 ms batched).
    producer_batch_bytes: int = Field(
        default=512 * 1024, ge=16 * 1024, description="Largest producer batch per partition."
    )
    producer_linger_ms: int = Field(
        default=5, ge=0, description="How long the producer waits to fill a batch."
    )
    # Kafka's default is 500 ms. Real Kafka answers a fetch as soon as data is there; the local
    # Tansu broker holds every fetch for the whole wait, which held enrichment to about 300
    # articles/s and added the wait to every alert's latency.
    fetch_max_wait_ms: int = Field(
        default=50,
        ge=0,
        description="Longest the broker may hold a consumer's fetch that found too little.",
    )


class ElasticsearchSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAQIB_ES_", extra="ignore")

    url: str = "http://127.0.0.1:9200"
    username: str | None = None
    password: SecretStr | None = None
    api_key: SecretStr | None = None
    ca_certs: str | None = None
    verify_certs: bool = True
    request_timeout: float = Field(default=30.0, gt=0)
    articles_alias: str = "raqib-articles"
    alerts_alias: str = "raqib-alerts"


class ObservabilitySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAQIB_", extra="ignore")

    log_level: str = "INFO"
    metrics_port: int | None = Field(
        default=None, description="Serve Prometheus metrics on this port when set."
    )
    # Loopback unless told otherwise; containers set 0.0.0.0 so Prometheus can scrape them.
    metrics_host: str = "127.0.0.1"
