"""Delivery channels (email over pooled SMTP sessions; the JSON webhook, Telegram, Teams and
Mattermost over HTTP) behind one interface found in one registry, and the dispatcher that
delivers a message over a channel: retries until the channel's give-up time, one circuit
breaker per channel (a channel that keeps failing is paused and probed), every attempt's
intent and outcome in the state file.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr
from functools import cached_property
from typing import Any, Literal, NamedTuple, Protocol

import aiosmtplib
import httpx
from aiosmtplib.email import flatten_message
from prometheus_client import Counter, Gauge

from schemas import Alert, Delivery, DeliveryAttempt, DeliveryStatus, EnrichedArticle, utc_now
from services.alerting.core import (
    REDELIVERY_HEADER,
    Admission,
    BreakerState,
    ChannelKind,
    CircuitBreaker,
    DigestMessage,
    EmailChannelConfig,
    HttpChannelConfig,
    Links,
    MattermostChannelConfig,
    RetryPolicy,
    RuleSet,
    TeamsChannelConfig,
    TelegramChannelConfig,
    Verdict,
    WebhookChannelConfig,
    digest_webhook_body,
    http_verdict,
    published_attempt_log,
    render_digest_email,
    render_email,
    retry_after_s,
    smtp_verdict,
    webhook_body,
    webhook_headers,
)
from services.alerting.core.chat_payloads import (
    MattermostOptions,
    json_bytes,
    mattermost_digest_payload,
    mattermost_payload,
    teams_digest_payload,
    teams_payload,
    telegram_digest_payload,
    telegram_payload,
)
from services.alerting.core.mail import ascii_envelope, email_bytes
from services.alerting.settings import AlertingSettings, SmtpSettings
from services.alerting.state import AlertingState, DeliveryRecord, Outcome
from services.common.addresses import GuardedTransport, UnsafeURLError
from services.common.errors import ConfigError

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
PAUSED = Gauge(
    "raqib_alerting_channel_paused",
    "1 while a channel's circuit breaker is open (its alerts wait, one probe at a time).",
    ["channel"],
)
REDELIVERIES = Counter(
    "raqib_alerting_redeliveries_total",
    "Sends marked as possible redeliveries: an earlier attempt was interrupted by a crash "
    "or stop, or cut off after the message may have gone out.",
    ["kind"],
)

INTERRUPTED = (
    "interrupted: the service stopped during this attempt; the receiver may have received it"
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
        maybe_received: bool = False,
    ) -> None:
        super().__init__(message)
        self.retry = retry
        self.retry_after_s = retry_after_s
        self.status_code = status_code
        # Cut off after the message may have gone out (no answer came): a later send may
        # be a duplicate, and is marked as a possible redelivery.
        self.maybe_received = maybe_received


class Channel(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> ChannelKind: ...

    @property
    def give_up_after_s(self) -> float:
        """How long a failed delivery is retried before it fails for good."""

    @property
    def max_concurrent(self) -> int:
        """Attempts over this channel in flight at once."""

    async def send(
        self, alert: Alert, article: EnrichedArticle, *, redelivery: bool = False
    ) -> int | None:
        """Make one delivery attempt; return the server's success code (if any), raise
        ``AttemptFailed`` when it did not deliver. ``redelivery``: mark the message as one
        the receiver may have received already."""

    async def send_digest(self, digest: DigestMessage, *, redelivery: bool = False) -> int | None:
        """One attempt at delivering a whole digest as one message."""

    async def aclose(self) -> None: ...


class EmailChannel:
    kind: Literal["email"] = "email"

    def __init__(
        self,
        name: str,
        config: EmailChannelConfig,
        settings: AlertingSettings,
        shared: SharedClients | None = None,
    ) -> None:
        self.name = name
        self.to = list(config.to)
        self.sender = config.sender or settings.smtp.sender
        self.envelope_sender = parseaddr(self.sender)[1] or self.sender
        self.give_up_after_s = _give_up_after_s(config.give_up_after, settings)
        self.smtp = settings.smtp
        self.links = Links(settings.kibana_url)
        # As many attempts in flight as the pool has sessions: an intent is written only
        # when its message is about to go out.
        self.max_concurrent = settings.smtp.pool_size
        tls_context = (
            ssl.create_default_context(cafile=str(settings.smtp.ca_file))
            if settings.smtp.ca_file
            else None
        )
        self.pool = (shared or SharedClients()).smtp_pool(settings.smtp, tls_context)
        # An ASCII envelope (the usual case): the message is written straight to its wire form.
        self.wire = ascii_envelope(self.sender, self.to)

    async def send(
        self, alert: Alert, article: EnrichedArticle, *, redelivery: bool = False
    ) -> int | None:
        if self.wire:
            content = email_bytes(
                alert,
                article,
                sender=self.sender,
                recipients=self.to,
                links=self.links,
                extra_headers=[(REDELIVERY_HEADER, "true")] if redelivery else (),
            )
            return await self._send(content, alert.id, redelivery=False)
        message = render_email(
            alert, article, sender=self.sender, recipients=self.to, links=self.links
        )
        return await self._send(message, alert.id, redelivery)

    async def send_digest(self, digest: DigestMessage, *, redelivery: bool = False) -> int | None:
        message = render_digest_email(
            digest, sender=self.sender, recipients=self.to, links=self.links
        )
        return await self._send(message, digest.id, redelivery)

    async def _send(
        self, message: EmailMessage | bytes, message_key: str, redelivery: bool
    ) -> int | None:
        smtp = self.smtp
        if redelivery and isinstance(message, EmailMessage):
            # Same Message-ID as before: a client folds the duplicate.
            message[REDELIVERY_HEADER] = "true"
        try:
            refused = await self.pool.send(message, self.envelope_sender, self.to)
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
            # Dropped or silent once the message was being sent (DATA): the server may have
            # it. Before that (a refused connection, a drop at MAIL or RCPT) it has nothing.
            maybe = getattr(error, REACHED_DATA, True) and isinstance(
                error, aiosmtplib.SMTPServerDisconnected | aiosmtplib.SMTPTimeoutError
            )
            raise AttemptFailed(
                f"{type(error).__name__}: {error}", retry=True, maybe_received=maybe
            ) from None
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
        await self.pool.aclose()


class _Session(aiosmtplib.SMTP):
    """An SMTP client that knows whether the message it is sending reached DATA: before
    that, a lost connection took nothing (the server has no message to keep)."""

    in_data = False
    sent = 0  # messages this session delivered
    idle_since = 0.0

    async def data(self, message: str | bytes, /, **options: Any) -> aiosmtplib.SMTPResponse:
        self.in_data = True
        return await super().data(message, **options)


class _Envelope(NamedTuple):
    sender: str
    recipients: list[str]
    content: bytes
    options: list[str]


class SmtpPool:
    """Open sessions to one SMTP server, reused while there is work (one session per message
    took about 100 messages a second from the local catcher).

    At most ``size`` sessions at once. A session goes back to the pool after a message it
    delivered, and is closed after ``idle_s`` unused, after ``max_messages`` messages, or on
    any error. When a reused session turns out to have been dropped (the server hung up
    while it was idle, or answers 421) before the message reached DATA, the server has
    nothing: the message goes again, once, over a fresh session. A session lost during
    DATA may have delivered: that is the caller's failure, marked as possibly received, and
    the next attempt carries the same Message-ID."""

    def __init__(
        self,
        smtp: SmtpSettings,
        tls_context: ssl.SSLContext | None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.smtp = smtp
        self.tls_context = tls_context
        self.size = smtp.pool_size
        self.idle_s = smtp.pool_idle_s
        self.max_messages = smtp.session_max_messages
        self.clock = clock
        self._idle: list[_Session] = []  # newest last: reused first, the oldest idle out
        self._room: asyncio.Semaphore | None = None
        self._reaper: asyncio.TimerHandle | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self.opened = 0  # sessions opened so far (tests and logs)
        self.closed = False

    @property
    def idle(self) -> int:
        return len(self._idle)

    async def send(
        self, message: EmailMessage | bytes, sender: str, recipients: Sequence[str]
    ) -> dict[str, aiosmtplib.SMTPResponse]:
        """Send one message (or its wire form, CRLF and 7 bits) from ``sender`` to
        ``recipients`` (the envelope: the channel knows it, so the headers are not parsed
        again) over a pooled session; the recipients the server refused."""
        utf8 = not (sender + "".join(recipients)).isascii()
        # Flattened once, also for a resend; the parts are base64, so 7 bits carry them.
        content = (
            message
            if isinstance(message, bytes)
            else flatten_message(message, utf8=utf8, cte_type="7bit")
        )
        envelope = _Envelope(sender, list(recipients), content, ["SMTPUTF8"] if utf8 else [])
        if self._room is None:
            self._room = asyncio.Semaphore(self.size)
        async with self._room:
            session, reused = await self._checkout()
            try:
                refused = await self._send_over(session, envelope)
            except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPResponseException) as error:
                if not (reused and not session.in_data and _dropped(error)):
                    raise
                log.info(
                    "SMTP session was dropped while idle; sending over a fresh one",
                    extra={"server": f"{self.smtp.host}:{self.smtp.port}", "error": str(error)},
                )
                refused = await self._send_over(await self._connect(), envelope)
            return refused

    async def _send_over(
        self, session: _Session, envelope: _Envelope
    ) -> dict[str, aiosmtplib.SMTPResponse]:
        """One message over ``session``: back to the pool after, closed on any error (which
        says whether DATA had begun, ``REACHED_DATA``)."""
        try:
            refused, _ = await session.sendmail(
                envelope.sender,
                envelope.recipients,
                envelope.content,
                mail_options=envelope.options,
            )
        except BaseException as error:
            self._discard(session)
            setattr(error, REACHED_DATA, session.in_data)
            raise
        self._checkin(session)
        return refused

    async def _checkout(self) -> tuple[_Session, bool]:
        while self._idle:
            session = self._idle.pop()
            if session.is_connected:
                session.in_data = False
                return session, True
            self._discard(session)
        return await self._connect(), False

    async def _connect(self) -> _Session:
        smtp = self.smtp
        session = _Session(
            hostname=smtp.host,
            port=smtp.port,
            username=smtp.username,
            password=smtp.password.get_secret_value() if smtp.password else None,
            start_tls=smtp.starttls,
            use_tls=smtp.tls,
            timeout=smtp.timeout_s,
            tls_context=self.tls_context,
        )
        try:
            await session.connect()
        except BaseException:
            session.close()
            raise
        self.opened += 1
        return session

    def _checkin(self, session: _Session) -> None:
        session.sent += 1
        if self.closed or session.sent >= self.max_messages or not session.is_connected:
            self._discard(session)
            return
        session.idle_since = self.clock()
        self._idle.append(session)
        if self._reaper is None:
            self._reaper = asyncio.get_running_loop().call_later(self.idle_s, self._reap)

    def _reap(self) -> None:
        """Close the sessions idle for ``idle_s``; come back for the others."""
        self._reaper = None
        now = self.clock()
        stale = [s for s in self._idle if now - s.idle_since >= self.idle_s]
        self._idle = [s for s in self._idle if now - s.idle_since < self.idle_s]
        for session in stale:
            self._discard(session, polite=True)
        if self._idle:
            wait = min(s.idle_since for s in self._idle) + self.idle_s - now
            self._reaper = asyncio.get_running_loop().call_later(max(wait, 0.01), self._reap)

    def _discard(self, session: _Session, *, polite: bool = False) -> None:
        """Close a session: with QUIT when it is healthy and idle, at once otherwise."""
        if not (polite and session.is_connected):
            session.close()
            return
        task = asyncio.get_running_loop().create_task(_quit(session))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        self.closed = True
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None
        idle, self._idle = self._idle, []
        for session in idle:
            self._discard(session, polite=True)
        if self._closing:
            await asyncio.wait(list(self._closing), timeout=self.smtp.timeout_s)


async def _quit(session: _Session) -> None:
    try:
        await asyncio.wait_for(session.quit(), timeout=2)
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        session.close()


def _dropped(error: Exception) -> bool:
    """The server hung up (or says it is closing the session: 421)."""
    return isinstance(error, aiosmtplib.SMTPServerDisconnected) or (
        isinstance(error, aiosmtplib.SMTPResponseException) and error.code == 421
    )


REACHED_DATA = "raqib_reached_data"  # set on an error the pool raises: had DATA begun?


class SharedClients:
    """What the channels made together share: one SMTP pool per server."""

    def __init__(self) -> None:
        self._pools: dict[tuple[Any, ...], SmtpPool] = {}

    def smtp_pool(self, smtp: SmtpSettings, tls_context: ssl.SSLContext | None) -> SmtpPool:
        key = (smtp.host, smtp.port, smtp.username, smtp.tls, smtp.starttls, smtp.ca_file)
        if key not in self._pools:
            self._pools[key] = SmtpPool(smtp, tls_context)
        return self._pools[key]


class _Target(NamedTuple):
    """A channel's URL, parsed once: the URL, the headers its ``user:password@`` asks for
    (Basic authentication, as an httpx client sends; the transport alone drops them), and
    its origin, all an error may show of it."""

    url: httpx.URL
    auth: dict[str, str]
    origin: str

    @classmethod
    def of(cls, text: str) -> _Target:
        url = httpx.URL(text)
        pair = f"{url.username}:{url.password}".encode()
        auth = {"Authorization": "Basic " + base64.b64encode(pair).decode()} if url.userinfo else {}
        return cls(url, auth, f"{url.scheme}://{url.netloc.decode('ascii')}/…")


def _bare(headers: httpx.Headers) -> list[tuple[str, str]]:
    # An answer's headers for a stand-in without its body (nothing left to decode).
    dropped = {"content-encoding", "content-length", "transfer-encoding"}
    return [(name, value) for name, value in headers.items() if name.lower() not in dropped]


class HttpChannel:
    """A channel that POSTs one JSON body per message: the generic webhook and the chat
    services. What they share is here: one HTTP transport per channel, whose guard checks the
    resolved address of every request; no redirects; what each answer means (2xx
    delivered; 408, 429 with its Retry-After, and 5xx retried; any other answer final);
    and which failures may have delivered. A subclass says where to post and what."""

    kind: ChannelKind

    def __init__(
        self,
        name: str,
        config: HttpChannelConfig,
        settings: AlertingSettings,
        shared: SharedClients | None = None,
    ) -> None:
        self.name = name
        self.give_up_after_s = _give_up_after_s(config.give_up_after, settings)
        # The dispatcher never lets more requests than connections in flight: a request
        # queued inside httpcore's pool makes every pass over the pool slower (httpcore
        # 1.0's assignment is quadratic in connections and queued requests).
        self.max_concurrent = config.max_connections
        self.retry_after_limit = settings.retry_max_delay_s
        self.links = Links(settings.kibana_url)  # Kibana Discover links in what is posted
        # Requests go straight to the transport, without an httpx client: no redirects (an
        # alert must not be re-posted to wherever a 3xx points), no cookies, and a quarter
        # less CPU a request (0.75 -> 0.58 ms with a local receiver). The guard checks the
        # resolved address of every request (the rules file only its syntax).
        self.transport = GuardedTransport(
            httpx.AsyncHTTPTransport(
                limits=httpx.Limits(
                    max_connections=config.max_connections,
                    max_keepalive_connections=config.max_connections,
                )
            ),
            allow_private=settings.allow_private_targets,
        )
        self.timeout = httpx.Timeout(config.timeout_s).as_dict()

    @property
    def url(self) -> str:
        raise NotImplementedError

    def body(self, alert: Alert, article: EnrichedArticle) -> bytes:
        raise NotImplementedError

    def digest_body(self, digest: DigestMessage) -> bytes:
        raise NotImplementedError

    def headers(
        self, message_key: str, body: bytes, now: datetime, redelivery: bool
    ) -> dict[str, str]:
        return webhook_headers(message_key, body, secret=None, now=now, redelivery=redelivery)

    def refusal(self, response: httpx.Response) -> tuple[str, float | None]:
        """What a failure answer says (for the log and the dead letter), and how long it
        asks to wait (seconds) when it says so in its body."""
        return response.text[:200], None

    @cached_property
    def target(self) -> _Target:
        return _Target.of(self.url)

    def redact(self, text: str) -> str:
        """An error's text without the URL's secrets: it may hold a password, a token in its
        path (Mattermost, Slack) or a signature in its query (Teams), so only its origin is
        shown (the channel's name says which it is)."""
        origin = self.target.origin
        return text.replace(self.url, origin).replace(str(self.target.url), origin)

    async def send(
        self, alert: Alert, article: EnrichedArticle, *, redelivery: bool = False
    ) -> int | None:
        return await self._post(alert.id, self.body(alert, article), redelivery)

    async def send_digest(self, digest: DigestMessage, *, redelivery: bool = False) -> int | None:
        return await self._post(digest.id, self.digest_body(digest), redelivery)

    async def _post(self, message_key: str, body: bytes, redelivery: bool) -> int | None:
        now = utc_now()
        headers = self.headers(message_key, body, now, redelivery)
        request = httpx.Request(
            "POST",
            self.target.url,
            content=body,
            headers={**headers, **self.target.auth},
            extensions={"timeout": self.timeout},
        )
        try:
            answer = await self.transport.handle_async_request(request)
            try:
                await answer.aread()
                response = answer
            except httpx.DecodingError:
                # The body only ever gives a refusal's reason: the status still counts (a
                # 2xx whose body is garbled is delivered, not sent again).
                response = httpx.Response(answer.status_code, headers=_bare(answer.headers))
            finally:
                await answer.aclose()
        except UnsafeURLError as error:
            raise AttemptFailed(self.redact(f"refused target: {error}"), retry=False) from None
        except httpx.TimeoutException as error:
            raise AttemptFailed(
                f"timeout: {type(error).__name__}",
                retry=True,
                # The whole request went out and no answer came: it may have been taken.
                maybe_received=isinstance(error, httpx.ReadTimeout),
            ) from None
        except httpx.TransportError as error:
            raise AttemptFailed(
                self.redact(f"{type(error).__name__}: {error}"),
                retry=True,
                maybe_received=isinstance(error, httpx.ReadError | httpx.RemoteProtocolError),
            ) from None
        verdict = http_verdict(response.status_code)
        if verdict is Verdict.DELIVERED:
            return response.status_code
        said, wait = self.refusal(response)
        raise AttemptFailed(
            self.redact(f"HTTP {response.status_code}: {said}".rstrip(": ")),
            retry=verdict is Verdict.RETRY,
            status_code=response.status_code,
            retry_after_s=retry_after_s(
                response.headers.get("Retry-After"), now, self.retry_after_limit
            )
            if wait is None
            else min(wait, self.retry_after_limit),
        )

    async def aclose(self) -> None:
        await self.transport.aclose()


class WebhookChannel(HttpChannel):
    """The alert as JSON (or Slack blocks), signed with HMAC when the channel has a secret."""

    kind: Literal["webhook"] = "webhook"

    def __init__(
        self,
        name: str,
        config: WebhookChannelConfig,
        settings: AlertingSettings,
        shared: SharedClients | None = None,
    ) -> None:
        super().__init__(name, config, settings, shared)
        self._url = config.url
        self.format = config.format
        self.secret = config.secret.get_secret_value() if config.secret else None

    @property
    def url(self) -> str:
        return self._url

    def body(self, alert: Alert, article: EnrichedArticle) -> bytes:
        return webhook_body(alert, article, self.format, self.links)

    def digest_body(self, digest: DigestMessage) -> bytes:
        return digest_webhook_body(digest, self.format, self.links)

    def headers(
        self, message_key: str, body: bytes, now: datetime, redelivery: bool
    ) -> dict[str, str]:
        return webhook_headers(
            message_key, body, secret=self.secret, now=now, redelivery=redelivery
        )


class TelegramChannel(HttpChannel):
    """Bot API ``sendMessage`` to one chat, in HTML parse mode. The token is read from the
    variable the channel names, and kept out of every error and log line."""

    kind: Literal["telegram"] = "telegram"

    def __init__(
        self,
        name: str,
        config: TelegramChannelConfig,
        settings: AlertingSettings,
        shared: SharedClients | None = None,
    ) -> None:
        super().__init__(name, config, settings, shared)
        token = (
            config.bot_token.get_secret_value()
            if config.bot_token is not None
            else os.environ.get(config.bot_token_env, "").strip()
        )
        if not token:
            raise ConfigError(
                f"channel {name!r}: {config.bot_token_env} is not set; it must hold the bot's token"
            )
        self.token = token
        self.chat_id = config.chat_id
        self._url = f"{config.base_url}/bot{token}/sendMessage"

    @property
    def url(self) -> str:
        return self._url

    def body(self, alert: Alert, article: EnrichedArticle) -> bytes:
        return json_bytes(telegram_payload(alert, article, self.chat_id, self.links))

    def digest_body(self, digest: DigestMessage) -> bytes:
        return json_bytes(telegram_digest_payload(digest, self.chat_id, self.links))

    def refusal(self, response: httpx.Response) -> tuple[str, float | None]:
        # {"ok": false, "error_code": 429, "description": "...",
        #  "parameters": {"retry_after": 5, "migrate_to_chat_id": -100...}}
        try:
            answer = response.json()
        except ValueError:
            return response.text[:200], None
        if not isinstance(answer, dict):
            return response.text[:200], None
        said = str(answer.get("description") or response.text[:200])
        parameters = answer.get("parameters")
        wait: float | None = None
        if isinstance(parameters, dict):
            if isinstance(parameters.get("retry_after"), int | float):
                wait = float(parameters["retry_after"])
            if parameters.get("migrate_to_chat_id") is not None:
                said += f" (the group is now chat {parameters['migrate_to_chat_id']}: set chat_id)"
        return said, wait

    def redact(self, text: str) -> str:
        # Its URL's only secret is the token: the rest of the path says which call failed.
        return text.replace(self.token, "<token>")


class TeamsChannel(HttpChannel):
    """An Adaptive Card posted to a Teams Workflows webhook (decision 56)."""

    kind: Literal["teams"] = "teams"

    def __init__(
        self,
        name: str,
        config: TeamsChannelConfig,
        settings: AlertingSettings,
        shared: SharedClients | None = None,
    ) -> None:
        super().__init__(name, config, settings, shared)
        self._url = config.url

    @property
    def url(self) -> str:
        return self._url

    def body(self, alert: Alert, article: EnrichedArticle) -> bytes:
        return json_bytes(teams_payload(alert, article, self.links))

    def digest_body(self, digest: DigestMessage) -> bytes:
        return json_bytes(teams_digest_payload(digest, self.links))


class MattermostChannel(HttpChannel):
    """Markdown posted to a Mattermost incoming webhook (Slack-compatible ``text``)."""

    kind: Literal["mattermost"] = "mattermost"

    def __init__(
        self,
        name: str,
        config: MattermostChannelConfig,
        settings: AlertingSettings,
        shared: SharedClients | None = None,
    ) -> None:
        super().__init__(name, config, settings, shared)
        self._url = config.url
        self.options = MattermostOptions(config.channel, config.username, config.icon_url)

    @property
    def url(self) -> str:
        return self._url

    def body(self, alert: Alert, article: EnrichedArticle) -> bytes:
        return json_bytes(mattermost_payload(alert, article, self.options, self.links))

    def digest_body(self, digest: DigestMessage) -> bytes:
        return json_bytes(mattermost_digest_payload(digest, self.options, self.links))


def _give_up_after_s(own: timedelta | None, settings: AlertingSettings) -> float:
    return own.total_seconds() if own is not None else settings.give_up_after_s


ChannelFactory = Callable[[str, Any, AlertingSettings, SharedClients], Channel]

# The one registry of channel kinds: a rules file's `kind` is looked up here.
CHANNEL_KINDS: dict[str, ChannelFactory] = {
    "email": EmailChannel,
    "webhook": WebhookChannel,
    "telegram": TelegramChannel,
    "teams": TeamsChannel,
    "mattermost": MattermostChannel,
}


def build_channels(rule_set: RuleSet, settings: AlertingSettings) -> dict[str, Channel]:
    shared = SharedClients()
    return {
        name: CHANNEL_KINDS[config.kind](name, config, settings, shared)
        for name, config in rule_set.channels.items()
    }


# One attempt over a channel; the flag: mark it as a possible redelivery.
Send = Callable[["Channel", bool], Awaitable[int | None]]
OnAttempt = Callable[[DeliveryRecord], Awaitable[None]]


class Delivered(NamedTuple):
    """What ``Dispatcher.deliver`` did: the delivery's record, whether its state changed (an
    attempt, or giving up), and, when the channel is paused, until when it waits."""

    record: DeliveryRecord
    attempted: bool
    parked_until: datetime | None = None

    @property
    def parked(self) -> bool:
        """Not sent: the channel is paused; the delivery waits in the outbox, where the
        caller resumes it when the channel is probed or comes back."""
        return self.parked_until is not None


class ChannelWatcher(Protocol):
    """Told when a paused channel may be probed and when it is back (to drain its backlog)."""

    def probe_due(self, channel: str) -> None: ...

    def recovered(self, channel: str) -> None: ...


class Dispatcher:
    """Delivers one message over one channel, recording every attempt durably: its intent
    before the send, its outcome after; a delivery the state file says went out is never
    sent again. A failure a retry may fix is retried with capped backoff until the channel's
    ``give_up_after_s`` has passed since the run of attempts began.

    Each channel has a circuit breaker (``core.CircuitBreaker``): ``breaker_failures``
    failures in a row pause the channel; while paused ``deliver`` returns at once, parked
    (no attempt), and ``watchers`` are told every ``breaker_probe_s`` that one delivery may
    go as the probe; its success resumes the channel and tells them to drain.

    At most ``max_concurrent`` attempts run at once across all channels, and at most
    ``channel.max_concurrent`` over one channel (taken first, so a slow channel's queue holds
    none of the shared slots); waits between attempts hold no slot."""

    def __init__(
        self,
        channels: Mapping[str, Channel],
        state: AlertingState,
        *,
        base_delay_s: float,
        max_delay_s: float,
        max_concurrent: int = 64,
        breaker_failures: int = 5,
        breaker_probe_s: float = 15.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        clock: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.channels = channels
        self.state = state
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.slots = asyncio.Semaphore(max_concurrent)
        self.channel_slots = {
            name: asyncio.Semaphore(channel.max_concurrent) for name, channel in channels.items()
        }
        self.breakers = {
            name: CircuitBreaker(breaker_failures, breaker_probe_s) for name in channels
        }
        self.watchers: list[ChannelWatcher] = []
        self.sleep = sleep
        self.jitter = jitter
        self.clock = clock
        self.monotonic = monotonic
        # Set (and replaced) each time a paused channel comes back: wakes retries waiting
        # out a backoff, so a recovered channel drains at once.
        self._recovery = {name: asyncio.Event() for name in channels}
        self._probe_timers: dict[str, asyncio.TimerHandle] = {}

    def paused(self, name: str) -> bool:
        return self.breakers[name].state is not BreakerState.CLOSED

    def close(self) -> None:
        for timer in self._probe_timers.values():
            timer.cancel()
        self._probe_timers.clear()

    async def deliver(
        self, key: str, name: str, send: Send, on_attempt: OnAttempt | None = None
    ) -> Delivered:
        """Deliver message ``key`` over channel ``name``: delivered, failed for good, or
        parked while the channel is paused. ``on_attempt`` sees every new state."""
        channel = self.channels[name]
        breaker = self.breakers[name]
        previous = self.state.get(key, name)
        if previous is not None and previous.status is DeliveryStatus.DELIVERED:
            DELIVERIES.labels(channel.kind, "skipped_already_sent").inc()
            return Delivered(previous, False)
        if previous is not None and previous.open_attempt is not None:
            previous = self._interrupted(previous, channel)
        policy = RetryPolicy(self.base_delay_s, self.max_delay_s, channel.give_up_after_s)
        # A new run of attempts (and give-up clock) starts unless one is under way: after a
        # failure for good, a restart or replay is how an operator retries.
        ongoing = previous is not None and previous.status is DeliveryStatus.PENDING
        since = previous.since if ongoing and previous and previous.since else self.clock()
        attempts = previous.attempts if previous is not None else 0
        attempt_log = list(previous.attempt_log) if previous is not None else []
        in_doubt = previous.in_doubt if previous is not None else False
        changed = False
        tries = 0  # attempts in this call: the backoff starts over after a pause

        def record_of(
            status: DeliveryStatus, delivered_at: datetime | None = None, note: str | None = None
        ) -> DeliveryRecord:
            return DeliveryRecord(
                key,
                name,
                status,
                attempts,
                _last_error(attempt_log, since, note),
                delivered_at,
                list(attempt_log),
                since,
                in_doubt,
            )

        async def saved(record: DeliveryRecord, outcome: Outcome | None) -> DeliveryRecord:
            await self.state.save_in_group(record, now=self.clock(), outcome=outcome)
            if on_attempt is not None:
                await on_attempt(record)
            return record

        while True:
            failure: AttemptFailed | None = None
            code: int | None = None
            async with self.channel_slots[name]:
                admission = breaker.admit(self.monotonic())
                if admission is not Admission.WAIT:
                    reported = False
                    try:
                        async with self.slots:
                            attempts += 1
                            tries += 1
                            # The intent, durably before the send: a crash from here on
                            # leaves an attempt the next start knows may have gone out.
                            attempt_log.append(DeliveryAttempt(number=attempts, at=self.clock()))
                            await self.state.save_in_group(
                                record_of(DeliveryStatus.PENDING),
                                now=attempt_log[-1].at,
                                outcome=Outcome.SENDING,
                            )
                            changed = True
                            if in_doubt:
                                REDELIVERIES.labels(channel.kind).inc()
                            try:
                                code = await send(channel, in_doubt)
                            except asyncio.CancelledError:
                                self.state.interrupt(key, name, attempts, INTERRUPTED)
                                raise
                            except Exception as error:
                                failure = _as_failure(error)
                        reported = True
                    finally:
                        if not reported and admission is Admission.PROBE:
                            breaker.abandoned(self.monotonic())
                            self._arm_probe(name)
            if admission is Admission.WAIT:
                give_up_at = policy.give_up_at(since)
                if self.clock() >= give_up_at:
                    DELIVERIES.labels(channel.kind, "failed").inc()
                    why = f"gave up after {_span(policy.give_up_after_s)}: channel paused"
                    log.warning(
                        "delivery given up while its channel is paused",
                        extra={"alert_id": key, "channel": name, "attempts": attempts},
                    )
                    given_up = record_of(DeliveryStatus.FAILED, note=why)
                    return Delivered(await saved(given_up, None), True)
                record = record_of(DeliveryStatus.PENDING)
                if not changed and (previous is None or previous.since != since):
                    self.state.save(record, now=self.clock())  # keeps the give-up clock
                return Delivered(record, changed, give_up_at)

            now = self.clock()
            if failure is None:
                self._succeeded(name)
                ATTEMPTS.labels(channel.kind, "ok").inc()
                attempt_log[-1] = DeliveryAttempt(number=attempts, at=now, status_code=code)
                record = await saved(
                    record_of(DeliveryStatus.DELIVERED, delivered_at=now), Outcome.DELIVERED
                )
                DELIVERIES.labels(channel.kind, "delivered").inc()
                log.info(
                    "delivered", extra={"alert_id": key, "channel": name, "attempts": attempts}
                )
                return Delivered(record, True)

            if failure.retry:
                self._failed(name)
            else:
                self._succeeded(name)  # the receiver answered: the channel works
            wait = (
                policy.next_wait(
                    attempts_made=tries,
                    started=since,
                    now=now,
                    jitter=self.jitter(),
                    retry_after_s=failure.retry_after_s,
                )
                if failure.retry
                else None
            )
            final = wait is None
            in_doubt = in_doubt or failure.maybe_received
            attempt_log[-1] = DeliveryAttempt(
                number=attempts, at=now, error=str(failure), status_code=failure.status_code
            )
            note = (
                f"gave up after {_span(policy.give_up_after_s)}"
                if final and failure.retry
                else None
            )
            ATTEMPTS.labels(channel.kind, "fail" if final else "retry").inc()
            record = await saved(
                record_of(DeliveryStatus.FAILED if final else DeliveryStatus.PENDING, note=note),
                Outcome.IN_DOUBT if failure.maybe_received else Outcome.FAILED,
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
            if wait is None:
                DELIVERIES.labels(channel.kind, "failed").inc()
                return Delivered(record, True)
            await self._backoff(name, wait)

    def _interrupted(self, previous: DeliveryRecord, channel: Channel) -> DeliveryRecord:
        """An attempt whose intent is on record and its outcome is not: a crash or stop cut
        it short. Recorded as interrupted; the next sends are marked as redeliveries."""
        number = previous.open_attempt
        assert number is not None
        self.state.interrupt(previous.alert_id, previous.channel, number, INTERRUPTED)
        log.warning(
            "an attempt was interrupted by a stop or crash; sending again, marked as a "
            "possible redelivery",
            extra={"alert_id": previous.alert_id, "channel": channel.name, "attempt": number},
        )
        record = self.state.get(previous.alert_id, previous.channel)
        assert record is not None
        return record

    async def _backoff(self, name: str, seconds: float) -> None:
        """Wait before the next attempt, or less if the channel comes back from a pause."""
        recovered = asyncio.ensure_future(self._recovery[name].wait())
        slept = asyncio.ensure_future(self.sleep(seconds))
        try:
            await asyncio.wait({recovered, slept}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            recovered.cancel()
            slept.cancel()

    def _failed(self, name: str) -> None:
        breaker = self.breakers[name]
        was = breaker.state
        if not breaker.failed(self.monotonic()):
            return
        if was is BreakerState.CLOSED:
            PAUSED.labels(name).set(1)
            log.warning(
                "channel paused: it keeps failing; its alerts wait in the outbox and one "
                "probe goes every breaker_probe_s",
                extra={
                    "channel": name,
                    "failures": breaker.failures,
                    "probe_every_s": breaker.probe_every_s,
                },
            )
        self._arm_probe(name)

    def _succeeded(self, name: str) -> None:
        if not self.breakers[name].succeeded():
            return
        PAUSED.labels(name).set(0)
        log.info("channel back: draining its waiting alerts", extra={"channel": name})
        timer = self._probe_timers.pop(name, None)
        if timer is not None:
            timer.cancel()
        recovery, self._recovery[name] = self._recovery[name], asyncio.Event()
        recovery.set()
        for watcher in self.watchers:
            watcher.recovered(name)

    def _arm_probe(self, name: str) -> None:
        delay = self.breakers[name].probe_in(self.monotonic())
        if delay is None:
            return
        timer = self._probe_timers.pop(name, None)
        if timer is not None:
            timer.cancel()
        self._probe_timers[name] = asyncio.get_running_loop().call_later(
            delay, self._probe_due, name
        )

    def _probe_due(self, name: str) -> None:
        self._probe_timers.pop(name, None)
        for watcher in self.watchers:
            watcher.probe_due(name)


_KEPT_ERRORS = 5  # last_error keeps this many of the run's newest errors


def _as_failure(error: Exception) -> AttemptFailed:
    if isinstance(error, AttemptFailed):
        return error
    return AttemptFailed(f"{type(error).__name__}: {error}", retry=True)  # unknown: retry


def _last_error(attempts: list[DeliveryAttempt], since: datetime, note: str | None) -> str | None:
    """The newest errors of this run of attempts, numbered, and a closing note."""
    errors = [f"attempt {a.number}: {a.error}" for a in attempts if a.error and a.at >= since]
    kept = errors[-_KEPT_ERRORS:]
    if len(errors) > len(kept):
        kept.insert(0, f"({len(errors) - len(kept)} earlier errors)")
    if note:
        kept.append(note)
    return "; ".join(kept) or None


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size:g}{unit}"
    return f"{seconds:g}s"


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
        attempt_log=published_attempt_log(record.attempt_log),
        digest_id=digest_id,
    )
