"""Airflow connections to the session's services, as a deployment's secrets backend serves them.

``airflow_connections.kubernetes("k8s", sandbox)`` sets ``AIRFLOW_CONN_K8S`` for the test (and
removes it afterwards); every task, hook and trigger then reads it the way it reads any
connection. ``json_for`` gives the same value for processes of their own (a live scheduler).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from flux_devkit.sandbox import Sandbox
from flux_devkit.services.git_http import GitServer
from flux_devkit.services.mlflow_server import MlflowServer
from flux_devkit.services.registry import OciRegistry
from flux_devkit.services.s3 import S3Server


def kubernetes_conn(sandbox: Sandbox, *, inline: bool = False) -> dict[str, Any]:
    """A ``kubernetes`` connection to the sandbox: its kubeconfig's path, or (``inline``) its text."""
    extra = (
        {"kube_config": sandbox.kubeconfig.read_text()}
        if inline
        else {"kube_config_path": str(sandbox.kubeconfig)}
    )
    return {"conn_type": "kubernetes", "extra": extra}


def git_conn(server: GitServer) -> dict[str, Any]:
    return {"conn_type": "flux_git", "login": server.username, "password": server.password}


def registry_conn(registry: OciRegistry) -> dict[str, Any]:
    return {"conn_type": "flux_registry", "login": registry.username, "password": registry.password}


def mlflow_conn(server: MlflowServer) -> dict[str, Any]:
    return {"conn_type": "flux_mlflow", "host": server.tracking_uri}


def bucket_conn(server: S3Server) -> dict[str, Any]:
    """A ``flux_bucket`` connection to the S3 server (plain HTTP, its region)."""
    return {
        "conn_type": "flux_bucket",
        "host": server.endpoint.removeprefix("http://"),
        "login": server.access_key,
        "password": server.secret_key,
        "extra": {"insecure": "true", "region": server.region},
    }


class AirflowConnections:
    """Sets ``AIRFLOW_CONN_<ID>`` variables for one test."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._monkeypatch = monkeypatch

    def add(self, conn_id: str, connection: dict[str, Any]) -> str:
        """Define ``conn_id`` (e.g. ``kubernetes_conn(sandbox)``); returns the id."""
        self._monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))
        return conn_id

    def kubernetes(self, conn_id: str, sandbox: Sandbox, *, inline: bool = False) -> str:
        return self.add(conn_id, kubernetes_conn(sandbox, inline=inline))

    def git(self, conn_id: str, server: GitServer) -> str:
        return self.add(conn_id, git_conn(server))

    def registry(self, conn_id: str, registry: OciRegistry) -> str:
        return self.add(conn_id, registry_conn(registry))

    def mlflow(self, conn_id: str, server: MlflowServer) -> str:
        return self.add(conn_id, mlflow_conn(server))

    def bucket(self, conn_id: str, server: S3Server) -> str:
        return self.add(conn_id, bucket_conn(server))


@pytest.fixture
def airflow_connections(monkeypatch: pytest.MonkeyPatch) -> AirflowConnections:
    return AirflowConnections(monkeypatch)
