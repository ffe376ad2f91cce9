"""docker-compose.yaml's services, run with its own settings on a real PostgreSQL.

No Docker engine runs here, so the stack is started as the containers would start it: the
compose file is read and interpolated (its ``${VAR:?}`` secrets set from fresh values), and
each service runs its own command with its own environment. What Docker's network provides
is replaced, consistently, by loopback addresses: every service name becomes an address of
its own (``mlflow`` is 127.0.0.2, so MLflow's Host-header check sees a name that is not
``127.0.0.1`` and must be allowed by the compose file), and every port a free one. Paths
inside the images (``/opt/airflow``, ``/mlartifacts``) become folders of the test.

Then each service's own health check must pass, the UI login the compose file documents
must work, the example DAGs must parse without import errors, connection secrets must be
stored encrypted with the Fernet key, and a task must record a run and an artifact in MLflow
through the ``flux_mlflow_default`` connection, as a training task would.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from airflow.utils.net import get_hostname
from cryptography.fernet import Fernet

from flux_devkit.services.postgres import PostgresServer, Superuser, start_postgres
from flux_devkit.services.process import ServiceError, ServiceProcess, free_ports

# Five Airflow and MLflow processes start, migrate and parse on two shared cores: minutes, not seconds.
pytestmark = pytest.mark.timeout(900)
ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
SERVICE_ADDRESS = {"postgres": "127.0.0.1", "mlflow": "127.0.0.2", "airflow-apiserver": "127.0.0.1"}
_INTERPOLATION = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}")

PROBE_DAG = """
from airflow.sdk import dag, task


@dag(schedule=None)
def production_probe():
    @task
    def track() -> str:
        import tempfile
        from pathlib import Path

        import mlflow

        from airflow_flux_provider.hooks.mlflow import MlflowTrackingHook

        mlflow.set_tracking_uri(MlflowTrackingHook().required_tracking_uri("the probe"))
        mlflow.set_experiment("production-probe")
        with mlflow.start_run() as run, tempfile.TemporaryDirectory() as folder:
            mlflow.log_param("stack", "compose")
            note = Path(folder, "note.txt")
            note.write_text("written through the MLflow server")
            mlflow.log_artifact(str(note))
        return run.info.run_id

    track()


production_probe()
"""


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """Compose's interpolation: ``${VAR}``, ``${VAR:-default}``, ``${VAR:?message}``, ``$$``."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        name, operator, argument = match.groups()
        if name is None:
            return "$"
        current = env.get(name)
        if operator in (":?", "?") and not current:
            raise AssertionError(f"docker compose would stop: {name}: {argument}")
        if operator in (":-", "-") and not current:
            return argument
        return current or ""

    return _INTERPOLATION.sub(one, value)


@dataclass
class Network:
    """What Docker's network and volumes stood for, on this machine."""

    ports: dict[int, int]  # container port -> free local port
    home: Path  # /opt/airflow
    artifacts: Path  # /mlartifacts

    def localize(self, text: str, *, inside: str | None = None) -> str:
        """``text`` as it applies here; ``inside`` is the address of the service whose own
        ``localhost`` the text means (a health check), else ``localhost`` is the published port."""
        for name, address in SERVICE_ADDRESS.items():
            for port, local in self.ports.items():
                text = text.replace(f"{name}:{port}", f"{address}:{local}")
            text = text.replace(f"@{name}/", f"@{address}:{self.ports[5432]}/")
        for port, local in self.ports.items():
            for loopback in ("localhost", "127.0.0.1"):
                text = text.replace(f"{loopback}:{port}", f"{inside or loopback}:{local}")
            text = text.replace(f"--port={port}", f"--port={local}")
        return text.replace("/opt/airflow", str(self.home)).replace("/mlartifacts", str(self.artifacts))

    def bind(self, argument: str, service: str) -> str:
        """A server argument: listening on all interfaces is listening on the service's address."""
        return argument.replace("--host=0.0.0.0", f"--host={SERVICE_ADDRESS[service]}")


