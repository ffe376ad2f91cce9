"""Scanning the real docker-registry on 127.0.0.1 (basic auth), plus injected faults."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

from airflow_flux_provider.credentials import Credentials
from airflow_flux_provider.images.errors import ImageError
from airflow_flux_provider.images.registry import ScanResult, exclude, scan, tag_digest
from airflow_flux_provider.oci.client import RegistryClient
from airflow_flux_provider.oci.reference import ImageReference
from flux_devkit.services.registry import OciRegistry


@pytest.mark.parametrize(
    "image", ["ghcr.io/Org/App", "ghcr.io/org/app:1.0", "app//x", "", "https://ghcr.io/x"]
)
def test_bad_image_names(image: str) -> None:
    with pytest.raises(ImageError, match=r"spec\.image"):
        scan(image, obj="ImageRepository/flux-system/x")


def test_exclusion_list_defaults_to_signatures() -> None:
    tags = ["1.0.0", "sha256-abc.sig", "1.0.1", "sha256-abc.att"]
    assert exclude(tags, (r"^.*\.sig$",)) == ["1.0.0", "1.0.1", "sha256-abc.att"]
    assert exclude(tags, [r"\.(sig|att)$", "^1.0.0$"]) == ["1.0.1"]
    with pytest.raises(ImageError, match=r"spec\.exclusionList"):
        exclude(tags, ["("])


def _creds(registry: OciRegistry) -> Credentials:
    return Credentials(username=registry.username, password=registry.password)


def test_scan_with_basic_auth_and_pagination(oci_registry: OciRegistry) -> None:
    repo = "images-scan/app"
    for tag in ("1.0.0", "1.1.0", "2.0.0-rc.1", "sha256-1234.sig", "latest"):
        oci_registry.push_image(repo, tag)
    image = f"{oci_registry.host}/{repo}"
    result = scan(image, credentials=_creds(oci_registry), insecure=True)
    assert sorted(result.tags) == ["1.0.0", "1.1.0", "2.0.0-rc.1", "latest"]
    assert result.canonical == image
    with RegistryClient(_creds(oci_registry), insecure=True, page_size=2) as client:
        assert sorted(client.list_tags(ImageReference.parse(image))) == sorted(
            [*result.tags, "sha256-1234.sig"]
        )
    assert tag_digest(image, "1.1.0", credentials=_creds(oci_registry), insecure=True).startswith("sha256:")
    assert ScanResult.from_bytes(result.to_bytes()).tags == sorted(result.tags)


def test_registry_refusals_are_clear(oci_registry: OciRegistry) -> None:
    oci_registry.push_image("images-refusals/app", "1.0.0")
    image = f"{oci_registry.host}/images-refusals/app"
    wrong = Credentials(username="flux", password="not-the-password")
    with pytest.raises(ImageError) as info:
        scan(image, credentials=wrong, insecure=True, obj="ImageRepository/flux-system/app")
    message = str(info.value)
    assert message.startswith("ImageRepository/flux-system/app field spec.secretRef: ")
    assert "refused the tag list with 401" in message and "not-the-password" not in message
    with pytest.raises(ImageError, match=r"refused the tag list with 401.*set secretRef"):
        scan(image, insecure=True)
    with pytest.raises(ImageError, match=r"tag list not found \(404\).*NAME_UNKNOWN"):
        scan(f"{oci_registry.host}/images-refusals/missing", credentials=_creds(oci_registry), insecure=True)


@pytest.fixture
def faulty_server() -> Iterator[tuple[str, list[int]]]:
    """A local HTTP server answering the status codes queued in the returned list."""
    statuses: list[int] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(statuses.pop(0) if statuses else 200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"errors": [{"code": "UNAVAILABLE"}]}')

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}", statuses
    server.shutdown()


def test_server_errors_and_timeouts(faulty_server: tuple[str, list[int]]) -> None:
    host, statuses = faulty_server
    statuses.append(503)
    with pytest.raises(ImageError, match=r"answered 503 to the tag list \(UNAVAILABLE\); retry later"):
        scan(f"{host}/app", insecure=True)
    statuses.append(429)
    with pytest.raises(ImageError, match="rate-limited"):
        scan(f"{host}/app", insecure=True)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        with pytest.raises(ImageError, match=r"timed out after 0\.3s"):
            scan(f"127.0.0.1:{silent.getsockname()[1]}/app", insecure=True, timeout=0.3)
    finally:
        silent.close()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(ImageError, match="cannot reach"):
        scan(f"127.0.0.1:{port}/app", insecure=True)
