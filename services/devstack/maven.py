"""The local JVM servers' jars, resolved by Maven from the small projects under ``deploy/``.

Each server has a ``deploy/<name>/pom.xml`` naming its official artifacts on Maven Central (and,
where the server needs Java glue, a ``src/`` with it). The first call runs Maven once and copies
every jar into ``.raqib/jars/<name>-<hash>/``; later calls, and every test after the first,
reuse that folder: the hash covers the pom and the glue's sources, so an edited pom is resolved
again and a stale classpath is never run.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


class MissingToolError(RuntimeError):
    """Java or Maven is not installed; the message says what to install."""


def _install_hint(tool: str) -> str:
    package = {"java": "openjdk-17-jre-headless", "mvn": "maven"}[tool]
    return (
        f"the local servers need `{tool}` on PATH (Java 17 or newer and Maven 3.8 or newer); "
        f"on Debian: apt-get install -y {package}"
    )


def require(tool: str) -> str:
    """The path of ``java`` or ``mvn``, or a ``MissingToolError`` naming what to install."""
    found = shutil.which(tool)
    if found is None:
        raise MissingToolError(_install_hint(tool))
    return found


def java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return require("java")


def _fingerprint(project: Path) -> str:
    digest = hashlib.sha256()
    files = [project / "pom.xml", *sorted((project / "src").rglob("*"))]
    for path in files:
        if path.is_file():
            digest.update(str(path.relative_to(project)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def cache_root() -> Path:
    return Path(os.environ.get("RAQIB_JAR_CACHE", REPO / ".raqib" / "jars"))


def classpath(name: str) -> str:
    """The Java classpath of server ``name`` (``deploy/<name>/``), resolving it on first use."""
    project = DEPLOY / name
    target = cache_root() / f"{name}-{_fingerprint(project)}"
    done = target / ".complete"
    if not done.exists():
        require("mvn")  # before anything is written to the cache
        # Two processes (a test run and `raqib dev`) must not resolve into one folder at once.
        with _exclusive(cache_root() / f".{name}.lock"):
            if not done.exists():  # the other process may have finished it meanwhile
                _resolve(project, target)
                done.touch()
    return f"{target / 'lib'}/*"


@contextlib.contextmanager
def _exclusive(lock: Path) -> Iterator[None]:
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
        yield


def _resolve(project: Path, target: Path) -> None:
    mvn = require("mvn")
    # The one slow step of a first run (tens of MB from Maven Central): say what is happening.
    print(f"resolving deploy/{project.name}/pom.xml with Maven (first run only)", file=sys.stderr)
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    goals = ["dependency:copy-dependencies", f"-DoutputDirectory={target / 'lib'}"]
    if (project / "src").exists():
        # The glue is built into its own jar beside the dependencies.
        goals = ["package", *goals, f"-Dglue.output={target / 'lib'}"]
    argv = [mvn, "-B", "-q", "-f", str(project / "pom.xml"), "-DincludeScope=runtime", *goals]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        shutil.rmtree(target, ignore_errors=True)
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
        raise RuntimeError(f"maven could not resolve deploy/{project.name}/pom.xml:\n{tail}")
