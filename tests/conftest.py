"""Session-wide test setup: an Airflow home of its own, created before Airflow is imported.

Under pytest-xdist (``scripts/test.sh`` runs ``-n 3 --dist loadfile``) every worker is a
session of its own: its own AIRFLOW_HOME, temp folders and services on ports nobody else
was handed (``flux_devkit.services.process.free_ports``); each test file runs whole on one
worker, its tests in order, the longest files first (``tests/scheduling.py``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="flux-test-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(Path(__file__).resolve().parent.parent / "dags"))

pytest_plugins = [
    "tests.scheduling",
    "tests.services.connections",
    "tests.services.fixtures",
    "tests.services.sandbox",
    "tests.canary.fixtures",
]