@dataclass
class ProductionStack:
    compose: dict[str, Any]
    network: Network
    secrets: dict[str, str]
    postgres: PostgresServer
    processes: dict[str, ServiceProcess] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.network.ports[8080]}"

    @property
    def mlflow_url(self) -> str:
        return f"http://{SERVICE_ADDRESS['mlflow']}:{self.network.ports[5000]}"

    def service(self, name: str) -> dict[str, Any]:
        return dict(self.compose["services"][name])

    def environment(self, name: str) -> dict[str, str]:
        """The service's environment from the compose file, localized, as strings."""
        raw = self.service(name).get("environment") or {}
        return {key: self.network.localize(str(value)) for key, value in raw.items()}

    def healthcheck(self, name: str) -> subprocess.CompletedProcess[str]:
        """Run the service's own health check command here."""
        test = self.service(name)["healthcheck"]["test"]
        inside = SERVICE_ADDRESS.get(name, "127.0.0.1")
        kind, *argv = [self.network.localize(part, inside=inside) for part in test]
        env = {
            **os.environ,
            **self.airflow_env(),
            **self.postgres.client_env(),
            "PATH": f"{BIN}:{os.environ['PATH']}",
            "HOSTNAME": get_hostname(),  # a container's hostname is the one Airflow records for its jobs
        }
        if kind == "CMD-SHELL":
            argv = ["bash", "-c", argv[0]]
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)

    def airflow_env(self) -> dict[str, str]:
        """Airflow's environment from the compose file, plus what the image and the network set."""
        return {
            **self.environment("airflow-scheduler"),
            "AIRFLOW_HOME": str(self.network.home),  # the image's
            "AIRFLOW__CORE__DAGS_FOLDER": str(
                self.network.home / "dags"
            ),  # its default; the tests set another
            "AIRFLOW__API__HOST": "127.0.0.1",  # the image binds 0.0.0.0:8080
            "AIRFLOW__API__PORT": str(self.network.ports[8080]),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(self.network.ports[8974]),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.network.ports[8793]),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.network.ports[8794]),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "PATH": f"{BIN}:{os.environ['PATH']}",
        }

    def start(self, name: str, argv: list[str], env: Mapping[str, str]) -> ServiceProcess:
        workdir = self.network.home.parent
        process = ServiceProcess(name, argv, workdir / f"{name}.log", env=env, cwd=workdir)
        self.processes[name] = process
        return process

    def token(self) -> str:
        response = requests.post(
            f"{self.api_url}/auth/token",
            json={"username": "admin", "password": self.secrets["AIRFLOW_ADMIN_PASSWORD"]},
            timeout=30,
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token()}"}
        return requests.request(method, f"{self.api_url}/api/v2{path}", headers=headers, timeout=60, **kwargs)

    def stop(self) -> None:
        for process in reversed(self.processes.values()):
            process.stop()
        self.postgres.stop()


