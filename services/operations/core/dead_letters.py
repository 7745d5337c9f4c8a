"""Dead letters as an operator sees them: read from their headers, summarised, shown safely,
and judged for replay. Pure: the records come in as values, nothing is read or sent here.

A dead letter is the consumed record's own bytes with ``x-raqib-*`` headers (see
``services.common.kafka.publish_dead_letter``): the stage, the error type and message, the
source topic, partition and offset, and when it failed. One too large for its topic keeps only
its head (``x-raqib-value-truncated``), with the whole value's size and SHA-256: it can be
shown, never replayed. An alert whose delivery failed for good (alerting's ``DeliveryFailed``)
names no source topic: it can be shown, not replayed either.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

# The stages that write dead letters, each to ``<stage>.dlq`` (the fetcher writes none).
DEAD_LETTER_STAGES = ("enrichment", "indexer", "alerting")

# Headers of a replayed record: that it is a replay, and of which dead letter.
REPLAY_HEADER = "x-raqib-replay"
REPLAY_OF_TOPIC = "x-raqib-replay-of-topic"
REPLAY_OF_PARTITION = "x-raqib-replay-of-partition"
REPLAY_OF_OFFSET = "x-raqib-replay-of-offset"
REPLAY_OF_ERROR_TYPE = "x-raqib-replay-of-error-type"

# What an error type is when the record names none (not written by a Raqib stage).
NO_ERROR_TYPE = "(none)"


class UnknownStageError(ValueError):
    """A stage name that writes no dead letters."""


def check_stage(stage: str) -> str:
    """``stage`` if it writes dead letters; ``UnknownStageError`` naming those that do."""
    if stage not in DEAD_LETTER_STAGES:
        raise UnknownStageError(
            f"unknown stage {stage!r}: dead letters come from {', '.join(DEAD_LETTER_STAGES)}"
        )
    return stage


def _text(headers: Mapping[str, bytes], name: str) -> str | None:
    value = headers.get(name)
    return None if value is None else value.decode("utf-8", "replace")


def _int(text: str | None) -> int | None:
    if text is None or not text.strip().lstrip("-").isdigit():
        return None
    return int(text)


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class DeadLetterRecord:
    """One record of a dead-letter topic: where it sits, its bytes and what its headers say."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    key: bytes | None
    value: bytes
    headers: Mapping[str, bytes] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        topic: str,
        partition: int,
        offset: int,
        timestamp_ms: int | None,
        key: bytes | None,
        value: bytes | None,
        headers: Iterable[tuple[str, bytes | None]] | None,
    ) -> DeadLetterRecord:
        """From a consumed record's parts; a header that repeats keeps its last value."""
        return cls(
            topic,
            partition,
            offset,
            timestamp_ms,
            key,
            value or b"",
            {name: value or b"" for name, value in headers or ()},
        )

    @property
    def stage(self) -> str | None:
        return _text(self.headers, "x-raqib-stage")

    @property
    def error_type(self) -> str:
        return _text(self.headers, "x-raqib-error-type") or NO_ERROR_TYPE

    @property
    def error(self) -> str:
        return _text(self.headers, "x-raqib-error") or ""

    @property
    def source_topic(self) -> str | None:
        return _text(self.headers, "x-raqib-source-topic") or None

    @property
    def source_partition(self) -> int | None:
        return _int(_text(self.headers, "x-raqib-source-partition"))

    @property
    def source_offset(self) -> int | None:
        return _int(_text(self.headers, "x-raqib-source-offset"))

    @property
    def failed_at(self) -> datetime | None:
        """When the stage gave up on it: its header, else the record's own timestamp."""
        stated = _time(_text(self.headers, "x-raqib-failed-at"))
        if stated is not None or self.timestamp_ms is None:
            return stated
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)

    @property
    def truncated(self) -> bool:
        return _text(self.headers, "x-raqib-value-truncated") == "true"

    @property
    def original_bytes(self) -> int:
        """The size of the value the stage consumed (larger than ``value`` when truncated)."""
        stated = _int(_text(self.headers, "x-raqib-value-bytes"))
        return stated if stated is not None else len(self.value)

    @property
    def original_sha256(self) -> str | None:
        return _text(self.headers, "x-raqib-value-sha256")

    @property
    def where(self) -> str:
        """``topic/partition/offset`` of the dead letter itself."""
        return f"{self.topic}/{self.partition}/{self.offset}"

    def source(self) -> str:
        if self.source_topic is None:
            return "unknown source"
        return f"{self.source_topic}/{self.source_partition}/{self.source_offset}"


# -- summaries --------------------------------------------------------------------------------


