"""The status lives on the Flux object: written through the status subresource as Flux writes it,
read back by prune, dependsOn and diff, migrated from the old ConfigMap, guarded against lost races,
and kept in a ConfigMap (with a warning) only where the cluster has no CRD for the kind."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import yaml

from airflow_flux_provider.kube import Cluster, ObjectKey
from airflow_flux_provider.kube.objects import ensure_object
from airflow_flux_provider.kube.reconcile import (
    KustomizationTarget,
    ReconcileError,
    apply_and_prune,
    check_dependencies,
    finish,
)
from airflow_flux_provider.kube.record import (
    StatusConflictError,
    StatusError,
    load_record,
    save_record,
)
from airflow_flux_provider.kustomize.diff import diff
from airflow_flux_provider.specs import parse_object
from flux_devkit.sandbox import Sandbox
from tests.kube.conftest import kustomization_target

REVISION = "main@sha1:" + "7" * 40


def _configmap(namespace: str, name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace},
            "data": {"v": name}}  # fmt: skip


def _ks_key(namespace: str, name: str = "apps") -> ObjectKey:
    return ObjectKey("kustomize.toolkit.fluxcd.io/v1", "Kustomization", namespace, name)


def test_reconcile_writes_fluxs_status_on_the_object_and_kubectl_prints_it(
    sandbox: Sandbox, sandbox_namespace: str, cluster: Cluster
) -> None:
    target = kustomization_target("apps", sandbox_namespace, prune=True)
    apply_and_prune(cluster, target, [_configmap(sandbox_namespace, "a")], revision=REVISION)
    midway = cluster.get(_ks_key(sandbox_namespace))
    assert midway is not None
    conditions = {c["type"]: c for c in midway["status"]["conditions"]}
    assert conditions["Ready"]["status"] == "Unknown" and conditions["Reconciling"]["reason"] == "Progressing"
    finish(cluster, target, revision=REVISION, health=None)

    live = cluster.get(_ks_key(sandbox_namespace))
    assert live is not None
    status = live["status"]
    assert [(c["type"], c["status"], c["reason"]) for c in status["conditions"]] == [
        ("Ready", "True", "ReconciliationSucceeded")
    ]
    assert status["observedGeneration"] == live["metadata"]["generation"]
    assert status["lastAppliedRevision"] == status["lastAttemptedRevision"] == REVISION
    assert status["inventory"]["entries"] == [{"id": f"{sandbox_namespace}_a__ConfigMap", "v": "v1"}]
    assert status["history"][0]["metadata"] == {"revision": REVISION}
    assert (
        cluster.get(ObjectKey("v1", "ConfigMap", sandbox_namespace, "flux-status-kustomization-apps")) is None
    )
    table = sandbox.kubectl("get", "kustomizations", "-n", sandbox_namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "AGE", "READY", "STATUS"]
    assert table[1].split()[2:] == ["True", "Applied", "revision:", REVISION]


def test_a_second_identical_run_writes_no_status(
    sandbox: Sandbox, sandbox_namespace: str, cluster: Cluster
) -> None:
    target = kustomization_target("apps", sandbox_namespace, prune=True)
    for _ in range(2):
        apply_and_prune(cluster, target, [_configmap(sandbox_namespace, "a")], revision=REVISION)
        finish(cluster, target, revision=REVISION, health=None)
        sandbox.counters.reset()
    apply_and_prune(cluster, target, [_configmap(sandbox_namespace, "a")], revision=REVISION)
    finish(cluster, target, revision=REVISION, health=None)
    assert sandbox.counters.mutating(besides=("leases",)) == 0  # runs take turns through a Lease


def test_diff_shows_deletions_from_the_inventory_the_reconcile_wrote(
    sandbox_namespace: str, cluster: Cluster
) -> None:
    manifest = kustomization_target("apps", sandbox_namespace, prune=True).manifest
    assert manifest is not None
    ks = parse_object(manifest)
    target = kustomization_target("apps", sandbox_namespace, prune=True)
    apply_and_prune(cluster, target, [_configmap(sandbox_namespace, n) for n in ("a", "b")], revision="r1")
    report = diff(ks, yaml.safe_dump(_configmap(sandbox_namespace, "a")), cluster)  # type: ignore[arg-type]
    assert f"► ConfigMap/{sandbox_namespace}/b deleted" in report.lines()


def test_the_old_configmap_record_is_migrated_and_nothing_it_owned_is_orphaned(
    sandbox_namespace: str, cluster: Cluster
) -> None:
    ns = sandbox_namespace
    owner = {"kustomize.toolkit.fluxcd.io/name": "apps", "kustomize.toolkit.fluxcd.io/namespace": ns}
    for name in ("kept", "dropped"):
        cluster.apply({**_configmap(ns, name), "metadata": {"name": name, "namespace": ns, "labels": owner}})
    legacy = {"conditions": [{"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded",
                              "message": "Applied revision: r0", "lastTransitionTime": "2025-01-01T00:00:00Z"}],  # noqa: E501
              "lastAppliedRevision": "r0", "lastAttemptedRevision": "r0", "history": [],
              "inventory": {"entries": [{"id": f"{ns}_kept__ConfigMap", "v": "v1"},
                                        {"id": f"{ns}_dropped__ConfigMap", "v": "v1"}]}}  # fmt: skip
    cluster.apply({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "flux-status-kustomization-apps", "namespace": ns},
                   "data": {"status.json": json.dumps(legacy)}})  # fmt: skip
    target = kustomization_target("apps", ns, prune=True)

    result = apply_and_prune(cluster, target, [_configmap(ns, "kept")], revision="r1")

    assert [str(k) for k in result.pruned] == [f"ConfigMap/{ns}/dropped"]  # known from the migrated inventory
    assert cluster.get(ObjectKey("v1", "ConfigMap", ns, "flux-status-kustomization-apps")) is None
    live = cluster.get(_ks_key(ns))
    assert live is not None
    assert live["status"]["inventory"]["entries"] == [{"id": f"{ns}_kept__ConfigMap", "v": "v1"}]


def test_dependency_is_read_from_the_object_and_needs_its_generation_reconciled(
    sandbox: Sandbox, sandbox_namespace: str, cluster: Cluster
) -> None:
    infra, apps = (kustomization_target(n, sandbox_namespace) for n in ("infra", "apps"))
    apply_and_prune(cluster, infra, [_configmap(sandbox_namespace, "x")], revision=REVISION)
    finish(cluster, infra, revision=REVISION, health=None)
    check_dependencies(cluster, apps, {"infra": REVISION})
    sandbox.kubectl("patch", "kustomization", "infra", "-n", sandbox_namespace, "--type=merge",
                    "-p", '{"spec":{"path":"./other"}}')  # fmt: skip
    with pytest.raises(Exception, match="generation 2 is not reconciled yet"):
        check_dependencies(cluster, apps, {"infra": REVISION})


def test_a_status_changed_since_it_was_read_is_not_overwritten(
    sandbox: Sandbox, sandbox_namespace: str, cluster: Cluster
) -> None:
    target = kustomization_target("apps", sandbox_namespace)
    apply_and_prune(cluster, target, [_configmap(sandbox_namespace, "a")], revision="r1")
    mine = load_record(cluster, "Kustomization", "apps", sandbox_namespace)
    theirs = load_record(cluster, "Kustomization", "apps", sandbox_namespace)
    theirs.last_attempted_revision = "r2"
    save_record(cluster, theirs)
    mine.last_attempted_revision = "r3"
    with pytest.raises(StatusConflictError, match="another writer changed the status"):
        save_record(cluster, mine)
    assert load_record(cluster, "Kustomization", "apps", sandbox_namespace).last_attempted_revision == "r2"


def test_a_write_that_only_raced_an_annotation_is_retried(
    sandbox: Sandbox, sandbox_namespace: str, cluster: Cluster
) -> None:
    target = kustomization_target("apps", sandbox_namespace)
    apply_and_prune(cluster, target, [_configmap(sandbox_namespace, "a")], revision="r1")
    record = load_record(cluster, "Kustomization", "apps", sandbox_namespace)
    sandbox.kubectl("annotate", "kustomization", "apps", "-n", sandbox_namespace,
                    "reconcile.fluxcd.io/requestedAt=now")  # fmt: skip
    record.set_ready(True, "ReconciliationSucceeded", "Applied revision: r1")
    save_record(cluster, record)
    live = cluster.get(_ks_key(sandbox_namespace))
    assert live is not None
    assert live["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"] == "now"
    assert live["status"]["conditions"][0]["status"] == "True"


def test_a_corrupted_status_is_a_clear_error_with_the_fix(
    sandbox: Sandbox, sandbox_namespace: str, cluster: Cluster
) -> None:
    target = kustomization_target("apps", sandbox_namespace, prune=True)
    live = ensure_object(cluster, target.manifest or {})
    path = cluster.resource("kustomize.toolkit.fluxcd.io/v1", "Kustomization").path(sandbox_namespace, "apps")
    # the schema takes it (a string id), but it names no object: a hand edit or a buggy writer
    status = {"inventory": {"entries": [{"id": "garbage", "v": "v1"}]}}
    cluster.request("PUT", f"{path}/status", body={**live, "status": status})
    with pytest.raises(StatusError) as error:
        apply_and_prune(cluster, target, [_configmap(sandbox_namespace, "new")], revision="r1")
    message = str(error.value)
    assert message.startswith(f"Kustomization/{sandbox_namespace}/apps field status:")
    assert "status.inventory: entries[0]" in message and "--subresource=status" in message
    assert cluster.get(ObjectKey("v1", "ConfigMap", sandbox_namespace, "new")) is None  # nothing applied


@pytest.fixture(scope="module")
def bare_cluster(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A cluster that serves no Flux CRD (one may not extend it)."""
    with Sandbox(tmp_path_factory.mktemp("bare")).start() as bare:
        bare.kubectl("create", "namespace", "flux-system")
        yield Cluster.from_kubeconfig(str(bare.kubeconfig), backoff_seconds=0.05)


