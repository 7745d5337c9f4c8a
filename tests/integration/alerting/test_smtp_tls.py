"""Email over STARTTLS and implicit TLS with AUTH, against aiosmtpd with a test CA (trustme),
a wrong password, and an SMTP server that is down at first and up later (delivered once,
after a retry)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pydantic import SecretStr

from schemas import Alert, DeliveryStatus
from services.alerting.channels import AttemptFailed, Dispatcher, EmailChannel
from services.alerting.core import EmailChannelConfig
from services.alerting.settings import AlertingSettings, SmtpSettings
from services.alerting.state import AlertingState
from services.devstack.servers import free_port
from tests.unit.alerting.articles import deterrence_alert, enriched

pytestmark = pytest.mark.integration

USER, PASSWORD = "raqib", "s3cret-pass"
ARTICLE = enriched()


class Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            USER.encode(),
            PASSWORD.encode(),
        )
        if ok:
            self.logins.append(data.login.decode())
        # handled=False: aiosmtpd answers a failure with 535 itself; with its default (True)
        # it sends no reply at all, and the client waits for one until its timeout.
        return AuthResult(success=ok, handled=False)


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


def start_server(inbox: Inbox, ca: trustme.CA, *, implicit: bool, port: int) -> Controller:
    context = server_context(ca)
    options: dict[str, Any] = {
        "auth_required": True,
        "authenticator": inbox.authenticate,
    }
    if implicit:
        options |= {"ssl_context": context, "auth_require_tls": False}
    else:
        options |= {"tls_context": context, "require_starttls": True}
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    return controller


def channel(port: int, ca_file: Path, *, implicit: bool, password: str = PASSWORD) -> EmailChannel:
    smtp = SmtpSettings(
        host="127.0.0.1",
        port=port,
        username=USER,
        password=SecretStr(password),
        tls=implicit,
        starttls=None if implicit else True,
        ca_file=ca_file,
        timeout=5,
    )
    config = EmailChannelConfig.model_validate({"kind": "email", "to": ["desk@raqib.example"]})
    return EmailChannel("mail", config, AlertingSettings(smtp=smtp))


def alert() -> Alert:
    return deterrence_alert(ARTICLE, [("mail", "email")])


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    yield Inbox()


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "implicit-tls"])
async def test_email_over_tls_with_authentication(
    inbox: Inbox, ca: trustme.CA, ca_file: Path, implicit: bool
) -> None:
    port = free_port()
    controller = start_server(inbox, ca, implicit=implicit, port=port)
    try:
        await channel(port, ca_file, implicit=implicit).send(alert(), ARTICLE)
    finally:
        controller.stop()
    assert inbox.logins == [USER]
    (message,) = inbox.messages
    assert "قوة الردع الخاصة" in str(message["Subject"])


async def test_a_certificate_from_an_unknown_ca_is_refused(
    inbox: Inbox, ca: trustme.CA, tmp_path: Path
) -> None:
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    port = free_port()
    controller = start_server(inbox, ca, implicit=True, port=port)
    try:
        with pytest.raises(AttemptFailed) as caught:
            await channel(port, other, implicit=True).send(alert(), ARTICLE)
    finally:
        controller.stop()
    assert inbox.messages == [] and "CERTIFICATE_VERIFY_FAILED" in str(caught.value)


async def test_a_wrong_password_fails_the_delivery_at_once_and_the_next_one_goes_out(
    inbox: Inbox, ca: trustme.CA, ca_file: Path, tmp_path: Path
) -> None:
    port = free_port()
    controller = start_server(inbox, ca, implicit=False, port=port)
    wrong = channel(port, ca_file, implicit=False, password="not-the-password")
    right = channel(port, ca_file, implicit=False)
    right.name = "mail-fixed"
    raised = alert()
    try:
        with AlertingState(tmp_path / "state.sqlite3") as store:
            dispatcher = Dispatcher(
                {"mail": wrong, "mail-fixed": right}, store, base_delay_s=0.1, max_delay_s=1
            )
            record, _, _ = await dispatcher.deliver(
                raised.id, "mail", lambda c, _redelivery: c.send(raised, ARTICLE)
            )
            # The dispatcher returned a failed record instead of raising: the service goes on.
            fixed, _, _ = await dispatcher.deliver(
                raised.id, "mail-fixed", lambda c, _redelivery: c.send(raised, ARTICLE)
            )
    finally:
        controller.stop()
    # Credentials do not fix themselves, and repeated bad logins can lock the account:
    # one attempt, no retry.
    assert (record.status, record.attempts) == (DeliveryStatus.FAILED, 1)
    (attempt,) = record.attempt_log
    assert attempt.status_code == 535
    assert attempt.error is not None and "authentication failed" in attempt.error
    assert "RAQIB_SMTP_PASSWORD" in attempt.error and "not-the-password" not in attempt.error
    assert fixed.status is DeliveryStatus.DELIVERED
    assert inbox.logins == [USER] and len(inbox.messages) == 1


async def test_smtp_down_then_up_is_delivered_once_after_a_retry(
    inbox: Inbox, ca: trustme.CA, ca_file: Path, tmp_path: Path
) -> None:
    port = free_port()
    mail = channel(port, ca_file, implicit=False)
    waits: list[float] = []
    controllers: list[Controller] = []

    async def sleep(seconds: float) -> None:
        # The server comes up during the first backoff.
        waits.append(seconds)
        if not controllers:
            controllers.append(start_server(inbox, ca, implicit=False, port=port))
        await asyncio.sleep(0)

    raised = alert()
    try:
        with AlertingState(tmp_path / "state.sqlite3") as store:
            dispatcher = Dispatcher(
                {"mail": mail}, store, base_delay_s=0.1, max_delay_s=1, sleep=sleep
            )
            record, _, _ = await dispatcher.deliver(
                raised.id, "mail", lambda c, _redelivery: c.send(raised, ARTICLE)
            )
            again, attempted, _ = await dispatcher.deliver(
                raised.id, "mail", lambda c, _redelivery: c.send(raised, ARTICLE)
            )
    finally:
        for controller in controllers:
            controller.stop()
    assert (record.status, record.attempts, len(waits)) == (DeliveryStatus.DELIVERED, 2, 1)
    assert record.attempt_log[0].error is not None
    assert (again.status, attempted) == (DeliveryStatus.DELIVERED, False)
    assert len(inbox.messages) == 1
