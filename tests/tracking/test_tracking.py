"""Deployment runs and champion promotion against a real MLflow tracking server."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from airflow_flux_provider.tracking import (
    DeploymentRun,
    DeploymentTracker,
    ModelRef,
    TrackingError,
    promote_if_better,
)
from flux_devkit.images.programs.train import Hyperparameters, ParameterError, train


def test_deployment_run_is_readable_with_params_metrics_tags_and_artifacts(mlflow_server):
    tracker = DeploymentTracker(mlflow_server.tracking_uri)
    run = DeploymentRun(
        kind="Kustomization",
        name="ml-training",
        cluster="production",
        params={"CLUSTER_NAME": "production", "DB_PASSWORD": "hunter2", "revision": "main@sha1:" + "a" * 40},
        secret_params={"DB_PASSWORD"},
        tags={"git.commit": "a" * 40},
        metrics={"duration_seconds": 1.25, "objects_applied": 7},
        step_metrics=[(5, {"canary_success_rate": 99.5}), (10, {"canary_success_rate": 98.0})],
        artifacts={"manifests/rendered.yaml": "kind: ConfigMap\n"},
    )
    recorded = tracker.record(run)

    client = MlflowClient(mlflow_server.tracking_uri)
    stored = client.get_run(recorded.run_id)
    assert stored.info.status == "FINISHED"
    assert stored.data.params["CLUSTER_NAME"] == "production"
    assert stored.data.params["DB_PASSWORD"] == "***"
    assert stored.data.tags["flux.kind"] == "Kustomization"
    assert stored.data.tags["git.commit"] == "a" * 40
    assert stored.data.metrics["objects_applied"] == 7
    history = client.get_metric_history(recorded.run_id, "canary_success_rate")
    assert sorted((m.step, m.value) for m in history) == [(5, 99.5), (10, 98.0)]
    artifacts = client.list_artifacts(recorded.run_id, "manifests")
    assert [a.path for a in artifacts] == ["manifests/rendered.yaml"]
    experiment = client.get_experiment(recorded.experiment_id)
    assert experiment.name == "deployments/production/ml-training"
    assert recorded.url.endswith(f"/runs/{recorded.run_id}")
    assert "hunter2" not in repr(stored.data)


def test_a_model_rollout_marks_the_version_and_the_experiment_says_what_it_holds(mlflow_server):
    client = MlflowClient(mlflow_server.tracking_uri)
    model = "rollout-model"
    client.create_registered_model(model)
    training = client.create_run(client.create_experiment("training/rollout-model")).info.run_id
    version = client.create_model_version(model, f"runs:/{training}/model", run_id=training).version
    tracker = DeploymentTracker(mlflow_server.tracking_uri)

    def deploy(cluster: str, status: str = "FINISHED"):
        run = DeploymentRun(kind="ModelDeployment", name=model, cluster=cluster, app="serving", status=status,
                            model=ModelRef(model, str(version)))  # fmt: skip
        return tracker.record(run)

    staging, production = deploy("staging"), deploy("production")
    deploy("qa", status="FAILED")  # a failed rollout does not say the version runs there

    stored = client.get_model_version(model, version)
    assert stored.tags["deployed.staging"] == stored.tags["deployed.production"] == "serving"
    assert "deployed.qa" not in stored.tags and stored.tags["deployment_run"] == production.url
    newest, older = stored.description.splitlines()
    assert "production/serving" in newest and production.url in newest
    assert "staging/serving" in older and staging.url in older
    experiment = client.get_experiment(staging.experiment_id)
    assert experiment.tags["flux.cluster"] == "staging" and experiment.tags["flux.app"] == "serving"
    assert "Deployments of serving to cluster staging" in experiment.tags["mlflow.note.content"]


def test_unreachable_server_is_a_tracking_error(monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # MLflow's default retries take minutes
    tracker = DeploymentTracker("http://127.0.0.1:9")
    with pytest.raises(TrackingError, match=r"127\.0\.0\.1:9"):
        tracker.record(DeploymentRun(kind="HelmRelease", name="mlflow"))


def test_training_params_reject_bad_values_naming_the_variable():
    good = {"EXPERIMENT_ID": "x", "LEARNING_RATE": "0.01", "BATCH_SIZE": "32", "EPOCHS": "3"}
    assert Hyperparameters.from_env(good).epochs == 3
    with pytest.raises(ParameterError, match="LEARNING_RATE"):
        Hyperparameters.from_env({**good, "LEARNING_RATE": "fast"})
    with pytest.raises(ParameterError, match="EPOCHS"):
        Hyperparameters.from_env({**good, "EPOCHS": "0"})


def _train_and_register(uri: str, params: Hyperparameters) -> tuple[str, str, float]:
    """What the training Job and the training DAG do between them: train, then register the run's model."""
    import mlflow

    run = train(params, tracking_uri=uri, experiment="training/digits", tags={})
    mlflow.set_tracking_uri(uri)
    version = mlflow.register_model(f"runs:/{run.run_id}/model", "digits")
    return run.run_id, str(version.version), run.accuracy


def test_champion_moves_only_to_a_better_model(mlflow_server):
    uri = mlflow_server.tracking_uri
    client = MlflowClient(uri)
    good_run, good, good_accuracy = _train_and_register(uri, Hyperparameters("exp-good", 0.01, 64, 5))
    first = promote_if_better(client, "digits", good, metric="accuracy")
    assert first.promoted and first.champion_version is None
    assert good_accuracy > 0.85  # digits with a linear model is well above chance (0.1)

    _, poor, poor_accuracy = _train_and_register(uri, Hyperparameters("exp-poor", 1e-6, 1000, 1))
    second = promote_if_better(client, "digits", poor, metric="accuracy")
    assert poor_accuracy < good_accuracy  # a near-zero step size barely moves the weights
    assert not second.promoted
    assert "does not beat" in second.reason
    assert client.get_model_version_by_alias("digits", "champion").version == good
    history = client.get_metric_history(good_run, "accuracy")
    assert len(history) == 5  # one measured value per epoch
