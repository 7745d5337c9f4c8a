"""The indexer: ``articles.enriched`` and ``alerts`` → Elasticsearch or OpenSearch, in batches,
idempotently by event id."""
