"""``PoisonIsolation``: a batch a stage cannot get past is split until the record at fault is
found; only that record is dead-lettered, the rest is handled once, nothing loops."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import pytest
from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, MessageSizeTooLargeError

from services.common.errors import TransientError
from services.common.kafka import PoisonIsolation, Record, is_environmental


def _record(offset: int, partition: int = 0) -> Record:
    return ConsumerRecord(
        topic="articles.raw",
        partition=partition,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=None,
        value=str(offset).encode(),
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=1,
        headers=(),
    )


def _batch(n: int) -> tuple[Record, ...]:
    return tuple(_record(offset) for offset in range(n))


class Stage:
    """A batch handler that fails, as a whole, on any batch holding a poison record."""

    def __init__(
        self,
        poison: set[int] | None = None,
        error: Exception | None = None,
        failures: dict[int, list[Exception]] | None = None,
    ) -> None:
        self.poison = poison or set()
        self.error = error or ValueError("cannot handle this one")
        self.failures = failures or {}  # offset -> the errors of its next handlings, then fine
        self.calls = 0
        self.handled: Counter[int] = Counter()  # offset -> times its batch succeeded (outputs)
        self.dead: list[tuple[int, str, str]] = []

    async def __call__(self, records: Sequence[Record]) -> None:
        self.calls += 1
        for record in records:
            pending = self.failures.get(record.offset)
            if pending:
                raise pending.pop(0)
            if record.offset in self.poison:
                raise self.error
        self.handled.update(record.offset for record in records)

    async def dead_letter(self, record: Record, error_type: str, error: str) -> None:
        self.dead.append((record.offset, error_type, error))


def _isolating(stage: Stage, attempts: int = 3) -> PoisonIsolation:
    return PoisonIsolation(stage, attempts=attempts, group="raqib-enrichment")


async def test_a_batch_that_succeeds_is_handled_once() -> None:
    stage = Stage()
    await _isolating(stage)(_batch(10))
    assert stage.calls == 1
    assert stage.handled == Counter(range(10))


async def test_the_record_at_fault_is_dead_lettered_and_the_rest_handled_once() -> None:
    stage = Stage(poison={17})
    await _isolating(stage)(_batch(41))  # returns: the batch is committed
    assert [(offset, kind) for offset, kind, _ in stage.dead] == [(17, "ValueError")]
    assert "failed 3 times on its own (it came in a batch of 41)" in stage.dead[0][2]
    assert "cannot handle this one" in stage.dead[0][2]
    assert stage.handled == Counter(set(range(41)) - {17})  # each exactly once
    # Halving: the batch, two halves per level down to the record, and its two retries.
    assert stage.calls <= 1 + 2 * 6 + 2


async def test_two_records_at_fault_in_different_halves_are_both_found() -> None:
    stage = Stage(poison={0, 30})
    await _isolating(stage)(_batch(40))
    assert sorted(offset for offset, _, _ in stage.dead) == [0, 30]
    assert stage.handled == Counter(set(range(40)) - {0, 30})


async def test_records_of_several_partitions_keep_their_order_in_the_halves() -> None:
    records = [_record(offset, partition) for partition in (0, 1) for offset in range(5)]
    seen: list[tuple[int, int]] = []

    class Ordered(Stage):
        async def __call__(self, records: Sequence[Record]) -> None:
            await super().__call__(records)
            seen.extend((r.partition, r.offset) for r in records)

    stage = Ordered(poison={3})  # offset 3 of both partitions
    await _isolating(stage)(records)
    assert [(p, o) for p, o in seen if p == 0] == [(0, 0), (0, 1), (0, 2), (0, 4)]
    assert [(p, o) for p, o in seen if p == 1] == [(1, 0), (1, 1), (1, 2), (1, 4)]
    assert len(stage.dead) == 2


@pytest.mark.parametrize(
    "error",
    [
        TransientError("search engine unavailable"),
        KafkaConnectionError("broker unreachable"),
        KafkaTimeoutError(),
        OSError("disk full"),
    ],
)
async def test_a_batch_whose_surroundings_failed_is_retried_whole(error: Exception) -> None:
    stage = Stage(poison={5}, error=error)
    with pytest.raises(type(error)):
        await _isolating(stage)(_batch(10))
    assert stage.calls == 1  # not split: no record is suspected
    assert stage.dead == [] and not stage.handled


async def test_when_every_record_fails_alone_the_stage_is_at_fault_not_a_record() -> None:
    stage = Stage(poison=set(range(8)))
    with pytest.raises(ValueError):
        await _isolating(stage)(_batch(8))
    assert stage.dead == []  # never a whole batch to the dead-letter topic


async def test_a_batch_that_fails_once_then_passes_in_halves_loses_nothing() -> None:
    stage = Stage(failures={3: [RuntimeError("flaky")]})
    await _isolating(stage)(_batch(8))
    assert stage.dead == []
    assert stage.handled == Counter(range(8))


async def test_a_record_that_fails_alone_once_and_then_passes_is_not_dead_lettered() -> None:
    # Fails in its batch, in its half, in its quarter, in its eighth and alone: then passes.
    stage = Stage(failures={3: [RuntimeError("flaky")] * 5})
    await _isolating(stage)(_batch(16))
    assert stage.dead == []
    assert stage.handled == Counter(range(16))


async def test_a_record_failing_alone_in_changing_ways_is_dead_lettered_in_the_end() -> None:
    ways: list[Exception] = [RuntimeError("a"), KeyError("b")] * 10
    stage = Stage(failures={1: ways})
    await _isolating(stage, attempts=2)(_batch(2))
    assert [(offset, kind) for offset, kind, _ in stage.dead] == [(1, "RuntimeError")]
    assert "failed 4 times" in stage.dead[0][2]
    assert stage.handled == Counter({0: 1})


async def test_a_record_that_came_alone_is_dead_lettered_after_deliveries_in_a_row() -> None:
    stage = Stage(poison={7}, error=MessageSizeTooLargeError("too large"))
    isolation = _isolating(stage, attempts=3)
    lone = (_record(7),)
    for _ in range(2):  # the middleware backs off between deliveries
        with pytest.raises(MessageSizeTooLargeError):
            await isolation(lone)
    assert stage.dead == []
    await isolation(lone)  # the third delivery: the record is at fault
    assert [(offset, kind) for offset, kind, _ in stage.dead] == [(7, "MessageSizeTooLargeError")]
    assert "failed 3 times on its own (it came alone)" in stage.dead[0][2]
    assert stage.calls == 3


async def test_a_lone_record_counts_again_when_it_fails_another_way_or_passes() -> None:
    stage = Stage(failures={7: [ValueError("a"), ValueError("a"), KeyError("b"), KeyError("b")]})
    isolation = _isolating(stage, attempts=3)
    lone = (_record(7),)
    for _ in range(4):  # a, a, then b: the count starts again
        with pytest.raises((ValueError, KeyError)):
            await isolation(lone)
    await isolation(lone)  # passes
    assert stage.dead == [] and stage.handled == Counter({7: 1})


async def test_a_lone_record_failing_with_a_partner_is_found_by_the_partner_succeeding() -> None:
    stage = Stage(poison={7})
    isolation = _isolating(stage)
    with pytest.raises(ValueError):
        await isolation((_record(7),))
    await isolation((_record(7), _record(8)))  # redelivered with a newer record
    assert [offset for offset, _, _ in stage.dead] == [7]
    assert stage.handled == Counter({8: 1})


async def test_a_dead_letter_that_fails_fails_the_batch() -> None:
    stage = Stage(poison={2})

    async def unreachable(record: Record, error_type: str, error: str) -> None:
        raise KafkaConnectionError("dead-letter topic unreachable")

    stage.dead_letter = unreachable  # type: ignore[method-assign]
    with pytest.raises(KafkaConnectionError):
        await _isolating(stage)(_batch(4))


def test_what_counts_as_the_surroundings_failing() -> None:
    assert is_environmental(TransientError("x"))
    assert is_environmental(KafkaConnectionError())
    assert is_environmental(KafkaTimeoutError())
    assert is_environmental(ConnectionResetError())
    assert is_environmental(TimeoutError())
    assert not is_environmental(MessageSizeTooLargeError())
    assert not is_environmental(ValueError())
    assert not is_environmental(KeyError())
