"""Alerting: watch rules over enriched articles, delivered by email and signed webhooks."""
