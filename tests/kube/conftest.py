from __future__ import annotations

import pytest

from airflow_flux_provider.kube import Cluster


@pytest.fixture
def cluster(sandbox) -> Cluster:
    return Cluster.from_kubeconfig(str(sandbox.kubeconfig), backoff_seconds=0.05)
