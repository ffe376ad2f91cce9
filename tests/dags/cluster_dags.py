"""Helpers for tests that run a DAG of a cluster folder with ``dag.test()`` against the sandbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag

from tests.services.connections import AirflowConnections


def use_cluster_connections(monkeypatch: pytest.MonkeyPatch, git_server: Any, sandbox: Any) -> None:
    """``git-credentials`` is the test git server, ``kubernetes_default`` the sandbox."""
    connections = AirflowConnections(monkeypatch)
    connections.git("git-credentials", git_server)
    connections.kubernetes("kubernetes_default", sandbox)


def load_dag(dag_file: Path, dag_id: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The DAG ``dag_id`` of ``dag_file``, whose folder becomes a DAG bundle (``dag.test()`` runs
    serialized DAGs)."""
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps([{
        "name": f"{dag_id}-tests", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
        "kwargs": {"path": str(dag_file.parent), "refresh_interval": 0},
    }]))  # fmt: skip
    bag = DagBag(dag_folder=str(dag_file))
    assert bag.import_errors == {}
    return bag.dags[dag_id]