def test_without_the_crds_the_status_is_kept_in_a_configmap_and_said_so(
    bare_cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    target = kustomization_target("apps", "flux-system", prune=True)
    with caplog.at_level(logging.WARNING, logger="airflow_flux_provider.kube.record"):
        apply_and_prune(bare_cluster, target, [_configmap("flux-system", "a")], revision=REVISION)
        finish(bare_cluster, target, revision=REVISION, health=None)
    assert "does not serve Kustomization" in caplog.text and "airflow_flux_provider install" in caplog.text
    stored = bare_cluster.get(ObjectKey("v1", "ConfigMap", "flux-system", "flux-status-kustomization-apps"))
    assert stored is not None
    status = json.loads(stored["data"]["status.json"])
    assert status["lastAppliedRevision"] == REVISION and status["conditions"][0]["status"] == "True"
    # dependsOn reads the ConfigMap record: no object, so no generation to wait for
    check_dependencies(bare_cluster, kustomization_target("downstream", "flux-system"), {"apps": REVISION})
    result = apply_and_prune(bare_cluster, target, [_configmap("flux-system", "b")], revision="r2")
    assert [k.name for k in result.pruned] == ["a"]  # the inventory came back from the ConfigMap


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "does not hold JSON in data.status.json"),
        (
            '{"inventory": {"entries": [{"id": "ns_a__ConfigMap"}]}}',
            "status.inventory.entries.0.v: Field required",
        ),
        ('{"observedGeneration": "three"}', "status.observedGeneration: Input should be a valid integer"),
        ("[1, 2]", "status is list, not a mapping"),
    ],
)
def test_a_configmap_record_that_does_not_parse_is_a_clear_error(
    bare_cluster: Cluster, text: str, problem: str
) -> None:
    bare_cluster.apply({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": "flux-status-kustomization-broken", "namespace": "flux-system"},
                        "data": {"status.json": text}})  # fmt: skip
    with pytest.raises(StatusError) as error:
        load_record(bare_cluster, "Kustomization", "broken", "flux-system")
    assert problem in str(error.value) and ("kubectl" in str(error.value))


