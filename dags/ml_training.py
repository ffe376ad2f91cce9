"""ML training: the lecture's training pipeline Kustomization, driven from the Airflow UI.

Press "Trigger DAG" and fill EXPERIMENT_ID, LEARNING_RATE, BATCH_SIZE and EPOCHS: they are
the postBuild variables of ``ml-training-pipeline``, so the training Job rendered from Git
carries them. The DAG fetches the GitOps repository, reconciles ``ml-infrastructure`` and
the training pipeline (the Job) into the cluster, trains the model with the same values
(in the worker: the embedded sandbox has no kubelet to run the Job's container), records
every epoch in MLflow, registers a model version and gives it the ``champion`` alias only
when it beats the current champion. A new champion is an Asset event that schedules
``ml_deployment``.

Connections: ``git-credentials`` (the GitRepository's secretRef), ``kubernetes_default``,
``flux_mlflow_default``. The cluster folder is ``FLUX_CLUSTER_PATH`` (default: the demo's
``clusters/production``); its ``${GITOPS_URL}`` comes from the Airflow Variable.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG, Asset, Param

import flux_devkit.demo as demo
from airflow_flux_provider.cluster_plan import plan_folder
from airflow_flux_provider.dag_factory import add_cluster_tasks
from airflow_flux_provider.operators.models import PromoteChampionOperator
from flux_devkit.ml.operators import TrainModelOperator

CLUSTER = os.environ.get("FLUX_CLUSTER_PATH") or str(
    Path(demo.__file__).parent / "gitops/clusters/production"
)
MODEL = "digits"
CHAMPION = Asset(f"mlflow-model://{MODEL}/champion")

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
    hyper_parameters = ("EXPERIMENT_ID", "LEARNING_RATE", "BATCH_SIZE", "EPOCHS")
    train = TrainModelOperator(
        task_id="train",
        model_name=MODEL,
        variables={name: f"{{{{ params.{name} }}}}" for name in hyper_parameters},
    )
    PromoteChampionOperator(
        task_id="promote_champion",
        model_name=MODEL,
        version=train.output["version"],
        metric="accuracy",
        skip_when_kept=True,
        outlets=[CHAMPION],
    )
    tasks.reconcile("ml-training-pipeline") >> train
