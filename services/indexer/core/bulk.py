"""Bulk requests: how a batch's documents are cut into requests, how long to wait before a
retry, and what a bulk response says of each document (indexed, rejected, or to send again)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.indexer.core.documents import IndexedDocument

# A month's index deleted while the indexer knew it (on a cluster that does not create indices
# on write): the store creates it again, with its mappings, before the retry.
INDEX_NOT_FOUND = "index_not_found_exception"


def chunk_documents(
    documents: Sequence[IndexedDocument], *, max_documents: int, max_bytes: int
) -> list[list[int]]:
    """Split ``documents`` into bulk requests of at most ``max_documents`` documents and about
    ``max_bytes`` of sources; returns positions. A single document larger than ``max_bytes``
    still goes, alone: Elasticsearch decides whether it is too large."""
    chunks: list[list[int]] = []
    current: list[int] = []
    size = 0
    for position, document in enumerate(documents):
        length = len(document.source)
        if current and (len(current) >= max_documents or size + length > max_bytes):
            chunks.append(current)
            current, size = [], 0
        current.append(position)
        size += length
    if current:
        chunks.append(current)
    return chunks


def backoff_delay(attempt: int, *, base_s: float, max_s: float) -> float:
    """Seconds to wait before retry ``attempt`` (1, 2, ...): exponential, capped."""
    return float(min(max_s, base_s * 2 ** max(0, attempt - 1)))


def is_transient_status(status: int) -> bool:
    """An HTTP status that may pass on a retry: 429 (too many requests) or a 5xx."""
    return status == 429 or status >= 500


@dataclass(frozen=True)
class RejectedDocument:
    """A document of a bulk request that was not stored; ``position`` is its place in it."""

    position: int
    id: str
    status: int
    error: str
    kind: str = ""  # Elasticsearch's error type, e.g. ``document_parsing_exception``


@dataclass(frozen=True)
class BulkOutcome:
    """Per-document result of one bulk request.

    ``rejected`` can never succeed as sent (mapping errors, 400s); ``transient`` may succeed on
    a retry (429, 5xx, or no answer for the document at all).
    """

    indexed: list[str] = field(default_factory=list)
    rejected: list[RejectedDocument] = field(default_factory=list)
    transient: list[RejectedDocument] = field(default_factory=list)

    @property
    def index_missing(self) -> bool:
        """An index was gone: it must be created again before a retry."""
        return any(item.kind == INDEX_NOT_FOUND for item in self.transient)


def classify_bulk_response(
    requested_ids: Sequence[str], response: Mapping[str, Any]
) -> BulkOutcome:
    """Sort a bulk response's items into indexed / rejected / transient, by document id.

    Items are matched by position first (that is the bulk API's contract) and by ``_id`` as a
    check; a requested document the response does not mention is transient: we cannot know
    that it was stored, so it must be sent again.
    """
    outcome = BulkOutcome()
    items: list[Any] = list(response.get("items") or [])
    for position, doc_id in enumerate(requested_ids):
        item = items[position] if position < len(items) else None
        result = _single_action_result(item)
        if result is None or str(result.get("_id", doc_id)) != doc_id:
            outcome.transient.append(
                RejectedDocument(position, doc_id, 0, "no result for document")
            )
            continue
        status = int(result.get("status", 0))
        if 200 <= status < 300 and "error" not in result:
            outcome.indexed.append(doc_id)
            continue
        raw_error = result.get("error", f"status {status}")
        kind = _error_kind(raw_error)
        failed = RejectedDocument(position, doc_id, status, _describe_item_error(raw_error), kind)
        if is_transient_status(status) or status == 0 or kind == INDEX_NOT_FOUND:
            outcome.transient.append(failed)
        else:
            outcome.rejected.append(failed)
    return outcome


def _single_action_result(item: Any) -> Mapping[str, Any] | None:
    # Each item is {"<action>": {...}}; we only send "index" actions, but read any one.
    if not isinstance(item, Mapping) or len(item) != 1:
        return None
    (result,) = item.values()
    return result if isinstance(result, Mapping) else None


def _error_kind(error: Any) -> str:
    return str(error.get("type", "")) if isinstance(error, Mapping) else ""


def _describe_item_error(error: Any) -> str:
    if isinstance(error, Mapping):
        kind = error.get("type", "error")
        reason = error.get("reason", "")
        caused = error.get("caused_by")
        text = f"{kind}: {reason}"
        if isinstance(caused, Mapping):
            text += f" (caused by {caused.get('type', '')}: {caused.get('reason', '')})"
        return text[:4000]
    return str(error)[:4000]
