"""The local Kafka broker's set-up, without starting a JVM (tests/integration starts one)."""

from __future__ import annotations

import base64
import contextlib
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.devstack import maven
from services.devstack.servers import (
    LocalKafka,
    StandInError,
    _kafka_serves,
    _kafka_uuid,
    kafka_version,
)


def test_cluster_ids_are_kafka_uuids() -> None:
    for _ in range(200):
        cluster_id = _kafka_uuid()
        assert len(cluster_id) == 22
        assert not cluster_id.startswith("-")
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


def test_the_broker_listens_on_loopback_only_and_keeps_its_ports(tmp_path: Path) -> None:
    broker = LocalKafka(data_dir=tmp_path / "data")
    config = broker.server_properties()
    assert broker.port != broker.controller_port
    assert config["listeners"] == (
        f"PLAINTEXT://127.0.0.1:{broker.port},CONTROLLER://127.0.0.1:{broker.controller_port}"
    )
    assert config["advertised.listeners"] == f"PLAINTEXT://127.0.0.1:{broker.port}"
    assert config["controller.quorum.voters"] == f"1@127.0.0.1:{broker.controller_port}"
    assert config["log.dirs"] == str(tmp_path / "data" / "logs")
    assert config["offsets.topic.replication.factor"] == "1"
    assert broker.bootstrap_servers == f"127.0.0.1:{broker.port}"


def test_the_version_is_the_one_the_pom_pins() -> None:
    assert kafka_version() == "4.4.0"


def test_a_temporary_data_dir_is_removed_and_a_given_one_kept(tmp_path: Path) -> None:
    own = LocalKafka()
    assert own.data_dir.is_dir()
    own.cleanup()
    assert not own.data_dir.exists()

    given = LocalKafka(data_dir=tmp_path / "data")
    given.data_dir.mkdir()
    given.cleanup()
    assert given.data_dir.is_dir()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers, as a broker still starting does."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        accepted: list[socket.socket] = []

        def accept() -> None:
            with contextlib.suppress(OSError):
                accepted.append(server.accept()[0])

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        yield int(server.getsockname()[1])
        for connection in accepted:
            connection.close()


def test_a_port_that_accepts_connections_is_not_yet_a_broker(silent_server: int) -> None:
    assert not _kafka_serves(silent_server, 1, timeout=0.3)


def _fake_java(tmp_path: Path, script: str) -> str:
    java = tmp_path / "java"
    java.write_text("#!/bin/sh\n" + script)
    java.chmod(java.stat().st_mode | stat.S_IEXEC)
    return str(java)


def test_a_java_that_exits_during_start_up_shows_its_last_log_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(maven, "classpath", lambda name: str(tmp_path / "lib" / "*"))
    monkeypatch.setattr(maven, "java", lambda: _fake_java(tmp_path, "echo 'no such port'\nexit 3"))
    broker = LocalKafka(data_dir=tmp_path / "data", log_path=tmp_path / "kafka.log")
    (broker.data_dir / "logs").mkdir(parents=True)
    (broker.data_dir / "logs" / "meta.properties").touch()  # formatted before: no format run
    with pytest.raises(StandInError, match=r"(?s)exited with code 3.*no such port"):
        broker.start(timeout=10)


def test_a_failed_format_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(maven, "classpath", lambda name: str(tmp_path / "lib" / "*"))
    monkeypatch.setattr(maven, "java", lambda: _fake_java(tmp_path, "echo 'bad config'\nexit 1"))
    broker = LocalKafka(data_dir=tmp_path / "data")
    with pytest.raises(StandInError, match=r"(?s)formatting .* failed.*bad config"):
        broker.start(timeout=10)
    assert broker.proc is None
