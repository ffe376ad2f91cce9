"""OCIRepository sources against the real docker-registry (htpasswd auth)."""

from __future__ import annotations

import io
import socket
import tarfile
import uuid
from pathlib import Path

import pytest

from airflow_flux_provider.credentials import Credentials
from airflow_flux_provider.sources.artifacts import ArtifactStore
from airflow_flux_provider.sources.errors import (
    ArtifactTooLargeError,
    RevisionNotFoundError,
    SourceError,
    UnsafeArchiveError,
)
from airflow_flux_provider.sources.oci import OCIRef, OCISource
from airflow_flux_provider.specs import parse_object
from flux_devkit.services.registry import FLUX_CONTENT, OCI_MANIFEST, OciRegistry, targz

OBJ = "OCIRepository/flux-system/manifests"


def _repo() -> str:
    return f"flux/m-{uuid.uuid4().hex[:10]}"


def _source(reg: OciRegistry, repo: str, **kwargs: object) -> OCISource:
    creds = kwargs.pop("credentials", Credentials(username=reg.username, password=reg.password))
    return OCISource(f"oci://{reg.host}/{repo}", obj=OBJ, insecure=True, credentials=creds, **kwargs)  # type: ignore[arg-type]


def _manifest(reg: OciRegistry, repo: str, tag: str, layers: list[tuple[str, bytes]]) -> str:
    config = reg.push_blob(repo, b"{}")
    return reg.push_manifest(
        repo,
        tag,
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.cncf.flux.config.v1+json", "digest": config, "size": 2},
            "layers": [
                {"mediaType": kind, "digest": reg.push_blob(repo, data), "size": len(data)}
                for kind, data in layers
            ],
        },
    )


def _files(store: ArtifactStore, fetched: object, dest: Path) -> dict[str, bytes]:
    root = store.extract(fetched.artifact, dest)  # type: ignore[attr-defined]
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(str(tmp_path / "store"))


def test_tag_ref_pulls_the_layer_with_flux_revision(
    oci_registry: OciRegistry, store: ArtifactStore, tmp_path: Path
) -> None:
    repo = _repo()
    digest = oci_registry.push_artifact(
        repo, "v1", {"deploy/app.yaml": b"kind: Service\n", "logo.png": b"png"}
    )
    fetched = _source(oci_registry, repo, ref=OCIRef(tag="v1")).fetch(store)
    assert fetched.changed and fetched.artifact.revision == f"v1@{digest}"
    # default exclusions apply to OCI content, as for Git
    assert _files(store, fetched, tmp_path / "out") == {"deploy/app.yaml": b"kind: Service\n"}


def test_default_ref_is_latest_and_unchanged_is_detected(
    oci_registry: OciRegistry, store: ArtifactStore
) -> None:
    repo = _repo()
    oci_registry.push_artifact(repo, "latest", {"a.yaml": b"a: 1\n"})
    source = _source(oci_registry, repo)
    first = source.fetch(store)
    again = source.fetch(store)
    assert first.artifact.revision.startswith("latest@sha256:")
    assert not again.changed and again.artifact == first.artifact
    oci_registry.push_artifact(repo, "latest", {"a.yaml": b"a: 2\n"})
    assert source.fetch(store).changed


def test_semver_with_filter_and_digest_ref(oci_registry: OciRegistry, store: ArtifactStore) -> None:
    repo = _repo()
    for tag in ("1.0.0", "1.2.0", "1.3.0-rc.1", "2.0.0", "1.4.0-dev"):
        oci_registry.push_artifact(repo, tag, {"v.txt": tag.encode()})
    semver = _source(oci_registry, repo, ref=OCIRef(semver="1.x")).resolve()
    assert semver.revision.startswith("1.2.0@sha256:")
    filtered = _source(oci_registry, repo, ref=OCIRef(semver=">=1.0.0-0", semver_filter=r".*-dev$")).resolve()
    assert filtered.revision.startswith("1.4.0-dev@")
    pinned = oci_registry.push_artifact(repo, "pinned", {"v.txt": b"pinned"})
    fetched = _source(oci_registry, repo, ref=OCIRef(digest=pinned, tag="1.0.0")).fetch(store)
    assert fetched.artifact.revision == pinned


def test_layer_selection_and_copy(oci_registry: OciRegistry, store: ArtifactStore, tmp_path: Path) -> None:
    repo = _repo()
    second = targz({"second.yaml": b"2"})
    layers = [("application/vnd.example.other+gzip", targz({"first.yaml": b"1"})), (FLUX_CONTENT, second)]
    _manifest(oci_registry, repo, "multi", layers)
    chosen = _source(oci_registry, repo, ref=OCIRef(tag="multi"), media_type=FLUX_CONTENT, operation="copy")
    copied = chosen.fetch(store)
    assert store.get(copied.artifact.digest) == second
    other = ArtifactStore(str(tmp_path / "s2"))
    first = _source(oci_registry, repo, ref=OCIRef(tag="multi")).fetch(other)
    assert _files(other, first, tmp_path / "first") == {"first.yaml": b"1"}
    missing = _source(oci_registry, repo, ref=OCIRef(tag="multi"), media_type="application/x-none")
    with pytest.raises(SourceError, match="no layer of media type"):
        missing.fetch(ArtifactStore(str(tmp_path / "s3")))


