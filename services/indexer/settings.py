from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.settings import (
    ElasticsearchSettings,
    KafkaSettings,
    ObservabilitySettings,
)


class IndexerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAQIB_INDEXER_", extra="ignore")

    group_id: str = "raqib-indexer"
    batch_size: int = Field(default=500, ge=1, description="Most records per bulk request.")
    batch_timeout_ms: int = Field(
        default=500, ge=1, description="Longest wait for a batch to fill before indexing it."
    )
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    elasticsearch: ElasticsearchSettings = Field(default_factory=ElasticsearchSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
