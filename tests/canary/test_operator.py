"""CanaryAnalysisOperator through execute / defer / execute_complete, as the triggerer would drive it."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger
from airflow.sdk.exceptions import AirflowSkipException, TaskDeferred

from airflow_flux_provider.canary.errors import CanaryError, CanaryFailedError
from airflow_flux_provider.kube import ObjectKey
from airflow_flux_provider.links.flux_view import FLUX_OBJECT_KEY
from airflow_flux_provider.links.mlflow import MLFLOW_RUN_URL_KEY
from airflow_flux_provider.operators.canary import PROGRESS_KEY, CanaryAnalysisOperator
from flux_devkit.services.mlflow_server import MlflowServer
from flux_devkit.services.prometheus import PrometheusServer
from tests.canary.conftest import WebhookServer, canary_manifest, deployment
from tests.canary.test_analysis import healthy_traffic
from tests.services.connections import AirflowConnections
from tests.task_instance import TaskInstance


@pytest.fixture
def connections(sandbox: Any, mlflow_server: MlflowServer, airflow_connections: AirflowConnections) -> None:
    airflow_connections.kubernetes("canary_k8s", sandbox)
    airflow_connections.mlflow("canary_mlflow", mlflow_server)


def operator(manifest: dict[str, Any]) -> CanaryAnalysisOperator:
    return CanaryAnalysisOperator(
        task_id="analyse",
        manifest=manifest,
        kubernetes_conn_id="canary_k8s",
        mlflow_conn_id="canary_mlflow",
    )


def drive(op: CanaryAnalysisOperator, context: dict[str, Any], *, stop: Any = None, limit: int = 60) -> Any:
    """execute, then execute_complete after each deferral (no real wait), until done or ``stop(progress)``."""
    progress: dict[str, Any] | None = None
    for _ in range(limit):
        try:
            return op.execute(context) if progress is None else op.execute_complete(context, progress)
        except TaskDeferred as deferred:
            assert isinstance(deferred.trigger, TimeDeltaTrigger)
            assert deferred.method_name == "execute_complete"
            progress = deferred.kwargs["progress"]
            if stop is not None and stop(progress):
                return progress
            time.sleep(0.2)
    raise AssertionError(f"not finished after {limit} ticks")


@pytest.fixture
def manifest(
    canary_cluster: Any, sandbox_namespace: str, prometheus: PrometheusServer, webhooks: WebhookServer
) -> dict[str, Any]:
    canary_cluster.apply(deployment(sandbox_namespace, "podinfo", "podinfo:1.0"), force=True)
    return canary_manifest(
        sandbox_namespace, "podinfo", prometheus=prometheus.url, hooks=f"{webhooks.url}/{sandbox_namespace}"
    )


def set_image(cluster: Any, namespace: str, image: str) -> None:
    target = deployment(namespace, "podinfo", image)
    target["spec"].pop("replicas")
    cluster.apply(target, force=True)


@pytest.mark.usefixtures("connections")
def test_killed_task_resumes_from_the_cluster_status(
    manifest: dict[str, Any],
    canary_cluster: Any,
    prometheus: PrometheusServer,
    webhooks: WebhookServer,
    mlflow_server: MlflowServer,
    tmp_path: Path,
) -> None:
    ns = manifest["metadata"]["namespace"]
    ti = TaskInstance()
    first = drive(operator(manifest), {"ti": ti})
    assert first["status"]["phase"] == "Initialized"

    healthy_traffic(prometheus, ns)
    set_image(canary_cluster, ns, "podinfo:2.0")
    # The first task is killed once the canary carries 10 % of the traffic (its progress is lost).
    drive(
        operator(manifest), {"ti": ti}, stop=lambda p: any(s["decision"] == "weight 10" for s in p["steps"])
    )

    resumed = drive(operator(manifest), {"ti": ti})
    assert resumed["status"]["phase"] == "Succeeded"
    assert resumed["decisions"][0] == "weight 20"  # continued from the stored weight, no restart
    assert len(webhooks.payloads(f"{ns}/pre")) == 1
    assert not any("scaled up" in d for d in resumed["decisions"])

    from mlflow import MlflowClient

    run_id = ti.xcom[MLFLOW_RUN_URL_KEY].rsplit("/", 1)[1]
    client = MlflowClient(mlflow_server.tracking_uri)
    rate = {m.step: m.value for m in client.get_metric_history(run_id, "request-success-rate")}
    weight = {m.step: m.value for m in client.get_metric_history(run_id, "canary_weight")}
    assert sorted(weight) == list(range(1, resumed["ticks"] + 1))  # step = tick, every tick
    assert [weight[tick] for tick in sorted(rate)] == [10, 20] and rate[min(rate)] == pytest.approx(100.0)
    latency = client.get_metric_history(run_id, "request-duration")
    assert 25 <= latency[0].value <= 50
    report = Path(client.download_artifacts(run_id, "canary-report.html", str(tmp_path))).read_text()
    assert f"Canary/{ns}/podinfo" in report and report.count("<tr>") == resumed["ticks"] + 1
    assert ti.xcom[FLUX_OBJECT_KEY] == {
        "cluster": "canary_k8s",
        "kind": "Canary",
        "namespace": ns,
        "name": "podinfo",
    }
    assert [s["decision"] for s in ti.xcom[PROGRESS_KEY]["steps"]] == resumed["decisions"]


@pytest.mark.usefixtures("connections")
def test_failed_analysis_fails_the_task(
    manifest: dict[str, Any],
    canary_cluster: Any,
    prometheus: PrometheusServer,
    capfd: pytest.CaptureFixture[str],
) -> None:
    ns = manifest["metadata"]["namespace"]
    drive(operator(manifest), {"ti": TaskInstance()})
    healthy_traffic(prometheus, ns, latency_ms=900)
    set_image(canary_cluster, ns, "podinfo:2.0")
    capfd.readouterr()
    with pytest.raises(CanaryFailedError, match=rf"Canary/{ns}/podinfo: canary analysis failed"):
        drive(operator(manifest), {"ti": TaskInstance()})
    # each tick's measured values are in the task log, so a failure can be read from it
    assert re.search(
        rf"Canary/{ns}/podinfo tick \d+ metrics at canary weight \d+%: request-success-rate 100 \(ok\), "
        r"request-duration 9\d\d \(failed\)",
        "".join(capfd.readouterr()),
    )


@pytest.mark.usefixtures("connections")
def test_weights_flagger_would_stall_on_are_refused_before_anything_moves(
    manifest: dict[str, Any], canary_cluster: Any
) -> None:
    manifest["spec"]["analysis"].update(stepWeight=None, maxWeight=50, stepWeights=[20, 10])
    del manifest["spec"]["analysis"]["stepWeight"]
    with pytest.raises(CanaryError, match=r"analysis.stepWeights: stepWeights \[20, 10\] must be strictly"):
        operator(manifest).execute({"ti": TaskInstance()})
    ns = manifest["metadata"]["namespace"]
    assert canary_cluster.get(ObjectKey("apps/v1", "Deployment", ns, "podinfo-primary")) is None


@pytest.mark.usefixtures("connections")
def test_suspended_canary_skips_the_task(manifest: dict[str, Any], canary_cluster: Any) -> None:
    manifest["spec"]["suspend"] = True
    with pytest.raises(AirflowSkipException, match="is suspended"):
        operator(manifest).execute({"ti": TaskInstance()})
    ns = manifest["metadata"]["namespace"]
    assert canary_cluster.get(ObjectKey("apps/v1", "Deployment", ns, "podinfo-primary")) is None
