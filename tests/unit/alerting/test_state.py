"""The state file's window events and firings (what pruning forgets and what it keeps),
writes committed in groups, and which alerts of the outbox are finished."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from schemas import DeliveryAttempt, DeliveryStatus
from services.alerting.replication import Changelog
from services.alerting.state import AlertingState, DeliveryRecord
from tests.unit.alerting.articles import deterrence_alert, enriched

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


def _record(alert_id: str) -> DeliveryRecord:
    attempt = DeliveryAttempt(number=1, at=T0)
    return DeliveryRecord(alert_id, "mail", DeliveryStatus.PENDING, 1, attempt_log=[attempt])


async def test_writes_of_one_turn_share_one_commit(store: AlertingState) -> None:
    commits: list[str] = []
    store.db.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    await asyncio.gather(
        *(store.save_in_group(_record(f"{i:016x}"), now=T0) for i in range(20)),
        store.mark_done_in_group("0" * 16),
    )
    assert len(commits) == 1
    assert all(store.get(f"{i:016x}", "mail") is not None for i in range(20))
    await store.save_in_group(_record("f" * 16), now=T0)  # a later turn: its own commit
    assert len(commits) == 2


async def test_a_failing_write_fails_only_its_own_caller(store: AlertingState) -> None:
    def broken() -> None:
        store.db.execute("INSERT INTO no_such_table VALUES (1)")

    results = await asyncio.gather(
        store.save_in_group(_record("a" * 16), now=T0),
        store.in_group(broken),
        store.save_in_group(_record("b" * 16), now=T0),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], sqlite3.OperationalError)
    assert store.get("a" * 16, "mail") is not None
    assert store.get("b" * 16, "mail") is not None


def test_finishing_an_alert_leaves_its_outbox_row_alone(store: AlertingState) -> None:
    article = enriched(" ".join(["قوة الردع الخاصة انتشرت في طرابلس."] * 200))
    alert = deterrence_alert(article)
    store.add_alert(alert, article)
    changelog = Changelog(store.db)
    changelog.capture(True)
    assert store.unfinished(failed_since=T0) == [alert.id]
    store.mark_done(alert.id)
    assert store.unfinished(failed_since=T0) == []
    # One small row on the changelog, not the alert and its article again.
    (change,) = changelog.pending()
    assert change.table == "outbox_done"
    assert change.row is not None and len(change.row) < 100 < len(article.text)


def test_an_alert_an_earlier_version_finished_stays_finished(store: AlertingState) -> None:
    article = enriched()
    alert = deterrence_alert(article)
    store.add_alert(alert, article)
    assert store.unfinished(failed_since=T0) == [alert.id]
    store.db.execute("UPDATE outbox SET done = 1 WHERE alert_id = ?", (alert.id,))
    assert store.unfinished(failed_since=T0) == []


def test_old_finished_alerts_lose_their_article_and_keep_the_alert(store: AlertingState) -> None:
    text = " ".join(["قوة الردع الخاصة انتشرت في طرابلس."] * 200)
    raised = []
    for n, (done, age) in enumerate([(True, 10), (True, 1), (False, 10)], start=1):
        article = enriched(text, n=n)
        alert = deterrence_alert(article, now=T0 - timedelta(days=age))
        store.add_alert(alert, article)
        if done:
            store.mark_done(alert.id)
        raised.append(alert.id)
    old_done, recent_done, old_open = raised
    changelog = Changelog(store.db)
    changelog.capture(True)
    assert store.drop_articles(raised_before=T0 - timedelta(days=7)) == 1
    assert store.load_alert(old_done) is None
    assert store.load_alert(recent_done) is not None and store.load_alert(old_open) is not None
    # Still known (an article read again raises nothing), still finished.
    assert store.alert_exists(old_done)
    assert store.unfinished(failed_since=T0) == [old_open]
    # On the changelog, the row without its article replaces the one with it.
    (change,) = changelog.pending()
    assert change.table == "outbox" and change.row is not None and len(change.row) < len(text)
    assert store.drop_articles(raised_before=T0 - timedelta(days=7)) == 0


def test_articles_are_dropped_in_chunks(store: AlertingState) -> None:
    for n in range(1, 6):
        article = enriched(n=n)
        alert = deterrence_alert(article, now=T0 - timedelta(days=30))
        store.add_alert(alert, article)
        store.mark_done(alert.id)
    counts = [store.drop_articles(raised_before=T0, limit=2) for _ in range(4)]
    assert counts == [2, 2, 1, 0]


def test_an_alert_whose_delivery_is_under_way_keeps_its_article(store: AlertingState) -> None:
    article = enriched()
    alert = deterrence_alert(article, now=T0 - timedelta(days=30))
    store.add_alert(alert, article)
    store.mark_done(alert.id)  # finished once, then retried: its delivery is pending again
    store.save(_record(alert.id), now=T0)
    assert store.drop_articles(raised_before=T0) == 0
    assert store.load_alert(alert.id) is not None


def test_a_dropped_article_can_be_put_back(store: AlertingState) -> None:
    article = enriched()
    alert = deterrence_alert(article, now=T0 - timedelta(days=30))
    store.add_alert(alert, article)
    store.mark_done(alert.id)
    assert not store.restore_article(alert.id, article)  # not dropped: nothing to do
    assert store.drop_articles(raised_before=T0) == 1
    assert store.restore_article(alert.id, article)
    loaded = store.load_alert(alert.id)
    assert loaded is not None and loaded[1] == article
