"""Garbage collection of objects that left the inventory, against the sandbox."""

from __future__ import annotations

import contextlib
from typing import Any

from airflow_flux_provider.kube import Cluster, KubeError, ObjectKey
from airflow_flux_provider.kube.apply import Action
from airflow_flux_provider.kube.prune import prune
from flux_devkit.sandbox import Sandbox

OWNER = {"kustomize.toolkit.fluxcd.io/name": "apps", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}


def configmap(namespace: str, name: str, labels: dict[str, str], **annotations: str) -> dict[str, Any]:
    meta = {"name": name, "namespace": namespace, "labels": labels, "annotations": annotations}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": "v"}}


def test_only_objects_still_carrying_every_owner_label_are_deleted(
    sandbox_namespace: str, cluster: Cluster
) -> None:
    ns = sandbox_namespace
    objects = [
        configmap(ns, "owned", OWNER),
        configmap(ns, "relabelled", {**OWNER, "kustomize.toolkit.fluxcd.io/name": "other"}),
        configmap(ns, "half", {"kustomize.toolkit.fluxcd.io/name": "apps"}),
        configmap(ns, "kept", OWNER, **{"kustomize.toolkit.fluxcd.io/prune": "disabled"}),
        configmap(ns, "ignored", OWNER, **{"kustomize.toolkit.fluxcd.io/ssa": "Ignore"}),
    ]
    for obj in objects:
        cluster.apply(obj)
    keys = [ObjectKey.of(o) for o in objects]
    gone = ObjectKey.of(configmap(ns, "gone", OWNER))
    result = prune(cluster, [gone, *keys], OWNER)
    assert {k.name: a for k, a in ((c.key, c.action) for c in result.changes.changes)} == {
        "owned": Action.DELETED,
        "relabelled": Action.SKIPPED,
        "half": Action.SKIPPED,
        "kept": Action.SKIPPED,
        "ignored": Action.SKIPPED,
        "gone": Action.DELETED,  # already gone counts as deleted
    }
    assert result.failed == {}
    assert [k.name for k in keys if cluster.get(k) is not None] == ["relabelled", "half", "kept", "ignored"]


def test_dependents_go_before_what_they_depend_on(sandbox_namespace: str, cluster: Cluster) -> None:
    extra = f"{sandbox_namespace}-pruned"
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": extra, "labels": OWNER}}
    cluster.apply(namespace)
    members = [configmap(extra, name, OWNER) for name in ("a", "b")]
    for obj in members:
        cluster.apply(obj)
    stale = [ObjectKey.of(namespace), *(ObjectKey.of(o) for o in members)]
    try:
        result = prune(cluster, stale, OWNER)
    finally:  # gone whatever happened, so a rerun of this test (the mutation runner's) starts clean
        with contextlib.suppress(KubeError):
            cluster.delete(ObjectKey.of(namespace))
    assert [str(k) for k in result.changes.keys] == [
        f"ConfigMap/{extra}/b",
        f"ConfigMap/{extra}/a",
        f"Namespace/{extra}",
    ]


def test_kinds_no_longer_served_count_as_gone_and_failures_are_collected(
    sandbox: Sandbox, sandbox_namespace: str, cluster: Cluster
) -> None:
    unserved = ObjectKey.of(
        {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w", "namespace": sandbox_namespace},
        }
    )
    failing = configmap(sandbox_namespace, "failing", OWNER)
    cluster.apply(failing)
    sandbox.faults.add(verb="delete", resource="configmaps", code=403)
    result = prune(cluster, [unserved, ObjectKey.of(failing)], OWNER)
    assert [(c.key, c.action) for c in result.changes.changes] == [(unserved, Action.DELETED)]
    assert list(result.failed) == [ObjectKey.of(failing)]
    assert result.failed[ObjectKey.of(failing)]  # the API server's message, kept for the event
    assert cluster.get(ObjectKey.of(failing)) is not None  # kept in the inventory, retried next run
