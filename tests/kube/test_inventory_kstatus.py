"""Inventory ids and kstatus rules: pure functions, checked against Flux's documented examples."""

from __future__ import annotations

import pytest

from airflow_flux_provider.kube import ObjectKey
from airflow_flux_provider.kube.inventory import Inventory, inventory_id, parse_id
from airflow_flux_provider.kube.kstatus import Status, compute


@pytest.mark.parametrize(
    ("key", "entry"),
    [
        (ObjectKey("v1", "Service", "default", "podinfo"), "default_podinfo__Service"),
        (ObjectKey("apps/v1", "Deployment", "default", "podinfo"), "default_podinfo_apps_Deployment"),
        (ObjectKey("v1", "Namespace", "", "my-ns"), "_my-ns__Namespace"),
        (
            ObjectKey("rbac.authorization.k8s.io/v1", "ClusterRole", "", "system:controller:foo"),
            "_system__controller__foo_rbac.authorization.k8s.io_ClusterRole",
        ),
    ],
)
def test_inventory_ids_round_trip_in_flux_format(key, entry):
    assert inventory_id(key) == entry
    assert parse_id(entry, key.api_version.rpartition("/")[2]) == key


def test_stale_ignores_api_version_changes():
    old = Inventory.of(
        [
            ObjectKey("autoscaling/v1", "HorizontalPodAutoscaler", "ml", "x"),
            ObjectKey("v1", "ConfigMap", "ml", "gone"),
        ]
    )
    new = Inventory.of([ObjectKey("autoscaling/v2", "HorizontalPodAutoscaler", "ml", "x")])
    assert old.stale(new) == [ObjectKey("v1", "ConfigMap", "ml", "gone")]


def _deployment(
    status: dict, *, generation: int = 1, replicas: int = 3, conditions: list | None = None
) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "trainer", "namespace": "ml", "generation": generation},
        "spec": {"replicas": replicas, "progressDeadlineSeconds": 600},
        "status": {"observedGeneration": 1, "conditions": conditions or [], **status},
    }


def test_deployment_rules():
    available = [
        {"type": "Available", "status": "True"},
        {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
    ]
    full = {"replicas": 3, "updatedReplicas": 3, "availableReplicas": 3, "readyReplicas": 3}
    assert compute(_deployment(full, conditions=available)).status == Status.CURRENT
    assert compute(_deployment(full, generation=2, conditions=available)).status == Status.IN_PROGRESS
    partial = compute(_deployment({**full, "availableReplicas": 1, "readyReplicas": 1}, conditions=available))
    assert (partial.status, partial.message) == (Status.IN_PROGRESS, "Available: 1/3")
    stuck = compute(
        _deployment(
            {"replicas": 3, "updatedReplicas": 3, "availableReplicas": 1},
            conditions=[{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}],
        )
    )
    assert stuck.status == Status.FAILED
    assert "1/3 replicas available, ProgressDeadlineExceeded" in stuck.message


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "status": {"conditions": [{"type": "Complete", "status": "True"}]},
            },
            Status.CURRENT,
        ),
        (
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "status": {"conditions": [{"type": "Failed", "status": "True"}]},
            },
            Status.FAILED,
        ),
        ({"apiVersion": "batch/v1", "kind": "Job", "status": {}}, Status.IN_PROGRESS),
        (
            {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "status": {"phase": "Pending"}},
            Status.IN_PROGRESS,
        ),
        ({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "status": {"phase": "Bound"}}, Status.CURRENT),
        ({"apiVersion": "v1", "kind": "Service", "spec": {"type": "LoadBalancer"}}, Status.IN_PROGRESS),
        (
            {"apiVersion": "v1", "kind": "Service", "spec": {"type": "ClusterIP", "clusterIP": "10.0.0.1"}},
            Status.CURRENT,
        ),
        (
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
            },
            Status.CURRENT,
        ),
        (
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "status": {
                    "phase": "Running",
                    "containerStatuses": [
                        {"name": "a", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
                    ],
                },
            },
            Status.FAILED,
        ),
        (
            {
                "apiVersion": "example.com/v1",
                "kind": "Widget",
                "status": {"conditions": [{"type": "Ready", "status": "False", "message": "warming up"}]},
            },
            Status.IN_PROGRESS,
        ),
        (
            {
                "apiVersion": "example.com/v1",
                "kind": "Widget",
                "status": {"conditions": [{"type": "Stalled", "status": "True", "message": "broken"}]},
            },
            Status.FAILED,
        ),
        (
            {
                "apiVersion": "example.com/v1",
                "kind": "Widget",
                "metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"},
            },
            Status.TERMINATING,
        ),
        ({"apiVersion": "v1", "kind": "ConfigMap"}, Status.CURRENT),
    ],
)
def test_kstatus_table(obj, expected):
    assert compute(obj).status == expected


def test_missing_object_is_not_found():
    assert compute(None).status == Status.NOT_FOUND
