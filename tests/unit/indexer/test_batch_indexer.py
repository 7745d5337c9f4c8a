"""The batch handler's decisions, with a scripted store in place of Elasticsearch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from aiokafka import ConsumerRecord

from services.common.errors import TransientError
from services.indexer.batch import BatchIndexer, BulkLimits
from services.indexer.core import (
    BulkOutcome,
    IndexedDocument,
    RejectedDocument,
    article_builder,
    article_layout,
)
from tests.unit.indexer.articles import bashagha_article, deterrence_article

BUILD = article_builder(article_layout("raqib-articles"))


def record(offset: int, value: bytes | None, key: bytes | None = None) -> ConsumerRecord[Any, Any]:
    return ConsumerRecord(
        "articles.enriched", 1, offset, 0, 0, key, value, None, 0, len(value or b""), []
    )


class ScriptedStore:
    """Answers each bulk call with the next outcome builder; records what it was sent."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls: list[list[IndexedDocument]] = []

    async def bulk_index(self, documents: Sequence[IndexedDocument]) -> BulkOutcome:
        self.calls.append(list(documents))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        result: BulkOutcome = answer(list(documents))
        return result


class DeadLetters:
    def __init__(self) -> None:
        self.sent: list[tuple[int, str, str]] = []

    async def __call__(self, rec: ConsumerRecord[Any, Any], error_type: str, error: str) -> None:
        self.sent.append((rec.offset, error_type, error))


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def all_indexed(documents: list[IndexedDocument]) -> BulkOutcome:
    return BulkOutcome(indexed=[d.id for d in documents])


def busy_first(documents: list[IndexedDocument]) -> BulkOutcome:
    return BulkOutcome(
        indexed=[d.id for d in documents[1:]],
        transient=[RejectedDocument(0, documents[0].id, 429, "es_rejected_execution_exception")],
    )


def indexer(
    store: ScriptedStore, dead: DeadLetters, sleeps: Sleeps | None = None, **limits: Any
) -> BatchIndexer:
    return BatchIndexer(
        store,
        dead,
        BUILD,
        kind="articles",
        limits=BulkLimits(**{"backoff_base_s": 0.5, **limits}),
        sleep=sleeps or Sleeps(),
    )


def encoded(*values: Any) -> list[bytes]:
    return [v.model_dump_json().encode() for v in values]


async def test_good_records_are_indexed_and_bad_ones_dead_lettered_alone() -> None:
    good, other = deterrence_article(), bashagha_article()
    store, dead = ScriptedStore(all_indexed), DeadLetters()
    good_value, other_value = encoded(good, other)
    batch = [record(10, good_value), record(11, b"{broken"), record(12, other_value)]
    await indexer(store, dead)([*batch, record(13, b'{"id": "x"}')])
    assert [d.id for d in store.calls[0]] == [good.id, other.id]
    assert all(b'"html"' not in d.source for d in store.calls[0])
    assert [(offset, kind) for offset, kind, _ in dead.sent] == [
        (11, "ValidationError"),
        (13, "ValidationError"),
    ]


async def test_documents_the_store_rejects_are_dead_lettered_with_its_error() -> None:
    def reject_second(documents: list[IndexedDocument]) -> BulkOutcome:
        return BulkOutcome(
            indexed=[documents[0].id],
            rejected=[RejectedDocument(1, documents[1].id, 400, "mapper_parsing_exception: x")],
        )

    store, dead = ScriptedStore(reject_second), DeadLetters()
    good_value, other_value = encoded(deterrence_article(), bashagha_article())
    await indexer(store, dead)([record(20, good_value), record(21, b"[]"), record(22, other_value)])
    # Position 1 of the bulk request is the record at offset 22, not 21.
    assert dead.sent[0][:2] == (21, "ValidationError")
    assert dead.sent[1] == (22, "DocumentRejected", "status 400: mapper_parsing_exception: x")


async def test_a_batch_is_cut_into_bulk_requests_by_count() -> None:
    articles = [deterrence_article(f"أعلن جهاز الردع عن عملية رقم {i}.") for i in range(5)]
    store, dead = ScriptedStore(all_indexed, all_indexed, all_indexed), DeadLetters()
    await indexer(store, dead, max_documents=2)(
        [record(i, value) for i, value in enumerate(encoded(*articles))]
    )
    assert [[d.id for d in call] for call in store.calls] == [
        [articles[0].id, articles[1].id],
        [articles[2].id, articles[3].id],
        [articles[4].id],
    ]


async def test_a_batch_is_cut_into_bulk_requests_by_bytes() -> None:
    articles = [deterrence_article(f"أعلن جهاز الردع عن عملية رقم {i}.") for i in range(3)]
    values = encoded(*articles)
    one_document = max(len(BUILD(v).source) for v in values)
    store, dead = ScriptedStore(all_indexed, all_indexed), DeadLetters()
    await indexer(store, dead, max_bytes=2 * one_document)(
        [record(i, value) for i, value in enumerate(values)]
    )
    assert [len(call) for call in store.calls] == [2, 1]


async def test_busy_documents_are_resent_alone_after_a_backoff() -> None:
    good, other = deterrence_article(), bashagha_article()
    store, dead, sleeps = ScriptedStore(busy_first, all_indexed), DeadLetters(), Sleeps()
    await indexer(store, dead, sleeps)([record(1, v) for v in encoded(good, other)])
    assert [[d.id for d in call] for call in store.calls] == [[good.id, other.id], [good.id]]
    assert sleeps.delays == [0.5]
    assert dead.sent == []


async def test_outage_is_retried_with_growing_backoff_then_raised() -> None:
    outage = TransientError("connection refused")
    store, dead, sleeps = ScriptedStore(outage, outage, outage), DeadLetters(), Sleeps()
    with pytest.raises(TransientError):
        await indexer(store, dead, sleeps, attempts=3)(
            [record(1, encoded(deterrence_article())[0]), record(2, b"x")]
        )
    assert sleeps.delays == [0.5, 1.0]
    assert dead.sent == []  # sent on the retry of the batch, once, instead


async def test_still_busy_after_every_attempt_fails_the_batch_before_any_dead_letter() -> None:
    store, dead = ScriptedStore(busy_first, busy_first), DeadLetters()
    with pytest.raises(TransientError, match="429"):
        await indexer(store, dead, attempts=2)(
            [record(1, encoded(deterrence_article())[0]), record(2, b"x")]
        )
    assert dead.sent == []


async def test_batch_of_only_bad_records_still_commits() -> None:
    store, dead = ScriptedStore(), DeadLetters()
    await indexer(store, dead)([record(5, None), record(6, "نص".encode())])
    assert store.calls == []
    assert [offset for offset, _, _ in dead.sent] == [5, 6]
