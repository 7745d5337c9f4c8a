"""The local stand-ins (Kafka, Elasticsearch, an SMTP catcher, a webhook receiver) for
``raqib dev``, ``raqib demo`` and the tests. Nothing here is used in production."""
