#!/usr/bin/env bash
# Set up Raqib on this machine (a virtualenv in .venv) and run one job:
#   bash deploy/local.sh demo    the whole pipeline on local servers, seeds replayed, alerts shown
#   bash deploy/local.sh dev     the same, kept running until Ctrl-C
#   bash deploy/local.sh test    lint, type-check and the whole test suite
#   bash deploy/local.sh bench   the benchmarks
#   bash deploy/local.sh faults  the fault suite's full variant, with its summary table
#   bash deploy/local.sh soak    the soak benchmark (200 articles/s for 10 minutes)
#   bash deploy/local.sh lock    re-resolve the dependencies into constraints.txt
# Needs Python 3.11+ with pip, Java 17+ and Maven 3.8+ (Kafka and OpenSearch run from their
# Maven Central jars); on Debian, what is missing is installed with apt.
set -euo pipefail
cd "$(dirname "$0")/.."

job="${1:-demo}"
shift || true
PYTHON="${PYTHON:-python3}"
VENV="${RAQIB_VENV:-.venv}"
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
apt_updated=""

apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "missing: $*; install it with your system's package manager" >&2
    exit 1
  fi
  echo "installing $* with apt" >&2
  if [ -z "$apt_updated" ]; then $SUDO apt-get update -qq; apt_updated=1; fi
  $SUDO apt-get install -y -qq "$@" >/dev/null
}

case "$job" in
  demo|dev|test|bench|faults|soak)
    # The local Kafka broker and OpenSearch node are Java programs resolved by Maven.
    if ! command -v java >/dev/null 2>&1 && [ -z "${JAVA_HOME:-}" ]; then
      apt_install openjdk-17-jre-headless
    fi
    command -v mvn >/dev/null 2>&1 || apt_install maven
    ;;
esac
if [ "$job" = test ]; then
  # The tests draw the alert emails in a headless browser (with a font for Arabic).
  command -v chromium >/dev/null 2>&1 || apt_install chromium fonts-noto-core
fi

if [ ! -x "$VENV/bin/python" ]; then
  if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
    # Debian ships the venv module separately.
    apt_install python3-venv
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
  fi
fi

if [ "$job" = lock ]; then
  # The newest versions pyproject.toml's ranges allow, resolved without installing anything.
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  report="$(mktemp)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --dry-run \
    --ignore-installed --report "$report" ".[dev]"
  "$VENV/bin/python" - "$report" > constraints.txt <<'PY'
import json, sys
installs = json.load(open(sys.argv[1]))["install"]
print("# Every package the README's commands install, at the version CI tested.")
print("# Refresh with: bash deploy/local.sh lock")
for meta in sorted((i["metadata"] for i in installs), key=lambda m: m["name"].lower()):
    if meta["name"].lower() != "raqib":
        print(f"{meta['name']}=={meta['version']}")
PY
  rm -f "$report"
  echo "constraints.txt: $(grep -vc '^#' constraints.txt) packages" >&2
  exit 0
fi

extras="local"
case "$job" in test|bench|faults|soak) extras="dev" ;; esac
stamp="$VENV/.raqib-installed-$extras"
# Reinstalling also recompiles the tagger core (setup.py), so an edited core source is rebuilt
# rather than run as Python beside a stale build.
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ setup.py -nt "$stamp" ] \
  || [ constraints.txt -nt "$stamp" ] \
  || [ -n "$(find services/enrichment/core services/common/arabic -name '*.py' -newer "$stamp" -print -quit)" ]; then
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  # The versions CI tested (constraints.txt), not whatever was released last night.
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -c constraints.txt \
    -e ".[$extras]"
  touch "$stamp"
fi

case "$job" in
  demo) exec "$VENV/bin/raqib" demo "$@" ;;
  dev) exec "$VENV/bin/raqib" dev "$@" ;;
  test)
    "$VENV/bin/ruff" check services schemas tests benchmarks
    "$VENV/bin/ruff" format --check --quiet services schemas tests benchmarks
    "$VENV/bin/mypy" services schemas tests benchmarks
    exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"
    ;;
  bench) exec "$VENV/bin/python" -m benchmarks "$@" ;;
  # Hundreds of articles and 20 s outages per experiment (docs/faults.md), about 15 minutes.
  faults) RAQIB_FAULTS=full exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/faults "$@" ;;
  soak) exec "$VENV/bin/python" -m benchmarks.soak "$@" ;;
  *) echo "usage: bash deploy/local.sh [demo|dev|test|bench|faults|soak|lock]" >&2; exit 2 ;;
esac
