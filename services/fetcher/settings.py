from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.settings import KafkaSettings, ObservabilitySettings


class FetcherSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAQIB_FETCHER_", extra="ignore")

    feeds_file: Path = Field(
        default=Path("deploy/feeds.yaml"),
        description="The feeds YAML; a relative path is looked up in the working directory.",
    )
    user_agent: str = "raqib-fetcher/0.1 (news monitoring; feed reader)"
    timeout_s: float = Field(
        default=20.0, gt=0, description="Whole-request limit: connect, headers and body."
    )
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    max_redirects: int = Field(default=5, ge=0)
    max_concurrent_polls: int = Field(default=4, ge=1)
    seen_capacity: int = Field(
        default=100_000, ge=1, description="Article ids and content hashes kept for dedup."
    )
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
