"""Bucket sources against the real local S3 server (SeaweedFS, SigV4)."""

from __future__ import annotations

import functools
import http.server
import socket
import ssl
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from airflow_flux_provider.credentials import Credentials
from airflow_flux_provider.sources.artifacts import ArtifactStore
from airflow_flux_provider.sources.bucket import (
    BucketAuthError,
    BucketSource,
    BucketUnreachableError,
    bucket_revision,
)
from airflow_flux_provider.sources.errors import ArtifactTooLargeError, SourceError, UnsafeArchiveError
from airflow_flux_provider.specs import parse_object
from flux_devkit.sandbox.certs import generate
from flux_devkit.services.s3 import S3Server

OBJ = "Bucket/flux-system/models"


def _bucket(s3: S3Server, objects: dict[str, bytes]) -> str:
    return s3.create_bucket(f"b-{uuid.uuid4().hex[:12]}", objects)


def _source(s3: S3Server, name: str, **kwargs: Any) -> BucketSource:
    creds = kwargs.pop("credentials", Credentials(username=s3.access_key, password=s3.secret_key))
    endpoint = s3.endpoint.removeprefix("http://")
    return BucketSource(
        name, endpoint, obj="Bucket/flux-system/models", insecure=True, credentials=creds, **kwargs
    )


def _files(store: ArtifactStore, artifact: Any, dest: Path) -> dict[str, bytes]:
    root = store.extract(artifact, dest)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_fetch_stores_content_with_flux_revision(s3_server: S3Server, tmp_path: Path) -> None:
    name = _bucket(s3_server, {"apps/app.yaml": b"kind: ConfigMap\n", "model.bin": b"\x00\x01"})
    store = ArtifactStore(str(tmp_path / "store"))
    fetched = _source(s3_server, name).fetch(store)
    assert fetched.changed
    listed = s3_server.client().list_objects_v2(Bucket=name)["Contents"]
    expected = bucket_revision({o["Key"]: o["ETag"].strip('"') for o in listed})
    assert fetched.artifact.revision == expected
    assert fetched.artifact.source == "Bucket/flux-system/models"
    assert _files(store, fetched.artifact, tmp_path / "out") == {
        "apps/app.yaml": b"kind: ConfigMap\n",
        "model.bin": b"\x00\x01",
    }


def test_unchanged_bucket_is_not_downloaded_again_and_a_change_is_seen(
    s3_server: S3Server, tmp_path: Path
) -> None:
    name = _bucket(s3_server, {"a.yaml": b"a: 1\n"})
    store = ArtifactStore(str(tmp_path / "store"))
    source = _source(s3_server, name)
    first = source.fetch(store)
    second = source.fetch(store)
    assert not second.changed and second.artifact == first.artifact
    s3_server.client().put_object(Bucket=name, Key="a.yaml", Body=b"a: 2\n")
    third = source.fetch(store)
    assert third.changed and third.artifact.revision != first.artifact.revision
    assert _files(store, third.artifact, tmp_path / "out") == {"a.yaml": b"a: 2\n"}


def test_prefix_sourceignore_and_spec_ignore(s3_server: S3Server, tmp_path: Path) -> None:
    name = _bucket(
        s3_server,
        {
            ".sourceignore": b"*.tmp\n",
            "prod/app.yaml": b"x",
            "prod/scratch.tmp": b"x",
            "prod/secret.env": b"x",
            "prod/photo.png": b"x",  # default exclusions do not apply to buckets
            "dev/app.yaml": b"x",
        },
    )
    store = ArtifactStore(str(tmp_path / "store"))
    fetched = _source(s3_server, name, prefix="prod/", ignore="*.env").fetch(store)
    assert set(_files(store, fetched.artifact, tmp_path / "out")) == {"prod/app.yaml", "prod/photo.png"}


def test_from_spec(s3_server: S3Server, tmp_path: Path) -> None:
    name = _bucket(s3_server, {"k.yaml": b"k"})
    bucket = parse_object(
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "Bucket",
            "metadata": {"name": "podinfo", "namespace": "apps"},
            "spec": {
                "bucketName": name,
                "endpoint": s3_server.endpoint.removeprefix("http://"),
                "insecure": True,
                "interval": "5m",
                "secretRef": {"name": "s3"},
            },
        }
    )
    creds = Credentials(username=s3_server.access_key, password=s3_server.secret_key)
    fetched = BucketSource.from_spec(bucket, creds).fetch(ArtifactStore(str(tmp_path / "store")))
    assert fetched.artifact.source == "Bucket/apps/podinfo"


