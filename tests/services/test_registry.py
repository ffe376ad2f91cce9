"""The oci_registry fixtures are a real distribution registry with htpasswd basic auth."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest
import requests
import yaml

from flux_devkit.services.chart_repo import ChartRepository
from flux_devkit.services.process import ServiceError
from flux_devkit.services.registry import (
    DOCKER_MANIFEST,
    FLUX_CONFIG,
    FLUX_CONTENT,
    OCI_MANIFEST,
    OciRegistry,
)


def test_push_images_and_list_tags(oci_registry: OciRegistry) -> None:
    first = oci_registry.push_image("svc/podinfo", "6.5.0")
    second = oci_registry.push_image("svc/podinfo", "6.5.1")
    oci_registry.push_image("svc/podinfo", "latest", media_type=DOCKER_MANIFEST)
    assert first != second and first.startswith("sha256:")
    assert sorted(oci_registry.tags("svc/podinfo")) == ["6.5.0", "6.5.1", "latest"]

    manifest = requests.get(
        f"{oci_registry.url}/v2/svc/podinfo/manifests/6.5.1",
        auth=(oci_registry.username or "", oci_registry.password or ""),
        headers={"Accept": OCI_MANIFEST},
        timeout=10,
    )
    assert manifest.status_code == 200
    assert manifest.headers["Docker-Content-Digest"] == second


def test_anonymous_and_wrong_password_get_401(oci_registry: OciRegistry) -> None:
    oci_registry.push_image("svc/locked", "v1")
    url = f"{oci_registry.url}/v2/svc/locked/tags/list"
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, auth=(oci_registry.username or "", "wrong"), timeout=10).status_code == 401


def test_flux_artifact_has_one_targz_layer_with_the_files(oci_registry: OciRegistry) -> None:
    files = {"deploy.yaml": b"kind: Deployment\n", "nested/kustomization.yaml": b"resources: []\n"}
    digest = oci_registry.push_artifact(
        "svc/manifests", "v1.0.0", files, annotations={"org.opencontainers.image.revision": "main@sha1:abc"}
    )
    auth = (oci_registry.username or "", oci_registry.password or "")
    manifest = requests.get(
        f"{oci_registry.url}/v2/svc/manifests/manifests/{digest}",
        auth=auth,
        headers={"Accept": OCI_MANIFEST},
        timeout=10,
    ).json()
    assert manifest["config"]["mediaType"] == FLUX_CONFIG
    assert manifest["annotations"]["org.opencontainers.image.revision"] == "main@sha1:abc"
    (layer,) = manifest["layers"]
    assert layer["mediaType"] == FLUX_CONTENT
    blob = requests.get(f"{oci_registry.url}/v2/svc/manifests/blobs/{layer['digest']}", auth=auth, timeout=10)
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob.content))) as tar:
        got = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]
    assert got == files


def test_anonymous_registry_needs_no_credentials(oci_registry_anonymous: OciRegistry) -> None:
    oci_registry_anonymous.push_image("svc/open", "1.0.0", config={"os": "linux", "architecture": "arm64"})
    listing = requests.get(f"{oci_registry_anonymous.url}/v2/svc/open/tags/list", timeout=10)
    assert listing.status_code == 200
    assert json.loads(listing.text)["tags"] == ["1.0.0"]


def test_pushed_chart_is_pulled_by_helm_over_oci(
    oci_registry: OciRegistry, chart_repo: ChartRepository, tmp_path: Path
) -> None:
    packaged = chart_repo.add_chart("oci-demo", "1.2.3", values={"message": "over oci"})
    digest = oci_registry.push_chart("svc-charts", packaged)
    assert oci_registry.tags("svc-charts/oci-demo") == ["1.2.3"]

    user, password = oci_registry.username or "", oci_registry.password or ""
    login = chart_repo.run_helm(
        "registry", "login", oci_registry.host, "--plain-http", "-u", user, "--password-stdin", stdin=password
    )
    assert login.returncode == 0, login.stderr
    chart = f"oci://{oci_registry.host}/svc-charts/oci-demo"
    pulled = chart_repo.run_helm("template", "demo", chart, "--version", "1.2.3", "--plain-http")
    assert pulled.returncode == 0, pulled.stderr
    assert digest in pulled.stderr  # helm reports the manifest digest it pulled
    (config_map,) = yaml.safe_load_all(pulled.stdout)
    assert config_map["data"] == {"chartVersion": "1.2.3", "message": "over oci"}


def test_registry_refusals_are_clear_errors(oci_registry: OciRegistry) -> None:
    missing = {"mediaType": OCI_MANIFEST, "digest": "sha256:" + "0" * 64, "size": 2}
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": missing, "layers": []}
    with pytest.raises(ServiceError, match=r"put manifest svc/broken:v1 answered 400: .*BLOB_UNKNOWN"):
        oci_registry.push_manifest("svc/broken", "v1", manifest)
    with pytest.raises(ServiceError, match="unsupported media_type"):
        oci_registry.push_image("svc/broken", "v1", media_type="application/json")
