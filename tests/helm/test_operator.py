"""HelmReleaseOperator through execute / defer / the real HealthCheckTrigger / execute_complete."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowSkipException, TaskDeferred

from airflow_flux_provider.helm.errors import ChartError, ReleaseError
from airflow_flux_provider.kube import Cluster, ObjectKey
from airflow_flux_provider.links.mlflow import MLFLOW_RUN_URL_KEY
from airflow_flux_provider.operators.helm import HelmReleaseOperator
from airflow_flux_provider.triggers.health import HealthCheckTrigger
from flux_devkit.services.mlflow_server import MlflowServer
from tests.services.connections import AirflowConnections
from tests.task_instance import TaskInstance


@pytest.fixture
def kube_conn(sandbox: Any, airflow_connections: AirflowConnections) -> None:
    airflow_connections.kubernetes("helm_k8s", sandbox, inline=True)  # helm gets a kubeconfig file anyway


def _first_event(trigger: HealthCheckTrigger) -> dict[str, Any]:
    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(first())


def drive(op: HelmReleaseOperator, context: dict[str, Any], limit: int = 6) -> dict[str, Any]:
    """execute, then the real trigger and execute_complete after each deferral, until done."""
    try:
        return op.execute(context)
    except TaskDeferred as deferred:
        pending = deferred
    for _ in range(limit):
        assert isinstance(pending.trigger, HealthCheckTrigger)
        event = _first_event(pending.trigger)
        try:
            return op.execute_complete(context, event)
        except TaskDeferred as deferred:
            pending = deferred
    raise AssertionError("still deferring")


def _operator(namespace: str, chart: Any, **kwargs: Any) -> HelmReleaseOperator:
    spec = {
        "interval": "10m",
        "timeout": "20s",
        "chart": {
            "spec": {"chart": "web", "version": "1.x", "sourceRef": {"kind": "HelmRepository", "name": "r"}}
        },
        "test": {"enable": True},
        "upgrade": {"remediation": {"retries": 0, "remediateLastFailure": True}},
        **kwargs.pop("spec", {}),
    }
    return HelmReleaseOperator(
        task_id="release",
        spec=spec,
        name="web",
        namespace=namespace,
        chart=chart,
        kubernetes_conn_id="helm_k8s",
        poll_interval=0.3,
        **kwargs,
    )


@pytest.mark.usefixtures("kube_conn")
def test_deferred_install_upgrade_remediation_and_tracking(
    sandbox_namespace: str,
    chart_dir: Path,
    mlflow_server: MlflowServer,
    airflow_connections: AirflowConnections,
    sandbox: Any,
) -> None:
    airflow_connections.mlflow("helm_mlflow", mlflow_server)
    ns = sandbox_namespace
    ti = TaskInstance()
    installed = drive(_operator(ns, {"path": str(chart_dir)}, mlflow_conn_id="helm_mlflow"), {"ti": ti})
    assert installed["ready"] and installed["revision"] == 1
    assert installed["actions"] == ["test"]  # the install ran in the first execute, the test after the wait
    assert installed["chart"] == "web@1.2.0" and "nginx" not in json.dumps(installed)  # no values in XCom
    assert ti.xcom[MLFLOW_RUN_URL_KEY].startswith(mlflow_server.tracking_uri)

    upgraded = drive(
        _operator(ns, str(chart_dir), extra_values={"replicas": 2}, mlflow_conn_id=None), {"ti": ti}
    )
    assert upgraded["ready"] and upgraded["revision"] == 2

    with pytest.raises(ReleaseError, match=r"exceeded maximum retries \(0\)"):
        drive(
            _operator(ns, str(chart_dir), extra_values={"image": "nginx:fail"}, mlflow_conn_id=None),
            {"ti": ti},
        )
    history = json.loads(sandbox.helm("history", "web", "-n", ns, "-o", "json").stdout)
    assert [h["status"] for h in history][-1] == "deployed" and history[-1]["revision"] == 4
    cluster = Cluster.from_kubeconfig(str(sandbox.kubeconfig))
    live = cluster.get(ObjectKey("apps/v1", "Deployment", ns, "web-web"))
    assert live is not None and live["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"

    removed = _operator(ns, str(chart_dir), uninstall=True, mlflow_conn_id=None).execute({"ti": ti})
    assert removed["uninstalled"] is True
    assert json.loads(sandbox.helm("list", "-n", ns, "-o", "json").stdout) == []


@pytest.mark.usefixtures("kube_conn")
def test_operator_refuses_missing_chart_and_skips_suspended(sandbox_namespace: str, chart_dir: Path) -> None:
    with pytest.raises(ChartError, match=r"no chart given: pass chart="):
        _operator(sandbox_namespace, None, mlflow_conn_id=None).execute({"ti": TaskInstance()})
    suspended = _operator(sandbox_namespace, str(chart_dir), spec={"suspend": True}, mlflow_conn_id=None)
    with pytest.raises(AirflowSkipException):
        suspended.execute({"ti": TaskInstance()})


@pytest.mark.usefixtures("kube_conn")
def test_release_healthy_at_the_first_check_finishes_without_deferring(
    sandbox_namespace: str, chart_dir: Path, tmp_path: Path
) -> None:
    import shutil

    chart = tmp_path / "web"
    shutil.copytree(chart_dir, chart)
    (chart / "templates" / "deployment.yaml").unlink()  # a ConfigMap is current as soon as it exists
    op = _operator(
        sandbox_namespace, {"path": str(chart)}, spec={"test": {"enable": False}}, mlflow_conn_id=None
    )
    released = op.execute({"ti": TaskInstance()})  # TaskDeferred would fail the test
    assert released["ready"] and released["revision"] == 1 and released["awaiting_health"] == []


@pytest.mark.usefixtures("kube_conn")
def test_corrected_drift_is_named_in_xcom_and_mlflow(
    sandbox: Any,
    sandbox_namespace: str,
    chart_dir: Path,
    tmp_path: Path,
    mlflow_server: MlflowServer,
    airflow_connections: AirflowConnections,
) -> None:
    import shutil

    from mlflow.tracking import MlflowClient

    airflow_connections.mlflow("helm_mlflow", mlflow_server)
    chart = tmp_path / "web"
    shutil.copytree(chart_dir, chart)
    (chart / "templates" / "deployment.yaml").unlink()  # a ConfigMap is current as soon as it exists
    ns = sandbox_namespace
    spec = {"test": {"enable": False}, "driftDetection": {"mode": "enabled"}}
    _operator(ns, str(chart), spec=spec, mlflow_conn_id=None).execute({"ti": TaskInstance()})
    sandbox.kubectl("patch", "configmap", "web-config", "-n", ns, "--type", "merge",
                    "-p", '{"data":{"message":"by hand"}}')  # fmt: skip
    ti = TaskInstance()
    corrected = _operator(ns, str(chart), spec=spec, mlflow_conn_id="helm_mlflow").execute({"ti": ti})
    assert corrected["ready"] and corrected["actions"] == ["correct-drift"]
    assert corrected["drifted"] == [f"ConfigMap/{ns}/web-config changed: /data/message"]
    client = MlflowClient(mlflow_server.tracking_uri)
    run_id = ti.xcom[MLFLOW_RUN_URL_KEY].rstrip("/").rsplit("/", 1)[-1]
    run = client.get_run(run_id)
    assert run.data.metrics["drifted_objects"] == 1.0
    drift = client.download_artifacts(run_id, "drift.txt", str(tmp_path))
    assert Path(drift).read_text() == corrected["drifted"][0]


@pytest.mark.usefixtures("kube_conn")
def test_release_acts_as_its_service_account(
    sandbox: Any, sandbox_namespace: str, chart_dir: Path, tmp_path: Path
) -> None:
    """Issue 17.9: helm runs as ``spec.serviceAccountName`` (impersonated), so the account's RBAC
    bounds what the release may install, as it bounds a Kustomization's apply."""
    import shutil

    ns = sandbox_namespace
    admin = Cluster.from_kubeconfig(str(sandbox.kubeconfig))
    admin.apply(
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "deployer", "namespace": ns}}
    )
    rules = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]  # everything, in this namespace only
    admin.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                 "metadata": {"name": "deployer", "namespace": ns}, "rules": rules})  # fmt: skip
    admin.apply({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "deployer", "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "deployer"},
        "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": ns}],
    })  # fmt: skip
    chart = tmp_path / "web"
    shutil.copytree(chart_dir, chart)
    (chart / "templates" / "deployment.yaml").unlink()  # a ConfigMap is current as soon as it exists
    spec = {"test": {"enable": False}, "serviceAccountName": "deployer"}
    released = _operator(ns, str(chart), spec=spec, mlflow_conn_id=None).execute({"ti": TaskInstance()})
    assert released["ready"] and released["revision"] == 1
    assert admin.get(ObjectKey("v1", "ConfigMap", ns, "web-config")) is not None

    elsewhere = {**spec, "storageNamespace": "default", "releaseName": f"web-{ns}"[:53]}
    with pytest.raises(ReleaseError, match=rf"forbidden.*system:serviceaccount:{ns}:deployer"):
        _operator(ns, str(chart), spec=elsewhere, mlflow_conn_id=None).execute({"ti": TaskInstance()})
    assert json.loads(sandbox.helm("list", "-n", "default", "-o", "json").stdout) == []
