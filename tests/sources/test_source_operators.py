"""Bucket, OCIRepository and HelmRepository operators on the real S3 server, registry and chart repo.

Connections come from ``AIRFLOW_CONN_*`` (named by ``secretRef`` or an explicit ``*_conn_id``);
each operator returns the artifact's XCom plus ``changed`` and announces only new revisions.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.execution_time.context import OutletEventAccessors

from airflow_flux_provider.credentials import Credentials
from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.operators.sources import (
    BucketOperator,
    GitRepositoryOperator,
    HelmChartOperator,
    HelmRepositoryOperator,
    OCIRepositoryOperator,
    SourceOperator,
)
from airflow_flux_provider.sources.artifacts import Artifact, ArtifactStore
from airflow_flux_provider.sources.bucket import BucketAuthError
from airflow_flux_provider.triggers.sources import revision_check
from flux_devkit.services.chart_repo import ChartRepository
from flux_devkit.services.git_http import GitServer
from flux_devkit.services.registry import OciRegistry
from flux_devkit.services.s3 import S3Server


@pytest.fixture(autouse=True)
def artifacts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ArtifactStore:
    monkeypatch.setenv("AIRFLOW__FLUX__ARTIFACTS_PATH", str(tmp_path / "artifacts"))
    return ArtifactStore(str(tmp_path / "artifacts"))


def _conn(
    monkeypatch: pytest.MonkeyPatch, name: str, conn_type: str, login: str | None, password: str | None
) -> None:
    conn = {"conn_type": conn_type, "login": login, "password": password}
    monkeypatch.setenv(f"AIRFLOW_CONN_{name.upper()}", json.dumps(conn))


def _twice(op: SourceOperator) -> tuple[dict[str, Any], dict[str, Any], int]:
    """Run twice; return both XComs and how many asset events the two runs produced."""
    counts = 0
    results = []
    for _ in range(2):
        events = OutletEventAccessors()
        results.append(op.execute({"outlet_events": events}))
        counts += sum(len(events[o].asset_alias_events) for o in op.outlets)
    return results[0], results[1], counts


def test_bucket_operator(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, artifacts: ArtifactStore, tmp_path: Path
) -> None:
    name = s3_server.create_bucket(f"op-{uuid.uuid4().hex[:10]}", {"deploy/app.yaml": b"kind: Service\n"})
    _conn(monkeypatch, "s3_creds", "flux_bucket", s3_server.access_key, s3_server.secret_key)
    _conn(monkeypatch, "s3_wrong", "flux_bucket", s3_server.access_key, "wrong-secret-987")
    spec = {
        "bucketName": name,
        "endpoint": s3_server.endpoint.removeprefix("http://"),
        "insecure": True,
        "interval": "5m",
        "secretRef": {"name": "s3_creds"},
    }
    first, second, events = _twice(BucketOperator(task_id="models", name="models", spec=spec))
    assert first["changed"] and not second["changed"] and events == 1
    assert first["source"] == "Bucket/flux-system/models" and second["digest"] == first["digest"]
    out = artifacts.extract(Artifact.from_xcom(first), tmp_path / "out")
    assert (out / "deploy" / "app.yaml").read_bytes() == b"kind: Service\n"
    with pytest.raises(BucketAuthError) as err:
        BucketOperator(task_id="wrong", name="wrong", spec=spec, bucket_conn_id="s3_wrong").execute({})
    assert "wrong-secret-987" not in str(err.value)


def test_oci_repository_operator(oci_registry: OciRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = f"flux/op-{uuid.uuid4().hex[:10]}"
    digest = oci_registry.push_artifact(repo, "v1", {"deploy/app.yaml": b"kind: Service\n"})
    _conn(monkeypatch, "registry_creds", "flux_registry", oci_registry.username, oci_registry.password)
    spec = {
        "url": f"oci://{oci_registry.host}/{repo}",
        "insecure": True,
        "interval": "5m",
        "ref": {"tag": "v1"},
    }
    op = OCIRepositoryOperator(
        task_id="manifests", name="manifests", spec=spec, registry_conn_id="registry_creds"
    )
    first, second, events = _twice(op)
    assert first["revision"] == f"v1@{digest}" and first["changed"] and not second["changed"] and events == 1


def test_helm_repository_operator(chart_repo_auth: ChartRepository, monkeypatch: pytest.MonkeyPatch) -> None:
    chart_repo_auth.add_chart("podinfo", "6.0.0")
    _conn(monkeypatch, "charts", "flux_helm", chart_repo_auth.username, chart_repo_auth.password)
    spec = {"url": chart_repo_auth.url, "interval": "5m", "secretRef": {"name": "charts"}}
    first, second, events = _twice(HelmRepositoryOperator(task_id="podinfo", name="podinfo", spec=spec))
    assert first["revision"].startswith("sha256:") and first["changed"] and not second["changed"]
    assert events == 1


def test_helm_chart_operator_from_repository_and_from_git(
    chart_repo_auth: ChartRepository,
    git_server: GitServer,
    monkeypatch: pytest.MonkeyPatch,
    artifacts: ArtifactStore,
    tmp_path: Path,
) -> None:
    chart_repo_auth.add_chart("webapp", "1.2.0")
    chart_repo_auth.add_chart("webapp", "1.3.0")
    chart_repo_auth.add_chart("webapp", "2.0.0")
    _conn(monkeypatch, "charts", "flux_helm", chart_repo_auth.username, chart_repo_auth.password)
    repository = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmRepository",
        "metadata": {"name": "charts", "namespace": "flux-system"},
        "spec": {"url": chart_repo_auth.url, "interval": "5m", "secretRef": {"name": "charts"}},
    }
    spec = {
        "chart": "webapp",
        "version": "^1.2",
        "interval": "5m",
        "sourceRef": {"kind": "HelmRepository", "name": "charts"},
    }
    first, second, events = _twice(
        HelmChartOperator(task_id="webapp", name="webapp", spec=spec, repository=repository)
    )
    assert first["revision"] == "1.3.0" and first["changed"] and not second["changed"] and events == 1
    assert first["path"].endswith(".tgz")
    with pytest.raises(FluxError, match="repository="):
        HelmChartOperator(task_id="norepo", name="norepo", spec=spec).execute({})

    chart_yaml = "apiVersion: v2\nname: inrepo\nversion: 0.4.0\n"
    git_server.create_repo("chart-src", {"charts/inrepo/Chart.yaml": chart_yaml}, public=True)
    git_spec = {"url": git_server.repo_url("chart-src"), "interval": "1m", "ref": {"branch": "main"}}
    fetched = GitRepositoryOperator(
        task_id="src", name="src", spec=git_spec, cache_dir=str(tmp_path / "c")
    ).execute({})
    from_git = {**spec, "chart": "charts/inrepo", "sourceRef": {"kind": "GitRepository", "name": "src"}}
    packaged = HelmChartOperator(
        task_id="inrepo", name="inrepo", spec=from_git, source_artifact=fetched
    ).execute({})
    assert packaged["revision"] == "0.4.0" and packaged["changed"]
    with pytest.raises(FluxError, match="source_artifact="):
        HelmChartOperator(task_id="nosrc", name="nosrc", spec=from_git).execute({})


def test_helm_repository_revision_check(chart_repo: ChartRepository) -> None:
    chart_repo.add_chart("watched", "0.1.0")
    manifest = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmRepository",
        "metadata": {"name": "watched", "namespace": "flux-system"},
        "spec": {"url": chart_repo.url, "interval": "5m"},
    }
    event = revision_check(manifest, Credentials(), None)
    assert event is not None and event["revision"].startswith("sha256:")
    assert revision_check(manifest, Credentials(), event["revision"]) is None
    chart_repo.add_chart("watched", "0.2.0")
    assert revision_check(manifest, Credentials(), event["revision"]) is not None
