from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.settings import (
    ElasticsearchSettings,
    KafkaSettings,
    ObservabilitySettings,
)
from services.indexer.batch import BulkLimits


class IndexerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAQIB_INDEXER_", extra="ignore")

    group_id: str = "raqib-indexer"
    alerts_group_id: str = Field(
        default="raqib-indexer-alerts", description="Consumer group reading the alerts topic."
    )
    batch_size: int = Field(default=500, ge=1, description="Most documents per bulk request.")
    batch_max_bytes: int = Field(
        default=5 * 1024 * 1024, ge=1024, description="Most source bytes per bulk request."
    )
    batch_timeout_ms: int = Field(
        default=500, ge=1, description="Longest wait for a batch to fill before indexing it."
    )
    retry_attempts: int = Field(
        default=3, ge=1, description="Tries of a bulk request before the batch is read again."
    )
    retry_base_delay_ms: int = Field(default=500, ge=1)
    retry_max_delay_ms: int = Field(default=10_000, ge=1)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    elasticsearch: ElasticsearchSettings = Field(default_factory=ElasticsearchSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)

    def bulk_limits(self) -> BulkLimits:
        return BulkLimits(
            max_documents=self.batch_size,
            max_bytes=self.batch_max_bytes,
            attempts=self.retry_attempts,
            backoff_base_s=self.retry_base_delay_ms / 1000,
            backoff_max_s=self.retry_max_delay_ms / 1000,
        )


class KibanaSettings(BaseSettings):
    """Credentials for ``raqib kibana import`` (the URL is its argument)."""

    model_config = SettingsConfigDict(env_prefix="RAQIB_KIBANA_", extra="ignore")

    username: str | None = None
    password: SecretStr | None = None
    api_key: SecretStr | None = None
    space: str | None = Field(default=None, description="Kibana space; the default space if unset.")
    ca_certs: str | None = None
    verify_certs: bool = True
    timeout_s: float = Field(default=30.0, gt=0)
