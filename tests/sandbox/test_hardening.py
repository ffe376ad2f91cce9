"""The sandbox API server as a listener strangers can reach (issue 16, finding 5): it answers as
the real API server does (401/400/413/415/403) and stays bounded in memory and threads."""

from __future__ import annotations

import json
import os
import socket
import ssl
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flux_devkit.sandbox import Sandbox
from flux_devkit.sandbox.certs import generate
from flux_devkit.sandbox.server import ApiServer
from flux_devkit.sandbox.store import Store
from tests.sandbox.test_http import call

pytestmark = pytest.mark.timeout(120)


def _exchange(port: int, ca: Path, data: bytes, *, wait: float = 10.0) -> bytes:
    """Send raw bytes over TLS and read what comes back until the server closes or ``wait`` passes."""
    context = ssl.create_default_context(cafile=str(ca))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=wait) as sock,
        context.wrap_socket(sock, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(data)
        answer = b""
        while chunk := tls.recv(65536):  # one answer: headers, then Content-Length bytes
            answer += chunk
            head, sep, body = answer.partition(b"\r\n\r\n")
            length = next(
                (
                    int(h.split(b":")[1])
                    for h in head.split(b"\r\n")
                    if h.lower().startswith(b"content-length:")
                ),
                0,
            )
            if sep and len(body) >= length:
                break
        return answer


def _port(sandbox: Sandbox) -> int:
    return int(sandbox.url.rsplit(":", 1)[1])


def _ca(sandbox: Sandbox) -> Path:
    return sandbox.directory / "pki" / "ca.crt"


def _request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_a_stranger_gets_401_before_the_body_is_read(sandbox: Sandbox) -> None:
    """A request announcing 3 MB with a wrong token is answered at once: nothing is buffered for it."""
    head = _request(
        "POST", "/api/v1/namespaces", {"Authorization": "Bearer wrong", "Content-Length": "3000000"}
    )
    answer = _exchange(_port(sandbox), _ca(sandbox), head)
    assert answer.startswith(b"HTTP/1.1 401")
    assert b"Connection: close" in answer  # the unread body must not be taken for a request


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Length": "-1"},
        {"Content-Length": "abc"},
        {"Content-Length": "1e3"},
        {"Content-Length": "5", "Transfer-Encoding": "chunked"},
    ],
    ids=["negative", "text", "float", "with-chunked"],
)
def test_bad_content_length_is_400(sandbox: Sandbox, headers: dict[str, str]) -> None:
    auth = {"Authorization": f"Bearer {sandbox.token}", "Content-Type": "application/json"}
    answer = _exchange(
        _port(sandbox), _ca(sandbox), _request("POST", "/api/v1/namespaces", {**auth, **headers})
    )
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b"Content-Length" in answer


def test_bad_chunk_size_is_400(sandbox: Sandbox) -> None:
    auth = {"Authorization": f"Bearer {sandbox.token}", "Transfer-Encoding": "chunked"}
    answer = _exchange(_port(sandbox), _ca(sandbox), _request("POST", "/api/v1/namespaces", auth, b"zz\r\n"))
    assert answer.startswith(b"HTTP/1.1 400") and b"chunk size" in answer


def test_a_client_expecting_100_continue_gets_it_before_it_sends_the_body(
    sandbox: Sandbox, sandbox_namespace: str
) -> None:
    """Answers are buffered (headers and body leave together); the interim 100 must not wait there."""
    body = b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "expecting"}}'
    headers = {
        "Authorization": f"Bearer {sandbox.token}",
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        "Expect": "100-continue",
    }
    context = ssl.create_default_context(cafile=str(_ca(sandbox)))
    with (
        socket.create_connection(("127.0.0.1", _port(sandbox)), timeout=10) as sock,
        context.wrap_socket(sock, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(_request("POST", f"/api/v1/namespaces/{sandbox_namespace}/configmaps", headers))
        assert tls.recv(1024).startswith(b"HTTP/1.1 100 Continue")  # a socket timeout if still buffered
        tls.sendall(body)
        assert tls.recv(65536).startswith(b"HTTP/1.1 201")


def test_the_root_path_lists_paths(sandbox: Sandbox) -> None:
    code, body = call(sandbox, "GET", "/")
    assert code == 200 and "/apis" in body["paths"]
    assert call(sandbox, "GET", "/", token="wrong")[0] == 401


@pytest.mark.parametrize("depth", [150, 5000])
def test_deeply_nested_bodies_are_400(sandbox: Sandbox, depth: int) -> None:
    data = '{"a":' * depth + "1" + "}" * depth
    body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "deep"}})
    body = body[:-1] + ', "x": ' + data + "}"
    code, answer = call(sandbox, "POST", "/api/v1/namespaces/default/configmaps", body.encode())
    assert code == 400, answer
    assert "nested deeper than 100 levels" in answer["message"]


