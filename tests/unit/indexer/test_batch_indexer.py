"""The batch handler's decisions, with a scripted store in place of Elasticsearch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from aiokafka import ConsumerRecord

from services.common.errors import TransientError
from services.indexer.batch import BatchIndexer
from services.indexer.core import ArticleDocument, BulkOutcome, RejectedDocument
from tests.unit.indexer.articles import bashagha_article, deterrence_article


def record(offset: int, value: bytes | None, key: bytes | None = None) -> ConsumerRecord[Any, Any]:
    return ConsumerRecord(
        "articles.enriched", 1, offset, 0, 0, key, value, None, 0, len(value or b""), []
    )


class ScriptedStore:
    """Answers each bulk call with the next outcome builder; records what it was sent."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls: list[list[ArticleDocument]] = []

    async def bulk_index(self, documents: Sequence[ArticleDocument]) -> BulkOutcome:
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


def all_indexed(documents: list[ArticleDocument]) -> BulkOutcome:
    return BulkOutcome(indexed=[d["id"] for d in documents])


async def test_good_records_are_indexed_and_bad_ones_dead_lettered_alone() -> None:
    good, other = deterrence_article(), bashagha_article()
    store, dead = ScriptedStore(all_indexed), DeadLetters()
    await BatchIndexer(store, dead)(
        [
            record(10, good.model_dump_json().encode()),
            record(11, b"{broken"),
            record(12, other.model_dump_json().encode()),
            record(13, b'{"id": "x"}'),
        ]
    )
    assert [d["id"] for d in store.calls[0]] == [good.id, other.id]
    assert all("html" not in d for d in store.calls[0])
    assert [(offset, kind) for offset, kind, _ in dead.sent] == [
        (11, "ValidationError"),
        (13, "ValidationError"),
    ]


async def test_documents_the_store_rejects_are_dead_lettered_with_its_error() -> None:
    good, other = deterrence_article(), bashagha_article()

    def reject_second(documents: list[ArticleDocument]) -> BulkOutcome:
        return BulkOutcome(
            indexed=[documents[0]["id"]],
            rejected=[RejectedDocument(1, documents[1]["id"], 400, "mapper_parsing_exception: x")],
        )

    store, dead = ScriptedStore(reject_second), DeadLetters()
    await BatchIndexer(store, dead)(
        [
            record(20, good.model_dump_json().encode()),
            record(21, b"[]"),
            record(22, other.model_dump_json().encode()),
        ]
    )
    # Position 1 of the bulk request is the record at offset 22, not 21.
    assert dead.sent[0][:2] == (21, "ValidationError")
    assert dead.sent[1] == (22, "DocumentRejected", "status 400: mapper_parsing_exception: x")


async def test_transient_items_fail_the_batch_before_any_dead_letter() -> None:
    good = deterrence_article()

    def busy(documents: list[ArticleDocument]) -> BulkOutcome:
        return BulkOutcome(transient=[RejectedDocument(0, documents[0]["id"], 429, "busy")])

    store, dead = ScriptedStore(busy), DeadLetters()
    with pytest.raises(TransientError, match="429"):
        await BatchIndexer(store, dead)(
            [record(1, good.model_dump_json().encode()), record(2, b"x")]
        )
    assert dead.sent == []  # sent on the retry, once, instead


async def test_store_outage_propagates_as_transient() -> None:
    store, dead = ScriptedStore(TransientError("connection refused")), DeadLetters()
    with pytest.raises(TransientError):
        await BatchIndexer(store, dead)(
            [record(1, deterrence_article().model_dump_json().encode())]
        )
    assert dead.sent == []


async def test_batch_of_only_bad_records_still_commits() -> None:
    store, dead = ScriptedStore(all_indexed), DeadLetters()
    await BatchIndexer(store, dead)([record(5, None), record(6, "نص".encode())])
    assert store.calls == [[]]
    assert [offset for offset, _, _ in dead.sent] == [5, 6]