@dataclass
class StageSummary:
    """What a stage's dead-letter topic holds: how many, of which error types, since when."""

    stage: str
    count: int = 0
    by_error_type: Counter[str] = field(default_factory=Counter)
    oldest: datetime | None = None
    newest: datetime | None = None
    cannot_replay: int = 0
    pending: int = 0

    def add(self, record: DeadLetterRecord, *, done_below: int | None = None) -> None:
        """Count ``record``; ``done_below`` as in ``decide``: below it, it is not pending."""
        self.count += 1
        if done_below is None or record.offset >= done_below:
            self.pending += 1
        self.by_error_type[record.error_type] += 1
        moment = record.failed_at
        if moment is not None:
            self.oldest = moment if self.oldest is None else min(self.oldest, moment)
            self.newest = moment if self.newest is None else max(self.newest, moment)
        if replay_refusal(record) is not None:
            self.cannot_replay += 1

    def to_dict(self) -> dict[str, object]:
        return {
            "stage": self.stage,
            "count": self.count,
            "by_error_type": dict(self.by_error_type.most_common()),
            "oldest": self.oldest.isoformat() if self.oldest else None,
            "newest": self.newest.isoformat() if self.newest else None,
            "pending": self.pending,
            "cannot_replay": self.cannot_replay,
        }


def summarise(
    stage: str,
    records: Iterable[DeadLetterRecord],
    done: Mapping[str, Mapping[int, int]] | None = None,
) -> StageSummary:
    """``records`` summarised; ``done`` maps an error type to the offset, per partition, below
    which its dead letters were replayed or passed over (they are not pending)."""
    summary = StageSummary(stage)
    for record in records:
        summary.add(
            record, done_below=(done or {}).get(record.error_type, {}).get(record.partition)
        )
    return summary


# -- showing bytes safely ---------------------------------------------------------------------

# Characters that would steer a terminal (C0/C1 controls, DEL) or reorder the text around them
# (bidirectional overrides and isolates): shown escaped. Newline and tab stay.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True)
class ShownValue:
    """A value as it can be printed: ``text`` when it was UTF-8 (control characters escaped),
    else ``binary`` (Python's bytes notation); ``omitted`` bytes were cut off."""

    kind: str  # "text" or "binary"
    shown: str
    omitted: int


def show_value(value: bytes, limit: int) -> ShownValue:
    """``value`` made safe to print, its first ``limit`` bytes at most."""
    head, omitted = value[:limit], max(0, len(value) - limit)
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as error:
        # A cut through a multi-byte character at the limit is still text.
        if omitted and error.start >= len(head) - 3 and error.reason == "unexpected end of data":
            text = head[: error.start].decode("utf-8")
            omitted += len(head) - error.start
        else:
            return ShownValue("binary", repr(head)[2:-1], omitted)
    return ShownValue("text", _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text), omitted)


# -- replay -----------------------------------------------------------------------------------


def replay_refusal(record: DeadLetterRecord) -> str | None:
    """Why ``record`` cannot be replayed, or None when it can."""
    if record.truncated:
        return (
            f"only the first {len(record.value):,} of its {record.original_bytes:,} bytes were "
            f"kept (sha256 {record.original_sha256}): the original is not in the topic"
        )
    if record.source_topic is None:
        if record.stage is None:
            return "it has no x-raqib-* headers: not a dead letter written by a Raqib stage"
        return "it names no source topic (x-raqib-source-topic): there is nowhere to send it"
    return None


def replay_headers(record: DeadLetterRecord, replayed_at: datetime) -> list[tuple[str, bytes]]:
    """The headers of the record sent back to its source topic: a replay, and of what."""
    return [
        (REPLAY_HEADER, b"true"),
        (REPLAY_OF_TOPIC, record.topic.encode()),
        (REPLAY_OF_PARTITION, str(record.partition).encode()),
        (REPLAY_OF_OFFSET, str(record.offset).encode()),
        (REPLAY_OF_ERROR_TYPE, record.error_type.encode()),
        ("x-raqib-replayed-at", replayed_at.isoformat().encode()),
    ]


class Decision(StrEnum):
    REPLAY = "replay"
    ALREADY_REPLAYED = "already_replayed"
    NOT_SELECTED = "not_selected"
    CANNOT_REPLAY = "cannot_replay"


def decide(
    record: DeadLetterRecord,
    *,
    done_below: int | None,
    error_types: Sequence[str] | None = None,
    since: datetime | None = None,
) -> Decision:
    """What a replay does with ``record``. ``done_below`` is the offset (in the record's
    partition) below which every dead letter of its error type was replayed or passed over
    by an earlier replay; ``error_types`` and ``since`` select the records to replay."""
    if done_below is not None and record.offset < done_below:
        return Decision.ALREADY_REPLAYED
    if error_types is not None and record.error_type not in error_types:
        return Decision.NOT_SELECTED
    if since is not None:
        moment = record.failed_at
        if moment is None or moment < since:
            return Decision.NOT_SELECTED
    if replay_refusal(record) is not None:
        return Decision.CANNOT_REPLAY
    return Decision.REPLAY


_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime) -> datetime:
    """``--since``: an ISO date or date-time (UTC unless it says otherwise), or an age such
    as ``90m``, ``6h``, ``2d``, ``1w`` before ``now``."""
    relative = _RELATIVE.match(text.strip())
    if relative:
        amount, unit = int(relative.group(1)), _UNITS[relative.group(2)]
        return now - timedelta(**{unit: amount})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a date/time like 2026-11-01 or 2026-11-01T08:00+02:00 "
            "nor an age like 90m, 6h, 2d, 1w"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
