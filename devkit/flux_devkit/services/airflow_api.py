"""A real ``airflow api-server`` on a loopback port, with its own admin login (tests, bench, demo).

The simple auth manager gets one user whose password we write ourselves, so callers can
fetch a JWT from ``POST /auth/token`` and use the REST API as a user would. DAGs from a
folder are serialized into the metadata DB under a bundle of their own, so they do not
disturb DAGs other tests serialized from other folders.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from flux_devkit.services.process import LOOPBACK, ServiceError, ServiceProcess, free_ports

ADMIN = "admin"


def bundle_env(name: str, dags_folder: Path, more: Mapping[str, Path] | None = None) -> dict[str, str]:
    """Settings that make ``dags_folder`` the DAG bundle ``name`` (also ``[core] dags_folder``),
    and each folder of ``more`` (bundle name -> folder) a bundle beside it."""
    folders = {name: dags_folder, **(more or {})}
    bundles = [
        {
            "name": bundle,
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(folder), "refresh_interval": 0},
        }
        for bundle, folder in folders.items()
    ]
    return {
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }


def serialize_dags(
    airflow_home: Path, bundle: str, dags_folder: Path, env: Mapping[str, str] | None = None
) -> None:
    """``airflow dags reserialize`` for one folder, so the API server can trigger its DAGs."""
    full_env = {
        **os.environ,
        "AIRFLOW_HOME": str(airflow_home),
        **bundle_env(bundle, dags_folder),
        **(env or {}),
    }
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "reserialize", "--bundle-name", bundle],
        capture_output=True,
        text=True,
        env=full_env,
        check=False,
        timeout=300,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise ServiceError(f"airflow dags reserialize failed:\n{tail}", obj=f"DAG folder {dags_folder}")


@dataclass
class AirflowApiServer:
    url: str
    process: ServiceProcess
    password: str = field(repr=False)
    passwords_file: Path  # where people using the UI find the admin password
    _token: str | None = field(default=None, repr=False)

    @property
    def log_path(self) -> Path:
        return self.process.log_path

    def token(self) -> str:
        """A JWT for the admin user (fetched once)."""
        if self._token is None:
            response = requests.post(
                f"{self.url}/auth/token", json={"username": ADMIN, "password": self.password}, timeout=30
            )
            response.raise_for_status()
            self._token = str(response.json()["access_token"])
        return self._token

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Call the public REST API (``/api/v2`` + ``path``) as the admin user."""
        headers = {"Authorization": f"Bearer {self.token()}", **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.url}/api/v2{path}", headers=headers, timeout=30, **kwargs)

    def wait_healthy(self, timeout: float) -> None:
        self.process.wait_http(f"{self.url}/api/v2/monitor/health", timeout=timeout)

    def stop(self) -> None:
        self.process.stop()


def start_airflow_api_server(
    airflow_home: Path,
    workdir: Path,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 120.0,
    wait: bool = True,
) -> AirflowApiServer:
    """Start ``airflow api-server`` (one worker) for a migrated ``airflow_home``; wait until healthy
    unless ``wait`` is false (then call :meth:`AirflowApiServer.wait_healthy` before using it)."""
    workdir.mkdir(parents=True, exist_ok=True)
    password = os.urandom(12).hex()
    passwords = workdir / "passwords.json"
    passwords.write_text(json.dumps({ADMIN: password}))
    passwords.chmod(0o600)
    port = free_ports(1)[0]
    full_env = {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        **(env or {}),
    }
    argv = [
        sys.executable,
        "-m",
        "airflow",
        "api-server",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    process = ServiceProcess(
        "airflow-api-server", argv, workdir / "api-server.log", env=full_env, cwd=workdir
    )
    server = AirflowApiServer(
        url=f"http://{LOOPBACK}:{port}", process=process, password=password, passwords_file=passwords
    )
    if wait:
        server.wait_healthy(timeout)
    return server
