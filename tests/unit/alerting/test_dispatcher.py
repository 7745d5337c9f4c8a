"""The dispatcher with scripted channels and a real state file: retries, final states,
and never sending a delivered alert twice."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pytest
from prometheus_client import REGISTRY

from schemas import Alert, DeliveryStatus, EnrichedArticle
from services.alerting.channels import AttemptFailed, Dispatcher
from services.alerting.core import DigestMessage, Rule, build_alert, evaluate_rules
from services.alerting.state import AlertingState, DeliveryRecord
from services.common.errors import ConfigError
from tests.unit.alerting.articles import enriched

NOW = datetime(2026, 1, 2, 10, 5, tzinfo=UTC)


class ScriptedChannel:
    """Answers each attempt from a script: None delivers, an exception fails."""

    def __init__(
        self,
        name: str,
        script: list[Exception | None],
        kind: Literal["email", "webhook"] = "webhook",
        max_attempts: int = 3,
        max_concurrent: int = 64,
    ) -> None:
        self.name, self.kind, self.max_attempts = name, kind, max_attempts
        self.max_concurrent = max_concurrent
        self.script = script
        self.calls = 0
        self.in_flight = self.most_in_flight = 0
        self.gate: asyncio.Event | None = None  # when set: each attempt waits for it

    async def send(self, alert: Alert, article: EnrichedArticle) -> int | None:
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

    async def send_digest(self, digest: DigestMessage) -> int | None:
        raise NotImplementedError

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
    rule = Rule.model_validate(
        {
            "id": "d",
            "name": "D",
            "match": {"actors": {"any": ["special-deterrence-force"]}},
            "channels": channels,
        }
    )
    (match,) = evaluate_rules([rule], article)
    return build_alert(match, article, [(c, "webhook") for c in channels], now=NOW), article


def _dispatcher(
    store: AlertingState, *channels: ScriptedChannel, max_concurrent: int = 64
) -> tuple[Dispatcher, list[float]]:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    dispatcher = Dispatcher(
        {c.name: c for c in channels},
        store,
        base_delay_s=1.0,
        max_delay_s=3.0,
        max_concurrent=max_concurrent,
        sleep=sleep,
        jitter=lambda: 0.0,
        clock=lambda: NOW,
    )
    return dispatcher, waits


async def dispatch(
    dispatcher: Dispatcher, alert: Alert, article: EnrichedArticle
) -> list[tuple[DeliveryRecord, bool]]:
    """Every delivery of ``alert``, as the service makes them."""
    return [
        await dispatcher.deliver(alert.id, d.channel, lambda c: c.send(alert, article))
        for d in alert.deliveries
    ]


async def test_retries_then_delivers_and_records_the_attempts(store: AlertingState) -> None:
    hook = ScriptedChannel(
        "hook",
        [AttemptFailed("HTTP 500", retry=True, status_code=500)] * 2 + [None],
        max_attempts=5,
    )
    dispatcher, waits = _dispatcher(store, hook)
    alert, article = _alert(["hook"])
    seen: list[DeliveryRecord] = []

    async def on_attempt(record: DeliveryRecord) -> None:
        seen.append(record)

    record, attempted = await dispatcher.deliver(
        alert.id, "hook", lambda c: c.send(alert, article), on_attempt
    )
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


async def test_gives_up_after_max_attempts_with_every_error(store: AlertingState) -> None:
    hook = ScriptedChannel("hook", [AttemptFailed("ConnectError: refused", retry=True)])
    dispatcher, waits = _dispatcher(store, hook)
    alert, article = _alert(["hook"])
    ((record, _),) = await dispatch(dispatcher, alert, article)
    assert (record.status, record.attempts, hook.calls) == (DeliveryStatus.FAILED, 3, 3)
    assert [a.error for a in record.attempt_log] == ["ConnectError: refused"] * 3
    assert waits == [0.5, 1.0]


async def test_a_permanent_failure_is_not_retried(store: AlertingState) -> None:
    hook = ScriptedChannel("hook", [AttemptFailed("HTTP 404", retry=False), None])
    dispatcher, waits = _dispatcher(store, hook)
    alert, article = _alert(["hook"])
    ((record, _),) = await dispatch(dispatcher, alert, article)
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
    ((record, _),) = await dispatch(dispatcher, alert, article)
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
    down = ScriptedChannel("down", [AttemptFailed("down", retry=True)], max_attempts=2)
    dispatcher, _ = _dispatcher(store, ok, down)
    alert, article = _alert(["ok", "down"])
    first = await dispatch(dispatcher, alert, article)
    assert [r.status for r, _ in first] == [DeliveryStatus.DELIVERED, DeliveryStatus.FAILED]
    down.script = [None]
    second = await dispatch(dispatcher, alert, article)
    assert (ok.calls, down.calls) == (1, 3)  # only the failed one was tried again
    assert [(r.status, r.attempts, len(r.attempt_log)) for r, _ in second] == [
        (DeliveryStatus.DELIVERED, 1, 1),
        (DeliveryStatus.DELIVERED, 3, 3),  # the attempt history survives across episodes
    ]
    skipped_before = _count("skipped_already_sent")
    third = await dispatch(dispatcher, alert, article)
    assert not any(attempted for _, attempted in third) and (ok.calls, down.calls) == (1, 3)
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
        asyncio.create_task(
            dispatcher.deliver(f"a{i}", "slow", lambda c: c.send(queued, queued_article))
        )
        for i in range(6)
    ]
    alert, article = _alert(["fast"])
    # Four alerts queue behind the slow channel's two connections, yet the fast channel
    # still finds one of the three shared slots free.
    (record, _) = await asyncio.wait_for(
        dispatcher.deliver(alert.id, "fast", lambda c: c.send(alert, article)), timeout=5
    )
    assert record.status is DeliveryStatus.DELIVERED
    slow.gate.set()
    done = await asyncio.gather(*waiting)
    assert [r.status for r, _ in done] == [DeliveryStatus.DELIVERED] * 6
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
