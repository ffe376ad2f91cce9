from __future__ import annotations

from typing import Any

import pytest

from airflow_flux_provider.kube import Cluster
from airflow_flux_provider.kube.reconcile import KustomizationTarget


@pytest.fixture
def cluster(sandbox) -> Cluster:
    return Cluster.from_kubeconfig(str(sandbox.kubeconfig), backoff_seconds=0.05)


def kustomization_target(name: str, namespace: str, **kwargs: Any) -> KustomizationTarget:
    """A target with its Kustomization manifest: the object its status is saved on."""
    manifest = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "interval": "10m",
            "prune": kwargs.get("prune", False),
            "sourceRef": {"kind": "GitRepository", "name": name},
        },
    }
    return KustomizationTarget(name=name, namespace=namespace, manifest=manifest, **kwargs)
