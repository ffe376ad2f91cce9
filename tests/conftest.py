"""Session-wide test setup: an Airflow home of its own, created before Airflow is imported.

Under pytest-xdist (``scripts/test.sh`` runs ``-n 2 --dist loadgroup``) every worker is a
session of its own: its own AIRFLOW_HOME, temp folders and services on ports nobody else
was handed (``flux_devkit.services.process.free_ports``). Tests needing a service too heavy
to start twice are kept on one worker.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="flux-test-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(Path(__file__).resolve().parent.parent / "dags"))

pytest_plugins = ["tests.services.connections", "tests.services.fixtures", "tests.services.sandbox"]

#: Session fixtures that take long to start (a live Airflow, a Pod-running sandbox, MLflow):
#: the tests using one of them form an xdist group, so one worker starts it.
ONE_WORKER_SERVICES = ("airflow_scheduler", "workload_sandbox", "mlflow_server")


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = getattr(item, "fixturenames", ())
        service = next((name for name in ONE_WORKER_SERVICES if name in used), None)
        if service is not None:
            item.add_marker(pytest.mark.xdist_group(service))
