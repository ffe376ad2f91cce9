"""The request path of :class:`Cluster`: what it sends, and the errors a caller can act on."""

from __future__ import annotations

import datetime
import gc
import http.server
import select
import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest
from kubernetes import client

from airflow_flux_provider.kube import Cluster, ObjectKey
from airflow_flux_provider.kube.cluster import KubeError
from flux_devkit.sandbox import Sandbox


def test_an_unreachable_server_is_a_kube_error_naming_it() -> None:
    """Was urllib3's MaxRetryError, which no caller catches."""
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    configuration = client.Configuration()
    configuration.host = f"https://127.0.0.1:{port}"
    cluster = Cluster(client.ApiClient(configuration), retries=1, backoff_seconds=0.01)
    with pytest.raises(
        KubeError, match=rf"cannot reach the API server at https://127.0.0.1:{port}: .*refused"
    ):
        cluster.request("GET", "/api/v1")


def test_dates_in_a_body_are_sent_as_text(cluster: Cluster, sandbox_namespace: str) -> None:
    """YAML reads an unquoted ``2024-05-01`` as a date; it goes out as the text it was."""
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "dated", "namespace": sandbox_namespace},
            "data": {"released": datetime.date(2024, 5, 1)},
        }
    )
    live = cluster.get(ObjectKey("v1", "ConfigMap", sandbox_namespace, "dated"))
    assert live is not None and live["data"] == {"released": "2024-05-01"}


@pytest.mark.parametrize("enabled", [True, False])
def test_the_garbage_collector_is_left_as_it_was(
    cluster: Cluster, sandbox_namespace: str, enabled: bool
) -> None:
    """Responses are decoded with the collector paused; after, it runs (or not) as before."""
    (gc.enable if enabled else gc.disable)()
    try:
        cluster.list("v1", "ConfigMap", namespace=sandbox_namespace)
        assert gc.isenabled() is enabled
    finally:
        gc.enable()


class _TunnelProxy(socketserver.ThreadingTCPServer):
    """An HTTP proxy that only tunnels (CONNECT), as corporate proxies in front of API servers do."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Tunnel)
        self.tunnels: list[str] = []


class _Tunnel(socketserver.StreamRequestHandler):
    server: _TunnelProxy

    def handle(self) -> None:
        method, target, _ = self.rfile.readline().decode().split(" ", 2)
        while self.rfile.readline() not in (b"\r\n", b""):
            pass
        if method != "CONNECT":
            self.wfile.write(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            return
        self.server.tunnels.append(target)
        host, _, port = target.rpartition(":")
        with socket.create_connection((host, int(port))) as upstream:
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            ends = {self.connection: upstream, upstream: self.connection}
            while True:
                ready, _, _ = select.select(list(ends), [], [], 30)
                data = ready[0].recv(65536) if ready else b""
                if not data:
                    return
                ends[ready[0]].sendall(data)


@pytest.fixture
def tunnel_proxy() -> Iterator[_TunnelProxy]:
    proxy = _TunnelProxy()
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    yield proxy
    proxy.shutdown()
    proxy.server_close()


def test_requests_go_through_the_kubeconfigs_proxy(sandbox: Sandbox, tunnel_proxy: _TunnelProxy) -> None:
    """``proxy-url``: HTTPS to the API server is tunnelled through the proxy (CONNECT)."""
    api_client = sandbox.api_client()
    api_client.configuration.proxy = f"http://127.0.0.1:{tunnel_proxy.server_address[1]}"
    proxied = Cluster(client.ApiClient(api_client.configuration))
    namespace = proxied.get(ObjectKey("v1", "Namespace", "", "default"))
    assert namespace is not None and namespace["metadata"]["name"] == "default"
    assert tunnel_proxy.tunnels == [sandbox.url.removeprefix("https://")]


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers every GET with an empty list and remembers the paths asked for."""

    paths: list[str] = []

    def do_GET(self) -> None:
        self.paths.append(self.path)
        body = b'{"kind": "List", "items": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_server_url_with_a_path_keeps_it_before_every_request() -> None:
    """A cluster behind a gateway (Rancher's ``/k8s/clusters/<id>``) is served under a path."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        configuration = client.Configuration()
        configuration.host = f"http://127.0.0.1:{server.server_address[1]}/k8s/clusters/c-1/"
        cluster = Cluster(client.ApiClient(configuration), retries=0)
        cluster.request("GET", "/api/v1/namespaces/default/configmaps", query=[("limit", 5)])
    finally:
        server.shutdown()
        server.server_close()
    assert _Recorder.paths == ["/k8s/clusters/c-1/api/v1/namespaces/default/configmaps?limit=5"]
