"""Session-scoped fixtures that start real local services on 127.0.0.1.

The launchers live in :mod:`flux_devkit.services` (the demo uses them
too); these fixtures only pick a folder under pytest's temp dir, start once per
session and stop at the end. Service logs stay in that folder, and a failing test gets
the tail of every service log it used appended to its report.

One instance of each service serves the whole session, so give repositories, images,
buckets, charts, helm repo aliases and exporter workloads names unique to your test.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flux_devkit.sandbox.certs import generate
from flux_devkit.services.airflow_db import migrate_airflow_db
from flux_devkit.services.airflow_scheduler import AirflowScheduler, start_airflow_scheduler
from flux_devkit.services.chart_repo import ChartRepository, start_chart_repo
from flux_devkit.services.git_http import GitServer, start_git_server
from flux_devkit.services.git_ssh import GitSSHServer, start_git_ssh_server
from flux_devkit.services.mlflow_server import NO_TELEMETRY, MlflowServer, start_mlflow_server
from flux_devkit.services.process import tail
from flux_devkit.services.prometheus import PrometheusServer, start_prometheus
from flux_devkit.services.registry import OciRegistry, start_registry
from flux_devkit.services.s3 import S3Server, start_s3_server
from tests.services.connections import git_conn, kubernetes_conn


@pytest.fixture(scope="session")
def services_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where every service of this session keeps its data and log."""
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def git_server(services_dir: Path) -> Iterator[GitServer]:
    """Smart-HTTP git with basic auth: .url .username .password .create_repo() .commit() .auth_url()."""
    server = start_git_server(services_dir / "git" / "repos", log_path=services_dir / "git" / "git-http.log")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def git_server_tls(services_dir: Path) -> Iterator[GitServer]:
    """The git server over HTTPS (a CA of its own: .tls.ca_path) accepting .token as a bearer token."""
    cert = generate(services_dir / "git-tls" / "pki")
    server = start_git_server(
        services_dir / "git-tls" / "repos",
        log_path=services_dir / "git-tls" / "git-https.log",
        token="flux-bearer-token",
        tls=cert,
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def git_ssh_server(services_dir: Path, git_server: GitServer) -> Iterator[GitSSHServer]:
    """sshd serving git_server's repositories: .url(name) .client_key (.key_passphrase) .known_hosts."""
    server = start_git_ssh_server(git_server.root, services_dir / "git-ssh", key_passphrase="ssh-key-pass")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def oci_registry(services_dir: Path) -> Iterator[OciRegistry]:
    """docker-registry with htpasswd auth: .host .url .push_image() .push_artifact() .tags()."""
    registry = start_registry(services_dir / "registry-auth")
    yield registry
    registry.stop()


@pytest.fixture(scope="session")
def oci_registry_anonymous(services_dir: Path) -> Iterator[OciRegistry]:
    """The same registry class without authentication (username/password are None)."""
    registry = start_registry(services_dir / "registry-anon", username=None, password=None)
    yield registry
    registry.stop()


@pytest.fixture(scope="session")
def s3_server(services_dir: Path) -> Iterator[S3Server]:
    """SeaweedFS S3 with SigV4: .endpoint .access_key .secret_key .region .client() .create_bucket()."""
    server = start_s3_server(services_dir / "s3")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mlflow_server(services_dir: Path) -> Iterator[MlflowServer]:
    """MLflow tracking server (SQLite, local artifacts): .tracking_uri .artifacts_dir."""
    for key, value in NO_TELEMETRY.items():  # the test process is an MLflow client too
        os.environ.setdefault(key, value)
    server = start_mlflow_server(services_dir / "mlflow")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def prometheus(services_dir: Path) -> Iterator[PrometheusServer]:
    """Prometheus scraping .exporter every second: .url .query() .wait_for(); use distinct workload names."""
    server = start_prometheus(services_dir / "prometheus")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chart_repo(services_dir: Path) -> Iterator[ChartRepository]:
    """Static Helm chart repository: .url .add_chart() .index() .helm_env."""
    repo = start_chart_repo(services_dir / "charts")
    yield repo
    repo.stop()


@pytest.fixture(scope="session")
def chart_repo_auth(services_dir: Path) -> Iterator[ChartRepository]:
    """The same behind basic auth (.username/.password)."""
    repo = start_chart_repo(services_dir / "charts-auth", username="flux", password="chart-secret")
    yield repo
    repo.stop()


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """An ``airflow.db`` migrated once for the whole run: pytest-xdist workers take turns through
    a lock in the folder they share, the first migrates, every Airflow home copies the file."""
    basetemp = tmp_path_factory.getbasetemp()
    shared = basetemp if worker_id == "master" else basetemp.parent
    template = shared / "airflow-db-template"
    with open(shared / "airflow-db.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (template / "airflow.db").is_file():
            template.mkdir(exist_ok=True)
            migrate_airflow_db(template)
    return template / "airflow.db"


def _home_with_db(home: Path, migrated_db: Path) -> Path:
    """``home`` with a migrated DB: a copy of ``migrated_db``, or migrated in place if it has one."""
    home.mkdir(parents=True, exist_ok=True)
    if (home / "airflow.db").exists():  # maybe open in this process already: never swap the file
        return migrate_airflow_db(home)
    shutil.copyfile(migrated_db, home / "airflow.db.tmp")
    (home / "airflow.db.tmp").rename(home / "airflow.db")
    return home


@pytest.fixture(scope="session")
def airflow_home(migrated_db: Path) -> Path:
    """The session's AIRFLOW_HOME (set by tests/conftest.py) with its metadata DB migrated."""
    return _home_with_db(Path(os.environ["AIRFLOW_HOME"]), migrated_db)


@pytest.fixture(scope="session")
def airflow_scheduler(
    services_dir: Path, migrated_db: Path, git_server: GitServer, sandbox: Any
) -> Iterator[AirflowScheduler]:
    """api-server, scheduler, dag-processor, triggerer: .dags_folder .trigger() .wait_for_run() .task_log().

    They get an AIRFLOW_HOME of their own (a live scheduler would pick up the runs other
    tests create with ``dag.test()``). Connections: ``kubernetes_default`` is the sandbox,
    ``git-credentials`` the git server.
    """
    root = services_dir / "airflow-scheduler"
    _home_with_db(root / "home", migrated_db)
    (root / "dags").mkdir()
    env = {
        "AIRFLOW_CONN_GIT-CREDENTIALS": json.dumps(git_conn(git_server)),
        "AIRFLOW_CONN_KUBERNETES_DEFAULT": json.dumps(kubernetes_conn(sandbox)),
        "AIRFLOW__FLUX__ARTIFACTS_PATH": str(root / "artifacts"),
    }
    stack = start_airflow_scheduler(
        root / "home", root / "logs", bundle="scheduled", dags_folder=root / "dags", env=env
    )
    yield stack
    stack.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.failed:
        for name, value in getattr(item, "funcargs", {}).items():
            log_path = getattr(value, "log_path", None)
            if isinstance(log_path, Path):
                report.sections.append((f"service log {name} ({log_path})", tail(log_path, 60)))
    return report
