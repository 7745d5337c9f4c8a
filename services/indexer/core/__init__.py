"""The indexer's pure core: index layouts and mappings, documents built from events, bulk
requests and their responses. No I/O here; ``store.py`` and ``batch.py`` do that."""

from services.indexer.core.bulk import (
    INDEX_NOT_FOUND,
    BulkOutcome,
    RejectedDocument,
    backoff_delay,
    chunk_documents,
    classify_bulk_response,
    is_transient_status,
)
from services.indexer.core.documents import (
    DocumentBuilder,
    IndexedDocument,
    InvalidRecord,
    ParsedBatch,
    alert_builder,
    alert_document,
    article_builder,
    article_date,
    article_document,
    indexed_alert,
    indexed_article,
    parse_batch,
)
from services.indexer.core.mappings import (
    ALERT_MAPPINGS,
    ARTICLE_MAPPINGS,
    IndexLayout,
    alert_layout,
    article_layout,
    event_model_fields,
    mapped_fields,
)

__all__ = [
    "ALERT_MAPPINGS",
    "ARTICLE_MAPPINGS",
    "INDEX_NOT_FOUND",
    "BulkOutcome",
    "DocumentBuilder",
    "IndexLayout",
    "IndexedDocument",
    "InvalidRecord",
    "ParsedBatch",
    "RejectedDocument",
    "alert_builder",
    "alert_document",
    "alert_layout",
    "article_builder",
    "article_date",
    "article_document",
    "article_layout",
    "backoff_delay",
    "chunk_documents",
    "classify_bulk_response",
    "event_model_fields",
    "indexed_alert",
    "indexed_article",
    "is_transient_status",
    "mapped_fields",
    "parse_batch",
]
