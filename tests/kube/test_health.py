"""Health checks read live objects as the apply does: one LIST per kind and namespace."""

from __future__ import annotations

import pytest

from airflow_flux_provider.kube import Cluster, KubeError, ObjectKey, health
from airflow_flux_provider.kube.apply import Applier
from flux_devkit.sandbox import Sandbox
from tests.sandbox.manifests import deployment


def _deployment(namespace: str, name: str) -> dict:
    body = deployment(name, {"name": "app", "image": "ghcr.io/company/app:1.0.0"}, replicas=1)
    body["metadata"]["namespace"] = namespace
    return body


def test_one_list_per_kind_and_namespace_a_get_for_a_single_object(
    sandbox: Sandbox, sandbox_namespace: str, cluster: Cluster
) -> None:
    apps = [_deployment(sandbox_namespace, f"app-{i}") for i in range(3)]
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    config["metadata"]["namespace"] = sandbox_namespace
    Applier(cluster).apply_all([*apps, config])
    keys = [ObjectKey.of(o) for o in [*apps, config]]
    missing = ObjectKey("apps/v1", "Deployment", sandbox_namespace, "missing")
    health.wait(cluster, keys, timeout=60, interval=0.2)
    sandbox.counters.reset()
    report = health.check(cluster, [*keys, missing])
    assert sandbox.counters.snapshot()["requests"] == {"list deployments": 1, "get configmaps": 1}
    assert {k.name: s.status for k, s in report.statuses.items()} == {
        "app-0": health.Status.CURRENT,
        "app-1": health.Status.CURRENT,
        "app-2": health.Status.CURRENT,
        "c": health.Status.CURRENT,
        "missing": health.Status.NOT_FOUND,
    }


def test_an_identity_that_may_not_list_is_checked_object_by_object(
    sandbox: Sandbox, sandbox_namespace: str, cluster: Cluster
) -> None:
    apps = [_deployment(sandbox_namespace, f"app-{i}") for i in range(2)]
    Applier(cluster).apply_all(apps)
    sandbox.faults.add(verb="list", resource="deployments", code=403, message="no list")
    report = health.check(cluster, [ObjectKey.of(o) for o in apps])
    assert [k.name for k in report.statuses] == ["app-0", "app-1"]
    assert sandbox.counters.get("get", "deployments") >= 2


def test_a_read_that_fails_is_raised_naming_what_was_read(
    sandbox: Sandbox, sandbox_namespace: str, cluster: Cluster
) -> None:
    apps = [_deployment(sandbox_namespace, f"app-{i}") for i in range(2)]
    Applier(cluster).apply_all(apps)
    sandbox.faults.add(verb="list", resource="deployments", code=400, message="bad selector")
    with pytest.raises(KubeError, match=r"^Deployment list: bad selector"):
        health.check(cluster, [ObjectKey.of(o) for o in apps])
