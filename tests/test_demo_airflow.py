"""The demo's Airflow after the story (``--keep-running``): the scheduler creates runs again.

During the story a champion's asset event only queues (the story triggers ``ml_deployment``
itself, with its conf); once live, the queue left by the story is dropped and the next
event starts ``ml_deployment``, as the champion asset does in production. Run on Airflow's
real components with the demo's own settings, with two small DAGs in the roles of
``ml_training`` (the producer of the asset) and ``ml_deployment``.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flux_devkit.demo.airflow import ASSET_SCHEDULED, go_live, story_settings
from flux_devkit.services.airflow_scheduler import AirflowScheduler, start_airflow_scheduler

DAGS = f'''
from datetime import datetime

from airflow.sdk import DAG, Asset, task

CHAMPION = Asset("mlflow-model://digits/champion")

@task(outlets=[CHAMPION])
def promote_champion():
    return "promoted"


@task
def deploy():
    return "deployed"


with DAG(dag_id="promote", schedule=None, start_date=datetime(2026, 1, 1)):
    promote_champion()

with DAG(dag_id="{ASSET_SCHEDULED}", schedule=CHAMPION, start_date=datetime(2026, 1, 1)):
    deploy()
'''


@pytest.fixture
def demo_airflow(tmp_path: Path, migrated_db: Path) -> Iterator[AirflowScheduler]:
    (tmp_path / "home").mkdir()
    shutil.copyfile(migrated_db, tmp_path / "home" / "airflow.db")
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "demo_roles.py").write_text(DAGS)
    stack = start_airflow_scheduler(
        tmp_path / "home", tmp_path / "logs", bundle="demo-roles", dags_folder=tmp_path / "dags",
        env=story_settings(),
    )  # fmt: skip
    yield stack
    stack.stop()


def _queued(stack: AirflowScheduler) -> int:
    response = stack.api.api("GET", f"/dags/{ASSET_SCHEDULED}/assets/queuedEvents")
    return int(response.json()["total_entries"]) if response.status_code == 200 else 0


def _asset_runs(stack: AirflowScheduler, timeout: float = 180.0) -> list[dict[str, str]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = stack.api.api("GET", f"/dags/{ASSET_SCHEDULED}/dagRuns").json()["dag_runs"]
        if runs:
            return list(runs)
        time.sleep(2)
    return []


def test_after_the_story_a_new_champion_starts_the_deployment(demo_airflow: AirflowScheduler) -> None:
    stack = demo_airflow
    stack.wait_for_dag(ASSET_SCHEDULED)
    stack.wait_for_dag("promote")
    during = stack.trigger("promote")
    assert stack.wait_for_run("promote", during) == "success"
    assert _queued(stack) == 1  # the story's champion: queued, no run of its own

    go_live(stack)
    assert _queued(stack) == 0  # deployed by the story already
    after = stack.trigger("promote")
    assert stack.wait_for_run("promote", after) == "success"
    (run,) = _asset_runs(stack)
    assert run["run_type"] == "asset_triggered"
    assert stack.wait_for_run(ASSET_SCHEDULED, run["dag_run_id"]) == "success"
