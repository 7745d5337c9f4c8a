"""The indexer: ``articles.enriched`` → Elasticsearch, in batches, idempotently by article id."""
