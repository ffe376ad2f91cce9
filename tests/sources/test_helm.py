"""Helm repositories and charts against the real chart repository, registry and a local HTTP server."""

from __future__ import annotations

import datetime
import functools
import hashlib
import http.server
import os
import re
import ssl
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from airflow_flux_provider.credentials import Credentials
from airflow_flux_provider.sources.artifacts import ArtifactStore
from airflow_flux_provider.sources.errors import ArtifactTooLargeError, RevisionNotFoundError, SourceError
from airflow_flux_provider.sources.helm import (
    HelmAuthError,
    HelmRepositorySource,
    HelmUnreachableError,
    chart_from_artifact,
    select_version,
)
from airflow_flux_provider.specs import parse_object
from flux_devkit.sandbox.certs import generate
from flux_devkit.services.chart_repo import ChartRepository
from flux_devkit.services.registry import OciRegistry

REPO = "HelmRepository/flux-system/charts"
CHART = "HelmChart/flux-system/app"


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(str(tmp_path / "store"))


@pytest.fixture
def static_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A plain HTTP server on 127.0.0.1 serving a folder: for broken repositories."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


def _name() -> str:
    return f"app-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("*", "1.10.0"),
        ("", "1.10.0"),
        ("^1.0", "1.10.0"),
        ("~1.2", "1.2.3"),
        ("1.2.x", "1.2.3"),
        (">=1.0.0 <1.3.0", "1.2.3"),
        (">=2.0.0-0", "2.0.0-rc.1"),
        ("1.2.3", "1.2.3"),
        ("1.0", "1.0"),  # an exact string match wins even when not a 3-part version
    ],
)
def test_select_version_follows_flux(version: str, expected: str) -> None:
    candidates = [(v, "") for v in ("1.0", "1.2.3", "1.10.0", "2.0.0-rc.1", "not-a-version")]
    assert select_version(candidates, "app", version, obj=CHART) == expected


def test_select_version_breaks_ties_by_created() -> None:
    candidates = [("1.0.0+a", "2024-01-01T00:00:00Z"), ("1.0.0+b", "2024-06-01T00:00:00Z")]
    assert select_version(candidates, "app", "*", obj=CHART) == "1.0.0+b"


def test_select_version_errors() -> None:
    expected = re.escape("no 'app' chart with version matching '>=3.0.0' found")
    with pytest.raises(RevisionNotFoundError, match=expected):
        select_version([("1.0.0", "")], "app", ">=3.0.0", obj=CHART)
    with pytest.raises(SourceError, match=r"spec\.version"):
        select_version([("1.0.0", "")], "app", "1.0.0p", obj=CHART)


def test_index_and_chart_from_http_repository(chart_repo: ChartRepository, store: ArtifactStore) -> None:
    name = _name()
    for v in ("0.1.0", "0.2.0", "0.3.0-beta.1"):
        tgz = chart_repo.add_chart(name, v)
    repo = HelmRepositorySource(chart_repo.url, obj=REPO)
    index = repo.fetch_index(store)
    served = (chart_repo.root / "index.yaml").read_bytes()
    assert index.changed and index.artifact.revision == f"sha256:{hashlib.sha256(served).hexdigest()}"
    assert repo.revision() == index.artifact.revision
    assert not repo.fetch_index(store).changed
    chart = repo.fetch_chart(store, name, "~0.x", obj=CHART)
    assert chart.changed and chart.artifact.revision == "0.2.0"
    assert store.get(chart.artifact.digest) == (chart_repo.root / f"{name}-0.2.0.tgz").read_bytes()
    assert not repo.fetch_chart(store, name, "~0.x", obj=CHART).changed
    pre = repo.fetch_chart(store, name, ">=0.3.0-0", obj=CHART)
    assert pre.artifact.revision == "0.3.0-beta.1"
    assert store.get(pre.artifact.digest) == tgz.read_bytes()
    with pytest.raises(RevisionNotFoundError, match=re.escape("version matching '9.9.9'")):
        repo.fetch_chart(store, name, "9.9.9", obj=CHART)
    with pytest.raises(RevisionNotFoundError):
        repo.fetch_chart(store, "no-such-chart", "*", obj=CHART)


def test_authenticated_repository(chart_repo_auth: ChartRepository, store: ArtifactStore) -> None:
    name = _name()
    chart_repo_auth.add_chart(name, "1.0.0")
    good = Credentials(username=chart_repo_auth.username, password=chart_repo_auth.password)
    fetched = HelmRepositorySource(chart_repo_auth.url, obj=REPO, credentials=good).fetch_chart(
        store, name, "*", obj=CHART
    )
    assert fetched.artifact.revision == "1.0.0"
    secret = "n0t-the-chart-password"
    bad = HelmRepositorySource(
        chart_repo_auth.url, obj=REPO, credentials=Credentials(username="flux", password=secret)
    )
    with pytest.raises(HelmAuthError) as info:
        bad.fetch_index(store)
    assert secret not in str(info.value) and REPO in str(info.value)
    with pytest.raises(HelmAuthError, match=re.escape("set spec.secretRef")):
        HelmRepositorySource(chart_repo_auth.url, obj=REPO).fetch_index(store)


