"""Each channel adapter against a real server: what counts as delivered, retried or failed."""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import time
from email.message import EmailMessage

import pytest

from schemas import Alert
from services.alerting.channels import AttemptFailed, EmailChannel, WebhookChannel
from services.alerting.core import (
    EmailChannelConfig,
    WebhookChannelConfig,
)
from services.alerting.settings import AlertingSettings, SmtpSettings
from services.devstack.receivers import (
    ReceivedRequest,
    SmtpCatcher,
    WebhookReceiver,
    wait_until,
)
from services.devstack.servers import free_port
from tests.unit.alerting.articles import deterrence_alert, enriched

pytestmark = pytest.mark.integration

ARTICLE = enriched()


def _alert() -> Alert:
    return deterrence_alert(ARTICLE)


def _settings(smtp_port: int) -> AlertingSettings:
    return AlertingSettings(
        smtp=SmtpSettings(
            host="127.0.0.1", port=smtp_port, timeout=5, sender="Raqib <alerts@raqib.example>"
        ),
        retry_max_delay_s=30,
        allow_private_targets=True,  # the receivers listen on 127.0.0.1
    )


def _webhook(url: str, **options: object) -> WebhookChannel:
    config = WebhookChannelConfig.model_validate({"kind": "webhook", "url": url, **options})
    return WebhookChannel("hook", config, _settings(25))


async def test_email_reaches_the_smtp_server_with_the_default_sender(
    smtp_catcher: SmtpCatcher,
) -> None:
    config = EmailChannelConfig.model_validate(
        {"kind": "email", "to": ["a@raqib.example", "b@raqib.example"]}
    )
    channel = EmailChannel("mail", config, _settings(smtp_catcher.port))
    await channel.send(_alert(), ARTICLE)
    (message,) = smtp_catcher.messages
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed["From"] == "Raqib <alerts@raqib.example>"
    assert parsed["To"] == "a@raqib.example, b@raqib.example"
    assert "قوة الردع الخاصة" in parsed["Subject"]


async def test_email_to_a_server_that_is_down_is_retryable() -> None:
    config = EmailChannelConfig.model_validate({"kind": "email", "to": ["a@raqib.example"]})
    channel = EmailChannel("mail", config, _settings(free_port()))
    with pytest.raises(AttemptFailed) as caught:
        await channel.send(_alert(), ARTICLE)
    assert caught.value.retry
    assert not caught.value.maybe_received  # nothing went out: a resend is no duplicate


async def test_email_sent_again_after_an_unknown_outcome_is_marked_with_the_same_id(
    smtp_catcher: SmtpCatcher,
) -> None:
    config = EmailChannelConfig.model_validate({"kind": "email", "to": ["a@raqib.example"]})
    channel = EmailChannel("mail", config, _settings(smtp_catcher.port))
    alert = _alert()
    await channel.send(alert, ARTICLE)
    await channel.send(alert, ARTICLE, redelivery=True)
    first, again = smtp_catcher.messages
    assert first["Message-ID"] == again["Message-ID"] == f"<{alert.id}.alert@raqib.example>"
    assert first["X-Raqib-Redelivery"] is None and again["X-Raqib-Redelivery"] == "true"


@pytest.mark.parametrize(
    ("status", "retry"), [(404, False), (401, False), (408, True), (500, True), (503, True)]
)
async def test_webhook_status_decides_the_retry(status: int, retry: bool) -> None:
    with WebhookReceiver(responder=lambda _seen, _request: status) as receiver:
        channel = _webhook(receiver.url)
        try:
            with pytest.raises(AttemptFailed, match=f"HTTP {status}") as caught:
                await channel.send(_alert(), ARTICLE)
        finally:
            await channel.aclose()
    assert caught.value.retry is retry
    assert len(receiver.requests) == 1


async def test_webhook_to_a_closed_port_is_retryable() -> None:
    channel = _webhook(f"http://127.0.0.1:{free_port()}/hook")
    try:
        with pytest.raises(AttemptFailed, match="ConnectError") as caught:
            await channel.send(_alert(), ARTICLE)
    finally:
        await channel.aclose()
    assert caught.value.retry and not caught.value.maybe_received


