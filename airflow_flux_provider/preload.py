"""Import what the provider's tasks run, once, in the Airflow process their processes fork from.

On Linux every task process is a fork: LocalExecutor forks its workers from the scheduler and
each task from a worker, Celery's prefork pool forks its children from ``airflow celery
worker`` (each task again from a child), and the DAG processor forks once per file it parses.
A module the long-lived parent already imported costs a forked task nothing; otherwise each
task process imports its DAG file's provider modules and, at ``execute``, the Kubernetes
client, MLflow and Airflow's task runner itself: seconds of CPU per task, more than most of our
tasks' own work. Call :func:`preload` from ``airflow_local_settings.py`` (Airflow imports it
at start in every component; see the README's "Cheaper task processes"). Only code is
imported: no thread, socket, client or connection exists before the fork, so forked tasks
share nothing else with their parent or each other.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Sequence
from pathlib import Path

#: ``airflow <command>`` of the components that fork task or parsing processes, and the triggerer,
#: whose triggers would otherwise import the Kubernetes client on their first use.
COMPONENTS = (("scheduler",), ("celery", "worker"), ("dag-processor",), ("triggerer",))

#: What tasks import when they run, besides the provider's own modules.
TASK_MODULES = (
    "airflow.sdk.execution_time.supervisor",  # a LocalExecutor worker's first task imports it
    "airflow.sdk.execution_time.task_runner",  # every task process imports it
    "airflow.dag_processing.dagbag",  # ... and this, to parse its DAG file: half its CPU otherwise
    "airflow.providers.standard.triggers.temporal",  # the canary's deferral between steps
    "kubernetes",
    "mlflow.entities",
    "mlflow.tracking",
    "s3fs",  # an s3:// artifact store
)

#: Provider packages no task imports: the CLI and the API server's plugins.
_NOT_TASKS = ("airflow_flux_provider.cli", "airflow_flux_provider.plugins", "airflow_flux_provider.__main__")


def provider_modules() -> list[str]:
    """Every module of the provider a task may import (found without importing any)."""
    import airflow_flux_provider

    names: list[str] = []
    folders = [(Path(airflow_flux_provider.__file__).parent, "airflow_flux_provider.")]
    while folders:
        folder, prefix = folders.pop()
        for module in pkgutil.iter_modules([str(folder)], prefix):
            if module.name.startswith(_NOT_TASKS) or module.name == __name__:
                continue
            names.append(module.name)
            if module.ispkg:
                folders.append((folder / module.name.rpartition(".")[2], f"{module.name}."))
    return sorted(names)


def preload(argv: Sequence[str] = sys.argv) -> list[str]:
    """Import the task modules when ``argv`` starts an Airflow component that forks tasks;
    return what was imported. Other commands (the API server, ``airflow db migrate``, health
    checks such as ``airflow jobs check``) skip it: they would pay the imports for nothing."""
    if not any(tuple(argv[1 : 1 + len(command)]) == command for command in COMPONENTS):
        return []
    names = [*TASK_MODULES, *provider_modules()]
    for name in names:
        importlib.import_module(name)
    return names