def test_corrupt_index(static_server: tuple[str, Path], store: ArtifactStore) -> None:
    url, root = static_server
    (root / "index.yaml").write_text("apiVersion: v1\nentries: [unclosed\n")
    with pytest.raises(SourceError, match="not valid YAML at line"):
        HelmRepositorySource(url, obj=REPO).fetch_index(store)
    (root / "index.yaml").write_text("entries: {}\n")
    with pytest.raises(SourceError, match="has no apiVersion"):
        HelmRepositorySource(url, obj=REPO).fetch_index(store)
    assert store.latest(REPO) is None


def test_chart_digest_mismatch_is_refused(static_server: tuple[str, Path], store: ArtifactStore) -> None:
    url, root = static_server
    (root / "app-1.0.0.tgz").write_bytes(b"tampered")
    index = {
        "apiVersion": "v1",
        "entries": {"app": [{"version": "1.0.0", "urls": ["app-1.0.0.tgz"], "digest": "0" * 64}]},
    }
    (root / "index.yaml").write_text(yaml.safe_dump(index))
    with pytest.raises(SourceError, match="does not match the digest"):
        HelmRepositorySource(url, obj=REPO).fetch_chart(store, "app", "*", obj=CHART)
    assert store.latest(CHART) is None


def test_missing_index_and_unreachable(static_server: tuple[str, Path], store: ArtifactStore) -> None:
    url, _ = static_server
    with pytest.raises(SourceError, match=r"no index\.yaml .*404"):
        HelmRepositorySource(f"{url}/nothing", obj=REPO).fetch_index(store)
    with pytest.raises(HelmUnreachableError, match="cannot reach"):
        HelmRepositorySource("http://127.0.0.1:9/charts", obj=REPO, timeout=2).fetch_index(store)


def test_oci_chart_repository(
    oci_registry: OciRegistry, chart_repo: ChartRepository, store: ArtifactStore
) -> None:
    name = _name()
    prefix = f"charts-{uuid.uuid4().hex[:6]}"
    for v in ("1.0.0", "1.1.0", "2.0.0"):
        oci_registry.push_chart(prefix, chart_repo.add_chart(name, v))
    creds = Credentials(username=oci_registry.username, password=oci_registry.password)
    repo = HelmRepositorySource(
        f"oci://{oci_registry.host}/{prefix}", obj=REPO, credentials=creds, insecure=True
    )
    ranged = repo.fetch_chart(store, name, "<2.0.0", obj=CHART)
    assert ranged.artifact.revision == "1.1.0"
    assert store.get(ranged.artifact.digest) == (chart_repo.root / f"{name}-1.1.0.tgz").read_bytes()
    exact = repo.fetch_chart(store, name, "2.0.0", obj=CHART)
    assert exact.changed and exact.artifact.revision == "2.0.0"
    with pytest.raises(RevisionNotFoundError):
        repo.fetch_chart(store, name, ">=3.0.0", obj=CHART)
    with pytest.raises(SourceError, match=re.escape("no index.yaml")):
        repo.fetch_index(store)


def test_chart_from_git_artifact(tmp_path: Path, store: ArtifactStore) -> None:
    tree = tmp_path / "tree" / "charts" / "web"
    (tree / "templates").mkdir(parents=True)
    (tree / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 0.3.0\n")
    (tree / "templates" / "cm.yaml").write_text("kind: ConfigMap\n")
    git = store.put_directory(
        tmp_path / "tree", source="GitRepository/flux-system/repo", revision="main@sha1:" + "ab12" * 10
    )
    fetched = chart_from_artifact(store, git, "./charts/web", obj=CHART)
    assert fetched.changed and fetched.artifact.revision == "0.3.0"
    out = store.extract(fetched.artifact, tmp_path / "out")
    assert (out / "web" / "Chart.yaml").is_file() and (out / "web" / "templates" / "cm.yaml").is_file()
    assert not chart_from_artifact(store, git, "charts/web", obj=CHART).changed
    by_revision = chart_from_artifact(store, git, "charts/web", obj=CHART, reconcile_strategy="Revision")
    assert by_revision.artifact.revision == "0.3.0+ab12ab12ab12"
    with pytest.raises(SourceError, match=re.escape("no Chart.yaml")):
        chart_from_artifact(store, git, "charts/missing", obj=CHART)
    with pytest.raises(SourceError, match="leaves the source"):
        chart_from_artifact(store, git, "../etc", obj=CHART)


def test_from_spec(chart_repo: ChartRepository, store: ArtifactStore) -> None:
    obj = parse_object(
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "HelmRepository",
            "metadata": {"name": "podinfo", "namespace": "apps"},
            "spec": {"url": chart_repo.url, "interval": "5m"},
        }
    )
    fetched = HelmRepositorySource.from_spec(obj).fetch_index(store)
    assert fetched.artifact.source == "HelmRepository/apps/podinfo"


