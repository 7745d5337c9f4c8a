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
    fetch_max_wait_ms: int = Field(
        default=50,
        ge=0,
        description=(
            "Longest the broker may hold a fetch that found too little. Kafka answers as soon "
            "as data is there; the local Tansu broker waits the whole time, and every batch "
            "paid it (500, Kafka's default, held enrichment to about 300 articles/s there)."
        ),
    )
    knowledge_base: Path | None = Field(
        default=None, description="A knowledge-base YAML file; the packaged one when unset."
    )
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
