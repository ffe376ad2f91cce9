#!/usr/bin/env bash
# The README's demo command: sets up the environment on first run, then runs the ML training +
# deployment demo on the embedded defaults. Extra arguments go to the demo (see --help).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
export PATH="$ROOT/.venv/bin:$PATH"
exec python -m flux_devkit.demo "$@"
