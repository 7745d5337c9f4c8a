"""Setting groups shared by several services; each has its own environment prefix.

A service's ``Settings`` class composes the groups it needs, so ``RAQIB_KAFKA_BOOTSTRAP_SERVERS``
means the same thing to every service. Every duration is in seconds, and its name ends in
``_S`` (decision 48); a renamed setting is still read under its old name, with a warning, for
one release.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, NamedTuple

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger("raqib.settings")


class Renamed(NamedTuple):
    """A setting's old name: its value times ``scale`` is the value of ``new``."""

    new: str
    scale: float = 1.0


class RaqibSettings(BaseSettings):
    """A settings group that still reads the old names of its renamed settings."""

    renamed: ClassVar[Mapping[str, Renamed]] = {}

    @model_validator(mode="before")
    @classmethod
    def _read_old_names(cls, data: Any) -> Any:
        if not cls.renamed or not isinstance(data, Mapping):
            return data
        values = dict(data)
        prefix = str(cls.model_config.get("env_prefix") or "")
        for old, (new, scale) in cls.renamed.items():
            variable = f"{prefix}{old}".upper()
            raw = values.pop(old, None)
            if raw is None:
                raw = os.environ.get(variable)
            if raw is None:
                continue
            replacement = f"{prefix}{new}".upper()
            message = f"{variable} is deprecated: set {replacement}"
            if scale != 1:
                message += f" (its value times {scale:g})"
            warnings.warn(message, FutureWarning, stacklevel=2)
            log.warning("deprecated setting", extra={"setting": variable, "use": replacement})
            if new not in values:  # the new name wins when both are set
                values[new] = float(raw) * scale
        return values


