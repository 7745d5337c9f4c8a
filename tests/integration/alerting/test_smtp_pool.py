"""Pooled SMTP sessions against a real SMTP server (aiosmtpd): reused while there is mail,
closed when idle, and a connection the server drops mid-session loses no message and
doubles none (the Message-ID stays the identity; a possible duplicate is marked)."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from schemas import Alert, DeliveryStatus, EnrichedArticle
from services.alerting.channels import Dispatcher, EmailChannel, Send, SharedClients
from services.alerting.core import EmailChannelConfig
from services.alerting.settings import AlertingSettings, SmtpSettings
from services.alerting.state import AlertingState
from services.devstack.receivers import SmtpCatcher, wait_until
from tests.unit.alerting.articles import deterrence_alert, enriched

pytestmark = pytest.mark.integration

CONFIG = EmailChannelConfig.model_validate({"kind": "email", "to": ["analysts@raqib.example"]})


def _alerts(count: int) -> list[tuple[Alert, EnrichedArticle]]:
    made = []
    for number in range(count):
        base = enriched()
        article = base.model_copy(update={"id": f"{base.id}-{number}"})
        made.append((deterrence_alert(article, [("mail", "email")]), article))
    return made


def _channel(port: int, **smtp: object) -> EmailChannel:
    settings = AlertingSettings(
        smtp=SmtpSettings.model_validate(
            {"host": "127.0.0.1", "port": port, "timeout_s": 5, "pool_size": 2, **smtp}
        ),
        retry_base_delay_s=0.05,
        retry_max_delay_s=0.2,
    )
    return EmailChannel("mail", CONFIG, settings, SharedClients())


def _ids(catcher: SmtpCatcher) -> Counter[str]:
    return Counter(str(message["X-Raqib-Alert-Id"]) for message in catcher.messages)


async def test_sessions_are_reused_while_there_is_mail_and_closed_when_idle() -> None:
    with SmtpCatcher() as catcher:
        channel = _channel(catcher.port, pool_idle_s=0.3)
        try:
            alerts = _alerts(40)
            await asyncio.gather(*(channel.send(alert, article) for alert, article in alerts))
            assert channel.pool.idle == 2  # both sessions open, waiting for more
            assert await asyncio.to_thread(wait_until, lambda: channel.pool.idle == 0, 5)
            await channel.send(*_alerts(1)[0])  # after the idle close: a fresh session
        finally:
            await channel.aclose()
    assert sum(_ids(catcher).values()) == 41
    assert catcher.sessions == channel.pool.opened == 3


async def test_a_session_stops_after_its_message_limit() -> None:
    with SmtpCatcher() as catcher:
        channel = _channel(catcher.port, pool_size=1, session_max_messages=5)
        try:
            for alert, article in _alerts(12):
                await channel.send(alert, article)
        finally:
            await channel.aclose()
    assert len(catcher.messages) == 12 and catcher.sessions == 3


async def test_a_connection_dropped_before_the_message_is_one_retry_on_a_fresh_session() -> None:
    # The server hangs up on every session when its fourth message begins (at MAIL FROM).
    with SmtpCatcher(drop_after=3, drop_at="mail") as catcher:
        channel = _channel(catcher.port)
        try:
            alerts = _alerts(30)
            codes = await asyncio.gather(*(channel.send(a, article) for a, article in alerts))
        finally:
            await channel.aclose()
    assert codes == [250] * 30  # no attempt failed: each drop was retried at once
    assert catcher.drops >= 5
    received = _ids(catcher)
    assert set(received) == {alert.id for alert, _ in alerts}
    assert set(received.values()) == {1}  # every message exactly once
    assert all(message["X-Raqib-Redelivery"] is None for message in catcher.messages)


async def test_a_connection_dropped_after_the_message_went_out_is_resent_marked(
    tmp_path: Path,
) -> None:
    """The server keeps the message and hangs up before answering: the client cannot know,
    so the dispatcher sends it again with the same Message-ID, marked as a redelivery. By
    Message-ID (the receivers' de-duplication key) every alert arrives exactly once."""
    with (
        SmtpCatcher(drop_after=2, drop_at="data") as catcher,
        AlertingState(tmp_path / "alerting.sqlite3") as state,
    ):
        channel = _channel(catcher.port)
        dispatcher = Dispatcher(
            {"mail": channel}, state, base_delay_s=0.05, max_delay_s=0.2, breaker_failures=50
        )
        alerts = _alerts(12)

        def sender(alert: Alert, article: EnrichedArticle) -> Send:
            return lambda ch, again: ch.send(alert, article, redelivery=again)

        try:
            outcomes = await asyncio.gather(
                *(dispatcher.deliver(a.id, "mail", sender(a, art)) for a, art in alerts)
            )
        finally:
            dispatcher.close()
            await channel.aclose()
        assert all(o.record.status is DeliveryStatus.DELIVERED for o in outcomes)
    by_id: dict[str, list[str | None]] = {}
    for message in catcher.messages:
        by_id.setdefault(str(message["Message-ID"]), []).append(message["X-Raqib-Redelivery"])
    assert len(by_id) == 12  # none lost
    assert catcher.drops >= 1
    for marks in by_id.values():
        # The first copy unmarked; a second only after a drop, and marked.
        assert marks[0] is None and all(mark == "true" for mark in marks[1:])
    # One more copy for each drop (a resent message may meet a drop again), no other.
    assert sum(len(marks) - 1 for marks in by_id.values()) == catcher.drops