def _wait(check: Any, what: str, stack: ProductionStack, timeout: float = 240.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        for name, process in stack.processes.items():
            if not process.running():
                raise process.fail(f"{name} exited with code {process.popen.returncode}")
        last = check()
        if last:
            return last
        time.sleep(1)
    raise ServiceError(f"{what} not reached after {timeout:.0f} s (last: {last})", obj="production stack")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProductionStack]:
    workdir = tmp_path_factory.mktemp("production")
    values = {
        "POSTGRES_PASSWORD": secrets.token_urlsafe(16),
        "MLFLOW_DB_PASSWORD": secrets.token_urlsafe(16),
        "AIRFLOW_ADMIN_PASSWORD": secrets.token_urlsafe(16),
        "FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
    }
    compose = interpolate(yaml.safe_load((ROOT / "docker-compose.yaml").read_text()), values)
    network = Network(
        ports=dict(zip((5432, 5000, 8080, 8974, 8793, 8794), free_ports(6), strict=True)),
        home=workdir / "opt-airflow",
        artifacts=workdir / "mlartifacts",
    )
    network.artifacts.mkdir()
    (network.home / "auth").mkdir(parents=True, mode=0o770)  # made by the Dockerfile
    (network.home / "config").mkdir()  # and the local settings it copies
    shutil.copy(ROOT / "docker" / "airflow_local_settings.py", network.home / "config")
    dags = network.home / "dags"  # the ./dags volume, plus a probe
    shutil.copytree(ROOT / "dags", dags, ignore=shutil.ignore_patterns("__pycache__"))
    (dags / "production_probe.py").write_text(PROBE_DAG)

    pg_env = compose["services"]["postgres"]["environment"]
    postgres = start_postgres(
        workdir / "postgres",
        Superuser(pg_env["POSTGRES_USER"], pg_env["POSTGRES_PASSWORD"], pg_env["POSTGRES_DB"]),
    )
    stack = ProductionStack(compose, network, values, postgres)
    network.ports[5432] = postgres.port
    try:
        # The postgres image runs its init scripts once, as POSTGRES_USER into POSTGRES_DB.
        (init_volume,) = [v for v in compose["services"]["postgres"]["volumes"] if "initdb" in v]
        script = ROOT / init_volume.split(":")[0]
        subprocess.run(
            ["bash", script],
            env={**os.environ, **pg_env, **postgres.client_env()},
            check=True,
            capture_output=True,
            timeout=60,
        )
        mlflow = compose["services"]["mlflow"]
        stack.start(
            "mlflow",
            [
                str(BIN / mlflow["entrypoint"][0]),
                *(network.bind(network.localize(a), "mlflow") for a in mlflow["command"]),
            ],
            stack.environment("mlflow"),
        )
        init = compose["services"]["airflow-init"]
        init_env = {**stack.airflow_env(), **stack.environment("airflow-init")}
        ran = subprocess.run(
            [network.localize(part) for part in init["command"]],
            env={**os.environ, **init_env},
            capture_output=True,
            text=True,
            cwd=workdir,
            timeout=600,
            check=False,
        )
        assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
        for name in AIRFLOW_SERVICES:
            command = compose["services"][name]["command"]
            stack.start(name, [str(BIN / "airflow"), command], stack.airflow_env())
        yield stack
    finally:
        stack.stop()


def test_every_service_passes_its_own_health_check(stack: ProductionStack):
    for name in ("postgres", "mlflow", *AIRFLOW_SERVICES):

        def passes(name: str = name) -> str | None:
            result = stack.healthcheck(name)
            return "passed" if result.returncode == 0 else None

        try:
            _wait(passes, f"the health check of {name}", stack)
        except ServiceError:
            result = stack.healthcheck(name)
            assert result.returncode == 0, f"{name}: {result.stdout[-2000:]} {result.stderr[-2000:]}"
    health = requests.get(f"{stack.api_url}/api/v2/monitor/health", timeout=30).json()
    assert {
        part: health[part]["status"] for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")
    } == {
        "metadatabase": "healthy",
        "scheduler": "healthy",
        "triggerer": "healthy",
        "dag_processor": "healthy",
    }


def test_the_metadata_database_is_postgres(stack: ProductionStack):
    tables = stack.postgres.psql(
        "-tAc", "SELECT count(*) FROM information_schema.tables WHERE table_name = 'dag'"
    )
    assert tables.strip() == "1"  # airflow db migrate (airflow-init) created Airflow's schema here
    assert stack.postgres.psql("-tAc", "SELECT 1", database="mlflow").strip() == "1"


def test_the_documented_login_works_and_a_wrong_password_does_not(stack: ProductionStack):
    assert stack.token()
    wrong = requests.post(
        f"{stack.api_url}/auth/token", json={"username": "admin", "password": "admin"}, timeout=30
    )
    assert wrong.status_code == 401
    passwords = stack.network.home / "auth" / "passwords.json"
    assert oct(passwords.stat().st_mode & 0o777) == "0o600"


