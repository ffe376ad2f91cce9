#!/usr/bin/env bash
# The README's test command: sets up the environment on first run, then lint, types and the suite.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/sandbox -x).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
export PATH="$ROOT/.venv/bin:$PATH"
if [ $# -eq 0 ]; then
    echo "== ruff"; ruff check . && ruff format --check .
    echo "== mypy"; mypy
    # The whole suite on three workers, a test file per worker at a time, the longest first
    # (tests/scheduling.py). Three on two cores: the suite waits on services (Airflow runs,
    # canary intervals, Jobs) for half of its time, and a third worker fills those waits. Not
    # --dist loadgroup: on pytest 9.2 it silently stops grouping (xdist#1386).
    set -- -n 3 --dist loadfile --durations=30
fi
echo "== pytest"
exec pytest "$@"
