"""Enrichment: normalises Arabic text, tags actors (with mention spans) and topics."""