def _client_ca_and_cert(folder: Path) -> tuple[Path, str, str]:
    """A client CA (trusted by the server) and a client certificate + key it signed, as PEM."""
    now = datetime.datetime.now(datetime.UTC)

    def name(common_name: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    def build(subject: str, issuer: str, public: Any, signer: Any, ca: bool) -> x509.Certificate:
        return (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(name(issuer))
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(signer, hashes.SHA256())
        )

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = build("client-ca", "client-ca", ca_key.public_key(), ca_key, True)
    cert = build("flux-client", "client-ca", key.public_key(), ca_key, False)
    ca_path = folder / "client-ca.crt"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return ca_path, cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def test_tls_repository_with_ca_and_client_certificate(chart_repo: ChartRepository, tmp_path: Path) -> None:
    """certSecretRef: the server is verified against ca.crt and asks for a client certificate."""
    serving = generate(tmp_path / "server")
    client_ca, client_cert, client_key = _client_ca_and_cert(tmp_path)
    root = tmp_path / "www"
    root.mkdir()
    (root / "index.yaml").write_bytes((chart_repo.root / "index.yaml").read_bytes())
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(serving.cert_path, serving.key_path)
    context.load_verify_locations(client_ca)
    context.verify_mode = ssl.CERT_REQUIRED
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"https://127.0.0.1:{server.server_address[1]}"
    store = ArtifactStore(str(tmp_path / "store"))
    ca = serving.ca_path.read_text()
    try:
        full = Credentials(ca_cert=ca, client_cert=client_cert, client_key=client_key)
        fetched = HelmRepositorySource(url, obj=REPO, credentials=full).fetch_index(store)
        assert fetched.changed
        with pytest.raises(SourceError, match=r"spec\.certSecretRef") as info:
            HelmRepositorySource(url, obj=REPO).fetch_index(store)  # server not trusted
        assert "ca.crt" in str(info.value)
        with pytest.raises(SourceError) as info:
            HelmRepositorySource(url, obj=REPO, credentials=Credentials(ca_cert=ca)).fetch_index(store)
        assert client_key not in str(info.value)
    finally:
        server.shutdown()
        server.server_close()


def test_oversize_chart_is_refused(chart_repo: ChartRepository, tmp_path: Path) -> None:
    name = _name()
    chart_repo.add_chart(name, "1.0.0", values={"blob": os.urandom(10000).hex()})
    store = ArtifactStore(str(tmp_path / "store"), max_size=1024)
    with pytest.raises(ArtifactTooLargeError, match="larger than the limit of 1024 bytes"):
        HelmRepositorySource(chart_repo.url, obj=REPO).fetch_chart(store, name, "1.0.0", obj=CHART)
    assert store.latest(CHART) is None


def test_credentials_reach_another_host_only_with_pass_credentials(
    static_server: tuple[str, Path], chart_repo_auth: ChartRepository, tmp_path: Path
) -> None:
    """The index on one host lists a package on another (behind auth), as with a CDN split."""
    name = _name()
    tgz = chart_repo_auth.add_chart(name, "1.0.0")
    url, root = static_server
    entry = {
        "version": "1.0.0",
        "urls": [f"{chart_repo_auth.url}/{tgz.name}"],
        "digest": hashlib.sha256(tgz.read_bytes()).hexdigest(),
    }
    (root / "index.yaml").write_text(yaml.safe_dump({"apiVersion": "v1", "entries": {name: [entry]}}))
    creds = Credentials(username=chart_repo_auth.username, password=chart_repo_auth.password)
    store = ArtifactStore(str(tmp_path / "store"))
    with pytest.raises(HelmAuthError):
        HelmRepositorySource(url, obj=REPO, credentials=creds).fetch_chart(store, name, "*", obj=CHART)
    passing = HelmRepositorySource(url, obj=REPO, credentials=creds, pass_credentials=True)
    fetched = passing.fetch_chart(store, name, "*", obj=CHART)
    assert store.get(fetched.artifact.digest) == tgz.read_bytes()
