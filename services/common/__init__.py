"""Wiring shared by the services: settings groups, JSON logs, Kafka plumbing, errors."""
