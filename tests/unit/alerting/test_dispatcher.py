"""The dispatcher with scripted channels and a real state file: retries until the give-up
time, final states, never sending a delivered alert twice, the circuit breaker, each
attempt's intent and outcome (an interrupted attempt is sent again as a redelivery), and
the attempt log an alert's published state carries."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import pytest
from prometheus_client import REGISTRY

from schemas import Alert, Delivery, DeliveryAttempt, DeliveryStatus, EnrichedArticle
from services.alerting.channels import (
    INTERRUPTED,
    AttemptFailed,
    Delivered,
    Dispatcher,
    as_delivery,
)
from services.alerting.core import DigestMessage
from services.alerting.core.delivery import ATTEMPT_LOG_FIRST, ATTEMPT_LOG_LATEST
from services.alerting.state import AlertingState, DeliveryRecord, Outcome
from services.common.errors import ConfigError
from tests.unit.alerting.articles import deterrence_alert, enriched

NOW = datetime(2026, 1, 2, 10, 5, tzinfo=UTC)


class ScriptedChannel:
    """Answers each attempt from a script: None delivers, an exception fails."""

    def __init__(
        self,
        name: str,
        script: list[Exception | None],
        kind: Literal["email", "webhook"] = "webhook",
        give_up_after_s: float = 3600.0,
        max_concurrent: int = 64,
    ) -> None:
        self.name, self.kind, self.give_up_after_s = name, kind, give_up_after_s
        self.max_concurrent = max_concurrent
        self.script = script
        self.calls = 0
        self.redeliveries: list[bool] = []  # each attempt's redelivery mark
        self.sent: list[str] = []  # alert ids, in the order they were sent
        self.in_flight = self.most_in_flight = 0
        self.gate: asyncio.Event | None = None  # when set: each attempt waits for it
        self.started = asyncio.Event()  # set when an attempt is in flight

    async def send(
        self, alert: Alert, article: EnrichedArticle, *, redelivery: bool = False
    ) -> int | None:
        self.redeliveries.append(redelivery)
        self.sent.append(alert.id)
        self.started.set()
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
        finally:
            self.in_flight -= 1
        outcome = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        if outcome is not None:
            raise outcome
        return 204

    async def send_digest(self, digest: DigestMessage, *, redelivery: bool = False) -> int | None:
        raise NotImplementedError

    def release(self) -> None:
        """Let the attempts held at the gate go on."""
        if self.gate is not None:
            self.gate.set()

    async def aclose(self) -> None:
        return None


def _count(outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "raqib_alerting_deliveries_total", {"kind": "webhook", "outcome": outcome}
    )
    return value or 0.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AlertingState]:
    with AlertingState(tmp_path / "state" / "alerting.sqlite3") as opened:
        yield opened


def _alert(channels: list[str]) -> tuple[Alert, EnrichedArticle]:
    article = enriched()
    return deterrence_alert(article, [(c, "webhook") for c in channels], now=NOW), article


@dataclass
class Clock:
    """Wall and monotonic time that move only when a backoff sleeps (or a test says so)."""

    moves: bool = False  # False: time stands still at NOW, as most tests here want
    now: datetime = NOW
    mono: float = 0.0
    waits: list[float] = field(default_factory=list)

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.mono += seconds

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.moves:
            self.advance(seconds)


def _dispatcher(
    store: AlertingState,
    *channels: ScriptedChannel,
    max_concurrent: int = 64,
    clock: Clock | None = None,
    breaker_failures: int = 100,
    breaker_probe_s: float = 10.0,
) -> tuple[Dispatcher, list[float]]:
    time = clock or Clock()
    dispatcher = Dispatcher(
        {c.name: c for c in channels},
        store,
        base_delay_s=1.0,
        max_delay_s=3.0,
        max_concurrent=max_concurrent,
        breaker_failures=breaker_failures,
        breaker_probe_s=breaker_probe_s,
        sleep=time.sleep,
        jitter=lambda: 0.0,
        clock=lambda: time.now,
        monotonic=lambda: time.mono,
    )
    return dispatcher, time.waits


def _send(alert: Alert, article: EnrichedArticle):  # type: ignore[no-untyped-def]
    return lambda c, redelivery: c.send(alert, article, redelivery=redelivery)


async def dispatch(
    dispatcher: Dispatcher, alert: Alert, article: EnrichedArticle
) -> list[Delivered]:
    """Every delivery of ``alert``, as the service makes them."""
    return [
        await dispatcher.deliver(alert.id, d.channel, _send(alert, article))
        for d in alert.deliveries
    ]


async def test_retries_then_delivers_and_records_the_attempts(store: AlertingState) -> None:
    hook = ScriptedChannel(
        "hook", [AttemptFailed("HTTP 500", retry=True, status_code=500)] * 2 + [None]
    )
    dispatcher, waits = _dispatcher(store, hook)
    alert, article = _alert(["hook"])
    seen: list[DeliveryRecord] = []

    async def on_attempt(record: DeliveryRecord) -> None:
        seen.append(record)

    record, attempted, parked = await dispatcher.deliver(
        alert.id, "hook", _send(alert, article), on_attempt
    )
    assert parked is None
    assert (record.status, record.attempts, record.delivered_at, attempted) == (
        DeliveryStatus.DELIVERED,
        3,
        NOW,
        True,
    )
    assert record.last_error == "attempt 1: HTTP 500; attempt 2: HTTP 500"
    assert [(a.number, a.error, a.status_code) for a in record.attempt_log] == [
        (1, "HTTP 500", 500),
        (2, "HTTP 500", 500),
        (3, None, 204),
    ]
    assert [r.status for r in seen] == [DeliveryStatus.PENDING] * 2 + [DeliveryStatus.DELIVERED]
    assert waits == [0.5, 1.0]
    assert store.get(alert.id, "hook") == record


async def test_gives_up_when_its_time_is_up_with_every_error(store: AlertingState) -> None:
    hook = ScriptedChannel(
        "hook", [AttemptFailed("ConnectError: refused", retry=True)], give_up_after_s=4.0
    )
    dispatcher, waits = _dispatcher(store, hook, clock=Clock(moves=True))
    alert, article = _alert(["hook"])
    ((record, _, _),) = await dispatch(dispatcher, alert, article)
    # Backoff 0.5, 1, 1.5 (doubling up to the cap, jitter 0), then the 1 s left: the last
    # attempt is at 4 s.
    assert waits == [0.5, 1.0, 1.5, 1.0]
    assert (record.status, record.attempts, hook.calls) == (DeliveryStatus.FAILED, 5, 5)
    assert [a.error for a in record.attempt_log] == ["ConnectError: refused"] * 5
    assert record.last_error is not None and record.last_error.endswith("gave up after 4s")
    assert record.since == NOW


async def test_backoff_is_capped_and_only_time_bounds_the_attempts(store: AlertingState) -> None:
    hook = ScriptedChannel("hook", [AttemptFailed("HTTP 503", retry=True)], give_up_after_s=60)
    dispatcher, waits = _dispatcher(store, hook, clock=Clock(moves=True))
    alert, article = _alert(["hook"])
    ((record, _, _),) = await dispatch(dispatcher, alert, article)
    assert max(waits) == 1.5 and sum(waits) == 60.0  # tried every 1.5 s until the minute is up
    assert record.status is DeliveryStatus.FAILED and record.attempts == len(waits) + 1 > 20
    # last_error keeps the newest few errors, not one per attempt.
    assert record.last_error is not None
    assert record.last_error.startswith(f"({record.attempts - 5} earlier errors)")


async def test_a_permanent_failure_is_not_retried(store: AlertingState) -> None:
    hook = ScriptedChannel("hook", [AttemptFailed("HTTP 404", retry=False), None])
    dispatcher, waits = _dispatcher(store, hook)
    alert, article = _alert(["hook"])
    ((record, _, _),) = await dispatch(dispatcher, alert, article)
    assert (record.status, record.attempts, hook.calls, waits) == (
        DeliveryStatus.FAILED,
        1,
        1,
        [],
    )


async def test_an_unexpected_error_counts_as_a_failed_attempt(store: AlertingState) -> None:
    hook = ScriptedChannel("hook", [RuntimeError("boom"), None])
    dispatcher, _ = _dispatcher(store, hook)
    alert, article = _alert(["hook"])
    ((record, _, _),) = await dispatch(dispatcher, alert, article)
    assert record.status is DeliveryStatus.DELIVERED
    assert record.last_error == "attempt 1: RuntimeError: boom"


async def test_retry_after_is_honoured_within_the_cap(store: AlertingState) -> None:
    hook = ScriptedChannel(
        "hook",
        [
            AttemptFailed("HTTP 429", retry=True, retry_after_s=2.5),
            AttemptFailed("HTTP 429", retry=True, retry_after_s=60),
            None,
        ],
    )
    dispatcher, waits = _dispatcher(store, hook)
    alert, article = _alert(["hook"])
    await dispatch(dispatcher, alert, article)
    assert waits == [2.5, 3.0]


async def test_a_delivered_channel_is_never_sent_again(store: AlertingState) -> None:
    ok = ScriptedChannel("ok", [None])
    down = ScriptedChannel("down", [AttemptFailed("down", retry=True)], give_up_after_s=0.5)
    dispatcher, _ = _dispatcher(store, ok, down, clock=Clock(moves=True))
    alert, article = _alert(["ok", "down"])
    first = await dispatch(dispatcher, alert, article)
    assert [r.status for r, _, _ in first] == [DeliveryStatus.DELIVERED, DeliveryStatus.FAILED]
    down.script = [None]
    second = await dispatch(dispatcher, alert, article)
    assert (ok.calls, down.calls) == (1, 3)  # only the failed one was tried again
    assert [(r.status, r.attempts, len(r.attempt_log)) for r, _, _ in second] == [
        (DeliveryStatus.DELIVERED, 1, 1),
        (DeliveryStatus.DELIVERED, 3, 3),  # the attempt history survives across episodes
    ]
    skipped_before = _count("skipped_already_sent")
    third = await dispatch(dispatcher, alert, article)
    assert not any(attempted for _, attempted, _ in third) and (ok.calls, down.calls) == (1, 3)
    assert _count("skipped_already_sent") == skipped_before + 2


async def test_a_busy_channel_keeps_to_its_limit_and_holds_no_shared_slot(
    store: AlertingState,
) -> None:
    slow = ScriptedChannel("slow", [None], max_concurrent=2)
    fast = ScriptedChannel("fast", [None])
    slow.gate = asyncio.Event()
    dispatcher, _ = _dispatcher(store, slow, fast, max_concurrent=3)
    queued, queued_article = _alert(["slow"])
    waiting = [
        asyncio.create_task(dispatcher.deliver(f"a{i}", "slow", _send(queued, queued_article)))
        for i in range(6)
    ]
    alert, article = _alert(["fast"])
    # Four alerts queue behind the slow channel's two connections, yet the fast channel
    # still finds one of the three shared slots free.
    (record, _, _) = await asyncio.wait_for(
        dispatcher.deliver(alert.id, "fast", _send(alert, article)), timeout=5
    )
    assert record.status is DeliveryStatus.DELIVERED
    slow.gate.set()
    done = await asyncio.gather(*waiting)
    assert [r.status for r, _, _ in done] == [DeliveryStatus.DELIVERED] * 6
    assert slow.most_in_flight == 2


async def test_state_survives_reopening_and_one_process_owns_the_file(tmp_path: Path) -> None:
    path = tmp_path / "alerting.sqlite3"
    alert, article = _alert(["hook"])
    with AlertingState(path) as store:
        store.save(
            DeliveryRecord(alert.id, "hook", DeliveryStatus.DELIVERED, 2, None, NOW), now=NOW
        )
        with store.transaction(durable=True):
            store.add_alert(alert, article)
        with pytest.raises(ConfigError, match="in use by another process"):
            AlertingState(path).open()
        assert store.db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    with AlertingState(path) as reopened:
        record = reopened.get(alert.id, "hook")
        assert record is not None and record.status is DeliveryStatus.DELIVERED
        assert record.delivered_at == NOW and record.attempts == 2
        assert reopened.load_alert(alert.id) == (alert, article)
        assert reopened.alert_exists(alert.id) and not reopened.alert_exists("b" * 16)
        assert reopened.unfinished(failed_since=NOW) == [alert.id]
        reopened.mark_done(alert.id)
        assert reopened.unfinished(failed_since=NOW) == []
        assert reopened.get(alert.id, "mail") is None


def test_a_store_used_before_open_says_so(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="before open"):
        AlertingState(tmp_path / "x.sqlite3").get("a", "b")


class Watcher:
    """The deliverer's side of a paused channel, recorded."""

    def __init__(self) -> None:
        self.probes: list[str] = []
        self.recoveries: list[str] = []
        self.probe_due_event = asyncio.Event()

    def probe_due(self, channel: str) -> None:
        self.probes.append(channel)
        self.probe_due_event.set()

    def recovered(self, channel: str) -> None:
        self.recoveries.append(channel)


