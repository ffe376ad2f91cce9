"""An s3:// artifact store on the real S3 server: what lets tasks on different workers share sources.

A "worker" here is a separate interpreter (spawned process) with its own temporary folder,
so the only thing the two sides share is the bucket and the XCom record.
"""

from __future__ import annotations

import json
import multiprocessing
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_flux_provider.credentials import Credentials
from airflow_flux_provider.sources.artifacts import Artifact, ArtifactStore, s3_options
from airflow_flux_provider.sources.errors import ArtifactStoreError, SourceError
from flux_devkit.services.git_http import GitServer
from flux_devkit.services.s3 import S3Server
from tests.services.connections import bucket_conn

SRC = "GitRepository/flux-system/fleet"


def _host(server: S3Server) -> str:
    return server.endpoint.removeprefix("http://")


def _options(server: S3Server, secret: str | None = None) -> dict[str, Any]:
    creds = Credentials(
        username=server.access_key,
        password=secret or server.secret_key,
        insecure=True,
        extra={"region": server.region},
    )
    return s3_options(_host(server), creds)


@pytest.fixture
def bucket_url(s3_server: S3Server) -> str:
    bucket = s3_server.create_bucket("flux-artifacts")
    return f"s3://{bucket}/{uuid.uuid4().hex[:8]}"


def _worker_put(base_url: str, options: dict[str, Any], folder: str) -> dict[str, Any]:
    files = {"apps/podinfo.yaml": "replicas: 2\n", "README.md": "fleet\n"}
    for rel, text in files.items():
        (Path(folder) / rel).parent.mkdir(parents=True, exist_ok=True)
        (Path(folder) / rel).write_text(text)
    store = ArtifactStore(base_url, storage_options=options)
    return store.put_directory(folder, source=SRC, revision="main@sha1:" + "a" * 40).to_xcom()


def _worker_get(xcom: dict[str, Any], options: dict[str, Any], folder: str) -> dict[str, str]:
    artifact = Artifact.from_xcom(xcom)
    store = ArtifactStore(artifact.store_url, storage_options=options)
    assert store.latest(SRC) == artifact  # the history written by the other worker
    out = store.extract(artifact, Path(folder) / "out")
    return {p.relative_to(out).as_posix(): p.read_text() for p in sorted(out.rglob("*")) if p.is_file()}


def test_two_workers_share_an_artifact_through_s3(
    s3_server: S3Server, bucket_url: str, tmp_path: Path
) -> None:
    options = _options(s3_server)
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as writer:
        xcom = writer.submit(_worker_put, bucket_url, options, str(tmp_path / "a")).result()
    assert xcom["url"].startswith(f"{bucket_url}/sha256/") and xcom["path"] is None
    json.dumps(xcom)  # what goes to XCom is plain metadata

    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as reader:
        files = reader.submit(_worker_get, xcom, options, str(tmp_path / "b")).result()
    assert files == {"README.md": "fleet\n", "apps/podinfo.yaml": "replicas: 2\n"}

    local = ArtifactStore(str(tmp_path / "local")).put_directory(
        tmp_path / "a", source=SRC, revision="main@sha1:" + "a" * 40
    )
    assert local.digest == xcom["digest"]  # deterministic packing, whatever the backend

    bucket, prefix = bucket_url.removeprefix("s3://").split("/", 1)
    listed = s3_server.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
    keys = {o["Key"].removeprefix(prefix + "/") for o in listed.get("Contents", [])}
    assert keys == {f"sha256/{xcom['digest'].removeprefix('sha256:')}.tar.gz", f"sources/{SRC}.json"}


def test_gc_deletes_unused_blobs_from_the_bucket(s3_server: S3Server, bucket_url: str) -> None:
    store = ArtifactStore(bucket_url, storage_options=_options(s3_server))
    old = store.put_bytes(b"v1", source=SRC, revision="v1", suffix=".txt")
    new = store.put_bytes(b"v2", source=SRC, revision="v2", suffix=".txt")
    assert [a.revision for a in store.gc(SRC, keep=1)] == ["v1"]
    other = ArtifactStore(bucket_url, storage_options=_options(s3_server))
    assert other.get(new.digest) == b"v2"
    with pytest.raises(SourceError, match=r"is not in the store s3://.*; fetch the source again") as err:
        other.get(old.digest)
    assert "local folder" not in str(err.value)


