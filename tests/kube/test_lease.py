"""Runs of one Kustomization take turns through its Lease (issue 16, finding 4): two interleaved runs
lose nothing and prune nothing wrongly; a live holder makes the other wait, a dead one's Lease expires."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_flux_provider.kube import Cluster, ObjectKey
from airflow_flux_provider.kube.lease import LeaseHeldError, LeaseSettings, lease_name
from airflow_flux_provider.kube.reconcile import apply_and_prune
from airflow_flux_provider.kube.record import load_record
from tests.kube.conftest import kustomization_target

QUICK = LeaseSettings(duration_seconds=60, wait_seconds=60, poll_seconds=0.05)


def _configmap(namespace: str, name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}}


class ObservedCluster(Cluster):
    """The real cluster, with a hook called after every GET (to line two runs up, nothing faked)."""

    def __init__(self, base: Cluster, after_get: Any) -> None:
        super().__init__(base.api_client, backoff_seconds=0.05)
        self.after_get = after_get

    def get(self, key: ObjectKey) -> dict[str, Any] | None:
        found = super().get(key)
        self.after_get(key, found)
        return found


def test_two_interleaved_runs_lose_nothing_and_prune_nothing_wrongly(
    sandbox_namespace: str, cluster: Cluster
):
    ns = sandbox_namespace
    target = kustomization_target("apps", ns, prune=True)
    apply_and_prune(cluster, target, [_configmap(ns, "shared")], revision="r0")
    a_reading, b_waiting = threading.Event(), threading.Event()

    def a_hook(key: ObjectKey, found: Any) -> None:
        # run A has read the status and is about to apply: hold it there until B has tried to start
        if key.kind == "Kustomization" and not a_reading.is_set():
            a_reading.set()
            b_waiting.wait(timeout=15)

    def b_hook(key: ObjectKey, found: Any) -> None:
        if key.kind == "Lease" and found and found["spec"]["holderIdentity"] == "run-a":
            b_waiting.set()

    errors: list[BaseException] = []

    def run(cluster_: Cluster, names: list[str], revision: str, holder: str) -> None:
        try:
            objects = [_configmap(ns, n) for n in names]
            apply_and_prune(cluster_, target, objects, revision=revision, holder=holder, lease=QUICK)
        except BaseException as err:  # reported by the assertion below
            errors.append(err)

    run_a = threading.Thread(
        target=run, args=(ObservedCluster(cluster, a_hook), ["shared", "only-a"], "ra", "run-a")
    )
    run_b = threading.Thread(
        target=run, args=(ObservedCluster(cluster, b_hook), ["shared", "only-b"], "rb", "run-b")
    )
    run_a.start()
    assert a_reading.wait(timeout=30)
    run_b.start()
    run_a.join(timeout=60)
    run_b.join(timeout=60)

    assert errors == [] and b_waiting.is_set()  # B waited for A's Lease instead of reading with it
    record = load_record(cluster, "Kustomization", "apps", ns)
    assert sorted(k.name for k in record.inventory.object_keys()) == ["only-b", "shared"]
    assert record.last_attempted_revision == "rb"
    assert cluster.get(ObjectKey("v1", "ConfigMap", ns, "only-a")) is None  # pruned by B: not orphaned
    assert cluster.get(ObjectKey("v1", "ConfigMap", ns, "only-b")) is not None
    lease = ObjectKey("coordination.k8s.io/v1", "Lease", ns, lease_name(target.key))
    assert cluster.get(lease) is None  # given back


def _held_lease(cluster: Cluster, namespace: str, key: ObjectKey, holder: str, renewed: datetime) -> None:
    stamp = renewed.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    cluster.request(
        "POST",
        cluster.resource("coordination.k8s.io/v1", "Lease").path(namespace),
        body={"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
              "metadata": {"name": lease_name(key), "namespace": namespace},
              "spec": {"holderIdentity": holder, "leaseDurationSeconds": 30, "acquireTime": stamp,
                       "renewTime": stamp}},
    )  # fmt: skip


def test_a_live_holder_makes_a_run_wait_then_give_up_clearly(sandbox_namespace: str, cluster: Cluster):
    target = kustomization_target("apps", sandbox_namespace, prune=True)
    _held_lease(cluster, sandbox_namespace, target.key, "worker-7/run-42", datetime.now(UTC))
    brief = LeaseSettings(wait_seconds=0.3, poll_seconds=0.05)
    with pytest.raises(LeaseHeldError, match=r"held by worker-7/run-42 \(since .*\); this run waited"):
        apply_and_prune(cluster, target, [_configmap(sandbox_namespace, "x")], revision="r1", lease=brief)
    assert cluster.get(ObjectKey("v1", "ConfigMap", sandbox_namespace, "x")) is None


def test_the_lease_of_a_holder_that_died_expires(sandbox_namespace: str, cluster: Cluster):
    target = kustomization_target("apps", sandbox_namespace, prune=True)
    _held_lease(cluster, sandbox_namespace, target.key, "killed", datetime.now(UTC) - timedelta(minutes=5))
    apply_and_prune(cluster, target, [_configmap(sandbox_namespace, "x")], revision="r1", lease=QUICK)
    assert cluster.get(ObjectKey("v1", "ConfigMap", sandbox_namespace, "x")) is not None
