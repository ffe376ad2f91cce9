"""The provider under a real scheduler and triggerer, not ``dag.test()``.

A cluster folder DAG reconciles with ``wait: true``, so its reconcile task defers to the
health-check trigger, leaves its worker slot, and resumes in a new process when the
triggerer fires; a source sensor defers until a commit lands in Git. Both are triggered
through the REST API as a person pressing "Trigger DAG" would.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid

import pytest

from airflow_flux_provider.kube import Cluster, ObjectKey
from flux_devkit.sandbox import Sandbox
from flux_devkit.services.airflow_scheduler import AirflowScheduler
from flux_devkit.services.git_http import GitServer

NAME = f"sched-{uuid.uuid4().hex[:6]}"
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
  interval: 5m
  prune: true
  wait: true
  timeout: 2m
  path: ./apps
  sourceRef: {{kind: GitRepository, name: {NAME}}}
"""
REPO = {
    "apps/namespace.yaml": f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {NAME}}}\n",
    "apps/deployment.yaml": f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {NAME}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec: {{containers: [{{name: web, image: ghcr.io/company/web:1.0.0}}]}}
""",
}
DAGS = """
from airflow.sdk import DAG

from airflow_flux_provider.dag_factory import flux_dag
from airflow_flux_provider.sensors.sources import SourceRevisionSensor

cluster = flux_dag({folder!r}, dag_id="scheduled_cluster", schedule=None, catchup=False)

with DAG("scheduled_source_watch", schedule=None, catchup=False):
    SourceRevisionSensor(
        task_id="new_commit",
        manifest={{
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {{"name": "{name}", "namespace": "flux-system"}},
            "spec": {{"interval": "1m", "url": {url!r}, "ref": {{"branch": "main"}}}},
        }},
        conn_id="git-credentials",
        last_revision="{{{{ dag_run.conf['last_revision'] }}}}",
        # the trigger's first check is one interval after deferral: time for the deferring worker
        # to exit on a loaded machine (a trigger firing before that trips apache/airflow#72716)
        poke_interval=10,
    )
"""


@pytest.fixture(scope="module")
def airflow(airflow_scheduler: AirflowScheduler, git_server: GitServer) -> AirflowScheduler:
    url = git_server.create_repo(NAME, REPO)
    folder = airflow_scheduler.dags_folder.parent / f"cluster-{NAME}"
    folder.mkdir()
    (folder / "cluster.yaml").write_text(CLUSTER.replace("GIT_URL", url))
    dag_file = airflow_scheduler.dags_folder / f"{NAME.replace('-', '_')}.py"
    dag_file.write_text(DAGS.format(folder=str(folder), name=NAME, url=url))
    return airflow_scheduler


def test_reconcile_defers_to_the_triggerer_and_resumes(airflow: AirflowScheduler, sandbox: Sandbox) -> None:
    airflow.wait_for_dag("scheduled_cluster")
    before = sandbox.simulate()["readyDelaySeconds"]
    sandbox.simulate(ready_delay_seconds=8)  # still rolling out when the task checks before deferring
    try:
        run_id = airflow.trigger("scheduled_cluster")
        state = airflow.wait_for_run("scheduled_cluster", run_id)
    finally:
        sandbox.simulate(ready_delay_seconds=before)
    states = airflow.task_states("scheduled_cluster", run_id)
    assert state == "success", states
    reconcile = f"reconcile_{NAME}_apps".replace("-", "_")
    assert set(states.values()) == {"success"} and reconcile in states

    deployment = Cluster.from_kubeconfig(str(sandbox.kubeconfig)).get(
        ObjectKey("apps/v1", "Deployment", NAME, "web")
    )
    assert deployment is not None and deployment["status"]["availableReplicas"] == 2
    log = airflow.task_log("scheduled_cluster", reconcile)
    # the task gave up its slot, the triggerer ran the health check, a new process finished it
    assert "Pausing task as DEFERRED" in log and "'status': 'healthy'" in log
    assert "ReconciliationSucceeded" in log.split("Pausing task as DEFERRED")[1]


def test_source_sensor_waits_in_the_triggerer_for_a_new_commit(
    airflow: AirflowScheduler, git_server: GitServer
) -> None:
    first = git_server.commit(NAME, {"apps/note.txt": "one\n"}, message="one")
    airflow.wait_for_dag("scheduled_source_watch")
    run_id = airflow.trigger("scheduled_source_watch", {"last_revision": f"main@sha1:{first}"})
    task = f"/dags/scheduled_source_watch/dagRuns/{run_id}/taskInstances/new_commit"
    deadline = time.monotonic() + 180
    while airflow.api.api("GET", task).json().get("state") != "deferred":
        assert time.monotonic() < deadline, "the sensor never deferred"
        time.sleep(1)

    second = git_server.commit(NAME, {"apps/note.txt": "two\n"}, message="two")
    state = airflow.wait_for_run("scheduled_source_watch", run_id)
    assert state == "success"
    xcom = airflow.api.api("GET", f"{task}/xcomEntries/return_value").json()
    assert f"main@sha1:{second}" in json.dumps(xcom)


PRELOAD_PROBE = """
import sys

from airflow.sdk import dag, task


@dag(schedule=None)
def preloaded_task_modules():
    @task
    def already_imported() -> list[str]:
        wanted = ("kubernetes", "mlflow.tracking", "airflow_flux_provider.kube.reconcile")
        return [name for name in wanted if name in sys.modules]

    already_imported()


preloaded_task_modules()
"""


def test_a_task_process_inherits_the_modules_its_scheduler_preloaded(airflow: AirflowScheduler) -> None:
    """The stack's airflow_local_settings.py preloads the task modules in the scheduler; the
    task, forked from a LocalExecutor worker forked from it, finds them without importing
    (its DAG file imports none of them)."""
    (airflow.dags_folder / "preloaded_task_modules.py").write_text(PRELOAD_PROBE)
    airflow.wait_for_dag("preloaded_task_modules")
    run_id = airflow.trigger("preloaded_task_modules")
    assert airflow.wait_for_run("preloaded_task_modules", run_id) == "success"
    task = f"/dags/preloaded_task_modules/dagRuns/{run_id}/taskInstances/already_imported"
    xcom = airflow.api.api("GET", f"{task}/xcomEntries/return_value").json()
    assert xcom["value"] == ["kubernetes", "mlflow.tracking", "airflow_flux_provider.kube.reconcile"], xcom


def test_a_write_waits_out_a_lock_held_longer_than_sqlites_default(airflow: AirflowScheduler) -> None:
    """The stacks keep Airflow's database in SQLite, where a write waits 5 s for another
    process's lock by default and then fails: a trigger's POST answered 500 ("database is
    locked") on a loaded machine. They wait ``SQLITE_CONNECT_ARGS`` instead."""
    holder = sqlite3.connect(airflow.airflow_home / "airflow.db", timeout=30, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")  # no other connection reads or writes until it ends
    release = threading.Timer(8, holder.rollback)  # longer than pysqlite's 5 s
    release.start()
    try:
        key = f"lock-{uuid.uuid4().hex[:6]}"
        answer = airflow.api.api("POST", "/variables", json={"key": key, "value": "written"})
        assert answer.status_code == 201, answer.text
        assert airflow.api.api("GET", f"/variables/{key}").json()["value"] == "written"
    finally:
        release.join()
        holder.close()
