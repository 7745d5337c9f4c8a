"""The local JVM servers' tools: a missing Java or Maven is named, with what to install."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from services.devstack import maven
from services.devstack.servers import LocalKafka


def _without(monkeypatch: pytest.MonkeyPatch, *tools: str) -> None:
    real_which = shutil.which

    def which(name: str, *args: object, **kwargs: object) -> str | None:
        return None if name in tools else real_which(name)

    monkeypatch.setattr(shutil, "which", which)


@pytest.fixture
def empty_jar_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A jar cache with nothing resolved yet, so the next classpath needs Maven."""
    cache = tmp_path / "jars"
    monkeypatch.setenv("RAQIB_JAR_CACHE", str(cache))
    return cache


def test_a_missing_maven_names_the_package_to_install(
    monkeypatch: pytest.MonkeyPatch, empty_jar_cache: Path
) -> None:
    _without(monkeypatch, "mvn")
    with pytest.raises(maven.MissingToolError, match=r"`mvn`.*apt-get install -y maven"):
        maven.classpath("kafka")
    assert not empty_jar_cache.exists() or not any(empty_jar_cache.iterdir())


def test_a_missing_java_names_the_package_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    _without(monkeypatch, "java")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(maven.MissingToolError, match=r"`java`.*openjdk-17-jre-headless"):
        maven.java()


def test_java_home_wins_over_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    java = tmp_path / "bin" / "java"
    java.parent.mkdir()
    java.touch()
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    _without(monkeypatch, "java")
    assert maven.java() == str(java)


def test_the_broker_passes_a_missing_maven_on_unwrapped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_jar_cache: Path
) -> None:
    _without(monkeypatch, "mvn")
    broker = LocalKafka(data_dir=tmp_path / "data")
    with pytest.raises(maven.MissingToolError, match="apt-get install -y maven") as raised:
        broker.start()
    assert type(raised.value) is maven.MissingToolError
    assert broker.proc is None


def test_the_broker_passes_a_missing_java_on_unwrapped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(maven, "classpath", lambda name: str(tmp_path / "lib" / "*"))
    _without(monkeypatch, "java")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(maven.MissingToolError, match="openjdk-17-jre-headless"):
        LocalKafka(data_dir=tmp_path / "data").start()
