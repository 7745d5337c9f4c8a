"""Dead letters as Prometheus gauges, from the topics themselves.

The stages count the dead letters they write (``raqib_dead_letters_total``, per process, from
its start); these gauges say what the dead-letter topics hold, whoever wrote it and however
long ago: ``raqib dlq list --metrics`` prints them for node_exporter's textfile collector (a
cron job or a systemd timer writes them to its directory).
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from services.operations.core import StageSummary


def dead_letter_gauges(summaries: Sequence[StageSummary]) -> str:
    """The gauges of ``summaries`` in Prometheus' text format."""
    registry = CollectorRegistry()
    held = Gauge(
        "raqib_dead_letters",
        "Records in a stage's dead-letter topic, by error type.",
        ["stage", "error_type"],
        registry=registry,
    )
    newest = Gauge(
        "raqib_dead_letter_newest_timestamp_seconds",
        "When the newest record of a stage's dead-letter topic failed (Unix time).",
        ["stage"],
        registry=registry,
    )
    for summary in summaries:
        if not summary.by_error_type:
            held.labels(summary.stage, "").set(0)
        for error_type, count in summary.by_error_type.items():
            held.labels(summary.stage, error_type).set(count)
        if summary.newest is not None:
            newest.labels(summary.stage).set(summary.newest.timestamp())
    return generate_latest(registry).decode()
