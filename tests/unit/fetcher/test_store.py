"""The fetcher's state file: what was published, per-feed state, one owner at a time."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.errors import ConfigError
from services.common.statefile import MEMORY
from services.fetcher.http import Validators
from services.fetcher.store import FeedState, FetcherStore, read_feed_states


def test_beyond_capacity_the_oldest_keys_are_forgotten() -> None:
    with FetcherStore(MEMORY, capacity=3) as store:
        store.mark_seen(["id:a", "id:b"], now=1.0)
        store.mark_seen(["id:c", "id:d"], now=2.0)
        assert store.seen_keys(["id:a", "id:b", "id:c", "id:d"]) == {"id:b", "id:c", "id:d"}


def test_seen_keys_answers_for_more_keys_than_sqlite_takes_in_one_query() -> None:
    keys = [f"hash:{n}" for n in range(1_200)]
    with FetcherStore(MEMORY) as store:
        store.mark_seen(keys[::2], now=1.0)
        assert store.seen_keys([*keys, *keys]) == set(keys[::2])


def test_a_second_fetcher_cannot_open_a_state_file_in_use(tmp_path: Path) -> None:
    path = tmp_path / "fetcher.sqlite3"
    with FetcherStore(path), pytest.raises(ConfigError, match="fetcher state file is in use"):
        FetcherStore(path).open()
    with FetcherStore(path) as reopened:  # released on close
        assert reopened.feed_state("any") is None


def test_feed_state_survives_reopening_and_is_readable_while_owned(tmp_path: Path) -> None:
    path = tmp_path / "fetcher.sqlite3"
    state = FeedState(
        "rss", "https://example.ly/rss", Validators('"v1"', None), failures=2, next_poll_at=9.5
    )
    with FetcherStore(path) as store:
        store.save_feed_state(state)
        assert read_feed_states(path) == [state]
    with FetcherStore(path) as store:
        assert store.feed_state("rss") == state


def test_reading_a_missing_or_foreign_state_file(tmp_path: Path) -> None:
    assert read_feed_states(tmp_path / "missing.sqlite3") == []
    garbage = tmp_path / "notes.txt"
    garbage.write_text("not a database, just text " * 20, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"notes\.txt: not a fetcher state file"):
        read_feed_states(garbage)