def test_the_example_dags_parse_without_import_errors(stack: ProductionStack):
    def parsed() -> list[str] | None:
        listed = stack.api("GET", "/dags", params={"limit": 100}).json()
        ids = sorted(d["dag_id"] for d in listed["dags"])
        return ids if "production_probe" in ids and len(ids) >= 5 else None

    ids = _wait(parsed, "the DAGs parsed", stack)
    assert {"ml_training", "ml_deployment", "production_probe"} <= set(ids)
    errors = stack.api("GET", "/importErrors").json()
    assert errors["total_entries"] == 0, errors["import_errors"]


def test_connection_secrets_are_stored_encrypted_with_the_fernet_key(stack: ProductionStack):
    secret = "s3cret-" + secrets.token_hex(4)
    body = {"connection_id": "git-credentials", "conn_type": "flux_git", "password": secret}
    assert stack.api("POST", "/connections", json=body).status_code == 201
    row = stack.postgres.psql(
        "-tAc", "SELECT is_encrypted, password FROM connection WHERE conn_id = 'git-credentials'"
    ).strip()
    encrypted, stored = row.split("|", 1)
    assert encrypted == "t" and secret not in stored
    assert Fernet(stack.secrets["FERNET_KEY"].encode()).decrypt(stored.encode()).decode() == secret


def test_mlflow_answers_the_host_names_airflow_and_browsers_use_and_refuses_others(stack: ProductionStack):
    search = f"{stack.mlflow_url}/api/2.0/mlflow/experiments/search?max_results=1"
    local_port = stack.network.ports[5000]
    for host in (f"127.0.0.2:{local_port}", f"localhost:{local_port}"):  # mlflow:5000, localhost:5000
        assert requests.get(search, headers={"Host": host}, timeout=30).status_code == 200, host
    for host in ("attacker.example", f"attacker.example:{local_port}"):
        assert requests.get(search, headers={"Host": host}, timeout=30).status_code == 403, host


def test_a_task_records_a_run_and_an_artifact_in_mlflow_through_the_connection(stack: ProductionStack):
    _wait(lambda: stack.api("GET", "/dags/production_probe").status_code == 200, "the probe DAG", stack)
    assert stack.api("PATCH", "/dags/production_probe", json={"is_paused": False}).status_code == 200
    run = stack.api("POST", "/dags/production_probe/dagRuns", json={"logical_date": None})
    run.raise_for_status()
    run_id = run.json()["dag_run_id"]
    state = _wait(
        lambda: {"success", "failed"}
        & {stack.api("GET", f"/dags/production_probe/dagRuns/{run_id}").json()["state"]},
        "the probe run finished",
        stack,
        timeout=300,
    )
    logs = "\n".join(
        p.read_text() for p in (stack.network.home / "logs").rglob("*.log") if "production_probe" in str(p)
    )
    assert state == {"success"}, logs[-4000:]
    xcom = stack.api(
        "GET", f"/dags/production_probe/dagRuns/{run_id}/taskInstances/track/xcomEntries/return_value"
    ).json()
    mlflow_run_id = xcom["value"]
    answer = requests.get(
        f"{stack.mlflow_url}/api/2.0/mlflow/runs/get", params={"run_id": mlflow_run_id}, timeout=30
    )
    assert answer.json()["run"]["data"]["params"] == [{"key": "stack", "value": "compose"}]
    stored = list(stack.network.artifacts.rglob("note.txt"))  # written by the server, into its volume
    assert len(stored) == 1 and stored[0].read_text() == "written through the MLflow server"
    runs = stack.postgres.psql(
        "-tAc", f"SELECT count(*) FROM runs WHERE run_uuid = '{mlflow_run_id}'", database="mlflow"
    )
    assert runs.strip() == "1"


def test_the_providers_page_links_to_the_readme_the_api_server_serves(stack: ProductionStack):
    listed = stack.api("GET", "/providers").json()["providers"]
    (ours,) = [p for p in listed if p["package_name"] == "airflow-flux-provider"]
    assert ours["documentation_url"] == "/flux-provider/docs"
    page = requests.get(f"{stack.api_url}{ours['documentation_url']}", timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<h2>Quickstart: the two commands</h2>" in page.text and "<script" not in page.text
