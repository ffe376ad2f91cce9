"""MlflowTrackingHook: the connection's tracking URI; MLflow's own variable only for the default id."""

from __future__ import annotations

import logging

import pytest

from airflow_flux_provider.hooks.connections import ConnectionSetupError
from airflow_flux_provider.hooks.mlflow import MlflowTrackingHook
from airflow_flux_provider.operators.tracking import record_deployment
from airflow_flux_provider.tracking import DeploymentRun
from tests.services.connections import AirflowConnections
from tests.task_instance import TaskInstance


def test_the_default_connection_falls_back_to_mlflows_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_FLUX_MLFLOW_DEFAULT", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert MlflowTrackingHook().tracking_uri() is None
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.invalid:5000")
    assert MlflowTrackingHook().tracking_uri() == "http://mlflow.invalid:5000"


def test_a_named_connection_that_does_not_exist_is_never_silently_off(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.invalid:5000")
    with pytest.raises(ConnectionSetupError, match=r"MLflow connection 'mlfow_prod'.*type flux_mlflow"):
        MlflowTrackingHook("mlfow_prod").required_tracking_uri("training")
    run = DeploymentRun(kind="Kustomization", name="apps", namespace="flux-system", cluster="c")
    with caplog.at_level(logging.ERROR):
        assert record_deployment({"ti": TaskInstance()}, run, "mlfow_prod") is None  # best effort, but loud
    assert "no Airflow connection 'mlfow_prod'" in caplog.text


def test_host_and_port_make_the_uri(airflow_connections: AirflowConnections) -> None:
    airflow_connections.add("tracking", {"conn_type": "flux_mlflow", "host": "mlflow", "port": 5000})
    assert MlflowTrackingHook("tracking").tracking_uri() == "http://mlflow:5000"


def test_mlflow_messages_reach_the_task_log_at_their_own_level(
    airflow_connections: AirflowConnections,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """MLflow's own stderr handler made a task log show its INFO messages as ERROR."""
    import mlflow  # noqa: F401  (a task's code may import it first: that sets its handler up)

    airflow_connections.add("tracking", {"conn_type": "flux_mlflow", "host": "mlflow", "port": 5000})
    MlflowTrackingHook("tracking").tracking_uri()
    with caplog.at_level(logging.INFO):
        logging.getLogger("mlflow.tracking._model_registry.client").info(
            "Created version '2' of model 'digits'."
        )
    assert [(r.levelname, r.getMessage()) for r in caplog.records if r.name.startswith("mlflow")] == [
        ("INFO", "Created version '2' of model 'digits'.")
    ]
    assert "Created version" not in capfd.readouterr().err
    from mlflow.utils.logging_utils import eprint  # what register_model prints with

    with caplog.at_level(logging.INFO):
        eprint("Registered model 'digits' already exists. Creating a new version of this model...")
    assert ("INFO", "Registered model 'digits' already exists. Creating a new version of this model...") in [
        (r.levelname, r.getMessage()) for r in caplog.records
    ]
    assert "Registered model" not in capfd.readouterr().err
