"""Canary analysis under a real scheduler and triggerer: every step waits in the triggerer.

Between two analysis ticks the task defers (TimeDeltaTrigger) and gives its worker slot
back; each tick resumes in a new worker process, so the progress the analysis needs must
survive that hand-over (it lives in the Canary's status and the task's XCom). The rollout
is the session's (:func:`tests.canary.fixtures.scheduled_rollout`), which the Flux view's
browser test reads too.
"""

from __future__ import annotations

from typing import Any

from airflow_flux_provider.kube import Cluster, ObjectKey
from flux_devkit.services.airflow_scheduler import AirflowScheduler
from tests.canary.conftest import WebhookServer
from tests.canary.fixtures import ScheduledRollout


def _result(airflow: AirflowScheduler, dag_id: str, run_id: str) -> Any:
    path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/analyse/xcomEntries/return_value"
    return airflow.api.api("GET", path, params={"deserialize": True}).json()["value"]


def test_canary_promotes_with_each_step_resumed_by_the_triggerer(
    airflow_scheduler: AirflowScheduler,
    canary_cluster: Cluster,
    scheduled_rollout: ScheduledRollout,
    webhooks: WebhookServer,
) -> None:
    ns, dag_id = scheduled_rollout.namespace, scheduled_rollout.dag_id
    first = _result(airflow_scheduler, dag_id, scheduled_rollout.initialized)
    assert first["status"]["phase"] == "Initialized"

    result = _result(airflow_scheduler, dag_id, scheduled_rollout.promoted)
    assert result["status"]["phase"] == "Succeeded", result
    assert [d for d in result["decisions"] if d.startswith("weight")][:2] == ["weight 10", "weight 20"]
    primary = canary_cluster.get(ObjectKey("apps/v1", "Deployment", ns, "podinfo-primary"))
    assert primary["spec"]["template"]["spec"]["containers"][0]["image"] == "podinfo:2.0"
    assert len(webhooks.payloads(f"{ns}/pre")) == 1  # pre-rollout ran once, not once per process
    log = airflow_scheduler.task_log(dag_id, "analyse")
    assert log.count("Pausing task as DEFERRED") >= 4  # scale-up, two weight steps, promotion...