def test_from_spec(oci_registry: OciRegistry, store: ArtifactStore) -> None:
    repo = _repo()
    oci_registry.push_artifact(repo, "6.0.0", {"k.yaml": b"k"})
    obj = parse_object(
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "OCIRepository",
            "metadata": {"name": "podinfo", "namespace": "apps"},
            "spec": {
                "url": f"oci://{oci_registry.host}/{repo}",
                "interval": "5m",
                "insecure": True,
                "ref": {"semver": ">=6.0.0"},
            },
        }
    )
    creds = Credentials(username=oci_registry.username, password=oci_registry.password)
    fetched = OCISource.from_spec(obj, creds).fetch(store)
    assert fetched.artifact.source == "OCIRepository/apps/podinfo"
    assert fetched.artifact.revision.startswith("6.0.0@sha256:")


def test_missing_tag_and_unmatched_semver(oci_registry: OciRegistry, store: ArtifactStore) -> None:
    repo = _repo()
    oci_registry.push_artifact(repo, "1.0.0", {"a": b"a"})
    with pytest.raises(RevisionNotFoundError, match="not found"):
        _source(oci_registry, repo, ref=OCIRef(tag="nope")).fetch(store)
    with pytest.raises(RevisionNotFoundError, match=r"no tag .* matches semver"):
        _source(oci_registry, repo, ref=OCIRef(semver=">=5.0.0")).fetch(store)
    with pytest.raises(SourceError, match=r"spec\.ref\.semver"):
        _source(oci_registry, repo, ref=OCIRef(semver="not-a-range")).fetch(store)


def test_bad_credentials_never_show_the_secret(oci_registry: OciRegistry, store: ArtifactStore) -> None:
    repo = _repo()
    oci_registry.push_artifact(repo, "latest", {"a": b"a"})
    secret = "wr0ng-registry-pass"
    with pytest.raises(SourceError) as info:
        _source(oci_registry, repo, credentials=Credentials(username="flux", password=secret)).fetch(store)
    assert "401" in str(info.value) and secret not in str(info.value) and OBJ in str(info.value)


def test_unreachable_registry(store: ArtifactStore) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(SourceError, match="cannot reach"):
        OCISource(f"oci://127.0.0.1:{port}/x/y", obj=OBJ, insecure=True, timeout=2).fetch(store)


def test_tar_slip_layer_is_refused_and_nothing_stored(
    oci_registry: OciRegistry, store: ArtifactStore
) -> None:
    repo = _repo()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("../../escape.yaml")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    _manifest(oci_registry, repo, "evil", [(FLUX_CONTENT, buf.getvalue())])
    with pytest.raises(UnsafeArchiveError):
        _source(oci_registry, repo, ref=OCIRef(tag="evil")).fetch(store)
    assert store.latest(OBJ) is None


def test_bad_url_and_digest() -> None:
    with pytest.raises(SourceError, match="oci://"):
        OCISource("https://ghcr.io/org/x", obj=OBJ)
    with pytest.raises(SourceError, match=r"spec\.ref\.digest"):
        OCISource("oci://ghcr.io/org/x", obj=OBJ, ref=OCIRef(digest="sha256:abc"))


def test_invalid_repository_name_names_the_url_field() -> None:
    expected = r"field spec\.url: url 'oci://ghcr\.io/Org/UPPER' is not a valid repository name"
    with pytest.raises(SourceError, match=expected):
        OCISource("oci://ghcr.io/Org/UPPER", obj=OBJ)


def test_oversize_layer_and_non_tar_layer(oci_registry: OciRegistry, tmp_path: Path) -> None:
    repo = _repo()
    oci_registry.push_artifact(repo, "big", {"blob.bin": bytes(range(256)) * 64})
    small = ArtifactStore(str(tmp_path / "small"), max_size=256)
    with pytest.raises(ArtifactTooLargeError, match="over the store limit of 256"):
        _source(oci_registry, repo, ref=OCIRef(tag="big")).fetch(small)
    assert small.latest(OBJ) is None
    _manifest(oci_registry, repo, "plain", [(FLUX_CONTENT, b"not a tarball")])
    store = ArtifactStore(str(tmp_path / "store"))
    with pytest.raises(SourceError, match=r"not a tar\+gzip archive"):
        _source(oci_registry, repo, ref=OCIRef(tag="plain")).fetch(store)
    copied = _source(oci_registry, repo, ref=OCIRef(tag="plain"), operation="copy").fetch(store)
    assert store.get(copied.artifact.digest) == b"not a tarball"


def test_anonymous_registry_needs_no_connection(
    oci_registry_anonymous: OciRegistry, store: ArtifactStore
) -> None:
    repo = _repo()
    digest = oci_registry_anonymous.push_artifact(repo, "v2", {"a.yaml": b"a"})
    source = OCISource(
        f"oci://{oci_registry_anonymous.host}/{repo}", obj=OBJ, ref=OCIRef(tag="v2"), insecure=True
    )
    assert source.fetch(store).artifact.revision == f"v2@{digest}"
