"""The request path of :class:`Cluster`: what it sends, and the errors a caller can act on."""

from __future__ import annotations

import datetime
import gc
import socket

import pytest
from kubernetes import client

from airflow_flux_provider.kube import Cluster, ObjectKey
from airflow_flux_provider.kube.cluster import KubeError


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