def test_a_yaml_alias_bomb_is_refused_not_stored(sandbox: Sandbox) -> None:
    lines = [
        "apiVersion: v1",
        "kind: ConfigMap",
        "metadata: {name: bomb}",
        'a: &a ["x","x","x","x","x","x","x","x","x"]',
    ]
    for this, prev in zip("bcdefghi", "abcdefgh", strict=True):
        lines.append(
            f"{this}: &{this} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]"
        )
    lines.append("data: {k: v}")
    bomb = "\n".join(lines).encode()
    assert len(bomb) < 600  # stands for 9**9 (387 million) strings
    code, answer = call(
        sandbox, "POST", "/api/v1/namespaces/default/configmaps", bomb, content_type="application/yaml"
    )
    assert code == 400 and "excessive aliasing" in answer["message"]
    assert call(sandbox, "GET", "/api/v1/namespaces/default/configmaps/bomb")[0] == 404


@pytest.mark.parametrize("content_type", ["text/html", "text/plain", "application/x-www-form-urlencoded"])
def test_unknown_media_types_are_415(sandbox: Sandbox, content_type: str) -> None:
    body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "html"}}).encode()
    code, answer = call(
        sandbox, "POST", "/api/v1/namespaces/default/configmaps", body, content_type=content_type
    )
    assert code == 415, answer
    assert "accepted media types include: application/json" in answer["message"]


def test_access_review_of_a_non_resource_url_is_judged_by_rbac(
    sandbox: Sandbox, sandbox_namespace: str
) -> None:
    def review(user: str) -> bool:
        spec = {"user": user, "nonResourceAttributes": {"path": "/metrics", "verb": "get"}}
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}
        code, answer = call(
            sandbox, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", json.dumps(body).encode()
        )
        assert code == 201, answer
        return bool(answer["status"]["allowed"])

    user = f"scraper-{sandbox_namespace}"
    assert not review(user)  # always True before: any non-resource review was allowed
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    role = {"metadata": {"name": user}, "rules": [{"verbs": ["get"], "nonResourceURLs": ["/metrics"]}]}
    binding = {
        "metadata": {"name": user},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": user},
        "subjects": [{"kind": "User", "name": user}],
    }
    for plural, kind, obj in (
        ("clusterroles", "ClusterRole", role),
        ("clusterrolebindings", "ClusterRoleBinding", binding),
    ):
        created = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, **obj}
        assert call(sandbox, "POST", f"{rbac}/{plural}", json.dumps(created).encode())[0] == 201
    try:
        assert review(user)
    finally:
        call(sandbox, "DELETE", f"{rbac}/clusterrolebindings/{user}")
        call(sandbox, "DELETE", f"{rbac}/clusterroles/{user}")


def test_impersonating_a_group_without_a_user_is_403(sandbox: Sandbox) -> None:
    head = _request(
        "GET",
        "/api/v1/namespaces",
        {"Authorization": f"Bearer {sandbox.token}", "Impersonate-Group": "system:masters"},
    )
    answer = _exchange(_port(sandbox), _ca(sandbox), head)
    assert answer.startswith(b"HTTP/1.1 403") and b"without impersonating a user" in answer


def test_the_state_file_is_private(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    Store().save(state)
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


@pytest.fixture
def small_server(tmp_path: Path) -> Iterator[tuple[ApiServer, Path]]:
    """A server of its own with a 1 s idle timeout and room for 4 connections."""
    pki = generate(tmp_path / "pki")
    server = ApiServer(
        token="t", cert_path=pki.cert_path, key_path=pki.key_path, max_connections=4, idle_timeout=1.0
    )
    server.start()
    yield server, pki.ca_path
    server.stop()


def test_idle_connections_are_closed(small_server: tuple[ApiServer, Path]) -> None:
    server, ca = small_server
    context = ssl.create_default_context(cafile=str(ca))
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock,
        context.wrap_socket(sock, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(b"GET /readyz HTTP/1.1\r\n")  # and then nothing: a slow-loris client
        assert tls.recv(1024) == b""  # closed by the server, not by our 30 s


def test_connections_beyond_the_cap_are_dropped_and_the_server_recovers(
    small_server: tuple[ApiServer, Path],
) -> None:
    server, ca = small_server
    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(4)]
    time.sleep(0.3)  # let the server take them (a wait for a state change, not a timing assert)
    try:
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            _exchange(server.port, ca, b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n", wait=5)
    finally:
        for sock in idle:
            sock.close()
    deadline = time.monotonic() + 30
    while True:  # the idle timeout frees the slots
        try:
            assert _exchange(server.port, ca, b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n").startswith(
                b"HTTP/1.1 200"
            )
            break
        except (ssl.SSLError, ConnectionError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert os.getpid()  # the test process itself survived everything above