async def test_a_webhook_that_times_out_after_the_request_went_out_may_have_it() -> None:
    def slow(seen: list[ReceivedRequest], _request: ReceivedRequest) -> int:
        if len(seen) == 1:
            time.sleep(0.6)  # the first answer comes after the client gave up
        return 200

    with WebhookReceiver(responder=slow) as receiver:
        channel = _webhook(receiver.url, timeout_s=0.3)
        alert = _alert()
        try:
            with pytest.raises(AttemptFailed, match="ReadTimeout") as caught:
                await channel.send(alert, ARTICLE)
            # The receiver took it, answering too late.
            assert await asyncio.to_thread(wait_until, lambda: bool(receiver.requests), 5)
            await channel.send(alert, ARTICLE, redelivery=True)
        finally:
            await channel.aclose()
    assert caught.value.retry and caught.value.maybe_received
    first, again = receiver.requests
    assert first.headers["X-Raqib-Alert-Id"] == again.headers["X-Raqib-Alert-Id"] == alert.id
    assert "X-Raqib-Redelivery" not in first.headers
    assert again.headers["X-Raqib-Redelivery"] == "true"


async def test_webhook_posts_the_alert_with_its_id_and_no_signature_without_secret() -> None:
    with WebhookReceiver() as receiver:
        channel = _webhook(receiver.url)
        alert = _alert()
        try:
            await channel.send(alert, ARTICLE)
        finally:
            await channel.aclose()
    (request,) = receiver.requests
    assert request.headers["X-Raqib-Alert-Id"] == alert.id
    assert "X-Raqib-Signature" not in request.headers
    assert request.headers["Content-Type"].startswith("application/json")
    posted = Alert.model_validate_json(request.body)
    assert posted.model_copy(update={"content": None}) == alert  # the alert, with its content
    assert posted.content is not None and posted.content.actors


async def test_a_webhook_url_with_credentials_sends_them_as_basic_auth() -> None:
    with WebhookReceiver() as receiver:
        url = receiver.url.replace("http://", "http://ops%40raqib:s%3Acret@")
        channel = _webhook(url)
        try:
            await channel.send(_alert(), ARTICLE)
        finally:
            await channel.aclose()
    (request,) = receiver.requests
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(
        b"ops@raqib:s:cret"
    ).decode("ascii")


@pytest.mark.parametrize(("status", "delivered"), [(200, True), (503, False)])
async def test_an_answer_whose_body_cannot_be_decoded_still_counts_by_its_status(
    status: int, delivered: bool
) -> None:
    garbled = (status, b"not gzip!", {"Content-Encoding": "gzip", "Retry-After": "7"})
    with WebhookReceiver(responder=lambda _seen, _request: garbled) as receiver:
        channel = _webhook(receiver.url)
        try:
            if delivered:
                assert await channel.send(_alert(), ARTICLE) == status
            else:
                with pytest.raises(AttemptFailed, match=f"HTTP {status}") as caught:
                    await channel.send(_alert(), ARTICLE)
                assert caught.value.retry and caught.value.retry_after_s == 7
        finally:
            await channel.aclose()
    assert len(receiver.requests) == 1


async def test_an_error_shows_the_urls_origin_not_its_secrets() -> None:
    url = "http://ops:pa55word@127.0.0.1:9/hooks/s3cr3t-id?sig=s1gnature"
    config = WebhookChannelConfig.model_validate({"kind": "webhook", "url": url})
    settings = _settings(25).model_copy(update={"allow_private_targets": False})
    channel = WebhookChannel("hook", config, settings)
    try:
        with pytest.raises(AttemptFailed, match="refused target") as caught:
            await channel.send(_alert(), ARTICLE)
    finally:
        await channel.aclose()
    said = str(caught.value)
    assert "http://127.0.0.1:9/…" in said
    assert not any(secret in said for secret in ("pa55word", "s3cr3t-id", "s1gnature"))
