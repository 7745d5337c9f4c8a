"""The alert log: bounded retries, states kept when the topic is away, newer states winning,
and an outbox entry that stays open until its final state is on the log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from schemas import Alert, DeliveryStatus
from services.alerting.alert_log import AlertLog
from services.alerting.channels import AttemptFailed, Dispatcher
from services.alerting.deliverer import AlertDeliverer
from services.alerting.state import AlertingState
from tests.unit.alerting.test_dispatcher import NOW, ScriptedChannel, _alert


class Topic:
    """Takes alert states, or refuses them while ``down``."""

    def __init__(self) -> None:
        self.down = False
        self.states: list[Alert] = []
        self.refused = 0

    async def send(self, alert: Alert) -> None:
        if self.down:
            self.refused += 1
            raise ConnectionError("broker away")
        self.states.append(alert)


def _failures() -> float:
    return REGISTRY.get_sample_value("raqib_alerting_alert_log_failures_total") or 0.0


def _state(attempts: int) -> Alert:
    alert, _ = _alert(["hook"])
    (delivery,) = alert.deliveries
    return alert.model_copy(
        update={"deliveries": [delivery.model_copy(update={"attempts": attempts})]}
    )


def _log(topic: Topic, waits: list[float]) -> AlertLog:
    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    return AlertLog(topic.send, attempts=3, base_delay_s=0.5, sleep=sleep)


async def test_a_failed_publication_is_retried_with_backoff() -> None:
    topic, waits = Topic(), list[float]()
    alert_log = _log(topic, waits)
    topic.down = True

    async def comes_back(seconds: float) -> None:
        waits.append(seconds)
        topic.down = len(waits) < 2

    alert_log.sleep = comes_back
    assert await alert_log.publish(_state(1))
    assert (waits, topic.refused, len(topic.states)) == ([0.5, 1.0], 2, 1)
    assert alert_log.unpublished == {}


async def test_a_state_that_never_got_out_is_counted_logged_kept_and_republished(
    caplog: pytest.LogCaptureFixture,
) -> None:
    topic, waits = Topic(), list[float]()
    alert_log = _log(topic, waits)
    state = _state(1)
    topic.down = True
    before = _failures()
    with caplog.at_level(logging.ERROR, logger="raqib.alerting"):
        assert not await alert_log.publish(state)
    assert (topic.refused, waits, _failures()) == (3, [0.5, 1.0], before + 1)
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.__dict__["alert_id"] == state.id and "broker away" in record.__dict__["error"]
    assert alert_log.unpublished == {state.id: state}

    assert await alert_log.republish() == 0  # still away: one try, nothing lost
    assert alert_log.unpublished == {state.id: state}
    topic.down = False
    assert await alert_log.republish() == 1
    assert topic.states == [state] and alert_log.unpublished == {}


async def test_a_newer_state_supersedes_one_kept_or_still_retrying() -> None:
    topic, waits = Topic(), list[float]()
    alert_log = _log(topic, waits)
    older, newer = _state(1), _state(2)
    topic.down = True
    assert not await alert_log.publish(older)
    topic.down = False
    assert await alert_log.publish(newer)
    assert alert_log.unpublished == {} and await alert_log.republish() == 0
    assert topic.states == [newer]

    # An older state waiting to retry never lands after a newer one.
    topic.states.clear()
    topic.down = True

    async def newer_gets_out_meanwhile(seconds: float) -> None:
        topic.down = False
        await alert_log.publish(newer)

    alert_log.sleep = newer_gets_out_meanwhile
    assert await alert_log.publish(older)
    assert topic.states == [newer]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AlertingState]:
    with AlertingState(tmp_path / "alerting.sqlite3") as opened:
        yield opened


async def test_an_alert_stays_open_until_its_final_state_is_on_the_log(
    store: AlertingState,
) -> None:
    hook = ScriptedChannel("hook", [AttemptFailed("HTTP 503", retry=True, status_code=503), None])
    dispatcher = Dispatcher({"hook": hook}, store, base_delay_s=0, max_delay_s=0)
    topic, waits = Topic(), list[float]()
    alert_log = _log(topic, waits)
    alert, article = _alert(["hook"])
    with store.transaction(durable=True):
        store.add_alert(alert, article)

    async def dead_letter(alert: Alert) -> None:
        raise AssertionError("delivered: nothing to dead-letter")

    def deliverer() -> AlertDeliverer:
        return AlertDeliverer(
            dispatcher,
            store,
            {"hook": "webhook"},
            publish=alert_log.publish,
            dead_letter=dead_letter,
            max_pending=10,
        )

    topic.down = True
    first = deliverer()
    first.submit(alert, article)
    await first.close(grace_s=5)
    assert hook.calls == 2 and topic.states == []
    assert store.unfinished(failed_since=NOW) == [alert.id]  # the log missed the final state

    # The next start resumes it: nothing is sent again, the final state is published.
    topic.down = False
    resumed = deliverer()
    assert resumed.resume(alert.id)
    await resumed.close(grace_s=5)
    assert hook.calls == 2
    (final,) = topic.states
    (delivery,) = final.deliveries
    assert (delivery.status, [a.status_code for a in delivery.attempt_log]) == (
        DeliveryStatus.DELIVERED,
        [503, 204],
    )
    assert store.unfinished(failed_since=NOW) == []