async def test_a_channel_that_keeps_failing_is_paused_and_its_deliveries_wait(
    store: AlertingState,
) -> None:
    down = AttemptFailed("HTTP 503", retry=True, status_code=503)
    hook = ScriptedChannel("hook", [down, down, down, None], give_up_after_s=600)
    clock = Clock()
    dispatcher, _ = _dispatcher(store, hook, clock=clock, breaker_failures=3)
    watcher = Watcher()
    dispatcher.watchers.append(watcher)
    first, article = _alert(["hook"])
    # Three failures in a row (backoff 0 here: the clock stands still) open the breaker; the
    # delivery stops there, parked, without a fourth attempt.
    result = await dispatcher.deliver(first.id, "hook", _send(first, article))
    assert result.parked and result.parked_until == NOW + timedelta(seconds=600)
    assert (result.record.status, result.record.attempts, hook.calls) == (
        DeliveryStatus.PENDING,
        3,
        3,
    )
    assert dispatcher.paused("hook")
    # Others wait too, burning no attempt; the give-up clock is kept in the state file.
    others = [f"{n:016x}" for n in range(5)]
    for key in others:
        waited = await dispatcher.deliver(key, "hook", _send(first, article))
        assert waited.parked and not waited.attempted and waited.record.attempts == 0
        stored = store.get(key, "hook")
        assert stored is not None and stored.since == NOW
    assert hook.calls == 3
    # The probe interval passes: one delivery goes as the probe, the rest still wait.
    clock.advance(10)
    hook.gate, hook.started = asyncio.Event(), asyncio.Event()
    probe = asyncio.create_task(dispatcher.deliver(others[0], "hook", _send(first, article)))
    await hook.started.wait()
    still = await dispatcher.deliver(others[1], "hook", _send(first, article))
    assert still.parked and hook.calls == 3
    hook.gate.set()
    probed = await probe
    assert probed.record.status is DeliveryStatus.DELIVERED and not dispatcher.paused("hook")
    assert watcher.recoveries == ["hook"]
    # Back: every delivery goes out again, the first one resuming its give-up clock.
    resumed = await dispatcher.deliver(first.id, "hook", _send(first, article))
    assert resumed.record.status is DeliveryStatus.DELIVERED and resumed.record.attempts == 4
    dispatcher.close()


