from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.common.settings import (
    BatchConsumerSettings,
    BatchSize,
    BatchTimeout,
    ConsumerGroup,
    ElasticsearchSettings,
    RaqibSettings,
    Renamed,
)
from services.indexer.batch import BulkLimits


class IndexerSettings(BatchConsumerSettings):
    model_config = SettingsConfigDict(env_prefix="RAQIB_INDEXER_", extra="ignore")
    renamed: ClassVar[Mapping[str, Renamed]] = {
        **BatchConsumerSettings.renamed,
        "retry_base_delay_ms": Renamed("retry_base_delay_s", 0.001),
        "retry_max_delay_ms": Renamed("retry_max_delay_s", 0.001),
    }

    group_id: ConsumerGroup = "raqib-indexer"
    alerts_group_id: str = Field(
        default="raqib-indexer-alerts", description="Consumer group reading the alerts topic."
    )
    batch_size: BatchSize = 500  # documents per bulk request, at most
    batch_timeout_s: BatchTimeout = 0.5
    batch_max_bytes: int = Field(
        default=5 * 1024 * 1024, ge=1024, description="Most source bytes per bulk request."
    )
    retry_attempts: int = Field(
        default=3, ge=1, description="Tries of a bulk request before the batch is read again."
    )
    retry_base_delay_s: float = Field(
        default=0.5, gt=0, description="Wait before the second try of a bulk; doubles each time."
    )
    retry_max_delay_s: float = Field(default=10.0, gt=0, description="Longest such wait.")
    elasticsearch: ElasticsearchSettings = Field(default_factory=ElasticsearchSettings)

    def bulk_limits(self) -> BulkLimits:
        return BulkLimits(
            max_documents=self.batch_size,
            max_bytes=self.batch_max_bytes,
            attempts=self.retry_attempts,
            backoff_base_s=self.retry_base_delay_s,
            backoff_max_s=self.retry_max_delay_s,
        )


class KibanaSettings(RaqibSettings):
    """Credentials for ``raqib kibana import`` (the URL is its argument)."""

    model_config = SettingsConfigDict(env_prefix="RAQIB_KIBANA_", extra="ignore")

    username: str | None = Field(default=None, description="Basic authentication user.")
    password: SecretStr | None = Field(default=None, description="Basic authentication password.")
    api_key: SecretStr | None = Field(default=None, description="Used instead of a user.")
    space: str | None = Field(default=None, description="Kibana space; the default space if unset.")
    ca_certs: str | None = Field(default=None, description="CA bundle of Kibana's certificate.")
    verify_certs: bool = Field(default=True, description="Check Kibana's TLS certificate.")
    timeout_s: float = Field(default=30.0, gt=0, description="Limit of one request.")
