"""``flux reconcile`` under a live scheduler: the real kubectl annotates a Kustomization with
``reconcile.fluxcd.io/requestedAt`` (what ``flux reconcile ks`` writes) and the DAG that owns
it runs, started by the triggerer's watcher, and records the request as handled."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from airflow_flux_provider.kube import Cluster, ObjectKey
from flux_devkit.sandbox import Sandbox
from flux_devkit.services.airflow_scheduler import AirflowScheduler
from flux_devkit.services.git_http import GitServer

NAME = f"req-{uuid.uuid4().hex[:6]}"
pytestmark = pytest.mark.timeout(600)  # a live scheduler on a loaded machine
DAG_ID = f"requested_{NAME.replace('-', '_')}"
CLUSTER = f"""
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {{name: {NAME}, namespace: flux-system}}
spec:
  interval: 1m
  url: GIT_URL
  ref: {{branch: main}}
  secretRef: {{name: git-credentials}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: {NAME}-apps, namespace: flux-system}}
spec:
  interval: 1h
  prune: true
  path: ./apps
  sourceRef: {{kind: GitRepository, name: {NAME}}}
"""
DAG = """
from airflow_flux_provider.dag_factory import flux_dag

dag = flux_dag({folder!r}, dag_id={dag_id!r}, schedule=None, catchup=False, request_poll_interval=3)
"""


@pytest.fixture(scope="module")
def airflow(airflow_scheduler: AirflowScheduler, git_server: GitServer) -> AirflowScheduler:
    url = git_server.create_repo(NAME, {"apps/config.yaml": CONFIG_MAP})
    folder = airflow_scheduler.dags_folder.parent / f"cluster-{NAME}"
    folder.mkdir()
    (folder / "cluster.yaml").write_text(CLUSTER.replace("GIT_URL", url))
    (airflow_scheduler.dags_folder / f"{DAG_ID}.py").write_text(DAG.format(folder=str(folder), dag_id=DAG_ID))
    return airflow_scheduler


CONFIG_MAP = f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {NAME}, namespace: flux-system}}\n"


def _runs(airflow: AirflowScheduler) -> list[dict[str, Any]]:
    return list(airflow.api.api("GET", f"/dags/{DAG_ID}/dagRuns").json()["dag_runs"])


def test_requested_at_starts_a_run_of_the_owning_dag(airflow: AirflowScheduler, sandbox: Sandbox) -> None:
    airflow.wait_for_dag(DAG_ID)
    # the objects as bootstrap (or a parent Kustomization) puts them in the cluster
    sandbox.kubectl("create", "namespace", "flux-system", check=False)  # other tests may have made it
    sandbox.kubectl("apply", "-f", str(airflow.dags_folder.parent / f"cluster-{NAME}" / "cluster.yaml"))
    token = f"{time.time():.6f}"
    sandbox.kubectl("annotate", "--overwrite", "kustomization", f"{NAME}-apps", "-n", "flux-system",
                    f"reconcile.fluxcd.io/requestedAt={token}")  # fmt: skip
    deadline = time.monotonic() + 180
    while not (runs := _runs(airflow)):
        assert time.monotonic() < deadline, "no run started for the request"
        time.sleep(1)
    (run,) = runs
    assert run["run_type"] == "asset_triggered"
    assert airflow.wait_for_run(DAG_ID, run["dag_run_id"]) == "success", airflow.task_states(
        DAG_ID, run["dag_run_id"]
    )

    cluster = Cluster.from_kubeconfig(str(sandbox.kubeconfig))
    live = cluster.get(
        ObjectKey("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "flux-system", f"{NAME}-apps")
    )
    assert live is not None
    assert live["status"]["lastHandledReconcileAt"] == token
    assert live["status"]["conditions"][0]["status"] == "True"
    assert cluster.get(ObjectKey("v1", "ConfigMap", "flux-system", NAME)) is not None
    assert len(_runs(airflow)) == 1  # one request, one run
