"""Every example DAG parses, and reads as Airflow users write DAGs: upstream values arrive as
XComArgs (which also draw the edges), never as ``xcom_pull`` strings in a template."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import BaseOperator

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
    assert training.get_task("promote_champion").upstream_task_ids == {"train"}
    assert training.get_task("train").upstream_task_ids == {"reconcile_ml_training_pipeline"}
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
