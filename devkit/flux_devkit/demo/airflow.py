"""The demo's Airflow: how it is sized, what each story step did, and the live system it leaves.

During the story the scheduler creates no runs of its own (``use_job_schedule`` off), so the
steps run in order with the demo's trigger conf; a champion promoted by ``ml_training``
would otherwise start ``ml_deployment`` without it. ``--keep-running`` then turns run
creation on, as in production: the story's champions are deployed already, so their queued
asset events are cleared first, and from then on schedules fire and a training a user
triggers that promotes a champion starts ``ml_deployment``.
"""

from __future__ import annotations

import os
from typing import Any

from flux_devkit.services.airflow_scheduler import AirflowScheduler

#: DAG runs of ``ml_deployment`` start from the champion asset that ``ml_training`` updates.
ASSET_SCHEDULED = "ml_deployment"


def local_executor_parallelism() -> int:
    """Task processes LocalExecutor keeps: two per core, at least four (each idles at ~30 MiB;
    Airflow's default of 32 held about 1 GiB on a 2-core machine). Waits are deferred, so a
    slot is only taken while a task computes."""
    return max(4, 2 * (os.cpu_count() or 1))


def story_settings(celery_workers: int = 0) -> dict[str, str]:
    """What the demo's Airflow components get on top of the environment's settings.

    ``parallelism`` is the tasks the scheduler keeps running across the executor: the local
    slots, or each Celery worker's (``--concurrency``) added up.
    """
    slots = local_executor_parallelism() * max(1, celery_workers)
    return {
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__CORE__PARALLELISM": str(slots),
    }


def go_live(scheduler: AirflowScheduler) -> None:
    """Let the scheduler create runs (schedules and asset triggers), as it does in production."""
    scheduler.api.api("DELETE", f"/dags/{ASSET_SCHEDULED}/assets/queuedEvents").raise_for_status()
    scheduler.restart("scheduler", {"AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "True"})


def login(scheduler: AirflowScheduler) -> str:
    return f"user admin, password {scheduler.api.password}"


def run_outcome(scheduler: AirflowScheduler, dag_id: str, run_id: str) -> str:
    """One line on what a story step's run did: accuracy and champion, or the rollout."""
    states = scheduler.task_states(dag_id, run_id)
    if dag_id == "ml_training":
        trained = _xcom(scheduler, dag_id, run_id, "register_job_model")
        kept = states.get("promote_champion") == "skipped"  # skip_when_kept: the champion stays
        verdict = "kept the current champion" if kept else "promoted to champion"
        return (
            f"run {run_id}: model {trained['model']} version {trained['version']}, accuracy "
            f"{trained['accuracy']:.4f}, {verdict} (MLflow run {trained['run_id']})"
        )
    canary = _xcom(scheduler, dag_id, run_id, "canary_ml_serving")
    status = canary["status"]
    return (
        f"run {run_id}: canary {status['phase']} after {canary['ticks']} tick(s), "
        f"{status['failedChecks']} failed check(s)"
    )


def _xcom(scheduler: AirflowScheduler, dag_id: str, run_id: str, task_id: str) -> Any:
    path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
    response = scheduler.api.api("GET", path, params={"deserialize": "true"})
    response.raise_for_status()
    return response.json()["value"]
