"""Delivery channels (email over SMTP, webhooks over HTTP) behind one interface found in one
registry, and the dispatcher that delivers a message over a channel with retries and durable
sent-state.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from email.message import EmailMessage
from typing import Any, Literal, Protocol

import aiosmtplib
import httpx
from prometheus_client import Counter

from schemas import Alert, Delivery, DeliveryAttempt, DeliveryStatus, EnrichedArticle, utc_now
from services.alerting.core import (
    ChannelKind,
    DigestMessage,
    EmailChannelConfig,
    RetryPolicy,
    RuleSet,
    Verdict,
    WebhookChannelConfig,
    digest_webhook_body,
    http_verdict,
    render_digest_email,
    render_email,
    retry_after_s,
    smtp_verdict,
    webhook_body,
    webhook_headers,
)
from services.alerting.settings import AlertingSettings
from services.alerting.state import AlertingState, DeliveryRecord
from services.common.addresses import GuardedTransport, UnsafeURLError

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

    def __init__(
        self,
        message: str,
        *,
        retry: bool,
        retry_after_s: float | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.retry = retry
        self.retry_after_s = retry_after_s
        self.status_code = status_code


class Channel(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> ChannelKind: ...

    @property
    def max_attempts(self) -> int: ...

    @property
    def max_concurrent(self) -> int:
        """Attempts over this channel in flight at once."""

    async def send(self, alert: Alert, article: EnrichedArticle) -> int | None:
        """Make one delivery attempt; return the server's success code (if any), raise
        ``AttemptFailed`` when it did not deliver."""

    async def send_digest(self, digest: DigestMessage) -> int | None:
        """One attempt at delivering a whole digest as one message."""

    async def aclose(self) -> None: ...


class EmailChannel:
    kind: Literal["email"] = "email"

    def __init__(self, name: str, config: EmailChannelConfig, settings: AlertingSettings) -> None:
        self.name = name
        self.to = list(config.to)
        self.sender = config.sender or settings.smtp.sender
        self.max_attempts = config.max_attempts or settings.email_max_attempts
        self.max_concurrent = settings.max_concurrent_sends
        self.smtp = settings.smtp
        self.tls_context = (
            ssl.create_default_context(cafile=str(settings.smtp.ca_file))
            if settings.smtp.ca_file
            else None
        )

    async def send(self, alert: Alert, article: EnrichedArticle) -> int | None:
        message = render_email(alert, article, sender=self.sender, recipients=self.to)
        return await self._send(message, alert.id)

    async def send_digest(self, digest: DigestMessage) -> int | None:
        message = render_digest_email(digest, sender=self.sender, recipients=self.to)
        return await self._send(message, digest.id)

    async def _send(self, message: EmailMessage, message_key: str) -> int | None:
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
                timeout=smtp.timeout_s,
                tls_context=self.tls_context,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = [r.code for r in error.recipients]
            retry = any(smtp_verdict(code) is Verdict.RETRY for code in codes)
            raise AttemptFailed(
                f"all recipients refused: {error}", retry=retry, status_code=codes[0]
            ) from None
        except aiosmtplib.SMTPAuthenticationError as error:
            # 535 is final (a retry could lock the account), 454 is temporary.
            raise AttemptFailed(
                f"SMTP {error.code}: authentication failed for {smtp.username!r} "
                f"({error.message}); check RAQIB_SMTP_USERNAME and RAQIB_SMTP_PASSWORD",
                retry=smtp_verdict(error.code) is Verdict.RETRY,
                status_code=error.code,
            ) from None
        except aiosmtplib.SMTPResponseException as error:
            retry = smtp_verdict(error.code) is Verdict.RETRY
            raise AttemptFailed(
                f"SMTP {error.code}: {error.message}", retry=retry, status_code=error.code
            ) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise AttemptFailed(f"{type(error).__name__}: {error}", retry=True) from None
        if refused:
            # Some recipients took it: a retry would send them a duplicate.
            log.warning(
                "some recipients refused",
                extra={
                    "alert_id": message_key,
                    "channel": self.name,
                    "refused": {address: str(reply) for address, reply in refused.items()},
                },
            )
        return 250

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
        # The dispatcher never lets more requests than connections in flight: a request
        # queued inside httpcore's pool makes every pass over the pool slower (httpcore
        # 1.0's assignment is quadratic in connections and queued requests).
        self.max_concurrent = config.max_connections
        self.retry_after_limit = settings.retry_max_delay_s
        # No redirects: a signed alert must not be re-posted to wherever a 3xx points. The
        # guard checks the resolved address of every request (the rules file only its syntax).
        self.client = httpx.AsyncClient(
            timeout=config.timeout_s,
            follow_redirects=False,
            transport=GuardedTransport(
                httpx.AsyncHTTPTransport(
                    limits=httpx.Limits(
                        max_connections=config.max_connections,
                        max_keepalive_connections=config.max_connections,
                    )
                ),
                allow_private=settings.allow_private_targets,
            ),
        )

    async def send(self, alert: Alert, article: EnrichedArticle) -> int | None:
        return await self._post(alert.id, webhook_body(alert, article, self.format))

    async def send_digest(self, digest: DigestMessage) -> int | None:
        return await self._post(digest.id, digest_webhook_body(digest, self.format))

    async def _post(self, message_key: str, body: bytes) -> int | None:
        now = utc_now()
        headers = webhook_headers(message_key, body, secret=self.secret, now=now)
        try:
            response = await self.client.post(self.url, content=body, headers=headers)
        except UnsafeURLError as error:
            raise AttemptFailed(f"refused target: {error}", retry=False) from None
        except httpx.TimeoutException as error:
            raise AttemptFailed(f"timeout: {type(error).__name__}", retry=True) from None
        except httpx.TransportError as error:
            raise AttemptFailed(f"{type(error).__name__}: {error}", retry=True) from None
        verdict = http_verdict(response.status_code)
        if verdict is Verdict.DELIVERED:
            return response.status_code
        raise AttemptFailed(
            f"HTTP {response.status_code}: {response.text[:200]}".rstrip(": "),
            retry=verdict is Verdict.RETRY,
            status_code=response.status_code,
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


Send = Callable[["Channel"], Awaitable[int | None]]
OnAttempt = Callable[[DeliveryRecord], Awaitable[None]]


class Dispatcher:
    """Delivers one message over one channel with retries, recording every attempt durably;
    a delivery the state file says went out is never sent again. At most ``max_concurrent``
    attempts run at once across all channels, and at most ``channel.max_concurrent`` over
    one channel (taken first, so a slow channel's queue holds none of the shared slots);
    waits between attempts hold no slot."""

    def __init__(
        self,
        channels: Mapping[str, Channel],
        state: AlertingState,
        *,
        base_delay_s: float,
        max_delay_s: float,
        max_concurrent: int = 64,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.channels = channels
        self.state = state
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.slots = asyncio.Semaphore(max_concurrent)
        self.channel_slots = {
            name: asyncio.Semaphore(channel.max_concurrent) for name, channel in channels.items()
        }
        self.sleep = sleep
        self.jitter = jitter
        self.clock = clock

    async def deliver(
        self, key: str, name: str, send: Send, on_attempt: OnAttempt | None = None
    ) -> tuple[DeliveryRecord, bool]:
        """Deliver message ``key`` over channel ``name``; (final record, whether it tried)."""
        channel = self.channels[name]
        previous = self.state.get(key, name)
        if previous is not None and previous.status is DeliveryStatus.DELIVERED:
            DELIVERIES.labels(channel.kind, "skipped_already_sent").inc()
            return previous, False
        policy = RetryPolicy(channel.max_attempts, self.base_delay_s, self.max_delay_s)
        attempts = previous.attempts if previous is not None else 0
        attempt_log = list(previous.attempt_log) if previous is not None else []
        errors: list[str] = []

        def save(status: DeliveryStatus, attempt: DeliveryAttempt) -> DeliveryRecord:
            """Record the attempt and the delivery's state it leads to, durably."""
            attempt_log.append(attempt)
            record = DeliveryRecord(
                key,
                name,
                status,
                attempt.number,
                "; ".join(errors) or None,
                attempt.at if status is DeliveryStatus.DELIVERED else None,
                list(attempt_log),
            )
            self.state.save(record, now=attempt.at)
            return record

        for attempt in range(1, policy.max_attempts + 1):
            attempts += 1
            try:
                async with self.channel_slots[name], self.slots:
                    code = await send(channel)
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
                record = save(
                    DeliveryStatus.FAILED if final else DeliveryStatus.PENDING,
                    DeliveryAttempt(
                        number=attempts,
                        at=self.clock(),
                        error=str(failure),
                        status_code=failure.status_code,
                    ),
                )
                log.warning(
                    "delivery attempt failed",
                    extra={
                        "alert_id": key,
                        "channel": name,
                        "attempt": attempts,
                        "final": final,
                        "error": str(failure),
                    },
                )
                if on_attempt is not None:
                    await on_attempt(record)
                if final:
                    DELIVERIES.labels(channel.kind, "failed").inc()
                    return record, True
                delay = max(policy.delay(attempt, self.jitter()), failure.retry_after_s or 0.0)
                await self.sleep(min(delay, self.max_delay_s))
                continue
            ATTEMPTS.labels(channel.kind, "ok").inc()
            record = save(
                DeliveryStatus.DELIVERED,
                DeliveryAttempt(number=attempts, at=self.clock(), status_code=code),
            )
            DELIVERIES.labels(channel.kind, "delivered").inc()
            log.info("delivered", extra={"alert_id": key, "channel": name, "attempts": attempts})
            if on_attempt is not None:
                await on_attempt(record)
            return record, True
        raise AssertionError("unreachable: the last attempt always returns")


def as_delivery(
    record: DeliveryRecord, kind: ChannelKind, digest_id: str | None = None
) -> Delivery:
    return Delivery(
        channel=record.channel,
        kind=kind,
        status=record.status,
        attempts=record.attempts,
        last_error=record.last_error,
        delivered_at=record.delivered_at,
        attempt_log=record.attempt_log,
        digest_id=digest_id,
    )