async def test_a_failed_probe_pauses_the_channel_again_and_the_timer_calls_for_the_next(
    store: AlertingState,
) -> None:
    hook = ScriptedChannel("hook", [AttemptFailed("ConnectError", retry=True)])
    clock = Clock()
    dispatcher, _ = _dispatcher(store, hook, clock=clock, breaker_failures=1, breaker_probe_s=0.05)
    watcher = Watcher()
    dispatcher.watchers.append(watcher)
    alert, article = _alert(["hook"])
    assert (await dispatcher.deliver(alert.id, "hook", _send(alert, article))).parked
    await asyncio.wait_for(watcher.probe_due_event.wait(), timeout=5)  # a real timer
    assert watcher.probes == ["hook"]
    clock.advance(0.05)
    again = await dispatcher.deliver(alert.id, "hook", _send(alert, article))
    assert again.parked and again.attempted and hook.calls == 2  # the probe, failed
    assert dispatcher.paused("hook")
    # A delivery whose time is up while the channel is paused (before the next probe is
    # due) gives up without an attempt.
    clock.now += timedelta(seconds=3601)
    gone = await dispatcher.deliver(alert.id, "hook", _send(alert, article))
    assert not gone.parked and gone.record.status is DeliveryStatus.FAILED and hook.calls == 2
    assert gone.record.last_error is not None
    assert gone.record.last_error.endswith("gave up after 1h: channel paused")
    dispatcher.close()


