from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.settings import KafkaSettings, ObservabilitySettings


class EnrichmentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAQIB_ENRICHMENT_", extra="ignore")

    group_id: str = "raqib-enrichment"
    batch_size: int = Field(
        default=200, ge=1, description="Most records enriched and committed together."
    )
    batch_timeout_ms: int = Field(
        default=200, ge=1, description="Longest wait for a batch to fill before enriching it."
    )
    knowledge_base: Path | None = Field(
        default=None, description="A knowledge-base YAML file; the packaged one when unset."
    )
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
