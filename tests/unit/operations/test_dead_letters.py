"""Dead letters read from their headers, summarised, shown safely, judged for replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from services.cli import app
from services.operations.core import (
    DeadLetterRecord,
    Decision,
    UnknownStageError,
    check_stage,
    decide,
    parse_since,
    replay_headers,
    replay_refusal,
    show_value,
    summarise,
)

FAILED = "2026-11-24T09:15:00+00:00"


def letter(
    offset: int = 0,
    *,
    error_type: str = "ValidationError",
    value: bytes = b'{"id": "x"}',
    failed_at: str = FAILED,
    extra: dict[str, bytes] | None = None,
    bare: bool = False,
) -> DeadLetterRecord:
    headers = (
        []
        if bare
        else [
            ("x-raqib-stage", b"indexer"),
            ("x-raqib-error-type", error_type.encode()),
            ("x-raqib-error", b"field [url] is too long"),
            ("x-raqib-source-topic", b"articles.enriched"),
            ("x-raqib-source-partition", b"2"),
            ("x-raqib-source-offset", b"41"),
            ("x-raqib-failed-at", failed_at.encode()),
            *(extra or {}).items(),
        ]
    )
    return DeadLetterRecord.of("indexer.dlq", 0, offset, 1_700_000_000_000, b"k", value, headers)


def test_the_headers_say_where_it_came_from_and_why() -> None:
    record = letter()
    assert (record.source_topic, record.source_partition, record.source_offset) == (
        "articles.enriched",
        2,
        41,
    )
    assert record.error_type == "ValidationError"
    assert record.failed_at == datetime(2026, 11, 24, 9, 15, tzinfo=UTC)
    assert replay_refusal(record) is None


def test_a_record_without_headers_is_shown_but_never_replayed() -> None:
    record = letter(bare=True)
    assert record.error_type == "(none)"
    assert record.failed_at == datetime.fromtimestamp(1_700_000_000, UTC)  # the record's time
    refusal = replay_refusal(record)
    assert refusal is not None and "no x-raqib-* headers" in refusal
    assert decide(record, done_below=None) is Decision.CANNOT_REPLAY


def test_a_truncated_dead_letter_cannot_be_replayed() -> None:
    record = letter(
        extra={
            "x-raqib-value-truncated": b"true",
            "x-raqib-value-bytes": b"2000000",
            "x-raqib-value-sha256": b"ab" * 32,
        }
    )
    refusal = replay_refusal(record)
    assert refusal is not None and "2,000,000 bytes" in refusal
    assert decide(record, done_below=None) is Decision.CANNOT_REPLAY


def test_an_alert_delivery_failure_names_no_source() -> None:
    record = DeadLetterRecord.of(
        "alerting.dlq",
        0,
        0,
        None,
        b"a",
        b"{}",
        [("x-raqib-stage", b"alerting"), ("x-raqib-error-type", b"DeliveryFailed")],
    )
    refusal = replay_refusal(record)
    assert refusal is not None and "no source topic" in refusal


def test_malformed_header_values_do_not_break_reading() -> None:
    record = letter(extra={"x-raqib-source-partition": b"two", "x-raqib-failed-at": b"soon"})
    assert record.source_partition is None
    assert record.failed_at == datetime.fromtimestamp(1_700_000_000, UTC)


def test_decisions_follow_offsets_types_and_time() -> None:
    since = datetime(2026, 11, 24, tzinfo=UTC)
    assert decide(letter(5), done_below=6) is Decision.ALREADY_REPLAYED
    assert decide(letter(6), done_below=6) is Decision.REPLAY
    assert decide(letter(6), done_below=None, error_types=["Other"]) is Decision.NOT_SELECTED
    older = letter(7, failed_at="2026-11-23T23:59:59+00:00")
    assert decide(older, done_below=None, since=since) is Decision.NOT_SELECTED
    assert decide(letter(7), done_below=None, since=since) is Decision.REPLAY


def test_replay_headers_say_what_was_replayed() -> None:
    headers = dict(replay_headers(letter(9), datetime(2026, 11, 25, tzinfo=UTC)))
    assert headers["x-raqib-replay"] == b"true"
    assert headers["x-raqib-replay-of-topic"] == b"indexer.dlq"
    assert headers["x-raqib-replay-of-offset"] == b"9"
    assert headers["x-raqib-replay-of-error-type"] == b"ValidationError"


def test_summary_counts_types_times_and_pending() -> None:
    records = [
        letter(0, error_type="A", failed_at="2026-11-20T00:00:00+00:00"),
        letter(1, error_type="B"),
        letter(2, error_type="A", failed_at="2026-11-26T00:00:00+00:00"),
        letter(3, bare=True),
    ]
    summary = summarise("indexer", records, {"A": {0: 1}})
    assert summary.count == 4 and summary.pending == 3  # A at offset 0 was replayed
    assert dict(summary.by_error_type) == {"A": 2, "B": 1, "(none)": 1}
    assert summary.oldest == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)  # the bare one
    assert summary.newest == datetime(2026, 11, 26, tzinfo=UTC)
    assert summary.cannot_replay == 1


@pytest.mark.parametrize(
    ("value", "kind", "shown"),
    [
        ("خبر عاجل\n".encode(), "text", "خبر عاجل\n"),
        (b"\x1b[31mred\x07", "text", "\\u001b[31mred\\u0007"),
        ("a\u202eb".encode(), "text", "a\\u202eb"),
        (b"\xff\xfe\x00ok", "binary", "\\xff\\xfe\\x00ok"),
    ],
)
def test_values_are_shown_safely(value: bytes, kind: str, shown: str) -> None:
    result = show_value(value, 100)
    assert (result.kind, result.shown, result.omitted) == (kind, shown, 0)


def test_a_cut_through_a_character_is_still_text() -> None:
    result = show_value("بنغازي".encode(), 5)  # 2-byte letters: the cut splits the third
    assert result.kind == "text" and result.shown == "بن"
    assert result.omitted == len("بنغازي".encode()) - 4


def test_since_takes_dates_times_and_ages() -> None:
    now = datetime(2026, 11, 24, 12, tzinfo=UTC)
    assert parse_since("2026-11-01", now) == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_since("2026-11-01T08:00+02:00", now) == datetime(2026, 11, 1, 6, tzinfo=UTC)
    assert parse_since("6h", now) == now - timedelta(hours=6)
    assert parse_since("2d", now) == now - timedelta(days=2)
    with pytest.raises(ValueError, match="neither a date"):
        parse_since("yesterday", now)


def test_only_stages_that_dead_letter_are_known() -> None:
    assert check_stage("indexer") == "indexer"
    with pytest.raises(UnknownStageError, match="enrichment, indexer, alerting"):
        check_stage("fetcher")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["dlq", "show", "indexr"], "unknown stage 'indexr'"),
        (["dlq", "list", "nope"], "unknown stage 'nope'"),
        (["dlq", "replay", "indexer", "--since", "last week"], "--since"),
    ],
)
def test_the_cli_refuses_bad_arguments_before_reaching_kafka(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, args, env={"RAQIB_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"})
    assert result.exit_code == 2
    assert message in result.stderr
