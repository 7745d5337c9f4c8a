"""All benchmarks in turn: ``python -m benchmarks [--quick]``.

Runs the tagger's speed and quality benchmarks, then the fetcher, indexer, alerting and
end-to-end pipeline benchmarks, each in its own process so no one's memory or imports colour
another's numbers. ``--quick`` uses small sizes, as a
smoke run that everything still works; its numbers mean little.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence

QUICK_ARGS: dict[str, list[str]] = {
    "benchmarks.tagger": ["--seconds", "0.5"],
    "benchmarks.tagging_quality": [],
    "benchmarks.fetcher": ["--quick"],
    "benchmarks.pipeline": ["--articles", "50", "--timeout", "120"],
    "benchmarks.indexer": ["--quick"],
    "benchmarks.alerting": ["--quick"],
}


def commands(quick: bool) -> list[list[str]]:
    return [
        [sys.executable, "-m", module, *(extra if quick else [])]
        for module, extra in QUICK_ARGS.items()
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="Small sizes, for a smoke run.")
    args = parser.parse_args(argv)
    failed: list[str] = []
    for command in commands(args.quick):
        module = command[2]
        print(f"== {module} ==", flush=True)
        if subprocess.run(command, check=False).returncode != 0:
            failed.append(module)
        print(flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
