"""Local servers started as child processes on 127.0.0.1: Apache Kafka (``LocalKafka``) and
noida-db's Elasticsearch-8 API (``LocalElasticsearch``, for the tests of that client path);
OpenSearch is in ``opensearch_node``.

Used by ``raqib dev``/``raqib demo`` and by the test fixtures. The services never know: they
talk to these through their clients exactly as they talk to production servers.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import hashlib
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import httpx

from services.devstack import maven


class StandInError(RuntimeError):
    """A local server could not be started; the message says which and why."""


def die_with_parent(sig: int) -> Callable[[], None]:
    """A ``preexec_fn`` asking Linux to send ``sig`` to the child when its parent dies, so a
    killed test run or ``raqib dev`` leaves no server behind (a no-op on other systems)."""

    def arrange() -> None:
        if sys.platform.startswith("linux"):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, sig)  # 1 = PR_SET_PDEATHSIG

    return arrange


def free_port(*taken: int) -> int:
    """A loopback port free now and not among ``taken`` (a server's other ports)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in taken:
            return port


class _ChildServer:
    """A server run as a child process, with its data in ``data_dir`` (a temporary folder of
    its own, removed by ``cleanup``, when none is given). A context manager: started on entry,
    stopped and cleaned up on exit, also when the start fails."""

    name = "server"
    stop_signal = signal.SIGTERM

    def __init__(self, log_path: Path | None, data_dir: Path | None = None) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self._own_dir = data_dir is None
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix=f"raqib-{self.name.split()[0]}-"))
        self.log_path = log_path

    def start(self, timeout: float = 60.0) -> Self:
        raise NotImplementedError

    def _spawn(self, argv: list[str]) -> subprocess.Popen[bytes]:
        with contextlib.ExitStack() as files:
            out: IO[bytes] | int = subprocess.DEVNULL
            if self.log_path:
                out = files.enter_context(open(self.log_path, "ab"))
            # A session of its own, so a terminal's Ctrl-C reaches us and we stop it in order.
            return subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent(self.stop_signal),
            )

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        # The child leads its own process group: signal the group, helpers included.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, self.stop_signal)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def cleanup(self) -> None:
        """Stop, and remove the data dir when it is a temporary one of our own."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(
        self, exc: type[BaseException] | None, val: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cleanup()


def noida_binary() -> Path:
    """The noida-db server binary inside its wheel, run directly rather than through the
    ``noida-db`` wrapper script, which does not pass signals on (a stopped wrapper would
    leave the server running)."""
    try:
        path = Path(str(resources.files("noida_db") / "noida-db"))
    except ModuleNotFoundError as error:
        raise StandInError("noida-db's Elasticsearch API needs `pip install raqib[dev]`") from error
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return path


DEPLOY_KAFKA = maven.DEPLOY / "kafka"


class LocalKafka(_ChildServer):
    """Apache Kafka (the version ``deploy/kafka/pom.xml`` pins), one KRaft node that is broker
    and controller at once, on 127.0.0.1; topics and committed offsets kept in ``data_dir``
    across restarts.

    The jars come from Maven Central through ``services.devstack.maven`` (resolved once, then
    cached). ``stop()`` then ``start()`` on the same object reuses its ports and its data, so
    clients reconnect to the same address and find everything they left.
    """

    name = "kafka"
    node_id = 1
    # Small and quick to start: the local broker serves one developer or one test run. On a
    # 2-core machine the serial collector and the client compiler alone start it as fast as
    # G1 and C2 do, with less memory; the class-data archive (see ``_class_data``) saves a
    # second more.
    java_options = (
        "-Xms256m",
        "-Xmx512m",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        "-XX:-UsePerfData",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
    )

    def __init__(
        self, port: int | None = None, log_path: Path | None = None, data_dir: Path | None = None
    ) -> None:
        super().__init__(log_path, data_dir)
        # Without a log of its own the broker logs into its data dir: a failed start-up can
        # then always show why.
        self.log_path = log_path or self.data_dir / "kafka.log"
        self.port = port or free_port()
        self.controller_port = free_port(self.port)
        self._archive_draft: Path | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def version(self) -> str:
        """The Apache Kafka version ``deploy/kafka/pom.xml`` pins (what this broker runs)."""
        return kafka_version()

    @property
    def config_path(self) -> Path:
        return self.data_dir / "server.properties"

    def server_properties(self) -> dict[str, str]:
        """The broker's configuration (written to ``server.properties`` at every start)."""
        listener = f"PLAINTEXT://127.0.0.1:{self.port}"
        return {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "controller.quorum.voters": f"{self.node_id}@127.0.0.1:{self.controller_port}",
            "listeners": f"{listener},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": listener,
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir / "logs"),
            # One node: nothing to replicate to.
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "min.insync.replicas": "1",
            # Few internal partitions (Kafka's defaults are 50): the first group join and the
            # first idempotent producer create them, and a 2-core test machine feels 50.
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.num.partitions": "1",
            "group.initial.rebalance.delay.ms": "0",
            # Topics are created by the services (ensure_topics); tests and tools also produce
            # to topics nobody created, as production's broker allows (docker-compose.yml keeps
            # Kafka's default), with KafkaSettings' default partition count.
            "auto.create.topics.enable": "true",
            "num.partitions": "3",
            # After a crash (kill -9) the restarted broker may register only once its previous
            # incarnation's session has expired: 3 s instead of Kafka's 9 s. Heartbeats go over
            # loopback inside one JVM, so a shorter session does not fence a live broker.
            "broker.heartbeat.interval.ms": "500",
            "broker.session.timeout.ms": "3000",
            # Fewer threads and a smaller compaction buffer (default 128 MiB) than a server's.
            "num.network.threads": "2",
            "num.io.threads": "4",
            "background.threads": "4",
            "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
        }

    def _java(self, classpath: str, main: str, *args: str, record: bool = False) -> list[str]:
        java = maven.java()
        # Kafka 4 logs through log4j 2 (deploy/kafka/pom.xml binds slf4j to it).
        log4j2 = DEPLOY_KAFKA / "log4j2.properties"
        return [
            java,
            *self.java_options,
            *self._class_data(java, classpath, record),
            f"-Dlog4j2.configurationFile={log4j2.as_uri()}",
            "-cp",
            classpath,
            main,
            *args,
        ]

    def _write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lines = [f"{key}={value}" for key, value in self.server_properties().items()]
        self.config_path.write_text("\n".join(lines) + "\n")

    def _class_data(self, java: str, classpath: str, record: bool) -> list[str]:
        """JVM options for a class-data-sharing archive of the broker's classes, kept beside
        its jars: with it the JVM maps the classes it loaded last time instead of loading
        them again (start-up about 2 s -> 1 s). A broker run without one (``record``) writes
        it when it exits in order, to a draft of its own that ``stop()`` puts in place, so
        runs in parallel never see a half-written archive. A JVM that cannot use an archive
        (another Java build) says so in its log and runs without it."""
        jars = Path(classpath.removesuffix("*")).parent
        build = hashlib.sha256(os.path.realpath(java).encode()).hexdigest()[:8]
        archive = jars / f"kafka-{build}.jsa"
        if archive.exists():
            return [f"-XX:SharedArchiveFile={archive}"]
        if not record:
            return []
        self._archive_draft = archive.with_name(f"{archive.name}.{uuid.uuid4().hex}.draft")
        # Writing it warns about every class it skips: expected, and no use in the log.
        return [f"-XX:ArchiveClassesAtExit={self._archive_draft}", "-Xlog:cds*=off"]

    def _settle_archive(self, exited_in_order: bool) -> None:
        draft, self._archive_draft = self._archive_draft, None
        if draft is None:
            return
        final = draft.with_name(draft.name.split(".jsa.")[0] + ".jsa")
        if exited_in_order and draft.exists() and draft.stat().st_size > 0:
            os.replace(draft, final)
        else:
            draft.unlink(missing_ok=True)

    def _format_storage(self, classpath: str) -> None:
        """Format the log dir once; a formatted one (a restart) is left as it is."""
        if (self.data_dir / "logs" / "meta.properties").exists():
            return
        argv = self._java(
            classpath,
            "kafka.tools.StorageTool",
            "format",
            "--config",
            str(self.config_path),
            "--cluster-id",
            _kafka_uuid(),
        )
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise StandInError(
                f"{self.name}: formatting {self.data_dir / 'logs'} failed "
                f"(code {result.returncode}):\n{_tail(result.stdout + result.stderr)}"
            )

    def start(self, timeout: float = 60.0) -> LocalKafka:
        """Start the broker (a no-op when it runs) and return once clients can use it."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        classpath = maven.classpath("kafka")  # MissingToolError: says what to install
        self._write_config()
        self._format_storage(classpath)
        self.proc = self._spawn(
            self._java(classpath, "kafka.Kafka", str(self.config_path), record=True)
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StandInError(
                    f"{self.name} exited with code {self.proc.returncode} during start-up; "
                    f"last lines of {self.log_path}:\n{self._log_tail()}"
                )
            if _kafka_serves(self.port, self.node_id):
                return self
            time.sleep(0.1)
        self.kill()
        raise StandInError(
            f"{self.name} did not become ready on {self.bootstrap_servers} within "
            f"{timeout:.0f}s; last lines of {self.log_path}:\n{self._log_tail()}"
        )

    def _log_tail(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        return _tail(self.log_path.read_text(errors="replace"))

    def stop(self, timeout: float = 30.0) -> None:
        """Shut down in order (SIGTERM): the broker closes its logs cleanly."""
        super().stop(timeout)
        # Java exits with 143 after a SIGTERM it handled (its shutdown hooks ran).
        self._settle_archive(self.proc is not None and self.proc.returncode in (0, 143))

    def kill(self) -> None:
        super().kill()
        self._settle_archive(exited_in_order=False)


def kafka_version() -> str:
    pom = (DEPLOY_KAFKA / "pom.xml").read_text()
    found = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom)
    if found is None:
        raise StandInError("deploy/kafka/pom.xml names no <kafka.version>")
    return found.group(1).strip()


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _kafka_uuid() -> str:
    """A random Kafka ``Uuid`` as its tools print it: 16 bytes, URL-safe base64, unpadded,
    never starting with ``-`` (a command line would read it as an option)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def _kafka_serves(port: int, node_id: int, timeout: float = 2.0) -> bool:
    """Whether the broker on ``port`` answers a Metadata request naming itself as a live
    broker. The port accepts connections well before that: the broker binds it early and
    serves requests only once it has caught up with its metadata and registered."""
    client_id = b"raqib-readiness"
    # Metadata v4 (kept by Kafka 3 and 4): no topics, no auto-creation.
    request = struct.pack(">hhih", 3, 4, 1, len(client_id)) + client_id + struct.pack(">ib", 0, 0)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(struct.pack(">i", len(request)) + request)
            size = struct.unpack(">i", _receive(sock, 4))[0]
            body = _receive(sock, size)
    except (OSError, struct.error, EOFError):
        return False
    try:
        correlation_id, _throttle, brokers = struct.unpack_from(">iii", body, 0)
        offset = 12
        for _ in range(brokers):
            broker_id, host_length = struct.unpack_from(">ih", body, offset)
            offset += 6 + host_length
            broker_port, rack_length = struct.unpack_from(">ih", body, offset)
            offset += 6 + max(rack_length, 0)
            if correlation_id == 1 and broker_id == node_id and broker_port == port:
                return True
    except struct.error:
        return False
    return False


def _receive(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError("connection closed")
        data += chunk
    return bytes(data)


class LocalElasticsearch(_ChildServer):
    """noida-db's Elasticsearch 8.x API; data kept in ``data_dir`` across restarts."""

    name = "elasticsearch (noida-db)"
    stop_signal = signal.SIGINT  # SIGINT makes noida-db save its data before exiting

    def __init__(
        self,
        data_dir: Path | None = None,
        port: int | None = None,
        log_path: Path | None = None,
    ) -> None:
        super().__init__(log_path, data_dir)
        self.port = port or free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> LocalElasticsearch:
        self.proc = self._spawn(
            [
                str(noida_binary()),
                "start",
                "--only",
                "elasticsearch",
                "--data-dir",
                str(self.data_dir),
                "--elasticsearch-port",
                str(self.port),
            ]
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StandInError(f"{self.name} exited with code {self.proc.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url, timeout=0.5).status_code == 200:
                    return self
            time.sleep(0.1)
        raise StandInError(f"{self.name} did not answer on {self.url} within {timeout:.0f}s")
