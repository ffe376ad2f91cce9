"""ML deployment: ship the champion model with GitOps and a Flagger canary, tracked in MLflow.

Runs daily and whenever ``ml_training`` promotes a new champion. In order:

1. image automation: scan the registry, pick the newest ``1.x.x`` training image, write it
   to the marked manifests in Git and push (the lecture's ImageUpdateAutomation);
2. fetch the GitOps repository, render and reconcile ``ml-infrastructure``, then
   ``ml-training`` and ``ml-serving`` (dependsOn), with the champion's model version
   substituted into the serving Deployment; release the lecture's MLflow HelmRelease
   (install/upgrade remediation, helm test, post-renderer patch) from the chart in Git;
3. analyse the ``ml-serving`` Canary (Flagger semantics, metrics from Prometheus) until it
   promotes or rolls back, deferring between steps;
4. record the deployment as an MLflow run linked to the model version, and tag the version.

Variables: ``GITOPS_URL``, ``REGISTRY_HOST``, ``PROMETHEUS_URL``; params override them per run.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Asset, AssetOrTimeSchedule, Param, task
from airflow.timetables.trigger import CronTriggerTimetable

import flux_devkit.demo as demo
from airflow_flux_provider.cluster_plan import plan_folder
from airflow_flux_provider.dag_factory import add_cluster_tasks
from airflow_flux_provider.operators.canary import CanaryAnalysisOperator
from airflow_flux_provider.specs import FLAGGER_DURATION_PATTERN

CLUSTER = os.environ.get("FLUX_CLUSTER_PATH") or str(
    Path(demo.__file__).parent / "gitops/clusters/production"
)
MODEL = "digits"
CHAMPION = Asset(f"mlflow-model://{MODEL}/champion")


@task
def champion_version(model: str) -> dict[str, str]:
    """The model version that holds the ``champion`` alias (the training DAG sets it)."""
    from mlflow.tracking import MlflowClient

    from airflow_flux_provider.hooks.mlflow import MlflowTrackingHook

    client = MlflowClient(tracking_uri=MlflowTrackingHook().tracking_uri())
    version = client.get_model_version_by_alias(model, "champion")
    return {"MODEL_NAME": model, "MODEL_VERSION": str(version.version), "run_id": version.run_id}


@task
def canary_manifest(rendered: dict[str, Any]) -> dict[str, Any]:
    """The Canary among the rendered ml-serving objects, as the analysis task's manifest."""
    import yaml

    from airflow_flux_provider.operators.kustomize import read_render

    docs = [d for d in yaml.safe_load_all(read_render(rendered)) if d]  # rendered on any worker
    canaries = [d for d in docs if d.get("kind") == "Canary"]
    if len(canaries) != 1:
        raise ValueError(f"ml-serving must render exactly one Canary, found {len(canaries)}")
    return canaries[0]


@task
def record_model_deployment(champion: dict[str, str], canary: dict[str, Any], serving: dict[str, Any]) -> str:
    """One MLflow run for the model's rollout, and the version tagged with where it runs."""
    from airflow.sdk import get_current_context

    from airflow_flux_provider.operators.tracking import record_deployment
    from airflow_flux_provider.tracking import DeploymentRun, ModelRef

    context = get_current_context()
    status = canary["status"]
    recorded = record_deployment(
        context,
        DeploymentRun(
            kind="ModelDeployment",
            name=champion["MODEL_NAME"],
            namespace="ml-serving",
            cluster="sandbox",
            app="ml-serving",
            params={"model_version": champion["MODEL_VERSION"], "revision": serving["revision"]},
            metrics={
                "canary_ticks": float(canary["ticks"]),
                "canary_failed_checks": float(status["failedChecks"]),
            },
            tags={
                "mlflow.model.name": champion["MODEL_NAME"],
                "mlflow.model.version": champion["MODEL_VERSION"],
                "mlflow.model.training_run_id": champion["run_id"],
                "canary.phase": status["phase"],
            },
            model=ModelRef(champion["MODEL_NAME"], champion["MODEL_VERSION"]),  # tags the version
        ),
        "flux_mlflow_default",
    )
    return recorded.url if recorded else ""


with DAG(
    dag_id="ml_deployment",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 6 * * *", timezone="UTC"), assets=CHAMPION
    ),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["flux", "ml", "deployment", "canary"],
    doc_md=__doc__,
    params={
        "CANARY_INTERVAL": Param(
            "1m",
            type="string",
            pattern=FLAGGER_DURATION_PATTERN,
            description="Flagger analysis interval: 30s, 1m",
        ),
        # postBuild variables of apps/ml-serving in Git; unset, the manifests' own defaults apply
        "CANARY_METRICS_INTERVAL": Param(
            None,
            type=["null", "string"],
            description="window of the analysis' metric queries (the manifest's 1m); at most the interval",
        ),
        "PROMETHEUS_URL": Param(None, type=["null", "string"], description="Flagger's metrics server"),
        "LOADTESTER_URL": Param(None, type=["null", "string"], description="the load tester webhook"),
        "NOTIFY_URL": Param(None, type=["null", "string"], description="where rollout events are posted"),
    },
):
    plan = plan_folder(CLUSTER)
    plan = plan.subset(
        [k.name for k in plan.kustomizations if k.name != "ml-training-pipeline"], images=True, helm=True
    )
    champion = champion_version(MODEL)
    tasks = add_cluster_tasks(
        plan,
        cluster_name="sandbox",
        # the serving manifests are rendered with the champion's version
        variables={"ml-serving": {"MODEL_NAME": MODEL, "MODEL_VERSION": champion["MODEL_VERSION"]}},
    )
    # The MLflow release goes into a namespace the infrastructure creates.
    tasks.reconcile("ml-infrastructure") >> tasks.release("mlflow")
    serving = tasks.reconcile("ml-serving")
    canary = CanaryAnalysisOperator(
        task_id="canary_ml_serving",
        manifest=canary_manifest(tasks.render("ml-serving").output),
        cluster_name="sandbox",
    )
    serving >> canary
    record_model_deployment(champion, canary.output, serving.output)