def test_bad_credentials_never_show_the_secret(s3_server: S3Server, tmp_path: Path) -> None:
    name = _bucket(s3_server, {"a": b"a"})
    secret = "sup3r-s3cret-value"
    source = _source(s3_server, name, credentials=Credentials(username=s3_server.access_key, password=secret))
    with pytest.raises(BucketAuthError) as info:
        source.fetch(ArtifactStore(str(tmp_path / "store")))
    assert secret not in str(info.value)
    assert "Bucket/flux-system/models" in str(info.value) and "spec.secretRef" in str(info.value)


def test_missing_bucket(s3_server: S3Server, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="bucket 'no-such-bucket-here' not found"):
        _source(s3_server, "no-such-bucket-here").fetch(ArtifactStore(str(tmp_path / "store")))


def test_unreachable_endpoint(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    source = BucketSource("b", f"127.0.0.1:{port}", obj="Bucket/flux-system/models", insecure=True, timeout=2)
    with pytest.raises(BucketUnreachableError, match=r"cannot reach 127\.0\.0\.1"):
        source.fetch(ArtifactStore(str(tmp_path / "store")))


def test_oversize_bucket_is_refused_before_download(s3_server: S3Server, tmp_path: Path) -> None:
    name = _bucket(s3_server, {"big.bin": b"x" * 4096})
    store = ArtifactStore(str(tmp_path / "store"), max_size=1024)
    with pytest.raises(ArtifactTooLargeError, match=r"spec\.prefix"):
        _source(s3_server, name).fetch(store)
    assert store.latest("Bucket/flux-system/models") is None


def test_endpoint_with_scheme_is_refused() -> None:
    with pytest.raises(SourceError, match="without scheme"):
        BucketSource("b", "http://127.0.0.1:9000", obj="Bucket/flux-system/models")


def test_key_that_is_both_file_and_folder(s3_server: S3Server, tmp_path: Path) -> None:
    name = _bucket(s3_server, {"apps": b"file", "apps/app.yaml": b"x"})
    store = ArtifactStore(str(tmp_path / "store"))
    with pytest.raises(SourceError, match="is a file where key 'apps/app\\.yaml' needs a folder"):
        _source(s3_server, name).fetch(store)
    assert store.latest("Bucket/flux-system/models") is None
    fetched = _source(s3_server, name, ignore="/apps\n!/apps/").fetch(store)
    assert _files(store, fetched.artifact, tmp_path / "out") == {"apps/app.yaml": b"x"}


def test_anonymous_access_to_a_private_bucket(s3_server: S3Server, tmp_path: Path) -> None:
    name = _bucket(s3_server, {"a": b"a"})
    with pytest.raises(BucketAuthError, match=r"not public: set spec\.secretRef"):
        _source(s3_server, name, credentials=Credentials()).fetch(ArtifactStore(str(tmp_path / "store")))


def test_https_endpoint_verified_against_the_connection_ca(tmp_path: Path) -> None:
    """A TLS server on 127.0.0.1 (not S3: it answers 404): trusted with ca_cert, refused without."""
    serving = generate(tmp_path / "tls")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(serving.cert_path, serving.key_path)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"127.0.0.1:{server.server_address[1]}"
    store = ArtifactStore(str(tmp_path / "store"))
    try:
        trusted = Credentials(username="k", password="s", ca_cert=serving.ca_path.read_text())
        with pytest.raises(SourceError, match="bucket 'models' not found"):
            BucketSource("models", endpoint, obj="Bucket/flux-system/models", credentials=trusted).fetch(
                store
            )
        untrusted = BucketSource(
            "models", endpoint, obj="Bucket/flux-system/models", credentials=Credentials()
        )
        with pytest.raises(SourceError, match=r"TLS verification of 127\.0\.0\.1:\d+ failed"):
            untrusted.fetch(store)
    finally:
        server.shutdown()
        server.server_close()


def test_hostile_object_key_writes_nothing(s3_server: S3Server, tmp_path: Path) -> None:
    """Object keys pass the same entry checks as archive members (issue 16, finding 2); S3 servers
    normalise '/' and '..' themselves, a component over NAME_MAX reaches us as is."""
    name = _bucket(s3_server, {"x" * 300 + "/model.bin": b"x", "ok.yaml": b"a: 1\n"})
    store = ArtifactStore(str(tmp_path / "store"))
    with pytest.raises(UnsafeArchiveError, match=r"object key .* over 255 bytes") as info:
        _source(s3_server, name).fetch(store)
    assert info.value.obj == "Bucket/flux-system/models"
    assert store.latest("Bucket/flux-system/models") is None