async def test_a_permanent_failure_does_not_pause_the_channel(store: AlertingState) -> None:
    hook = ScriptedChannel("hook", [AttemptFailed("HTTP 404", retry=False)])
    dispatcher, _ = _dispatcher(store, hook, breaker_failures=1)
    for n in range(3):
        result = await dispatcher.deliver(f"{n:016x}", "hook", _send(*_alert(["hook"])))
        assert result.record.status is DeliveryStatus.FAILED and not result.parked
    assert hook.calls == 3 and not dispatcher.paused("hook")


async def _held_in_flight(
    store: AlertingState,
) -> tuple[ScriptedChannel, Dispatcher, Alert, EnrichedArticle, asyncio.Task[Delivered]]:
    """A delivery whose first attempt is in flight, held until ``hook.gate`` is set."""
    hook = ScriptedChannel("hook", [None])
    hook.gate = asyncio.Event()
    dispatcher, _ = _dispatcher(store, hook)
    alert, article = _alert(["hook"])
    task = asyncio.create_task(dispatcher.deliver(alert.id, "hook", _send(alert, article)))
    await hook.started.wait()
    return hook, dispatcher, alert, article, task


async def test_the_intent_is_on_record_before_the_send_and_the_outcome_after(
    store: AlertingState,
) -> None:
    hook, _, alert, _, task = await _held_in_flight(store)
    during = store.get(alert.id, "hook")
    assert during is not None and (during.status, during.attempts, during.open_attempt) == (
        DeliveryStatus.PENDING,
        1,
        1,
    )
    hook.release()
    await task
    after = store.get(alert.id, "hook")
    assert after is not None and after.open_attempt is None and not after.in_doubt
    assert after.status is DeliveryStatus.DELIVERED


