"""A real OpenSearch node (Lucene underneath) on 127.0.0.1, started as a child process.

The jars are OpenSearch's official Maven Central artifacts, resolved once and cached by
``services.devstack.maven`` from ``deploy/opensearch/pom.xml``: the server plus the modules a
distribution would load (HTTP over Netty, ``analysis-common`` with the ``arabic`` analyzer,
painless, ``mapper-extras``), all on one classpath. ``deploy/opensearch/src`` holds the main
class that starts them as one node: single-node discovery, loopback only, no security plugin,
disk watermarks off, data on disk in ``data_dir``.

Talk to it with ``opensearch-py``: the ``elasticsearch`` client refuses a server that is not
Elasticsearch.
"""

from __future__ import annotations

import contextlib
import signal
import time
from pathlib import Path

import httpx

from services.devstack import maven
from services.devstack.servers import StandInError, _ChildServer, free_port

MAIN_CLASS = "raqib.devstack.OpenSearchNode"


def java_feature_version(java: str) -> int | None:
    """The feature release (17, 21, 25...) of the JDK that ``java`` belongs to, read from the
    ``release`` file beside its ``bin/``; ``None`` when there is none to read."""
    release = Path(java).resolve().parent.parent / "release"
    with contextlib.suppress(OSError):
        for line in release.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "JAVA_VERSION":
                parts = value.strip().strip('"').split("-")[0].split("+")[0].split(".")
                number = parts[1] if parts[0] == "1" and len(parts) > 1 else parts[0]  # 1.8
                return int(number) if number.isdigit() else None
    return None


def java_options(feature: int | None, heap: str = "1g", initial_heap: str = "512m") -> list[str]:
    """The JVM flags of the node: a small heap for a shared 2-core test machine, and the
    system properties OpenSearch's own launcher always sets (its ``SystemJvmOptions``)."""
    options = [
        f"-Xms{initial_heap}",
        f"-Xmx{heap}",
        "-XX:+UseG1GC",  # OpenSearch's real-memory circuit breaker is tuned for G1
        "-Xss1m",
        "-XX:-UsePerfData",
        "-XX:-OmitStackTraceInFastThrow",
        # The node runs without OpenSearch's bootstrap, whose handler exits on an OOM.
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        "-Dfile.encoding=UTF-8",
        "-Djna.nosys=true",
        "-Dio.netty.noUnsafe=true",
        "-Dio.netty.noKeySetOptimization=true",
        "-Dio.netty.recycler.maxCapacityPerThread=0",
        "-Dio.netty.allocator.numDirectArenas=0",
        # Our main class closes the node, then logging, from its own shutdown hook.
        "-Dlog4j.shutdownHookEnabled=false",
        "-Dlog4j2.disable.jmx=true",
    ]
    if feature is not None:
        # As OpenSearch's jvm.options: the COMPAT locale data (joda-compatible date formats)
        # until JDK 22; JDK 23 removed it.
        providers = "SPI,COMPAT" if feature < 23 else "SPI,CLDR"
        options.append(f"-Djava.locale.providers={providers}")
        if feature >= 22:
            # Lucene maps index files through the foreign-memory API: allowed, not warned about.
            options.append("--enable-native-access=ALL-UNNAMED")
    return options


class LocalOpenSearch(_ChildServer):
    """One OpenSearch 2.19 node, data kept in ``data_dir`` across restarts.

    ``stop()`` then ``start()`` on the same object reuses its ports and its data dir, so a
    client keeps its URL and finds its indices. Without a ``data_dir`` a temporary one is made
    (and removed by ``cleanup()``); without a ``log_path`` the node logs into its data dir, so
    a failed start can always show why.
    """

    name = "opensearch"
    stop_signal = signal.SIGTERM  # the main class's shutdown hook closes the node in order
    cluster_name = "raqib-local"
    heap = "1g"
    initial_heap = "512m"

    def __init__(
        self,
        data_dir: Path | None = None,
        port: int | None = None,
        log_path: Path | None = None,
    ) -> None:
        super().__init__(log_path, data_dir)
        self.log_path = log_path or self.data_dir / "opensearch.log"
        self.port = port or free_port()
        self.transport_port = free_port(self.port)
        self._version: str | None = None
        self._log_offset = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def version(self) -> str:
        """The server's own version number (``GET /``), known once it has started."""
        if self._version is None:
            raise StandInError(f"{self.name} has not been started")
        return self._version

    def settings(self) -> dict[str, str]:
        """The node's OpenSearch settings (the main class adds the single-node defaults)."""
        return {
            "path.home": str(self.data_dir),
            "path.data": str(self.data_dir / "data"),
            "cluster.name": self.cluster_name,
            "node.name": f"{self.cluster_name}-1",
            "http.port": str(self.port),
            "transport.port": str(self.transport_port),
        }

    def command(self, classpath: str) -> list[str]:
        java = maven.java()
        options = java_options(java_feature_version(java), self.heap, self.initial_heap)
        settings = [f"-E{key}={value}" for key, value in self.settings().items()]
        return [java, *options, "-cp", classpath, MAIN_CLASS, *settings]

    def start(self, timeout: float = 120.0) -> LocalOpenSearch:
        """Start the node (a no-op when it runs) and return once the cluster is at least
        yellow. The very first start resolves the jars with Maven (once, then cached)."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        classpath = maven.classpath("opensearch")  # MissingToolError: says what to install
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # The log is appended to: a failed start shows only what it logged itself.
        log = self.log_path
        self._log_offset = log.stat().st_size if log is not None and log.exists() else 0
        self.proc = self._spawn(self.command(classpath))
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=5.0) as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise StandInError(
                        f"{self.name} exited with code {self.proc.returncode} during start-up; "
                        f"from its log {self.log_path}:\n{self._log_tail()}"
                    )
                if _healthy(http):
                    self._version = str(http.get("/").json()["version"]["number"])
                    return self
                time.sleep(0.2)
        self.kill()
        raise StandInError(
            f"{self.name} was not yellow on {self.url} within {timeout:.0f}s; "
            f"from its log {self.log_path}:\n{self._log_tail()}"
        )

    def _log_tail(self, lines: int = 30) -> str:
        """What this start logged: its last error (with the start of the stack trace), else
        its last ``lines`` lines."""
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        with open(self.log_path, "rb") as log:
            log.seek(self._log_offset)
            logged = log.read().decode(errors="replace").splitlines()
        errors = [number for number, line in enumerate(logged) if "][ERROR" in line]
        if errors:
            return "\n".join(logged[errors[-1] : errors[-1] + lines])
        return "\n".join(logged[-lines:])

    def stop(self, timeout: float = 30.0) -> None:
        """Shut down in order (SIGTERM): shards are flushed, the cluster state is written;
        SIGKILL if that takes longer than ``timeout`` seconds."""
        super().stop(timeout)


def _healthy(http: httpx.Client) -> bool:
    """Whether the cluster answers and is yellow or green (asked to wait up to a second)."""
    try:
        answer = http.get("/_cluster/health", params={"wait_for_status": "yellow", "timeout": "1s"})
        return answer.status_code == 200 and answer.json().get("status") in ("yellow", "green")
    except (httpx.HTTPError, ValueError):  # not up yet, or not OpenSearch answering
        return False
