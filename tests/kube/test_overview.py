"""What the Flux view reads from a cluster (kube/overview.py): rows, a HelmRelease's history, a
Kustomization's inventory, the dependsOn edges, and the two writes the flux CLI makes."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_flux_provider.helm.state import Action, HelmStatus, Snapshot
from airflow_flux_provider.kube import Cluster, ObjectKey, overview
from airflow_flux_provider.kube.inventory import Inventory
from airflow_flux_provider.kube.overview import OverviewError

HR = ObjectKey("helm.toolkit.fluxcd.io/v2", "HelmRelease", "", "web")
KS = ObjectKey("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "", "apps")


def _snapshot(version: int, status: HelmStatus, action: Action) -> dict[str, Any]:
    deployed = f"2026-01-0{version}T00:00:00Z"
    chart = ("podinfo", f"6.{version}.0", "sha256:c", "")
    snapshot = Snapshot(version, "web", "apps", *chart, status, action, f"6.{version}", deployed)
    return snapshot.to_status()


def _kustomization(namespace: str) -> dict[str, Any]:
    source = {"kind": "GitRepository", "name": "fleet"}
    return {
        "apiVersion": KS.api_version,
        "kind": "Kustomization",
        "metadata": {"name": "apps", "namespace": namespace},
        "spec": {"interval": "5m", "path": "./apps", "prune": True, "sourceRef": source},
    }


def _with_status(cluster: Cluster, key: ObjectKey, status: dict[str, Any]) -> None:
    live = cluster.get(key)
    assert live is not None
    info = cluster.resource(key.api_version, key.kind)
    cluster.request("PUT", info.path(key.namespace, key.name) + "/status", body={**live, "status": status})


@pytest.fixture
def cluster(sandbox: Any) -> Cluster:
    return Cluster.from_kubeconfig(str(sandbox.kubeconfig))


def test_rows_history_inventory_and_depends_on_come_from_the_objects(
    cluster: Cluster, sandbox_namespace: str
):
    ns = sandbox_namespace
    chart = {"spec": {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "charts"}}}
    release = {
        "apiVersion": HR.api_version,
        "kind": "HelmRelease",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {"interval": "5m", "chart": chart, "dependsOn": [{"name": "db"}]},
    }
    cluster.apply(release, force=True)
    ready = {"type": "Ready", "status": "False", "reason": "UpgradeFailed", "message": "boom",
             "lastTransitionTime": "2026-01-02T00:00:00Z"}  # fmt: skip
    history = [
        _snapshot(2, HelmStatus.FAILED, Action.UPGRADE),
        _snapshot(1, HelmStatus.SUPERSEDED, Action.INSTALL),
    ]
    key = ObjectKey(HR.api_version, "HelmRelease", ns, "web")
    _with_status(cluster, key, {"conditions": [ready], "history": history, "observedGeneration": 1})

    ks_key = ObjectKey(KS.api_version, "Kustomization", ns, "apps")
    cluster.apply(_kustomization(ns), force=True)
    inventory = Inventory.of([ObjectKey("v1", "ConfigMap", ns, "settings")]).to_entries()
    _with_status(
        cluster, ks_key, {"inventory": {"entries": inventory}, "lastAppliedRevision": "main@sha1:abc"}
    )

    rows = {row.ref: row for row in overview.list_objects(cluster) if row.namespace == ns}
    web = rows[f"HelmRelease/{ns}/web"]
    assert (web.ready, web.reason, web.message) == ("False", "UpgradeFailed", "boom")
    assert web.depends_on == (f"HelmRelease/{ns}/db",) and not web.suspended
    assert rows[f"Kustomization/{ns}/apps"].revision == "main@sha1:abc"

    detail = overview.object_detail(cluster, "HelmRelease", ns, "web")
    assert [(h.revision, h.status, h.detail) for h in detail.history] == [
        ("v2 podinfo@6.2.0", "failed", "upgrade, app 6.2"),
        ("v1 podinfo@6.1.0", "superseded", "install, app 6.1"),
    ]
    assert overview.object_detail(cluster, "Kustomization", ns, "apps").inventory == [
        f"ConfigMap/{ns}/settings"
    ]


def test_reconcile_now_and_suspend_are_the_flux_cli_writes(cluster: Cluster, sandbox_namespace: str):
    ns = sandbox_namespace
    cluster.apply(_kustomization(ns), force=True)
    stamp = overview.request_reconcile(cluster, "Kustomization", ns, "apps")
    overview.set_suspended(cluster, "Kustomization", ns, "apps", True)
    detail = overview.object_detail(cluster, "Kustomization", ns, "apps")
    assert detail.requested_at == stamp and detail.summary.suspended
    overview.set_suspended(cluster, "Kustomization", ns, "apps", False)
    assert not overview.object_detail(cluster, "Kustomization", ns, "apps").summary.suspended


def test_only_flux_kinds_in_the_cluster_are_shown(cluster: Cluster, sandbox_namespace: str):
    with pytest.raises(OverviewError, match="does not show 'Secret'"):
        overview.object_detail(cluster, "Secret", sandbox_namespace, "x")
    with pytest.raises(OverviewError, match=f"Canary/{sandbox_namespace}/missing: not found"):
        overview.object_detail(cluster, "Canary", sandbox_namespace, "missing")
    with pytest.raises(OverviewError):
        overview.set_suspended(cluster, "ConfigMap", sandbox_namespace, "x", True)
