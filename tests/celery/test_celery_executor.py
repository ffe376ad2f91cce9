"""The provider's DAGs on the CeleryExecutor with two workers standing for two machines (issue 21).

Every task may land on either worker, and the workers share no folder: a render, a tag list or a
source checkout that one task leaves on its disk for the next is missing when the next runs on the
other worker. What must cross machines goes through the ``s3://`` artifact store or XCom.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from airflow_flux_provider.kube import Cluster, ObjectKey
from flux_devkit.fleet import fleet_dag
from flux_devkit.sandbox import Sandbox
from flux_devkit.services.airflow_scheduler import AirflowScheduler
from flux_devkit.services.git_http import GitServer
from tests.celery.conftest import WORKERS

#: a hang guard: the stack and 41 tasks need more than the suite's 10 minutes at load average 17
pytestmark = pytest.mark.timeout(1800)

#: Kustomizations of the fleet DAG (1 + 2 x APPS tasks). Each Celery task costs seconds of its
#: own (a forked process parses the DAG file and imports what it runs) whatever it reconciles, so
#: the 200 of issue 21 run in bench/celery_scaleout.py; here enough for both workers to render.
APPS = 20


def rendered_on(worker: Path) -> set[str]:
    """The renders a worker wrote into its own disk (its default ``[flux] artifacts_path``)."""
    return {p.name for p in (worker / "airflow-home" / "flux" / "artifacts" / "renders").glob("sha256/*")}


def test_a_fleet_of_kustomizations_reconciles_across_two_workers(
    celery_airflow: AirflowScheduler, git_server: GitServer, sandbox: Sandbox
) -> None:
    name = f"celery-{uuid.uuid4().hex[:6]}"
    dag_id = fleet_dag(celery_airflow, git_server, name, APPS)
    celery_airflow.wait_for_dag(dag_id, timeout=300)
    run_id = celery_airflow.trigger(dag_id)
    state = celery_airflow.wait_for_run(dag_id, run_id, timeout=1500)
    states = celery_airflow.task_states(dag_id, run_id)
    failed = {task: s for task, s in states.items() if s != "success"}
    assert state == "success" and not failed, failed
    assert len(states) == 1 + 2 * APPS  # the fetch, a render and a reconcile per Kustomization

    cluster = Cluster.from_kubeconfig(str(sandbox.kubeconfig))
    for i in (0, APPS // 2, APPS - 1):
        config = cluster.get(ObjectKey("v1", "ConfigMap", "default", f"{name}-app-{i:03d}"))
        assert config is not None and config["data"] == {"app": str(i)}
    # both workers ran renders, so reconciles read renders another machine made
    root = celery_airflow.dags_folder.parent
    per_worker = [rendered_on(root / worker) for worker in WORKERS]
    assert all(per_worker), [len(r) for r in per_worker]
