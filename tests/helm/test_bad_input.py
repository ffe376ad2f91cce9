"""Bad input gives a clear HelmError naming the object and field, never a secret."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from airflow_flux_provider import events
from airflow_flux_provider.helm.chart import load_chart, pull_chart
from airflow_flux_provider.helm.cli import HelmCli
from airflow_flux_provider.helm.errors import ChartError, HelmCommandError, HelmError
from airflow_flux_provider.helm.release import ReleaseReconciler
from airflow_flux_provider.helm.values import compose_values
from airflow_flux_provider.kube import Cluster
from airflow_flux_provider.tools import ToolNotFoundError, helm_path
from tests.helm.conftest import helm_release, reconcile


def test_missing_chart_path(sandbox_namespace: str, cli: HelmCli, cluster: Cluster) -> None:
    hr = helm_release(sandbox_namespace, {})
    with pytest.raises(
        ChartError, match=r"HelmRelease/.*/web field spec.chart: chart '/nowhere/web' not found"
    ):
        reconcile(hr, "/nowhere/web", cli, cluster)


def test_unsatisfiable_version_constraint(chart_dir: Path) -> None:
    with pytest.raises(
        ChartError, match=r"field spec.chart.spec.version: chart web version 1.2.0 does not satisfy"
    ):
        load_chart(chart_dir, obj="HelmRelease/apps/web", constraint=">=2.0.0")
    with pytest.raises(ChartError, match=r"spec.chart.spec.version"):
        load_chart(chart_dir, obj="HelmRelease/apps/web", constraint="not a version")
    assert load_chart(chart_dir, obj="HelmRelease/apps/web", constraint="~1.2").version == "1.2.0"


def test_missing_values_file(chart_dir: Path) -> None:
    chart = load_chart(chart_dir, obj="HelmRelease/apps/web")
    assert chart.values_files(["values-prod.yaml"], ignore_missing=False, obj="x")[0][0] == "values-prod.yaml"
    assert chart.values_files(["nope.yaml"], ignore_missing=True, obj="x") == []
    with pytest.raises(ChartError, match="ignoreMissingValuesFiles"):
        chart.values_files(["nope.yaml"], ignore_missing=False, obj="x")


def test_values_failing_the_schema(
    sandbox: Any, sandbox_namespace: str, chart_dir: Path, cli: HelmCli, cluster: Cluster
) -> None:
    hr = helm_release(sandbox_namespace, {"values": {"replicas": "many"}})
    outcome = reconcile(hr, chart_dir, cli, cluster)
    assert not outcome.ready and outcome.actions == ["install-failed"]
    assert "schema" in outcome.message and "replicas" in outcome.message
    assert sandbox.helm("list", "-n", sandbox_namespace, "-q").stdout.strip() == ""


def test_template_error_never_shows_a_secret_value(
    sandbox_namespace: str,
    strict_chart: Path,
    cli: HelmCli,
    cluster: Cluster,
    emitted: list[events.Event],
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "s3cr3t-t0ken-value"
    cluster.apply({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "guard", "namespace": sandbox_namespace},
        "data": {"value": base64.b64encode(secret.encode()).decode()},
    })  # fmt: skip
    spec = {
        "valuesFrom": [{"kind": "Secret", "name": "guard", "valuesKey": "value", "targetPath": "explode"}]
    }
    outcome = reconcile(helm_release(sandbox_namespace, spec), strict_chart, cli, cluster)
    assert not outcome.ready
    assert "refusing value ***" in outcome.message
    texts = [outcome.message, caplog.text, *(e.message for e in emitted)]
    assert all(secret not in text for text in texts)
    assert any("refusing value ***" in e.message for e in emitted if e.reason == "InstallFailed")


def test_chart_from_an_http_repository(chart_repo: Any, tmp_path: Path, cli: HelmCli) -> None:
    chart_repo.add_chart("podinfo", "6.5.0")
    chart_repo.add_chart("podinfo", "6.6.1")
    chart = pull_chart(cli, chart_repo.url, "podinfo", "~6.5", tmp_path, obj="HelmRelease/apps/podinfo")
    assert (chart.name, chart.version) == ("podinfo", "6.5.0")
    with pytest.raises(ChartError, match=r"chart absent@\* not found in http"):
        pull_chart(cli, chart_repo.url, "absent", "*", tmp_path, obj="HelmRelease/apps/podinfo")
    with pytest.raises(ChartError, match=r"chart podinfo@>=7 not found"):
        pull_chart(cli, chart_repo.url, "podinfo", ">=7", tmp_path, obj="HelmRelease/apps/podinfo")


def test_helm_binary_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with (
        HelmCli(None, binary=str(tmp_path / "helm")) as cli,
        pytest.raises(HelmCommandError, match=r"helm binary .* is missing; run scripts/setup.sh"),
    ):
        cli.run(["version"], timeout=5, cluster=False)
    monkeypatch.setenv("AIRFLOW__FLUX__HELM_PATH", str(tmp_path / "helm"))
    with pytest.raises(ToolNotFoundError, match=r"\[flux\] helm_path"):
        helm_path()
    assert issubclass(HelmCommandError, HelmError)


def test_helm_runs_isolated_from_the_users_helm_home(cli: HelmCli) -> None:
    env = cli._env()
    assert env["HELM_CONFIG_HOME"].startswith(str(cli.work_dir))
    assert "KUBECONFIG" not in env
    out = cli.run(["env"], timeout=30, cluster=False)
    assert f'HELM_DATA_HOME="{cli.work_dir / "data"}"' in out
    assert cli.major_version in (3, 4)
    work = cli.work_dir
    cli.close()
    assert not work.exists()


def test_chart_from_an_oci_registry(
    oci_registry_anonymous: Any, chart_dir: Path, sandbox_namespace: str, cli: HelmCli, cluster: Cluster
) -> None:
    packaged = cli.run(
        ["package", str(chart_dir), "--destination", str(cli.work_dir)], timeout=60, cluster=False
    )
    archive = packaged.strip().rsplit(": ", 1)[-1]
    ref = f"oci://{oci_registry_anonymous.host}/charts"
    cli.run(["push", archive, ref, "--plain-http"], timeout=60, cluster=False)
    chart = load_chart(f"{ref}/web", obj="HelmRelease/apps/web", constraint="1.x", cli=cli, plain_http=True)
    assert (chart.name, chart.version) == ("web", "1.2.0")
    assert (chart.location, chart.install_flags()) == (f"{ref}/web", ["--version=1.2.0", "--plain-http"])
    hr = helm_release(sandbox_namespace, {})
    outcome = ReleaseReconciler(hr, chart, compose_values(hr, cluster), cli, cluster).reconcile()
    assert outcome.ready and outcome.actions == ["install"], outcome.message
    with pytest.raises(ChartError, match=r"chart oci://.*/charts/absent not found"):
        load_chart(f"{ref}/absent", obj="HelmRelease/apps/web", cli=cli, plain_http=True)
