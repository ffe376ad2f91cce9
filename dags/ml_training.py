"""ML training: the lecture's training pipeline Kustomization, driven from the Airflow UI.

Press "Trigger DAG" and fill EXPERIMENT_ID, LEARNING_RATE, BATCH_SIZE and EPOCHS: they are
the postBuild variables of ``ml-training-pipeline``, so the training Job rendered from Git
carries them. The DAG fetches the GitOps repository and reconciles the training pipeline
(the Job ``train-<EXPERIMENT_ID>``) into the cluster; the Job trains and logs every epoch to
MLflow, tagging its run with the Job it ran in. The DAG waits in the triggerer until the Job
completes, finds the run that Job logged, registers its model as a new version and gives
it the ``champion`` alias only when it beats the current champion. A new champion is an
Asset event that schedules ``ml_deployment``. Nothing trains in an Airflow worker.

Connections: ``git-credentials`` (the GitRepository's secretRef), ``kubernetes_default``,
``flux_mlflow_default``. The cluster folder is ``FLUX_CLUSTER_PATH`` (default: the demo's
``clusters/production``); its ``${GITOPS_URL}`` and ``${MLFLOW_TRACKING_URI}`` (the address
the Job reaches MLflow at) come from the Airflow Variables of those names.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Asset, Param, task

import flux_devkit.demo as demo
from airflow_flux_provider.cluster_plan import plan_folder
from airflow_flux_provider.dag_factory import add_cluster_tasks
from airflow_flux_provider.operators.models import PromoteChampionOperator
from airflow_flux_provider.sensors.jobs import JobCompletionSensor

CLUSTER = os.environ.get("FLUX_CLUSTER_PATH") or str(
    Path(demo.__file__).parent / "gitops/clusters/production"
)
MODEL = "digits"
#: Where the training image logs its runs (the Job's MLFLOW_EXPERIMENT_NAME).
EXPERIMENT = f"training/{MODEL}"
CHAMPION = Asset(f"mlflow-model://{MODEL}/champion")


@task(multiple_outputs=True)
def training_job(reconciled: dict[str, Any]) -> dict[str, str]:
    """The one Job the pipeline's reconcile applied (from its inventory)."""
    from airflow_flux_provider.kube.inventory import parse_id

    keys = [parse_id(entry["id"], entry["v"]) for entry in reconciled["inventory"]]
    jobs = [key for key in keys if key.kind == "Job"]
    if len(jobs) != 1:
        raise ValueError(f"ml-training-pipeline must apply exactly one Job, applied {len(jobs)}")
    return {"namespace": jobs[0].namespace, "name": jobs[0].name}


@task(multiple_outputs=True)
def register_job_model(completed: dict[str, str], model: str) -> dict[str, Any]:
    """Find the MLflow run the Job logged (tagged with its uid) and register its model as a new version."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from airflow_flux_provider.hooks.mlflow import MlflowTrackingHook

    uri = MlflowTrackingHook().required_tracking_uri("training")
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    namespace, name, uid = completed["namespace"], completed["name"], completed["uid"]
    logged = f"tags.`kubernetes.job.uid` = '{uid}' and attributes.status = 'FINISHED'"
    runs = client.search_runs([experiment.experiment_id], filter_string=logged) if experiment else []
    if len(runs) != 1:
        raise ValueError(
            f"Job/{namespace}/{name} completed but {len(runs)} finished MLflow runs in {EXPERIMENT!r} "
            f"carry its uid {uid}; read the Job's logs (kubectl logs -n {namespace} job/{name})"
        )
    run = runs[0]
    mlflow.set_tracking_uri(uri)
    version = mlflow.register_model(
        f"runs:/{run.info.run_id}/model", model, tags={"trained.by": f"Job/{namespace}/{name}"}
    )
    return {
        "model": model,
        "version": str(version.version),
        "run_id": run.info.run_id,
        "accuracy": run.data.metrics.get("accuracy"),
        "params": dict(run.data.params),
    }


with DAG(
    dag_id="ml_training",
    schedule="@weekly",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["flux", "ml", "training"],
    doc_md=__doc__,
    params={
        "EXPERIMENT_ID": Param("default", type="string", pattern="^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
                               description="Names the training Job and the MLflow run"),
        "LEARNING_RATE": Param(0.001, type="number", exclusiveMinimum=0, maximum=10),
        "BATCH_SIZE": Param(32, type="integer", minimum=1, maximum=100000),
        "EPOCHS": Param(100, type="integer", minimum=1, maximum=10000),
    },
):  # fmt: skip
    tasks = add_cluster_tasks(plan_folder(CLUSTER).subset(["ml-training-pipeline"]), cluster_name="sandbox")
    job = training_job(tasks.reconcile("ml-training-pipeline").output)
    completed = JobCompletionSensor(
        task_id="wait_for_training_job",
        namespace=job["namespace"],
        job_name=job["name"],
        timeout=6 * 3600,
    )
    registered = register_job_model(completed.output, MODEL)
    PromoteChampionOperator(
        task_id="promote_champion",
        model_name=MODEL,
        version=registered["version"],
        metric="accuracy",
        skip_when_kept=True,
        outlets=[CHAMPION],
    )
