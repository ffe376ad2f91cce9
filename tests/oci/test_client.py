"""The registry client against a registry that lies: credentials, pagination and sizes it must not trust.

``HostileRegistry`` answers what each test routes (status, headers, a body or an endless
stream) and records every request with its Authorization header and how many body bytes
it managed to send before the client hung up.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from airflow_flux_provider.credentials import Credentials
from airflow_flux_provider.oci.client import Descriptor, RegistryClient, same_site
from airflow_flux_provider.oci.errors import RegistryAuthError, RegistryError, RegistryTooLargeError
from airflow_flux_provider.oci.reference import ImageReference
from airflow_flux_provider.sources.artifacts import ArtifactStore
from airflow_flux_provider.sources.errors import ArtifactTooLargeError
from airflow_flux_provider.sources.oci import OCIRef, OCISource

CHUNK = b"\0" * (1 << 16)
CREDS = Credentials(username="robot", password="registry-secret")


@dataclass
class Route:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Callable[[], Iterator[bytes]] = b""


@dataclass
class HostileRegistry:
    host: str
    routes: dict[str, Route] = field(default_factory=dict)
    seen: list[tuple[str, str]] = field(default_factory=list)  # (path, Authorization)
    sent: dict[str, int] = field(default_factory=dict)  # body bytes written per path

    def ref(self, repository: str = "app") -> ImageReference:
        return ImageReference.parse(f"{self.host}/{repository}")


def _endless(total: int) -> Callable[[], Iterator[bytes]]:
    def stream() -> Iterator[bytes]:
        for _ in range(total // len(CHUNK)):
            yield CHUNK

    return stream


@pytest.fixture
def servers() -> Iterator[tuple[HostileRegistry, HostileRegistry]]:
    """The registry on 127.0.0.1 and, as "another host", a second server reached as localhost."""
    made: list[http.server.ThreadingHTTPServer] = []
    registries = []
    for host in ("127.0.0.1", "localhost"):
        registry = HostileRegistry("")

        class Handler(http.server.BaseHTTPRequestHandler):
            state = registry

            def do_HEAD(self) -> None:
                self._answer(head=True)

            def do_GET(self) -> None:
                self._answer(head=False)

            def _answer(self, *, head: bool) -> None:
                path = urlsplit(self.path).path
                self.state.seen.append((path, self.headers.get("Authorization", "")))
                route = self.state.routes.get(path, Route(404, body=b'{"errors":[{"code":"NAME_UNKNOWN"}]}'))
                self.send_response(route.status)
                for key, value in route.headers.items():
                    self.send_header(key, value)
                if isinstance(route.body, bytes):
                    self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                if head:
                    return
                chunks = [route.body] if isinstance(route.body, bytes) else route.body()
                try:
                    for chunk in chunks:  # counted before the write, which the client may cut short
                        self.state.sent[path] = self.state.sent.get(path, 0) + len(chunk)
                        self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        registry.host = f"{host}:{server.server_address[1]}"
        made.append(server)
        registries.append(registry)
    yield registries[0], registries[1]
    for server in made:
        server.shutdown()
        server.server_close()


def _client(**kwargs: object) -> RegistryClient:
    return RegistryClient(CREDS, insecure=True, timeout=10, obj="ImageRepository/flux-system/app", **kwargs)  # type: ignore[arg-type]


def test_credentials_never_go_to_a_token_realm_on_another_site(
    servers: tuple[HostileRegistry, HostileRegistry],
) -> None:
    registry, elsewhere = servers
    challenge = f'Bearer realm="http://{elsewhere.host}/token",service="registry"'
    registry.routes["/v2/app/tags/list"] = Route(401, {"WWW-Authenticate": challenge})
    elsewhere.routes["/token"] = Route(200, {"Content-Type": "application/json"}, b'{"token": "t"}')
    with _client() as client, pytest.raises(RegistryAuthError, match="another site") as info:
        client.list_tags(registry.ref())
    assert info.value.field == "spec.secretRef" and "registry-secret" not in str(info.value)
    assert elsewhere.seen == []
    # Anonymous clients have nothing to leak: the token is fetched and used.
    registry.routes["/v2/app/tags/list"] = Route(401, {"WWW-Authenticate": challenge})
    with (
        RegistryClient(insecure=True, timeout=10) as anonymous,
        pytest.raises(RegistryAuthError, match="401"),
    ):
        anonymous.list_tags(registry.ref())
    assert elsewhere.seen == [("/token", "")]


def test_pagination_never_leaves_the_registry(servers: tuple[HostileRegistry, HostileRegistry]) -> None:
    registry, elsewhere = servers
    link = f'<http://{elsewhere.host}/v2/app/tags/list?last=a>; rel="next"'
    registry.routes["/v2/app/tags/list"] = Route(200, {"Link": link}, json.dumps({"tags": ["a"]}).encode())
    with _client() as client, pytest.raises(RegistryError, match="next page is on another host"):
        client.list_tags(registry.ref())
    assert elsewhere.seen == []
    registry.routes["/v2/app/tags/list"] = Route(200, {}, b"[" * 100_000)  # nesting past Python's recursion
    with _client() as client, pytest.raises(RegistryError, match="not JSON"):
        client.list_tags(registry.ref())


def test_blobs_are_measured_while_they_stream(
    servers: tuple[HostileRegistry, HostileRegistry], tmp_path: Path
) -> None:
    """Issue 16 finding 12: a layer that is larger than declared stops downloading at the limit."""
    registry, _ = servers
    blob = Descriptor(FLUX_CONTENT, "sha256:" + "0" * 64, 100)
    manifest = {
        "schemaVersion": 2,
        "layers": [{"mediaType": blob.media_type, "digest": blob.digest, "size": 100}],
    }
    body = json.dumps(manifest).encode()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    for reference in ("v1", digest):
        headers = {"Docker-Content-Digest": digest}
        registry.routes[f"/v2/app/manifests/{reference}"] = Route(200, headers, body)
    registry.routes[f"/v2/app/blobs/{blob.digest}"] = Route(200, {}, _endless(1 << 30))
    store = ArtifactStore(str(tmp_path / "store"), max_size=1 << 20)
    source = OCISource(
        f"oci://{registry.host}/app", obj="OCIRepository/flux-system/app", ref=OCIRef(tag="v1"), insecure=True
    )
    with pytest.raises(ArtifactTooLargeError, match="more than the 100 bytes its descriptor declares"):
        source.fetch(store)
    assert store.latest("OCIRepository/flux-system/app") is None
    assert registry.sent[f"/v2/app/blobs/{blob.digest}"] < 64 << 20  # of the 1 GiB offered

    with _client() as client, pytest.raises(RegistryTooLargeError, match="over the limit of 50"):
        client.blob(registry.ref(), blob, limit=50)  # declared too large: not even requested
    assert sum(path.endswith(blob.digest) for path, _ in registry.seen) == 1


def test_manifests_and_token_answers_are_capped(servers: tuple[HostileRegistry, HostileRegistry]) -> None:
    registry, _ = servers
    registry.routes["/v2/app/manifests/v1"] = Route(200, {}, _endless(1 << 30))
    with _client() as client, pytest.raises(RegistryTooLargeError, match="more than the limit"):
        client.manifest(registry.ref().at("v1"))
    assert registry.sent["/v2/app/manifests/v1"] < 64 << 20
    challenge = f'Bearer realm="http://{registry.host}/token",service="registry"'
    registry.routes["/v2/app/tags/list"] = Route(401, {"WWW-Authenticate": challenge})
    registry.routes["/token"] = Route(200, {}, _endless(1 << 30))
    with _client() as client, pytest.raises(RegistryTooLargeError):
        client.list_tags(registry.ref())
    assert ("/token", "Basic cm9ib3Q6cmVnaXN0cnktc2VjcmV0") in registry.seen  # same host: credentials go


@pytest.mark.parametrize(
    ("registry", "realm", "same"),
    [
        ("ghcr.io", "ghcr.io", True),
        ("registry-1.docker.io", "auth.docker.io", True),
        ("registry.gitlab.com", "gitlab.com", True),
        ("reg.corp.example.com", "auth.corp.example.com", True),
        ("ghcr.io", "evil.io", False),
        ("registry.example.com", "example.com.evil.net", False),
        ("registry.example.com", "evilexample.com", False),
        ("127.0.0.1", "localhost", False),
        ("10.0.0.1", "10.0.0.2", False),
        ("[::1]", "::1", True),
    ],
)
def test_same_site(registry: str, realm: str, same: bool) -> None:
    assert same_site(registry, realm) is same


FLUX_CONTENT = "application/vnd.cncf.flux.content.v1.tar+gzip"
