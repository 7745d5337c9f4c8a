"""Bulk requests: sizing, backoff, and the classification of bulk responses."""

from __future__ import annotations

from typing import Any

import pytest

from services.indexer.core import (
    IndexedDocument,
    backoff_delay,
    chunk_documents,
    classify_bulk_response,
)


def _docs(*sizes: int) -> list[IndexedDocument]:
    return [IndexedDocument(str(i), "i-2026.01", b"x" * size) for i, size in enumerate(sizes)]


def test_chunks_respect_document_count_and_bytes() -> None:
    assert chunk_documents(_docs(1, 1, 1, 1, 1), max_documents=2, max_bytes=100) == [
        [0, 1],
        [2, 3],
        [4],
    ]
    assert chunk_documents(_docs(40, 40, 40, 10), max_documents=10, max_bytes=100) == [
        [0, 1],
        [2, 3],
    ]


def test_an_oversized_document_goes_alone() -> None:
    assert chunk_documents(_docs(5, 500, 5), max_documents=10, max_bytes=100) == [[0], [1], [2]]
    assert chunk_documents([], max_documents=10, max_bytes=100) == []


def test_backoff_doubles_and_is_capped() -> None:
    delays = [backoff_delay(attempt, base_s=0.5, max_s=3.0) for attempt in range(1, 6)]
    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0]


# --- bulk classification -------------------------------------------------------------------


def _item(doc_id: str, status: int, error: dict[str, Any] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"_id": doc_id, "status": status}
    if error is not None:
        result["error"] = error
    return {"index": result}


def test_classify_ok_rejected_and_transient() -> None:
    response = {
        "errors": True,
        "items": [
            _item("a", 201),
            _item("b", 200),
            _item(
                "c",
                400,
                {
                    "type": "document_parsing_exception",
                    "reason": "failed to parse field [published_at]",
                    "caused_by": {"type": "illegal_argument_exception", "reason": "bad date"},
                },
            ),
            _item("d", 429, {"type": "es_rejected_execution_exception", "reason": "queue full"}),
            _item("e", 503, {"type": "unavailable_shards_exception", "reason": "no shard"}),
            _item("f", 409, {"type": "version_conflict_engine_exception", "reason": "x"}),
        ],
    }
    outcome = classify_bulk_response(["a", "b", "c", "d", "e", "f"], response)
    assert outcome.indexed == ["a", "b"]
    assert [(r.position, r.id, r.status) for r in outcome.rejected] == [
        (2, "c", 400),
        (5, "f", 409),
    ]
    assert "published_at" in outcome.rejected[0].error
    assert "bad date" in outcome.rejected[0].error
    assert [(r.position, r.id, r.status) for r in outcome.transient] == [
        (3, "d", 429),
        (4, "e", 503),
    ]


def test_classify_treats_missing_or_mismatched_items_as_transient() -> None:
    response = {"items": [_item("a", 201), _item("zzz", 201)]}
    outcome = classify_bulk_response(["a", "b", "c"], response)
    assert outcome.indexed == ["a"]
    assert [r.id for r in outcome.transient] == ["b", "c"]
    assert outcome.rejected == []


@pytest.mark.parametrize("garbage", [{}, {"items": None}, {"items": ["x", {"a": 1, "b": 2}]}])
def test_classify_garbage_response_never_reports_success(garbage: dict[str, Any]) -> None:
    outcome = classify_bulk_response(["a", "b"], garbage)
    assert outcome.indexed == []
    assert [r.id for r in outcome.transient] == ["a", "b"]


def test_a_missing_index_is_transient_and_marks_the_outcome() -> None:
    missing = {"type": "index_not_found_exception", "reason": "no such index [raqib-a-2026.01]"}
    outcome = classify_bulk_response(["a", "b"], {"items": [_item("a", 404, missing)]})
    assert [(r.id, r.status, r.kind) for r in outcome.transient] == [
        ("a", 404, "index_not_found_exception"),
        ("b", 0, ""),
    ]
    assert outcome.index_missing
    busy = {"type": "es_rejected_execution_exception", "reason": "queue full"}
    assert not classify_bulk_response(["a"], {"items": [_item("a", 429, busy)]}).index_missing
