"""The deliverer while a channel is paused: alerts park in the outbox without attempts, one
probe at a time tests the channel, the backlog drains oldest first once it is back, and an
alert whose time is up is dead-lettered."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from schemas import Alert, DeliveryStatus, EnrichedArticle
from services.alerting.channels import AttemptFailed, Dispatcher
from services.alerting.deliverer import AlertDeliverer, Backlog
from services.alerting.state import AlertingState
from tests.unit.alerting.articles import deterrence_alert, enriched
from tests.unit.alerting.test_dispatcher import NOW, ScriptedChannel
from tests.waiting import until

DOWN = AttemptFailed("ConnectError: refused", retry=True)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AlertingState]:
    with AlertingState(tmp_path / "alerting.sqlite3") as opened:
        yield opened


def _alerts(count: int) -> list[tuple[Alert, EnrichedArticle]]:
    """``count`` alerts over channel "hook", raised a second apart, oldest first."""
    alerts = []
    for n in range(count):
        article = enriched(n=n + 1)
        now = NOW + timedelta(seconds=n)
        alerts.append((deterrence_alert(article, [("hook", "webhook")], now=now), article))
    return alerts


class Service:
    """A deliverer over one scripted channel, as the app wires it, recording what it
    publishes and dead-letters."""

    def __init__(self, store: AlertingState, hook: ScriptedChannel) -> None:
        self.states: list[Alert] = []
        self.dead: list[Alert] = []
        self.dispatcher = Dispatcher(
            {"hook": hook},
            store,
            base_delay_s=0.0,
            max_delay_s=0.0,
            breaker_failures=2,
            breaker_probe_s=0.05,
        )

        async def publish(alert: Alert) -> bool:
            self.states.append(alert)
            return True

        async def dead_letter(alert: Alert) -> None:
            self.dead.append(alert)

        self.deliverer = AlertDeliverer(
            self.dispatcher,
            store,
            {"hook": "webhook"},
            publish=publish,
            dead_letter=dead_letter,
            max_pending=3,  # the drain keeps to it
        )

    def raise_alerts(self, alerts: list[tuple[Alert, EnrichedArticle]]) -> None:
        """As a batch does: into the outbox, then to the deliverer."""
        with self.deliverer.state.transaction(durable=True):
            for alert, article in alerts:
                self.deliverer.state.add_alert(alert, article)
        for alert, article in alerts:
            self.deliverer.submit(alert, article)


async def test_a_paused_channel_parks_its_alerts_and_drains_them_oldest_first(
    store: AlertingState,
) -> None:
    hook = ScriptedChannel("hook", [DOWN], max_concurrent=1)
    service = Service(store, hook)
    alerts = _alerts(8)
    service.raise_alerts(alerts)
    backlog = service.deliverer.backlogs["hook"]
    # Two failures pause the channel; every alert ends up parked, held in no task.
    await until(lambda: len(backlog) == 8 and not service.deliverer.pending)
    await asyncio.sleep(0.3)  # a few probes, each on the oldest alert
    failed_while_down = hook.calls
    assert 2 < failed_while_down < 2 + 0.3 / 0.05 + 3
    per_alert = [store.get(alert.id, "hook") for alert, _ in alerts]
    assert all(record is not None for record in per_alert)
    attempts = [record.attempts if record else 0 for record in per_alert]
    assert attempts[0] == failed_while_down - 1  # the oldest took every probe
    assert attempts[1:] == [1] + [0] * 6  # the others burned nothing while paused
    assert store.unfinished(failed_since=NOW) == [alert.id for alert, _ in alerts]

    hook.script = [None]  # the receiver is back
    await until(lambda: not store.unfinished(failed_since=NOW))
    assert service.dead == []
    delivered = hook.sent[failed_while_down:]
    assert delivered == [alert.id for alert, _ in alerts]  # oldest first
    assert len(backlog) == 0 and not service.dispatcher.paused("hook")
    final = {state.id: state for state in service.states}
    assert {final[a.id].deliveries[0].status for a, _ in alerts} == {DeliveryStatus.DELIVERED}
    await service.deliverer.close(grace_s=1)


async def test_an_alert_whose_time_is_up_while_paused_is_dead_lettered(
    store: AlertingState,
) -> None:
    hook = ScriptedChannel("hook", [DOWN], max_concurrent=1, give_up_after_s=0.4)
    service = Service(store, hook)
    alerts = _alerts(3)
    service.raise_alerts(alerts)
    await until(lambda: len(service.dead) == 3 and not service.deliverer.pending, within_s=5)
    assert len(service.deliverer.backlogs["hook"]) == 0
    assert store.unfinished(failed_since=NOW + timedelta(days=1)) == []  # all finished
    for dead in service.dead:
        (delivery,) = dead.deliveries
        assert delivery.status is DeliveryStatus.FAILED
        assert delivery.last_error is not None and "gave up after 0.4s" in delivery.last_error
    # Parked alerts gave up without attempts of their own; only probes were sent.
    assert hook.calls < 2 + 0.4 / 0.05 + 3
    await service.deliverer.close(grace_s=1)


def test_the_backlog_gives_the_oldest_first_and_the_expired_apart() -> None:
    backlog = Backlog()
    late = NOW + timedelta(hours=1)
    backlog.add("c", NOW + timedelta(seconds=3), late)
    backlog.add("a", NOW + timedelta(seconds=1), NOW)
    backlog.add("b", NOW + timedelta(seconds=2), late)
    backlog.add("a", NOW + timedelta(seconds=1), NOW)  # parked again: once
    assert len(backlog) == 3
    assert backlog.pop_expired(NOW) == ["a"]
    assert [backlog.pop_oldest(), backlog.pop_oldest(), backlog.pop_oldest()] == ["b", "c", None]


async def test_an_alert_whose_article_was_dropped_is_not_resumed(
    store: AlertingState, caplog: pytest.LogCaptureFixture
) -> None:
    service = Service(store, ScriptedChannel("hook", [None]))
    ((alert, article),) = _alerts(1)
    store.add_alert(alert, article)
    store.mark_done(alert.id)
    assert store.drop_articles(raised_before=NOW + timedelta(days=1)) == 1
    assert not service.deliverer.resume(alert.id)
    assert not service.deliverer.pending
    assert "its article was dropped" in caplog.text
