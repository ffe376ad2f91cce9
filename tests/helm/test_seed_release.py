"""The seed's MLflow HelmRelease, exactly as written, against a local stand-in of its chart."""

from __future__ import annotations

from pathlib import Path

from airflow_flux_provider.helm.cli import HelmCli
from airflow_flux_provider.kube import Cluster, ObjectKey
from airflow_flux_provider.specs import HelmRelease, parse_object
from tests.helm.conftest import reconcile
from tests.seed import first_object


def test_seed_helm_release_installs_tests_and_patches(
    sandbox_namespace: str, mlflow_chart: Path, cli: HelmCli, cluster: Cluster
) -> None:
    manifest = first_object("HelmRelease")
    manifest["metadata"]["namespace"] = sandbox_namespace
    hr = parse_object(manifest)
    assert isinstance(hr, HelmRelease)
    assert hr.spec.install.remediation.retries == 3 and hr.spec.upgrade.remediation.remediate_last_failure

    outcome = reconcile(hr, mlflow_chart, cli, cluster)

    assert outcome.ready, outcome.message
    assert outcome.actions == ["install", "test"]
    assert (outcome.chart_name, outcome.chart_version) == ("mlflow", "0.7.19")
    live = cluster.get(ObjectKey("apps/v1", "Deployment", sandbox_namespace, "mlflow"))
    assert live is not None
    template = live["spec"]["template"]
    assert template["metadata"]["annotations"] == {"fluxcd.io/automated": "true"}  # the post-renderer patch
    container = template["spec"]["containers"][0]
    assert container["image"] == "ghcr.io/mlflow/mlflow:v2.8.1"
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}  # 1000m, as a server stores it
    assert reconcile(hr, mlflow_chart, cli, cluster).actions == []
