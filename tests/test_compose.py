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


def test_airflow_components_share_one_image_with_the_provider():
    services = _compose()["services"]
    images = {services[name]["image"] for name in (*AIRFLOW_SERVICES, "airflow-init", "mlflow")}
    assert len(images) == 1
    dockerfile = (ROOT / "Dockerfile").read_text()
    match = re.search(r"^FROM apache/airflow:(\S+)-python3\.11$", dockerfile, re.M)
    assert match, "the image builds on the official Airflow image"
    locked = re.search(r"^apache-airflow==(\S+) ", (ROOT / "requirements.lock").read_text(), re.M)
    assert locked and match.group(1) == locked.group(1), "image Airflow version equals the locked one"
    assert "--require-hashes -r /opt/flux-provider/requirements.lock" in dockerfile


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
    init_sql = (ROOT / "docker/postgres-init.sql").read_text()
    assert "CREATE DATABASE mlflow" in init_sql
    env = compose["services"]["airflow-scheduler"]["environment"]
    assert "mlflow:5000" in env["AIRFLOW_CONN_FLUX_MLFLOW_DEFAULT"]
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"


def test_no_secret_is_baked_into_the_file():
    env = _compose()["services"]["airflow-apiserver"]["environment"]
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"].startswith("${AIRFLOW__API_AUTH__JWT_SECRET:?")
