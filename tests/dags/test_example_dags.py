"""Every example DAG parses, and reads as Airflow users write DAGs: upstream values arrive as
XComArgs (which also draw the edges), never as ``xcom_pull`` strings in a template."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import ParamValidationError
from pydantic import TypeAdapter, ValidationError

from airflow_flux_provider.specs.duration import FlaggerDuration

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def bag() -> DagBag:
    return DagBag(dag_folder=str(DAGS))


def _templated_values(task: BaseOperator) -> list[Any]:
    found: list[Any] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)
        else:
            found.append(value)

    for name in task.template_fields:
        walk(getattr(task, name, None))
    return found


def test_every_example_dag_parses(bag: DagBag) -> None:
    assert bag.import_errors == {}
    assert set(bag.dag_ids) >= {
        "example_flux_hello",
        "example_flux_receiver",
        "example_image_automation",
        "ml_training",
        "ml_deployment",
    }


def test_no_template_pulls_an_xcom_by_hand(bag: DagBag) -> None:
    pulls = [
        f"{dag_id}.{task.task_id}"
        for dag_id, dag in bag.dags.items()
        for task in dag.tasks
        if any(isinstance(value, str) and "xcom_pull" in value for value in _templated_values(task))
    ]
    assert pulls == []


def test_xcom_args_order_the_ml_tasks(bag: DagBag) -> None:
    training = bag.dags["ml_training"]
    # reconcile the Job -> wait for it (deferrable) -> register what it logged -> promote
    assert training.get_task("training_job").upstream_task_ids == {"reconcile_ml_training_pipeline"}
    assert training.get_task("wait_for_training_job").upstream_task_ids == {"training_job"}
    assert training.get_task("wait_for_training_job").deferrable
    assert training.get_task("register_job_model").upstream_task_ids == {"wait_for_training_job"}
    assert training.get_task("promote_champion").upstream_task_ids == {"register_job_model"}
    deployment = bag.dags["ml_deployment"]
    # the serving render waits for the champion's version, which it renders into the manifests
    assert "champion_version" in deployment.get_task("render_ml_serving").upstream_task_ids
    reconcile = deployment.get_task("reconcile_ml_serving")
    assert reconcile.upstream_task_ids == {
        "render_ml_serving",
        "reconcile_ml_infrastructure",
        "gitrepository_ml_gitops",
    }
    assert deployment.get_task("helmrelease_mlflow").upstream_task_ids == {
        "helmchart_mlflow",
        "reconcile_ml_infrastructure",
    }


@pytest.mark.parametrize("interval", ["10s", "1m", "1m30s", "90s", "2m0.5s"])
def test_the_canary_interval_param_takes_what_the_canary_takes(bag: DagBag, interval: str) -> None:
    param = bag.dags["ml_deployment"].params.get_param("CANARY_INTERVAL")
    assert param.resolve(interval) == interval
    TypeAdapter(FlaggerDuration).validate_python(interval)


@pytest.mark.parametrize("interval", ["ten seconds", "1h", "10", "10s later", "-1m", "1.5m"])
def test_the_canary_interval_param_refuses_what_the_canary_refuses(bag: DagBag, interval: str) -> None:
    """The trigger form and the REST API refuse these before a run starts."""
    with pytest.raises(ParamValidationError):
        bag.dags["ml_deployment"].params.get_param("CANARY_INTERVAL").resolve(interval)
    with pytest.raises(ValidationError):
        TypeAdapter(FlaggerDuration).validate_python(interval)
