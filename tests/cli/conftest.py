"""What the CLI tests share: running ``python -m airflow_flux_provider reconcile`` as a user does."""

from __future__ import annotations

import subprocess
import sys


def run_reconcile(*args: str) -> subprocess.CompletedProcess[str]:
    """The reconcile command in a process of its own; its exit code and output."""
    return subprocess.run(
        [sys.executable, "-m", "airflow_flux_provider", "reconcile", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