def test_without_the_object_or_a_manifest_the_status_waits_in_a_configmap_then_moves_in(
    sandbox_namespace: str, cluster: Cluster
) -> None:
    bare = KustomizationTarget(name="apps", namespace=sandbox_namespace, prune=True)  # no manifest
    apply_and_prune(cluster, bare, [_configmap(sandbox_namespace, "a")], revision="r1")
    config_map = ObjectKey("v1", "ConfigMap", sandbox_namespace, "flux-status-kustomization-apps")
    assert cluster.get(config_map) is not None and cluster.get(_ks_key(sandbox_namespace)) is None
    target = kustomization_target("apps", sandbox_namespace, prune=True)
    moved = apply_and_prune(cluster, target, [_configmap(sandbox_namespace, "b")], revision="r2")
    assert [k.name for k in moved.pruned] == ["a"]  # the ConfigMap's inventory came along
    assert cluster.get(config_map) is None and cluster.get(_ks_key(sandbox_namespace)) is not None


def test_an_inventory_too_large_for_etcd_is_refused_before_anything_is_applied(
    sandbox: Sandbox, sandbox_namespace: str, cluster: Cluster
) -> None:
    """6,000 objects with long names make a 1.7 MiB status: the API server cannot store it, so
    the pending inventory write fails before the first object is applied, is not retried, and the
    status says why and how to split (Flux applies first and loses the inventory instead)."""
    target = kustomization_target("apps", sandbox_namespace, prune=True)
    objects = [_configmap(sandbox_namespace, f"{i:04d}-" + "x" * 240) for i in range(6000)]
    sandbox.counters.reset()
    with pytest.raises(ReconcileError) as info:
        apply_and_prune(cluster, target, objects, revision=REVISION)
    message = info.value.message
    assert message.startswith("the inventory of 6,000 objects makes the status 1.")
    assert "MiB, too large to store: etcdserver: request is too large" in message
    assert "nothing was applied: split the objects into several Kustomizations" in message
    assert info.value.obj == f"Kustomization/{sandbox_namespace}/apps"
    assert cluster.list("v1", "ConfigMap", namespace=sandbox_namespace) == []
    assert sandbox.counters.get("update", "kustomizations/status") == 2  # refused once, then the failure
    status = (cluster.get(_ks_key(sandbox_namespace)) or {})["status"]
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == ("False", "ReconciliationFailed", message)
    assert status["inventory"] == {"entries": []}
