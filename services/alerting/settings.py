from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.common.settings import (
    BatchConsumerSettings,
    BatchSize,
    BatchTimeout,
    ConsumerGroup,
    RaqibSettings,
    Renamed,
)

# The repository's default rules, wherever the service is started from.
DEFAULT_RULES_FILE = Path(__file__).resolve().parent.parent.parent / "deploy" / "rules.yaml"


class SmtpSettings(RaqibSettings):
    model_config = SettingsConfigDict(
        env_prefix="RAQIB_SMTP_", extra="ignore", populate_by_name=True
    )
    renamed: ClassVar[Mapping[str, Renamed]] = {"timeout": Renamed("timeout_s")}

    host: str = Field(default="127.0.0.1", description="The SMTP server.")
    port: int = Field(default=25, ge=1, le=65535, description="465 with TLS, 587 with STARTTLS.")
    username: str | None = Field(default=None, description="Log in (AUTH) when set.")
    password: SecretStr | None = Field(default=None, description="AUTH password.")
    starttls: bool | None = Field(
        default=None,
        description="Upgrade with STARTTLS: true = required, false = never, unset = when offered.",
    )
    tls: bool = Field(default=False, description="Connect with implicit TLS (port 465 style).")
    ca_file: Path | None = Field(
        default=None, description="CA bundle that signs the server's certificate (default: system)."
    )
    sender: str = Field(
        default="Raqib <alerts@raqib.local>",
        # Read from RAQIB_SMTP_FROM (or RAQIB_SMTP_SENDER); an alias is not prefixed, so a
        # bare "sender" here would let any SENDER variable of the environment set it.
        validation_alias=AliasChoices("RAQIB_SMTP_FROM", "RAQIB_SMTP_SENDER"),
        description="Default From address; a channel's own `from` wins.",
    )
    timeout_s: float = Field(default=30.0, gt=0, description="Limit of one SMTP conversation.")


class AlertingSettings(BatchConsumerSettings):
    model_config = SettingsConfigDict(env_prefix="RAQIB_ALERTING_", extra="ignore")
    renamed: ClassVar[Mapping[str, Renamed]] = {
        **BatchConsumerSettings.renamed,
        "resume_failed_within_h": Renamed("resume_failed_within_s", 3600),
    }

    group_id: ConsumerGroup = "raqib-alerting"
    # Short: an alert's latency includes the wait for its batch to fill.
    batch_size: BatchSize = 500
    batch_timeout_s: BatchTimeout = 0.02
    rules_file: Path = Field(default=DEFAULT_RULES_FILE, description="The watch rules (YAML).")
    state_file: Path = Field(
        default=Path(".raqib/alerting.sqlite3"),
        description="SQLite file with the outbox, windows, cooldowns and digests.",
    )
    retry_base_delay_s: float = Field(
        default=1.0, ge=0, description="Backoff before the second attempt; doubles each time."
    )
    retry_max_delay_s: float = Field(default=60.0, ge=0, description="Longest backoff.")
    email_max_attempts: int = Field(default=3, ge=1, description="Unless a channel sets its own.")
    allow_private_targets: bool = Field(
        default=False,
        description="Let webhooks reach private, loopback and link-local addresses "
        "(local runs and tests only).",
    )
    max_concurrent_sends: int = Field(
        default=64, ge=1, description="Delivery attempts in flight at once, all channels."
    )
    max_pending_alerts: int = Field(
        default=5000,
        ge=1,
        description="Alerts awaiting delivery before reading more articles pauses.",
    )
    alert_log_attempts: int = Field(
        default=3,
        ge=1,
        description="Tries at publishing one alert state to `alerts`; each one includes the "
        "Kafka client's own retries, up to its request timeout (40 s).",
    )
    alert_log_retry_base_s: float = Field(
        default=0.5, ge=0, description="Wait before the second try; doubles each time."
    )
    digest_check_s: float = Field(
        default=1.0, gt=0, description="How often closed digest windows are looked for."
    )
    resume_failed_within_s: float = Field(
        default=24 * 3600.0,
        ge=0,
        description="At start, retry failed deliveries of alerts raised this recently.",
    )
    shutdown_grace_s: float = Field(
        default=5.0, ge=0, description="At stop, how long deliveries in flight may finish."
    )
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
