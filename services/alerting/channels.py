"""Delivery channels (email over SMTP, webhooks over HTTP) behind one interface, and the
dispatcher that sends an alert to its channels with retries and durable sent-state.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

import aiosmtplib
import httpx
from prometheus_client import Counter

from schemas import Alert, Delivery, DeliveryStatus, EnrichedArticle, utc_now
from services.alerting.core import (
    EmailChannelConfig,
    RetryPolicy,
    RuleSet,
    Verdict,
    WebhookChannelConfig,
    http_verdict,
    render_email,
    retry_after_s,
    smtp_verdict,
    webhook_body,
    webhook_headers,
)
from services.alerting.settings import AlertingSettings
from services.alerting.store import DeliveryRecord, SentStore

log = logging.getLogger("raqib.alerting")

DELIVERIES = Counter(
    "raqib_alerting_deliveries_total",
    "Alert deliveries by channel kind and outcome (delivered, failed, skipped_already_sent).",
    ["kind", "outcome"],
)
ATTEMPTS = Counter(
    "raqib_alerting_delivery_attempts_total",
    "Single delivery attempts by channel kind and result (ok, retry, fail).",
    ["kind", "result"],
)


class AttemptFailed(Exception):
    """One attempt did not deliver; ``retry`` says whether another attempt may succeed."""

    def __init__(self, message: str, *, retry: bool, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry = retry
        self.retry_after_s = retry_after_s


class Channel(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> Literal["email", "webhook"]: ...

    @property
    def max_attempts(self) -> int: ...

    async def send(self, alert: Alert, article: EnrichedArticle) -> None:
        """Make one delivery attempt; raise ``AttemptFailed`` when it did not deliver."""

    async def aclose(self) -> None: ...


class EmailChannel:
    kind: Literal["email"] = "email"

    def __init__(self, name: str, config: EmailChannelConfig, settings: AlertingSettings) -> None:
        self.name = name
        self.to = list(config.to)
        self.sender = config.sender or settings.smtp.sender
        self.max_attempts = config.max_attempts or settings.email_max_attempts
        self.smtp = settings.smtp

    async def send(self, alert: Alert, article: EnrichedArticle) -> None:
        message = render_email(alert, article, sender=self.sender, recipients=self.to)
        smtp = self.smtp
        try:
            refused, _ = await aiosmtplib.send(
                message,
                hostname=smtp.host,
                port=smtp.port,
                username=smtp.username,
                password=smtp.password.get_secret_value() if smtp.password else None,
                start_tls=smtp.starttls,
                use_tls=smtp.tls,
                timeout=smtp.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = [r.code for r in error.recipients]
            retry = any(smtp_verdict(code) is Verdict.RETRY for code in codes)
            raise AttemptFailed(f"all recipients refused: {error}", retry=retry) from None
        except aiosmtplib.SMTPResponseException as error:
            retry = smtp_verdict(error.code) is Verdict.RETRY
            raise AttemptFailed(f"SMTP {error.code}: {error.message}", retry=retry) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise AttemptFailed(f"{type(error).__name__}: {error}", retry=True) from None
        if refused:
            # Some recipients took it: a retry would send them a duplicate.
            log.warning(
                "some recipients refused",
                extra={
                    "alert_id": alert.id,
                    "channel": self.name,
                    "refused": {address: str(reply) for address, reply in refused.items()},
                },
            )

    async def aclose(self) -> None:
        return None


class WebhookChannel:
    kind: Literal["webhook"] = "webhook"

    def __init__(self, name: str, config: WebhookChannelConfig, settings: AlertingSettings) -> None:
        self.name = name
        self.url = config.url
        self.format = config.format
        self.secret = config.secret.get_secret_value() if config.secret else None
        self.max_attempts = config.max_attempts
        self.retry_after_limit = settings.retry_max_delay_s
        # No redirects: a signed alert must not be re-posted to wherever a 3xx points.
        self.client = httpx.AsyncClient(timeout=config.timeout_s, follow_redirects=False)

    async def send(self, alert: Alert, article: EnrichedArticle) -> None:
        body = webhook_body(alert, article, self.format)
        now = utc_now()
        headers = webhook_headers(alert.id, body, secret=self.secret, now=now)
        try:
            response = await self.client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException as error:
            raise AttemptFailed(f"timeout: {type(error).__name__}", retry=True) from None
        except httpx.TransportError as error:
            raise AttemptFailed(f"{type(error).__name__}: {error}", retry=True) from None
        verdict = http_verdict(response.status_code)
        if verdict is Verdict.DELIVERED:
            return
        raise AttemptFailed(
            f"HTTP {response.status_code}: {response.text[:200]}".rstrip(": "),
            retry=verdict is Verdict.RETRY,
            retry_after_s=retry_after_s(
                response.headers.get("Retry-After"), now, self.retry_after_limit
            ),
        )

    async def aclose(self) -> None:
        await self.client.aclose()


ChannelFactory = Callable[[str, Any, AlertingSettings], Channel]

CHANNEL_KINDS: dict[str, ChannelFactory] = {
    "email": EmailChannel,
    "webhook": WebhookChannel,
}


def build_channels(rule_set: RuleSet, settings: AlertingSettings) -> dict[str, Channel]:
    return {
        name: CHANNEL_KINDS[config.kind](name, config, settings)
        for name, config in rule_set.channels.items()
    }


@dataclass(frozen=True)
class Dispatched:
    """An alert after dispatch: every delivery final, and whether anything was sent now."""

    alert: Alert
    attempted: bool

    @property
    def failed(self) -> list[Delivery]:
        return [d for d in self.alert.deliveries if d.status is DeliveryStatus.FAILED]


class Dispatcher:
    """Sends each delivery of an alert unless the store says it already went out."""

    def __init__(
        self,
        channels: Mapping[str, Channel],
        store: SentStore,
        *,
        base_delay_s: float,
        max_delay_s: float,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.channels = channels
        self.store = store
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.sleep = sleep
        self.jitter = jitter
        self.clock = clock

    async def dispatch(self, alert: Alert, article: EnrichedArticle) -> Dispatched:
        results = await asyncio.gather(
            *(self._deliver(alert, article, d.channel) for d in alert.deliveries)
        )
        return Dispatched(
            alert.model_copy(update={"deliveries": [delivery for delivery, _ in results]}),
            attempted=any(attempted for _, attempted in results),
        )

    async def _deliver(
        self, alert: Alert, article: EnrichedArticle, name: str
    ) -> tuple[Delivery, bool]:
        channel = self.channels[name]
        previous = self.store.get(alert.id, name)
        if previous is not None and previous.status is DeliveryStatus.DELIVERED:
            DELIVERIES.labels(channel.kind, "skipped_already_sent").inc()
            return _delivery(channel, previous), False
        policy = RetryPolicy(channel.max_attempts, self.base_delay_s, self.max_delay_s)
        attempts = previous.attempts if previous is not None else 0
        errors: list[str] = []
        for attempt in range(1, policy.max_attempts + 1):
            attempts += 1
            try:
                await channel.send(alert, article)
            except Exception as error:
                failure = (
                    error
                    if isinstance(error, AttemptFailed)
                    else AttemptFailed(
                        f"{type(error).__name__}: {error}",
                        retry=True,  # unknown: worth a retry
                    )
                )
                errors.append(f"attempt {attempts}: {failure}")
                final = not failure.retry or attempt == policy.max_attempts
                ATTEMPTS.labels(channel.kind, "fail" if final else "retry").inc()
                record = DeliveryRecord(
                    alert.id,
                    name,
                    DeliveryStatus.FAILED if final else DeliveryStatus.PENDING,
                    attempts,
                    "; ".join(errors),
                )
                self.store.save(record, now=self.clock())
                log.warning(
                    "delivery attempt failed",
                    extra={
                        "alert_id": alert.id,
                        "article_id": article.id,
                        "channel": name,
                        "attempt": attempts,
                        "final": final,
                        "error": str(failure),
                    },
                )
                if final:
                    DELIVERIES.labels(channel.kind, "failed").inc()
                    return _delivery(channel, record), True
                delay = max(policy.delay(attempt, self.jitter()), failure.retry_after_s or 0.0)
                await self.sleep(min(delay, self.max_delay_s))
                continue
            ATTEMPTS.labels(channel.kind, "ok").inc()
            record = DeliveryRecord(
                alert.id,
                name,
                DeliveryStatus.DELIVERED,
                attempts,
                "; ".join(errors) or None,
                self.clock(),
            )
            self.store.save(record, now=self.clock())
            DELIVERIES.labels(channel.kind, "delivered").inc()
            log.info(
                "delivered",
                extra={
                    "alert_id": alert.id,
                    "article_id": article.id,
                    "channel": name,
                    "attempts": attempts,
                },
            )
            return _delivery(channel, record), True
        raise AssertionError("unreachable: the last attempt always returns")


def _delivery(channel: Channel, record: DeliveryRecord) -> Delivery:
    return Delivery(
        channel=record.channel,
        kind=channel.kind,
        status=record.status,
        attempts=record.attempts,
        last_error=record.last_error,
        delivered_at=record.delivered_at,
    )
