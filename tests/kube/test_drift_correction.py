"""Issue 23's "must show": a manual change to a managed object is reverted by the next reconcile.

Reconcile through the operator, change the cluster with the real kubectl (a field Git sets, and
fields Git does not set), reconcile again at the same revision: Git's field is back, the others
stay with their owners, the Kustomization is Ready, and the event, the XCom and the MLflow run
name the object that drifted and its field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlflow.tracking import MlflowClient

from airflow_flux_provider import events
from airflow_flux_provider.kube import Cluster, ObjectKey
from airflow_flux_provider.kube.record import load_record
from airflow_flux_provider.links.mlflow import MLFLOW_RUN_URL_KEY
from airflow_flux_provider.operators.reconcile import KustomizationReconcileOperator
from flux_devkit.sandbox import Sandbox
from flux_devkit.services.mlflow_server import MlflowServer
from tests.sandbox import manifests
from tests.task_instance import TaskInstance

REVISION = "main@sha1:" + "a" * 40


def git_objects(namespace: str) -> str:
    """What the render produced: a ConfigMap and a Deployment that leaves replicas to others."""
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": namespace},
        "data": {"threads": "4"},
    }
    deployment = manifests.deployment("web", {"name": "app", "image": "nginx:1.27"})
    deployment["metadata"]["namespace"] = namespace
    return yaml.safe_dump_all([configmap, deployment])


def reconcile(namespace: str, ti: TaskInstance) -> dict[str, Any]:
    spec = {
        "interval": "10m",
        "prune": True,
        "wait": True,
        "timeout": "60s",
        "path": "./apps",
        "sourceRef": {"kind": "GitRepository", "name": "repo"},
    }
    op = KustomizationReconcileOperator(
        task_id="reconcile",
        spec=spec,
        name="apps",
        namespace=namespace,
        rendered=git_objects(namespace),
        revision=REVISION,
        kubernetes_conn_id="drift_k8s",
        mlflow_conn_id="drift_mlflow",
        deferrable=False,
        poll_interval=0.2,
    )
    return dict(op.execute({"ti": ti}))


def test_reconcile_reverts_drift_keeps_other_owners_fields_and_reports_it(
    sandbox: Sandbox,
    sandbox_namespace: str,
    mlflow_server: MlflowServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    kube = {"conn_type": "kubernetes", "extra": {"kube_config_path": str(sandbox.kubeconfig)}}
    monkeypatch.setenv("AIRFLOW_CONN_DRIFT_K8S", json.dumps(kube))
    mlflow = {"conn_type": "flux_mlflow", "host": mlflow_server.tracking_uri}
    monkeypatch.setenv("AIRFLOW_CONN_DRIFT_MLFLOW", json.dumps(mlflow))
    ns = sandbox_namespace
    first = reconcile(ns, TaskInstance())
    assert first["ready"] and first["created"] == 2 and first["drifted"] == []
    task_log = "".join(capfd.readouterr())  # the operator's own log, as a task log holds it
    assert f"Kustomization/{ns}/apps Ready: Applied revision: {REVISION}" in task_log  # as Flux says it

    def kubectl_patch(target: str, body: dict[str, Any], *extra: str) -> None:
        sandbox.kubectl("patch", target, "-n", ns, "--type=merge", "-p", json.dumps(body), *extra)

    kubectl_patch("configmap/settings", {"data": {"threads": "16"}})  # a field Git sets
    kubectl_patch("deployment/web", {"spec": {"replicas": 3}}, "--subresource=scale")  # Git leaves replicas
    kubectl_patch("configmap/settings", {"data": {"local": "kept"}}, "--field-manager=flux-client-side-apply")
    seen: list[events.Event] = []
    unsubscribe = events.subscribe(seen.append)
    ti = TaskInstance()
    try:
        second = reconcile(ns, ti)
    finally:
        unsubscribe()

    cluster = Cluster.from_kubeconfig(str(sandbox.kubeconfig))
    settings = cluster.get(ObjectKey("v1", "ConfigMap", ns, "settings")) or {}
    web = cluster.get(ObjectKey("apps/v1", "Deployment", ns, "web")) or {}
    assert settings["data"] == {"threads": "4", "local": "kept"}  # reverted / kept
    assert web["spec"]["replicas"] == 3  # kept
    record = load_record(cluster, "Kustomization", "apps", ns)
    assert second["ready"] and record.is_ready and record.reason == "ReconciliationSucceeded"

    drifted = {"object": f"ConfigMap/{ns}/settings", "action": "configured", "fields": ["/data/threads"]}
    assert second["drifted"] == [drifted]
    assert drifted in second["changes"]
    assert {"object": f"Deployment/{ns}/web", "action": "unchanged"} in second["changes"]
    messages = [e.message for e in seen if e.reason == "Progressing"]
    assert messages == [f"ConfigMap/{ns}/settings configured"]  # Flux's change-set event

    mlflow_client = MlflowClient(mlflow_server.tracking_uri)
    run_id = ti.xcom[MLFLOW_RUN_URL_KEY].rstrip("/").rsplit("/", 1)[-1]
    assert mlflow_client.get_run(run_id).data.metrics["objects_drifted"] == 1
    changes = Path(mlflow_client.download_artifacts(run_id, "changes.txt", str(tmp_path))).read_text()
    assert f"ConfigMap/{ns}/settings configured (/data/threads)" in changes.splitlines()
