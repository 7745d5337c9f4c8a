from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import (
    BatchConsumerSettings,
    BatchSize,
    BatchTimeout,
    ConsumerGroup,
)


class EnrichmentSettings(BatchConsumerSettings):
    model_config = SettingsConfigDict(env_prefix="RAQIB_ENRICHMENT_", extra="ignore")

    group_id: ConsumerGroup = "raqib-enrichment"
    batch_size: BatchSize = 200
    batch_timeout_s: BatchTimeout = 0.2
    knowledge_base: Path | None = Field(
        default=None, description="A knowledge-base YAML file; the packaged one when unset."
    )
