"""Recording a finished deployment task as an MLflow run, with the Airflow identifiers as tags."""

from __future__ import annotations

import logging

from airflow.sdk import Context

from airflow_flux_provider.links.mlflow import MLFLOW_RUN_URL_KEY
from airflow_flux_provider.tracking import DeploymentRun, TrackingError
from airflow_flux_provider.tracking.deployments import RecordedRun

log = logging.getLogger(__name__)


def airflow_tags(context: Context) -> dict[str, str]:
    ti = context["ti"]
    return {
        "airflow.dag_id": ti.dag_id,
        "airflow.run_id": ti.run_id,
        "airflow.task_id": ti.task_id,
        "airflow.try_number": str(ti.try_number),
    }


def record_deployment(context: Context, run: DeploymentRun, mlflow_conn_id: str | None) -> RecordedRun | None:
    """Write ``run`` to MLflow and push its URL for :class:`MlflowRunLink`.

    Tracking is best effort: a deployment that succeeded is not failed because the
    MLflow server is down; the error is logged instead. ``mlflow_conn_id=None`` turns it off.
    """
    if mlflow_conn_id is None:
        return None
    from airflow_flux_provider.hooks.connections import ConnectionSetupError
    from airflow_flux_provider.hooks.mlflow import MlflowTrackingHook

    try:
        tracker = MlflowTrackingHook(mlflow_conn_id).get_conn()
    except ConnectionSetupError as err:
        log.error("deployment not recorded in MLflow: %s", err)
        return None
    if tracker is None:
        log.info("MLflow tracking is off: no connection '%s' and no MLFLOW_TRACKING_URI", mlflow_conn_id)
        return None
    run.tags = {**airflow_tags(context), **run.tags}
    try:
        recorded = tracker.record(run)
    except TrackingError as err:
        log.error("deployment not recorded in MLflow: %s", err)
        return None
    context["ti"].xcom_push(key=MLFLOW_RUN_URL_KEY, value=recorded.url)
    log.info("MLflow run: %s", recorded.url)
    return recorded
