from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from services.common.settings import KafkaSettings, ObservabilitySettings, RaqibSettings


class FetcherSettings(RaqibSettings):
    model_config = SettingsConfigDict(env_prefix="RAQIB_FETCHER_", extra="ignore")

    feeds_file: Path = Field(
        default=Path("deploy/feeds.yaml"),
        description="The feeds YAML; a relative path is looked up in the working directory.",
    )
    feeds_reload_s: float = Field(
        default=10.0,
        ge=0,
        description="How often a running fetcher looks for a changed feeds file: a valid "
        "new version replaces the feeds it polls, an invalid one is logged and ignored. "
        "0: read at start only.",
    )
    state_file: Path = Field(
        default=Path(".raqib/fetcher.sqlite3"),
        description="SQLite file with per-feed state and the articles already published.",
    )
    user_agent: str = Field(
        default="raqib-fetcher/0.1 (news monitoring; feed reader)",
        description="Sent with every request.",
    )
    timeout_s: float = Field(
        default=20.0, gt=0, description="Whole-request limit: connect, headers and body."
    )
    max_body_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024, description="Longer bodies are cut off and refused."
    )
    max_redirects: int = Field(default=5, ge=0, description="Redirect hops followed at most.")
    allow_private: bool = Field(
        default=False,
        description="Allow private, loopback and link-local addresses (local runs and tests).",
    )
    max_concurrent_requests: int = Field(default=16, ge=1, description="Over all hosts.")
    max_requests_per_host: int = Field(default=2, ge=1, description="At once, to one host.")
    host_delay_s: float = Field(
        default=1.0, ge=0, description="Least time between two requests to one host."
    )
    interval_jitter: float = Field(
        default=0.1, ge=0, le=0.5, description="Poll intervals vary by up to ± this fraction."
    )
    backoff_max_s: float = Field(
        default=6 * 3600.0,
        gt=0,
        description="Longest wait after failures (doubling from the poll interval) or Retry-After.",
    )
    fetch_pages: bool = Field(
        default=True, description="Fetch the article page when the feed carries little text."
    )
    min_text_chars: int = Field(
        default=400, ge=0, description="Feed text shorter than this sends us to the page."
    )
    # Far above any news article (256 KiB is some 100,000 Arabic characters), and well under the
    # record limit: enrichment adds the mentions, which can make an article several times larger.
    max_article_bytes: int = Field(
        default=256 * 1024,
        ge=16 * 1024,
        description="Largest article published, as JSON: a larger one loses its HTML, then the "
        "end of its text, and is flagged truncated. At most RAQIB_KAFKA_MAX_RECORD_BYTES.",
    )
    seen_capacity: int = Field(
        default=1_000_000,
        ge=1,
        description="Article ids and content hashes kept for dedup (oldest forgotten first).",
    )
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)

    @model_validator(mode="after")
    def _article_fits_in_a_record(self) -> Self:
        if self.max_article_bytes > self.kafka.max_record_bytes:
            raise ValueError(
                f"RAQIB_FETCHER_MAX_ARTICLE_BYTES={self.max_article_bytes} is larger than "
                f"RAQIB_KAFKA_MAX_RECORD_BYTES={self.kafka.max_record_bytes}: an article that "
                "large could never be published"
            )
        return self
