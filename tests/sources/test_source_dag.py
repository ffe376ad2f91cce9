"""A DAG with GitRepositoryOperator under ``dag.test()``: Airflow records an Asset event per new revision."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from airflow.dag_processing.bundles.manager import DagBundlesManager
from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
from airflow.models.asset import AssetEvent, AssetModel
from airflow.utils.session import create_session
from sqlalchemy import select

from flux_devkit.services.git_http import GitServer

DAG = """
from datetime import datetime
from airflow.sdk import DAG
from airflow_flux_provider.operators.sources import GitRepositoryOperator

with DAG("flux_source_fetch", schedule=None, start_date=datetime(2026, 1, 1)):
    GitRepositoryOperator(
        task_id="fleet",
        name="fleet",
        spec={"url": "{{ dag_run.conf['url'] }}", "interval": "1m", "ref": {"branch": "main"},
              "secretRef": {"name": "dag_git"}},
        cache_dir={cache!r},
    )
"""
URI = "flux://flux-system/GitRepository/fleet"


def _events() -> list[dict[str, object]]:
    with create_session() as session:
        rows = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.uri == URI)
        ).all()
        return [dict(row.extra or {}) for row in rows]


def test_asset_event_only_for_new_revisions(
    airflow_home: Path, git_server: GitServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = git_server.create_repo("dag-fleet", {"apps/a.yaml": "a: 1\n"})
    git = {"conn_type": "flux_git", "login": git_server.username, "password": git_server.password}
    monkeypatch.setenv("AIRFLOW_CONN_DAG_GIT", json.dumps(git))
    monkeypatch.setenv("AIRFLOW__FLUX__ARTIFACTS_PATH", str(tmp_path / "artifacts"))
    dag_file = tmp_path / "dags" / "flux_source_fetch.py"
    dag_file.parent.mkdir()
    dag_file.write_text(DAG.replace("{cache!r}", repr(str(tmp_path / "cache"))))
    bag = DagBag(dag_folder=str(dag_file))
    assert bag.import_errors == {}
    DagBundlesManager().sync_bundles_to_db()
    sync_bag_to_db(bag, "dags-folder", None)  # dag.test() runs the serialized DAG
    dag = bag.dags["flux_source_fetch"]
    start = datetime(2026, 2, 1, tzinfo=UTC)
    before = len(_events())

    revisions = []
    for day in range(3):
        if day == 2:
            git_server.commit("dag-fleet", {"apps/a.yaml": "a: 2\n"})
        run = dag.test(run_conf={"url": url}, logical_date=start + timedelta(days=day))
        assert run.state == "success"
        ti = next(iter(run.get_task_instances()))
        revisions.append(ti.xcom_pull(task_ids="fleet")["revision"])

    events = _events()[before:]
    assert revisions[0] == revisions[1] != revisions[2]
    assert [e["revision"] for e in events] == [revisions[0], revisions[2]]
