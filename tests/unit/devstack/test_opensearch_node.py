"""The local OpenSearch node's command line and error reports, without starting a JVM
(tests/integration/indexer/test_opensearch_node.py starts one)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.devstack import maven
from services.devstack.opensearch_node import (
    MAIN_CLASS,
    LocalOpenSearch,
    java_feature_version,
    java_options,
)
from services.devstack.servers import StandInError


def fake_jdk(root: Path, release: str | None) -> str:
    java = root / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.touch()
    if release is not None:
        (root / "release").write_text(release)
    return str(java)


@pytest.mark.parametrize(
    ("release", "feature"),
    [
        ('IMPLEMENTOR="Debian"\nJAVA_VERSION="17.0.15"\n', 17),
        ('JAVA_VERSION="21"\n', 21),
        ('JAVA_VERSION="25-ea"\n', 25),
        ('JAVA_VERSION="1.8.0_402"\n', 8),
        ("IMPLEMENTOR=x\n", None),
        (None, None),
    ],
)
def test_the_jdk_version_is_read_from_its_release_file(
    tmp_path: Path, release: str | None, feature: int | None
) -> None:
    assert java_feature_version(fake_jdk(tmp_path, release)) == feature


def test_the_jvm_options_follow_opensearchs_for_the_jdk() -> None:
    assert "-Djava.locale.providers=SPI,COMPAT" in java_options(17)
    assert "--enable-native-access=ALL-UNNAMED" not in java_options(21)
    assert "-Djava.locale.providers=SPI,CLDR" in java_options(25)
    assert "--enable-native-access=ALL-UNNAMED" in java_options(25)
    assert not [o for o in java_options(None) if "locale" in o or "native" in o]
    assert java_options(17, heap="2g", initial_heap="1g")[:2] == ["-Xms1g", "-Xmx2g"]


def test_the_command_names_the_ports_and_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(maven, "java", lambda: fake_jdk(tmp_path / "jdk", 'JAVA_VERSION="17"'))
    node = LocalOpenSearch(data_dir=tmp_path / "node", port=19200)
    argv = node.command("/jars/lib/*")
    assert argv[argv.index("-cp") + 1 :] == [
        "/jars/lib/*",
        MAIN_CLASS,
        f"-Epath.home={tmp_path / 'node'}",
        f"-Epath.data={tmp_path / 'node' / 'data'}",
        "-Ecluster.name=raqib-local",
        "-Enode.name=raqib-local-1",
        "-Ehttp.port=19200",
        f"-Etransport.port={node.transport_port}",
    ]
    assert node.transport_port != node.port
    assert node.url == "http://127.0.0.1:19200"
    assert node.log_path == tmp_path / "node" / "opensearch.log"


def test_the_version_is_known_only_once_started(tmp_path: Path) -> None:
    with pytest.raises(StandInError, match="not been started"):
        _ = LocalOpenSearch(data_dir=tmp_path).version


def test_a_failed_start_shows_its_own_last_error(tmp_path: Path) -> None:
    log = tmp_path / "os.log"
    log.write_text("[t][ERROR][x] an error of an earlier run\n")
    node = LocalOpenSearch(data_dir=tmp_path, log_path=log)
    node._log_offset = log.stat().st_size
    with log.open("a") as out:
        out.write("[t][INFO ][x] starting\n[t][ERROR][x] failed to start: BindHttpException\n")
        out.write("\tat somewhere\n[t][INFO ][x] stopped\n")
    assert node._log_tail(lines=2) == (
        "[t][ERROR][x] failed to start: BindHttpException\n\tat somewhere"
    )
    node._log_offset = log.stat().st_size
    assert node._log_tail() == ""


def test_cleanup_removes_only_a_data_dir_of_its_own(tmp_path: Path) -> None:
    mine = LocalOpenSearch()
    assert mine.data_dir.is_dir()
    mine.cleanup()
    assert not mine.data_dir.exists()
    given = LocalOpenSearch(data_dir=tmp_path / "kept")
    given.data_dir.mkdir()
    given.cleanup()
    assert given.data_dir.is_dir()
