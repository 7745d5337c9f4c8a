from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from services.common.settings import (
    BatchConsumerSettings,
    BatchSize,
    BatchTimeout,
    ConsumerGroup,
    RaqibSettings,
    Renamed,
)

log = logging.getLogger("raqib.settings")

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
    pool_size: int = Field(
        default=8,
        ge=1,
        le=64,
        description="SMTP sessions open at once to the server; each is reused for message "
        "after message while there is mail to send. Some servers allow fewer (Microsoft "
        "365 SMTP submission: 3).",
    )
    pool_idle_s: float = Field(
        default=10.0, gt=0, description="Close a pooled SMTP session unused for this long."
    )
    session_max_messages: int = Field(
        default=100,
        ge=1,
        description="Messages over one SMTP session before it is closed and a fresh one "
        "opened (some servers limit it).",
    )


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
    rules_file: Path = Field(
        # A factory: the table in docs/configuration.md shows no machine's absolute path.
        default_factory=lambda: DEFAULT_RULES_FILE,
        description="The watch rules (YAML); default: deploy/rules.yaml of the installation.",
    )
    state_file: Path = Field(
        default=Path(".raqib/alerting.sqlite3"),
        description="SQLite file with the outbox, windows, cooldowns and digests.",
    )
    retry_base_delay_s: float = Field(
        default=1.0, ge=0, description="Backoff before the second attempt; doubles each time."
    )
    retry_max_delay_s: float = Field(
        default=60.0,
        ge=0,
        description="Longest backoff: a failing delivery is tried at least this often.",
    )
    give_up_after_s: float = Field(
        default=24 * 3600.0,
        gt=0,
        description="Retry a failed delivery for this long before giving up and "
        "dead-lettering it; a channel's `give_up_after` in the rules file wins.",
    )
    breaker_failures: int = Field(
        default=5,
        ge=1,
        description="Failed attempts in a row over one channel that pause it: its alerts "
        "wait in the outbox, without attempts, while one probe at a time tests it.",
    )
    breaker_probe_s: float = Field(
        default=15.0,
        gt=0,
        description="While a channel is paused, how often one alert is sent to see whether "
        "it is back; the first success resumes the channel and drains its backlog.",
    )
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
    keep_articles_s: float | None = Field(
        default=None,
        gt=0,
        description="How long after it was raised a finished alert keeps its article in the "
        "state file and the changelog (what rendering it needs); the alert itself is kept, "
        "so the article never raises it twice. At least RESUME_FAILED_WITHIN_S; 604800 (a "
        "week) is a good value. Unset: kept for ever. Set it only once every alerting "
        "replica runs a version that has it (earlier ones cannot read a dropped article).",
    )
    shutdown_grace_s: float = Field(
        default=5.0, ge=0, description="At stop, how long deliveries in flight may finish."
    )
    lease_group_id: str = Field(
        default="raqib-alerting-lease",
        description="Consumer group of the alerting replicas on the one-partition "
        "`alerting.lease` topic (RAQIB_KAFKA_PREFIX goes before it): its holder is the "
        "active replica, the others stand by.",
    )
    kibana_url: str | None = Field(
        default=None,
        # RAQIB_KIBANA_URL, the group `raqib kibana import` reads its other settings from.
        validation_alias=AliasChoices("RAQIB_KIBANA_URL"),
        description="Kibana as analysts reach it: alerts link to the article, the alert and "
        "a digest's window in Discover (RAQIB_KIBANA_URL; no links when unset).",
    )
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)

    @model_validator(mode="before")
    @classmethod
    def _retired(cls, data: Any) -> Any:
        """Settings that no longer do anything: say so instead of ignoring them silently."""
        for old, instead in _RETIRED.items():
            variable = f"RAQIB_ALERTING_{old}".upper()
            if (isinstance(data, Mapping) and old in data) or variable in os.environ:
                message = f"{variable} is deprecated and ignored: {instead}"
                warnings.warn(message, FutureWarning, stacklevel=2)
                log.warning("deprecated setting", extra={"setting": variable, "use": instead})
        if isinstance(data, Mapping):
            data = {key: value for key, value in data.items() if key not in _RETIRED}
        return data

    @model_validator(mode="after")
    def _articles_kept_for_retries(self) -> AlertingSettings:
        # A restart retries failed deliveries of that long ago: they need their article.
        if self.keep_articles_s is not None and self.keep_articles_s < self.resume_failed_within_s:
            raise ValueError(
                f"RAQIB_ALERTING_KEEP_ARTICLES_S ({self.keep_articles_s:g}) is shorter than "
                f"RAQIB_ALERTING_RESUME_FAILED_WITHIN_S ({self.resume_failed_within_s:g}): "
                "a failed delivery retried at start would have no article to render"
            )
        return self


_RETIRED = {
    "email_max_attempts": "deliveries are retried until RAQIB_ALERTING_GIVE_UP_AFTER_S "
    "(or a channel's give_up_after)",
}