async def test_an_attempt_a_crash_cut_short_is_sent_again_marked_as_a_redelivery(
    tmp_path: Path,
) -> None:
    path = tmp_path / "alerting.sqlite3"
    alert, article = _alert(["hook"])
    # The crash: an attempt's intent is on record, its outcome never came.
    with AlertingState(path) as before:
        before.save(
            DeliveryRecord(
                alert.id,
                "hook",
                DeliveryStatus.PENDING,
                1,
                attempt_log=[DeliveryAttempt(number=1, at=NOW)],
                since=NOW,
            ),
            now=NOW,
            outcome=Outcome.SENDING,
        )
    hook = ScriptedChannel("hook", [None])
    with AlertingState(path) as after:
        dispatcher, _ = _dispatcher(after, hook)
        ((record, _, _),) = await dispatch(dispatcher, alert, article)
    assert hook.redeliveries == [True]
    assert (record.status, record.attempts) == (DeliveryStatus.DELIVERED, 2)
    assert [(a.number, a.error) for a in record.attempt_log] == [(1, INTERRUPTED), (2, None)]
    assert record.in_doubt


async def test_a_stop_during_the_send_records_the_attempt_as_interrupted(
    store: AlertingState,
) -> None:
    hook, dispatcher, alert, article, task = await _held_in_flight(store)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stopped = store.get(alert.id, "hook")
    assert stopped is not None and stopped.in_doubt and stopped.open_attempt is None
    assert [a.error for a in stopped.attempt_log] == [INTERRUPTED]
    hook.release()
    await dispatch(dispatcher, alert, article)
    assert hook.redeliveries == [False, True]


