"""preload(): the provider's task modules imported once in the components tasks fork from.

Each check runs in a fresh interpreter, as a component starts. The live half (a task forked
under the scheduler finds them already imported) is in ``tests/dags/test_under_scheduler.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, os, sys, threading
from airflow_flux_provider.preload import preload

def fds():
    return sorted(os.listdir("/proc/self/fd"))

before = fds()
imported = preload({argv!r})
print(json.dumps({{
    "imported": imported,
    "loaded": sorted(m for m in sys.modules if m.startswith({prefixes!r})),
    "threads": [t.name for t in threading.enumerate()],
    "new_fds": sorted(set(fds()) - set(before)),
}}))
"""
TASK_SIDE = (
    "kubernetes",
    "mlflow.tracking",
    "airflow_flux_provider.kube.reconcile",
    "airflow_flux_provider.operators.canary",
    "airflow_flux_provider.hooks.kubernetes",
)
NOT_TASK_SIDE = ("airflow_flux_provider.plugins", "airflow_flux_provider.cli")


def _preload(argv: list[str]) -> dict[str, list[str]]:
    probe = PROBE.format(argv=argv, prefixes=("airflow_flux_provider", "kubernetes", "mlflow"))
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    result: dict[str, list[str]] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize(
    "argv",
    [["airflow", "scheduler"], ["airflow", "celery", "worker", "--concurrency", "2"]],
    ids=["scheduler", "celery-worker"],
)
def test_a_forking_component_imports_the_task_modules_and_opens_nothing(argv: list[str]) -> None:
    result = _preload(argv)
    loaded = set(result["loaded"])
    for name in TASK_SIDE:
        assert name in loaded and name in result["imported"], name
    assert not any(m.startswith(NOT_TASK_SIDE) for m in loaded)
    # what a forked task would share with its parent besides code: nothing
    assert result["threads"] == ["MainThread"]
    assert result["new_fds"] == []


@pytest.mark.parametrize(
    "argv",
    [["airflow", "api-server"], ["airflow", "db", "migrate"], ["airflow", "jobs", "check"], ["airflow"], []],
)
def test_other_commands_import_nothing(argv: list[str]) -> None:
    result = _preload(argv)
    assert result["imported"] == []
    assert "kubernetes" not in result["loaded"] and "mlflow.tracking" not in result["loaded"]
