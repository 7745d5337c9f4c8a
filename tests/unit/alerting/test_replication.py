"""The changelog's capture and apply, on SQLite alone: what the active replica's state file
records, replayed into an empty file, gives the same state."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas import DeliveryAttempt, DeliveryStatus
from services.alerting.core import Engine, load_rules
from services.alerting.replication import Changelog, MalformedChange
from services.alerting.state import AlertingState, DeliveryRecord, Outcome
from tests.unit.alerting.articles import enriched

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def dump(state: AlertingState) -> dict[str, list[tuple[object, ...]]]:
    tables = [
        name
        for (name,) in state.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' "
            "ESCAPE '\\' AND name NOT LIKE 'sqlite%' ORDER BY name"
        )
    ]
    return {t: sorted(state.db.execute(f"SELECT * FROM {t}").fetchall()) for t in tables}


def replay(changes: Changelog, into: Changelog) -> None:
    for change in changes.pending(limit=100_000):
        into.apply(change.key, change.row)


RULES = """
channels: {hook: {kind: webhook, url: "https://example.org/hook"}}
rules:
  - {id: each, name: Each, match: {actors: {any: [special-deterrence-force]}}, channels: [hook],
     cooldown: 1m}
  - {id: surge, name: Surge, kind: threshold, match: {actors: {any: [special-deterrence-force]}},
     threshold: {count: 2, window: 1h}, channels: [hook]}
"""


def write_history(state: AlertingState, tmp_path: Path) -> None:
    """A bit of everything the service writes: alerts (a match rule with a cooldown and a
    threshold rule: windows and firings, REAL timestamps), deliveries with their intent and
    outcome, finished alerts, a digest, then deletions (pruning) and dropped articles."""
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(RULES, encoding="utf-8")
    engine = Engine(load_rules(rules_file))
    for n in range(4):
        article = enriched(n=n)
        with state.transaction():
            raised = engine.evaluate(article, state, now=T0 + timedelta(seconds=n)).raised
            for alert in raised:
                state.add_alert(alert, article)
        for alert in raised:
            state.add_to_digest("digest-1", "each", T0, T0 + timedelta(hours=1), alert.id)
            at = T0 + timedelta(microseconds=n)
            intent = DeliveryRecord(
                alert.id,
                "hook",
                DeliveryStatus.PENDING,
                1,
                attempt_log=[DeliveryAttempt(number=1, at=at)],
                since=at,
            )
            state.save(intent, now=at, outcome=Outcome.SENDING)
            done = DeliveryRecord(
                alert.id,
                "hook",
                DeliveryStatus.DELIVERED,
                1,
                delivered_at=at,
                attempt_log=[DeliveryAttempt(number=1, at=at, status_code=200)],
                since=at,
            )
            state.save(done, now=at + timedelta(seconds=1))
            state.mark_done(alert.id)
    state.mark_digest_sent("digest-1")
    newest = state.newest_event()
    assert newest is not None
    state.prune(older_than=newest)  # deletes all but the newest events and firings
    assert state.drop_articles(raised_before=datetime.now(UTC) + timedelta(days=1), limit=2) == 2


@pytest.fixture
def active(tmp_path: Path) -> tuple[AlertingState, Changelog]:
    state = AlertingState(tmp_path / "active.sqlite3").open()
    changelog = Changelog(state.db)
    changelog.capture(True)
    return state, changelog


@pytest.fixture
def standby(tmp_path: Path) -> tuple[AlertingState, Changelog]:
    state = AlertingState(tmp_path / "standby.sqlite3").open()
    return state, Changelog(state.db)


def test_a_replayed_changelog_gives_an_identical_state(
    active: tuple[AlertingState, Changelog],
    standby: tuple[AlertingState, Changelog],
    tmp_path: Path,
) -> None:
    write_history(active[0], tmp_path)
    assert dump(active[0])["outbox"], "the history wrote nothing"
    replay(active[1], standby[1])
    assert dump(standby[0]) == dump(active[0])
    # Exact REAL timestamps: SQLite's own JSON would round them to 15 digits.
    assert standby[0].newest_event() == active[0].newest_event()


def test_deletes_become_tombstones_in_order(
    active: tuple[AlertingState, Changelog], tmp_path: Path
) -> None:
    state, changelog = active
    write_history(state, tmp_path)
    state.prune(older_than=T0 + timedelta(days=3650))  # every event and firing
    changes = changelog.pending(limit=100_000)
    assert [c.seq for c in changes] == sorted(c.seq for c in changes)
    tombstones = [c for c in changes if c.row is None]
    assert {c.table for c in tombstones} == {"fires", "window_events"}
    # Each deleted row was written before its tombstone.
    for tombstone in tombstones:
        first = next(c for c in changes if c.key == tombstone.key)
        assert first.row is not None and first.seq < tombstone.seq
    # Keys are [table, primary key], the same for every change of one row.
    key = json.loads(changes[0].key)
    assert key[0] in changelog.tables and len(key[1]) == len(changelog.tables[key[0]].key)


def test_a_standby_records_nothing_and_shipped_changes_are_forgotten(
    active: tuple[AlertingState, Changelog],
    standby: tuple[AlertingState, Changelog],
    tmp_path: Path,
) -> None:
    write_history(active[0], tmp_path)
    replay(active[1], standby[1])
    assert standby[1].last_seq() == 0  # applying is not capturing
    last = active[1].last_seq()
    active[1].shipped(last, 42)
    assert active[1].pending() == [] and active[1].offset() == 42
    active[1].capture(False)
    active[0].mark_done("nothing")
    with active[0].transaction():
        active[0].record("r", "a", T0)
    assert active[1].last_seq() == 0


def test_only_a_whole_transaction_is_captured(active: tuple[AlertingState, Changelog]) -> None:
    state, changelog = active
    with pytest.raises(RuntimeError), state.transaction():
        state.record("r", "a", T0)
        raise RuntimeError("rolled back")
    assert changelog.pending() == []


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        (b"{not json", b"{}", "not a changelog record"),
        (b'["no_such_table", ["a"]]', b'{"a": 1}', "unknown table"),
        (b'["outbox", ["a", "b"]]', None, "does not match"),
        (b'["outbox", ["a"]]', b'{"alert_id": "a", "nope": 1}', "unknown columns"),
        (b'["outbox", ["a"]]', b'{"alert_id": "a"}', "outbox"),  # NOT NULL columns missing
        (b'["outbox", ["a"]]', b"[1, 2", "not a changelog record"),
        (None, b"{}", "not a changelog record"),
    ],
)
def test_a_malformed_record_is_refused_with_its_reason(
    standby: tuple[AlertingState, Changelog], key: bytes | None, value: bytes | None, problem: str
) -> None:
    state, changelog = standby
    before = dump(state)
    with pytest.raises(MalformedChange, match=problem):
        changelog.apply(key, value)
    assert dump(state) == before


def test_a_rebuild_empties_the_tables_and_the_position(
    active: tuple[AlertingState, Changelog], tmp_path: Path
) -> None:
    state, changelog = active
    write_history(state, tmp_path)
    changelog.capture(False)
    changelog.set_offset(7)
    changelog.wipe()
    assert all(rows == [] for rows in dump(state).values())
    assert changelog.offset() == 0