def test_wrong_keys_name_the_store_and_hide_the_secret(s3_server: S3Server, bucket_url: str) -> None:
    with pytest.raises(ArtifactStoreError) as err:
        ArtifactStore(bucket_url, storage_options=_options(s3_server, secret="not-the-secret-42"))
    message = str(err.value)
    assert (
        f"artifact store {bucket_url}" in message and "check the keys in [flux] artifacts_conn_id" in message
    )
    assert "not-the-secret-42" not in message and s3_server.secret_key not in message


def test_unreachable_endpoint_and_unknown_scheme(tmp_path: Path) -> None:
    creds = Credentials(username="k", password="s", insecure=True)
    options = s3_options("127.0.0.1:9", creds)
    options["config_kwargs"].update(retries={"max_attempts": 1}, connect_timeout=2)
    with pytest.raises(ArtifactStoreError, match="check the endpoint of \\[flux\\] artifacts_conn_id"):
        ArtifactStore("s3://flux-artifacts/x", storage_options=options)
    with pytest.raises(ArtifactStoreError, match="install the fsspec backend"):
        ArtifactStore("nosuchscheme://bucket/x")


@pytest.fixture
def worker_folders(
    s3_server: S3Server, bucket_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> tuple[Path, Path]:
    """``[flux] artifacts_url`` on the bucket; two local folders standing for two workers' disks."""
    monkeypatch.setenv("AIRFLOW_CONN_FLUX_ARTIFACTS", json.dumps(bucket_conn(s3_server)))
    monkeypatch.setenv("AIRFLOW__FLUX__ARTIFACTS_URL", bucket_url)
    monkeypatch.setenv("AIRFLOW__FLUX__ARTIFACTS_CONN_ID", "flux_artifacts")
    return tmp_path / "worker-1", tmp_path / "worker-2"


def test_operators_on_different_workers_share_through_the_configured_store(
    worker_folders: tuple[Path, Path],
    bucket_url: str,
    git_server: GitServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``[flux] artifacts_url`` + ``artifacts_conn_id``: fetch on one worker, render on another."""
    from airflow_flux_provider.operators.kustomize import KustomizationRenderOperator
    from airflow_flux_provider.operators.sources import GitRepositoryOperator

    name = f"s3-store-{uuid.uuid4().hex[:6]}"
    git_server.create_repo(
        name, {"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${APP}\n"}
    )
    first, second = worker_folders
    git = {"conn_type": "flux_git", "login": git_server.username, "password": git_server.password}
    monkeypatch.setenv("AIRFLOW_CONN_FLEET_GIT", json.dumps(git))

    monkeypatch.setenv("AIRFLOW__FLUX__ARTIFACTS_PATH", str(first))
    spec = {
        "interval": "5m",
        "url": git_server.repo_url(name),
        "ref": {"branch": "main"},
        "secretRef": {"name": "fleet_git"},
    }
    fetch = GitRepositoryOperator(task_id="fetch", name="fetch", spec=spec, cache_dir=str(first / "git"))
    xcom = fetch.execute({})
    assert xcom["changed"] and xcom["url"].startswith(f"{bucket_url}/sha256/") and xcom["path"] is None

    monkeypatch.setenv("AIRFLOW__FLUX__ARTIFACTS_PATH", str(second))
    render = KustomizationRenderOperator(
        task_id="render",
        name="render",
        spec={
            "interval": "5m",
            "prune": True,
            "path": "./app",
            "sourceRef": {"kind": "GitRepository", "name": "x"},
            "postBuild": {"substitute": {"APP": "podinfo"}},
        },
        source_artifact=xcom,
    )
    rendered = render.execute({})
    assert rendered["path"].startswith(str(second))
    assert yaml.safe_load(Path(rendered["path"]).read_text())["metadata"]["name"] == "podinfo"
    assert not (first / "sha256").exists()  # nothing went through a local folder


def _render_on(worker: Path, monkeypatch: pytest.MonkeyPatch, source: Path) -> dict[str, Any]:
    from airflow_flux_provider.operators.kustomize import KustomizationRenderOperator

    monkeypatch.setenv("AIRFLOW__FLUX__ARTIFACTS_PATH", str(worker))
    spec = {
        "interval": "5m",
        "prune": True,
        "path": "./app",
        "sourceRef": {"kind": "GitRepository", "name": "x"},
    }
    render = KustomizationRenderOperator(task_id="render", name="shared", spec=spec, source_path=str(source))
    return render.execute({})


def test_a_render_is_read_on_another_worker_through_the_store(
    worker_folders: tuple[Path, Path], bucket_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The reconcile and diff tasks read a render made on another machine (issue 21)."""
    import shutil

    from airflow_flux_provider.operators.kustomize import read_render

    first, second = worker_folders
    (tmp_path / "src" / "app").mkdir(parents=True)
    (tmp_path / "src" / "app" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: far\n"
    )
    xcom = _render_on(first, monkeypatch, tmp_path / "src")
    assert xcom["url"].startswith(f"{bucket_url}/sha256/") and xcom["path"].startswith(str(first))

    shutil.rmtree(first)  # the render's machine: not reachable from the reading one
    monkeypatch.setenv("AIRFLOW__FLUX__ARTIFACTS_PATH", str(second))
    assert yaml.safe_load(read_render(xcom))["metadata"]["name"] == "far"


def test_a_render_in_a_local_store_says_it_is_not_shared(
    worker_folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import shutil

    from airflow_flux_provider.operators.kustomize import read_render

    first, second = worker_folders
    monkeypatch.delenv("AIRFLOW__FLUX__ARTIFACTS_URL")  # the default: artifacts_path, one machine's disk
    (tmp_path / "src" / "app").mkdir(parents=True)
    (tmp_path / "src" / "app" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: near\n"
    )
    xcom = _render_on(first, monkeypatch, tmp_path / "src")
    shutil.rmtree(first)
    monkeypatch.setenv("AIRFLOW__FLUX__ARTIFACTS_PATH", str(second))
    with pytest.raises(SourceError, match="a local folder is not shared by workers: see artifacts_url"):
        read_render(xcom)


def test_a_tag_list_is_read_on_another_worker_through_the_store(
    worker_folders: tuple[Path, Path],
    bucket_url: str,
    oci_registry: Any,
    airflow_connections: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The image policy task reads the tag list a scan task stored on another machine (issue 21)."""
    from airflow_flux_provider.operators.images import ImagePolicyOperator, ImageRepositoryScanOperator
    from tests.images.test_airflow_layer import POLICY, _repository

    first, second = worker_folders
    airflow_connections.registry("registry_creds", oci_registry)
    repo = f"shared-tags-{uuid.uuid4().hex[:6]}"
    for tag in ("1.0.0", "1.3.0", "2.0.0"):
        oci_registry.push_image(repo, tag)
    monkeypatch.setenv("AIRFLOW__FLUX__ARTIFACTS_PATH", str(first))
    scanned = ImageRepositoryScanOperator(task_id="scan", manifest=_repository(oci_registry, repo)).execute(
        {}
    )
    assert scanned["url"].startswith(f"{bucket_url}/sha256/") and "path" not in scanned

    monkeypatch.setenv("AIRFLOW__FLUX__ARTIFACTS_PATH", str(second))
    chosen = ImagePolicyOperator(task_id="policy", manifest=POLICY, tags=scanned).execute({})
    assert chosen["tag"] == "1.3.0"


def test_a_chart_fetched_on_another_worker_is_copied_from_the_store(
    worker_folders: tuple[Path, Path], bucket_url: str, tmp_path: Path
) -> None:
    """A HelmRelease task gets the HelmChart task's .tgz wherever that ran (issue 21)."""
    from airflow_flux_provider.operators.helm import local_artifact
    from airflow_flux_provider.operators.sources import artifact_store

    data = b"\x1f\x8b chart bytes"
    chart = artifact_store().put_bytes(
        data, source="HelmChart/flux-system/web", revision="1.2.3", suffix=".tgz"
    )
    assert chart.path is None  # an object store: nothing on this worker's disk
    copied = Path(local_artifact(chart.to_xcom(), tmp_path / "charts"))
    assert copied.read_bytes() == data and copied.name.endswith(".tgz")
    forged = {**chart.to_xcom(), "url": f"{bucket_url}/sha256/.."}  # an XCom edited to climb out
    assert Path(local_artifact(forged, tmp_path / "forged")).parent == tmp_path / "forged"

    here = ArtifactStore(str(tmp_path / "local-store")).put_bytes(
        data, source="HelmChart/flux-system/web", revision="1.2.3", suffix=".tgz"
    )
    assert local_artifact(here.to_xcom(), tmp_path / "unused") == here.path  # on this worker: no copy
