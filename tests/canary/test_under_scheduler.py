"""Canary analysis under a real scheduler and triggerer: every step waits in the triggerer.

Between two analysis ticks the task defers (TimeDeltaTrigger) and gives its worker slot
back; each tick resumes in a new worker process, so the progress the analysis needs must
survive that hand-over (it lives in the Canary's status and the task's XCom).
"""

from __future__ import annotations

from typing import Any

from airflow_flux_provider.kube import ObjectKey
from flux_devkit.services.airflow_scheduler import AirflowScheduler
from flux_devkit.services.prometheus import PrometheusServer
from tests.canary.conftest import WebhookServer, canary_manifest, deployment
from tests.canary.test_analysis import healthy_traffic
from tests.canary.test_operator import set_image

DAG = """
from airflow.sdk import DAG

from airflow_flux_provider.operators.canary import CanaryAnalysisOperator

with DAG({dag_id!r}, schedule=None, catchup=False):
    CanaryAnalysisOperator(task_id="analyse", manifest={manifest!r})
"""


def _result(airflow: AirflowScheduler, dag_id: str, run_id: str) -> Any:
    path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/analyse/xcomEntries/return_value"
    return airflow.api.api("GET", path, params={"deserialize": True}).json()["value"]


def test_canary_promotes_with_each_step_resumed_by_the_triggerer(
    airflow_scheduler: AirflowScheduler,
    canary_cluster: Any,
    sandbox_namespace: str,
    prometheus: PrometheusServer,
    webhooks: WebhookServer,
) -> None:
    ns = sandbox_namespace
    canary_cluster.apply(deployment(ns, "podinfo", "podinfo:1.0"), force=True)
    manifest = canary_manifest(ns, "podinfo", prometheus=prometheus.url, hooks=f"{webhooks.url}/{ns}")
    dag_id = f"canary_{ns.replace('-', '_')}"
    (airflow_scheduler.dags_folder / f"{dag_id}.py").write_text(DAG.format(dag_id=dag_id, manifest=manifest))
    airflow_scheduler.wait_for_dag(dag_id)

    first = airflow_scheduler.trigger(dag_id)
    assert airflow_scheduler.wait_for_run(dag_id, first) == "success"
    assert _result(airflow_scheduler, dag_id, first)["status"]["phase"] == "Initialized"

    healthy_traffic(prometheus, ns)
    set_image(canary_cluster, ns, "podinfo:2.0")
    second = airflow_scheduler.trigger(dag_id)
    assert airflow_scheduler.wait_for_run(dag_id, second, timeout=400) == "success"
    result = _result(airflow_scheduler, dag_id, second)
    assert result["status"]["phase"] == "Succeeded", result
    assert [d for d in result["decisions"] if d.startswith("weight")][:2] == ["weight 10", "weight 20"]
    primary = canary_cluster.get(ObjectKey("apps/v1", "Deployment", ns, "podinfo-primary"))
    assert primary["spec"]["template"]["spec"]["containers"][0]["image"] == "podinfo:2.0"
    assert len(webhooks.payloads(f"{ns}/pre")) == 1  # pre-rollout ran once, not once per process
    log = airflow_scheduler.task_log(dag_id, "analyse")
    assert log.count("Pausing task as DEFERRED") >= 4  # scale-up, two weight steps, promotion...
