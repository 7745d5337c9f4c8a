"""Servers of the fault suite's own: its experiments stop and restart them, which the
session's shared broker and node must never see. The summary table is printed at the end of
the run, and written as JSON lines to ``RAQIB_FAULTS_REPORT`` when that is set."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.devstack.opensearch_node import LocalOpenSearch
from services.devstack.servers import LocalKafka
from tests.faults.harness import OUTCOMES, Servers, summary_table, variant

_serials = itertools.count(1)


@pytest.fixture(scope="session")
def fault_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    workdir = tmp_path_factory.mktemp("fault-servers")
    kafka = LocalKafka(data_dir=workdir / "kafka", log_path=workdir / "kafka.log")
    search = LocalOpenSearch(data_dir=workdir / "opensearch", log_path=workdir / "opensearch.log")
    with kafka, search:
        yield Servers(kafka, search)


@pytest.fixture
def serial() -> int:
    """Where this experiment's article serial numbers start: ids no other one uses."""
    return next(_serials) * 100_000


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not OUTCOMES:
        return
    terminalreporter.section(f"fault experiments ({variant().name} variant)")
    terminalreporter.write_line(summary_table(OUTCOMES))
    report = os.environ.get("RAQIB_FAULTS_REPORT")
    if report:
        with Path(report).open("a", encoding="utf-8") as out:
            for outcome in OUTCOMES:
                out.write(json.dumps(outcome.as_dict()) + "\n")
