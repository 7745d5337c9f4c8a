"""Setting groups shared by several services; each has its own environment prefix.

A service's ``Settings`` class composes the groups it needs, so ``RAQIB_KAFKA_BOOTSTRAP_SERVERS``
means the same thing to every service.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAQIB_KAFKA_", extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    prefix: str = Field(
        default="",
        description="Put before every topic and consumer-group name, so several Raqibs (or "
        "test runs) share one cluster without seeing each other's records or offsets.",
    )
    partitions: int = Field(default=3, ge=1, description="Partitions of topics created at start.")
    replication_factor: int = Field(default=1, ge=1)
    # Producers get a producer id, so a retried send is never written twice (Kafka's own
    # default since 3.0); turn it off only for a broker that refuses InitProducerId.
    enable_idempotence: bool = True
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
    # Kafka's default is 500 ms; a broker answers as soon as data is there, so the wait only
    # bounds how long an idle consumer's fetch is held (a shorter one notices a stop sooner).
    fetch_max_wait_ms: int = Field(
        default=50,
        ge=0,
        description="Longest the broker may hold a consumer's fetch that found too little.",
    )
    # Kafka's default is 5 min: partitions added to a running topic stay unread that long.
    metadata_max_age_ms: int = Field(
        default=30_000,
        ge=1000,
        description="Longest a client keeps cluster metadata before refreshing it, so "
        "partitions added to a topic are consumed (and produced to) within this time.",
    )

    def topic(self, name: str) -> str:
        """The cluster's name of one of Raqib's topics (``articles.raw``, ``enrichment.dlq``)."""
        return f"{self.prefix}{name}"

    def group(self, group_id: str) -> str:
        """The cluster's name of a stage's consumer group."""
        return f"{self.prefix}{group_id}"

    def dead_letter_topic(self, stage: str) -> str:
        """One dead-letter topic per stage, e.g. ``enrichment.dlq``."""
        return self.topic(f"{stage}.dlq")


class ElasticsearchSettings(BaseSettings):
    """The search engine: Elasticsearch 8 or OpenSearch 2 (both under ``RAQIB_ES_``)."""

    model_config = SettingsConfigDict(env_prefix="RAQIB_ES_", extra="ignore")

    url: str = "http://127.0.0.1:9200"
    engine: Literal["auto", "elasticsearch", "opensearch"] = Field(
        default="auto", description="Which engine serves the URL; auto asks its root endpoint."
    )
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