async def test_a_failure_after_the_message_may_have_gone_out_marks_the_next_send(
    store: AlertingState,
) -> None:
    timed_out = AttemptFailed("timeout: ReadTimeout", retry=True, maybe_received=True)
    refused = AttemptFailed("ConnectError", retry=True)
    hook = ScriptedChannel("hook", [refused, timed_out, None])
    dispatcher, _ = _dispatcher(store, hook)
    alert, article = _alert(["hook"])
    await dispatch(dispatcher, alert, article)
    assert hook.redeliveries == [False, False, True]


def test_a_state_file_from_before_intents_and_give_up_clocks_still_opens(tmp_path: Path) -> None:
    path = tmp_path / "alerting.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        """
        CREATE TABLE deliveries (alert_id TEXT NOT NULL, channel TEXT NOT NULL,
            status TEXT NOT NULL, attempts INTEGER NOT NULL, last_error TEXT,
            delivered_at TEXT, updated_at TEXT NOT NULL, PRIMARY KEY (alert_id, channel));
        CREATE TABLE attempts (alert_id TEXT NOT NULL, channel TEXT NOT NULL,
            number INTEGER NOT NULL, at TEXT NOT NULL, error TEXT, status_code INTEGER,
            PRIMARY KEY (alert_id, channel, number));
        """
    )
    at = NOW.isoformat()
    old.execute("INSERT INTO deliveries VALUES ('a', 'hook', 'pending', 1, 'x', NULL, ?)", (at,))
    old.execute("INSERT INTO attempts VALUES ('a', 'hook', 1, ?, 'HTTP 500', 500)", (at,))
    old.commit()
    old.close()
    with AlertingState(path) as store:
        record = store.get("a", "hook")
        assert record is not None and (record.attempts, record.since, record.in_doubt) == (
            1,
            None,
            False,
        )
        assert [a.status_code for a in record.attempt_log] == [500]


async def test_a_long_run_of_attempts_publishes_its_first_and_latest(store: AlertingState) -> None:
    hook = ScriptedChannel("hook", [AttemptFailed("HTTP 503", retry=True)], give_up_after_s=300)
    dispatcher, _ = _dispatcher(store, hook, clock=Clock(moves=True))
    alert, article = _alert(["hook"])
    published: list[Delivery] = []

    async def on_attempt(record: DeliveryRecord) -> None:
        published.append(as_delivery(record, "webhook"))

    outcome = await dispatcher.deliver(alert.id, "hook", _send(alert, article), on_attempt)
    total = outcome.record.attempts
    assert total > ATTEMPT_LOG_FIRST + ATTEMPT_LOG_LATEST
    last = published[-1]
    assert last.attempts == total  # the count is whole
    numbers = [attempt.number for attempt in last.attempt_log]
    first = list(range(1, ATTEMPT_LOG_FIRST + 1))
    assert numbers == first + list(range(total - ATTEMPT_LOG_LATEST + 1, total + 1))
    # The state file keeps every attempt.
    stored = store.get(alert.id, "hook")
    assert stored is not None and len(stored.attempt_log) == total


def test_a_day_of_probes_keeps_the_alert_state_small() -> None:
    """A channel paused for a day is probed every 15 s: the state stays far below a Kafka
    record's 1 MB however long the error text."""
    alert, _ = _alert(["mail"])
    error = "SMTPConnectError: Error connecting to smtp.example.org on port 587: " + "x" * 200
    log = [DeliveryAttempt(number=n, at=NOW, error=error) for n in range(1, 5761)]
    record = DeliveryRecord(alert.id, "mail", DeliveryStatus.PENDING, len(log), error, None, log)
    state = alert.model_copy(update={"deliveries": [as_delivery(record, "email")]})
    assert len(state.model_dump_json()) < 64 * 1024
    assert state.deliveries[0].attempt_log[-1].number == 5760