class KafkaSettings(RaqibSettings):
    model_config = SettingsConfigDict(env_prefix="RAQIB_KAFKA_", extra="ignore")
    renamed: ClassVar[Mapping[str, Renamed]] = {
        "producer_linger_ms": Renamed("producer_linger_s", 0.001),
        "fetch_max_wait_ms": Renamed("fetch_max_wait_s", 0.001),
        "metadata_max_age_ms": Renamed("metadata_max_age_s", 0.001),
    }

    bootstrap_servers: str = Field(
        default="127.0.0.1:9092", description="Brokers to connect to, host:port, comma-separated."
    )
    prefix: str = Field(
        default="",
        description="Put before every topic and consumer-group name, so several Raqibs (or "
        "test runs) share one cluster without seeing each other's records or offsets.",
    )
    partitions: int = Field(default=3, ge=1, description="Partitions of topics created at start.")
    replication_factor: int = Field(
        default=1, ge=1, description="Replicas of each topic created at start."
    )
    # Kafka's own default since 3.0; turn it off only for a broker that refuses InitProducerId.
    enable_idempotence: bool = Field(
        default=True, description="Producers get a producer id: a retried send is written once."
    )
    security_protocol: str = Field(
        default="PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."
    )
    sasl_mechanism: str | None = Field(
        default=None, description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512."
    )
    sasl_username: str | None = Field(default=None, description="SASL user.")
    sasl_password: SecretStr | None = Field(default=None, description="SASL password.")
    # A batch stage publishes hundreds of ~10 KB records at once; aiokafka's 16 KiB default
    # batch sends them one request each (200 records: 125 ms, against 20 ms batched).
    producer_batch_bytes: int = Field(
        default=512 * 1024, ge=16 * 1024, description="Largest producer batch per partition."
    )
    producer_linger_s: float = Field(
        default=0.005, ge=0, description="How long the producer waits to fill a batch."
    )
    # Kafka's default is 0.5 s; a broker answers as soon as data is there, so the wait only
    # bounds how long an idle consumer's fetch is held (a shorter one notices a stop sooner).
    fetch_max_wait_s: float = Field(
        default=0.05,
        ge=0,
        description="Longest the broker may hold a consumer's fetch that found too little.",
    )
    # Kafka's default is 5 min: partitions added to a running topic stay unread that long.
    metadata_max_age_s: float = Field(
        default=30.0,
        ge=1,
        description="Longest a client keeps cluster metadata before refreshing it, so "
        "partitions added to a topic are consumed (and produced to) within this time.",
    )
    # Kafka's own limit (message.max.bytes) is 1 MiB; one number for every producer and every
    # topic Raqib creates, so what a stage can send, the topic takes (decision 50).
    max_record_bytes: int = Field(
        default=1024 * 1024,
        ge=64 * 1024,
        description="Largest record Raqib produces (the producers' max_request_size) and the "
        "max.message.bytes of the topics it creates. An output larger than this is "
        "dead-lettered; a dead letter larger than this keeps only its head, size and SHA-256.",
    )
    # Unset: dynamic membership, a restarted replica waits for a rebalance (decision 51).
    instance_id: str | None = Field(
        default=None,
        description="This replica's static membership id (KIP-345): a replica restarted "
        "within the session timeout gets its partitions back without a rebalance. Each "
        "replica needs its own (two live ones with the same id fence each other); "
        "{hostname} in it is replaced by the host's name. Unset: dynamic membership.",
    )
    # aiokafka's default; the broker accepts 6 s to 30 min unless configured otherwise.
    session_timeout_s: float = Field(
        default=10.0,
        ge=1,
        description="How long a consumer may go without a heartbeat before its group gives "
        "its partitions to the others; with an instance id also how long a restart may take "
        "to keep them, and how long those of a replica gone for good stay unread. Brokers "
        "refuse less than their group.min.session.timeout.ms (6 s by default).",
    )
    poison_attempts: int = Field(
        default=3,
        ge=1,
        description="Times in a row a record must fail on its own, the same way, before it "
        "is dead-lettered as the one at fault in a failing batch: tried again at once when "
        "the rest of its batch succeeded, after the retry backoff when it came alone.",
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


class ElasticsearchSettings(RaqibSettings):
    """The search engine: Elasticsearch 8 or OpenSearch 2 (both under ``RAQIB_ES_``)."""

    model_config = SettingsConfigDict(env_prefix="RAQIB_ES_", extra="ignore")
    renamed: ClassVar[Mapping[str, Renamed]] = {"request_timeout": Renamed("request_timeout_s")}

    url: str = Field(default="http://127.0.0.1:9200", description="The engine's HTTP(S) URL.")
    engine: Literal["auto", "elasticsearch", "opensearch"] = Field(
        default="auto", description="Which engine serves the URL; auto asks its root endpoint."
    )
    username: str | None = Field(default=None, description="Basic authentication user.")
    password: SecretStr | None = Field(default=None, description="Basic authentication password.")
    api_key: SecretStr | None = Field(default=None, description="Used instead of a user.")
    ca_certs: str | None = Field(default=None, description="CA bundle of the engine's certificate.")
    verify_certs: bool = Field(default=True, description="Check the engine's TLS certificate.")
    request_timeout_s: float = Field(default=30.0, gt=0, description="Limit of one request.")
    articles_alias: str = Field(
        default="raqib-articles",
        description="Read alias of the articles; each month's index is the alias + -YYYY.MM.",
    )
    alerts_alias: str = Field(default="raqib-alerts", description="Read alias of the alerts.")


class ObservabilitySettings(RaqibSettings):
    model_config = SettingsConfigDict(env_prefix="RAQIB_", extra="ignore")

    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR.")
    metrics_port: int | None = Field(
        default=None, description="Serve Prometheus metrics on this port when set."
    )
    # Loopback unless told otherwise; containers set 0.0.0.0 so Prometheus can scrape them.
    metrics_host: str = Field(default="127.0.0.1", description="Address the metrics listen on.")


# What every batch stage's consumer is set with, declared once; each stage gives its defaults.
ConsumerGroup = Annotated[
    str, Field(description="The stage's consumer group (RAQIB_KAFKA_PREFIX goes before it).")
]
BatchSize = Annotated[int, Field(ge=1, description="Most records handled and committed at once.")]
BatchTimeout = Annotated[
    float, Field(gt=0, description="Longest wait for a batch to fill before handling it.")
]


class BatchConsumerSettings(RaqibSettings):
    """A batch stage's consumer: its group, how many records it takes at once, how long it waits
    for them. A stage's settings class derives from this with its own prefix and defaults."""

    renamed: ClassVar[Mapping[str, Renamed]] = {
        "batch_timeout_ms": Renamed("batch_timeout_s", 0.001)
    }

    group_id: ConsumerGroup
    batch_size: BatchSize
    batch_timeout_s: BatchTimeout
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
