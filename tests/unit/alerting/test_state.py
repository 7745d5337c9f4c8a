"""The state file's window events and firings: what pruning forgets and what it keeps."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from services.alerting.state import AlertingState

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store() -> Iterator[AlertingState]:
    with AlertingState(":memory:") as opened:
        yield opened


def test_the_newest_event_counts_firings_of_rules_without_windows(store: AlertingState) -> None:
    assert store.newest_event() is None
    store.record_fire("cooling|tripoli", T0, "a" * 16)  # a match rule with a cooldown
    assert store.newest_event() == T0
    store.record("surge", "b" * 16, T0 - timedelta(hours=1))
    assert store.newest_event() == T0
    store.record("surge", "c" * 16, T0 + timedelta(hours=1))
    assert store.newest_event() == T0 + timedelta(hours=1)


def test_prune_forgets_only_what_is_older_than_the_cut(store: AlertingState) -> None:
    old, recent = T0 - timedelta(days=3), T0 - timedelta(minutes=5)
    store.record("surge", "o" * 16, old)
    store.record("surge", "r" * 16, recent)
    store.record_fire("cooling|tripoli", old, "1" * 16)
    store.record_fire("cooling|tripoli", recent, "2" * 16)
    store.prune(older_than=T0 - timedelta(days=1))
    assert store.articles_between("surge", old, T0) == ["r" * 16]
    day = timedelta(days=1)
    assert store.fired_near("cooling|tripoli", old, day) is None
    assert store.fired_near("cooling|tripoli", recent, day) == "2" * 16
