"""The housekeeping round's dropping of old articles: finished alerts past the cut, a
bounded number a round, and none at all when no cut is set."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from schemas import utc_now
from services.alerting import housekeeping as housekeeping_module
from services.alerting.housekeeping import Housekeeping
from services.alerting.state import AlertingState
from tests.unit.alerting.articles import deterrence_alert, enriched
from tests.waiting import until

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Quiet:
    """The alert log and the digests, with nothing to do; counts the rounds."""

    def __init__(self) -> None:
        self.rounds = 0

    async def republish(self) -> int:
        return 0

    async def send_due(self, now: datetime) -> int:
        self.rounds += 1
        return 0


@pytest.fixture
def store() -> Iterator[AlertingState]:
    with AlertingState(":memory:") as opened:
        article = enriched()
        with opened.transaction():
            for n in range(1, 51):
                alert = deterrence_alert(article, now=T0 - timedelta(days=30, seconds=n))
                alert = alert.model_copy(update={"id": f"{n:016x}"})
                opened.add_alert(alert, article)
                opened.mark_done(alert.id)
        yield opened


def _housekeeping(store: AlertingState, keep: timedelta | None) -> Housekeeping:
    quiet = cast(Any, Quiet())
    return Housekeeping(
        quiet, quiet, store, horizon=timedelta(hours=1), every_s=0.01, keep_articles=keep
    )


def _rounds(housekeeping: Housekeeping) -> int:
    return cast(Quiet, housekeeping.digests).rounds


def _dropped(store: AlertingState) -> int:
    return sum(store.load_alert(f"{n:016x}") is None for n in range(1, 51))


async def test_the_round_drops_the_articles_past_the_cut(
    store: AlertingState, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", "raqib.alerting")
    housekeeping = _housekeeping(store, utc_now() - T0)  # the cut falls on T0
    housekeeping.start()
    try:
        await until(lambda: _dropped(store) == 50)
    finally:
        await housekeeping.stop()
    assert "articles of finished alerts dropped" in caplog.text


async def test_a_round_drops_a_bounded_number(
    store: AlertingState, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(housekeeping_module, "DROP_CHUNK", 7)
    monkeypatch.setattr(housekeeping_module, "DROP_PER_ROUND", 20)
    monkeypatch.setattr(housekeeping_module, "DROP_PAUSE_S", 0.0)
    housekeeping = _housekeeping(store, None)
    assert [await housekeeping.drop_articles(T0) for _ in range(4)] == [20, 20, 10, 0]
    assert _dropped(store) == 50


async def test_without_a_cut_nothing_is_dropped(
    store: AlertingState, caplog: pytest.LogCaptureFixture
) -> None:
    housekeeping = _housekeeping(store, None)
    housekeeping.start()
    try:
        await until(lambda: _rounds(housekeeping) >= 2)  # the first round prunes
    finally:
        await housekeeping.stop()
    assert _dropped(store) == 0
    assert "round failed" not in caplog.text
