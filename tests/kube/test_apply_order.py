"""The apply order, its reports (events, XCom, errors) and its stages, as in kustomize-controller."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_flux_provider.kube import Cluster, KubeError, ObjectKey
from airflow_flux_provider.kube.apply import (
    Action,
    Applier,
    ApplyError,
    Change,
    ChangeSet,
    ObjectDiff,
    kind_rank,
    sort_key,
    with_owner_labels,
)
from flux_devkit.sandbox import Sandbox
from tests.sandbox.test_crd import crd


def obj(kind: str, name: str, namespace: str = "", api: str = "v1") -> dict[str, Any]:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": api, "kind": kind, "metadata": meta}


# Flux's order (fluxcd/pkg ssa utils): the listed kinds first in this order, then every other
# kind, then the admission webhooks; ties by group, kind, namespace and name.
FLUX_ORDER = [
    obj("CustomResourceDefinition", "a", api="apiextensions.k8s.io/v1"),
    obj("Namespace", "apps"),
    obj("ClusterRole", "r", api="rbac.authorization.k8s.io/v1"),
    obj("ClusterClass", "c", api="cluster.x-k8s.io/v1beta1"),
    obj("RuntimeClass", "rc", api="node.k8s.io/v1"),
    obj("PriorityClass", "p", api="scheduling.k8s.io/v1"),
    obj("StorageClass", "s", api="storage.k8s.io/v1"),
    obj("VolumeSnapshotClass", "v", api="snapshot.storage.k8s.io/v1"),
    obj("IngressClass", "i", api="networking.k8s.io/v1"),
    obj("GatewayClass", "g", api="gateway.networking.k8s.io/v1"),
    obj("ClusterRoleBinding", "rb", api="rbac.authorization.k8s.io/v1"),
    obj("ResourceQuota", "q", "apps"),
    obj("ServiceAccount", "sa", "apps"),
    obj("Role", "r", "apps", "rbac.authorization.k8s.io/v1"),
    obj("RoleBinding", "rb", "apps", "rbac.authorization.k8s.io/v1"),
    obj("ConfigMap", "a", "apps"),
    obj("ConfigMap", "b", "apps"),
    obj("ConfigMap", "a", "zoo"),
    obj("Secret", "s", "apps"),
    obj("Service", "svc", "apps"),
    obj("LimitRange", "l", "apps"),
    obj("Deployment", "web", "apps", "apps/v1"),
    obj("StatefulSet", "db", "apps", "apps/v1"),
    obj("CronJob", "job", "apps", "batch/v1"),
    obj("PodDisruptionBudget", "pdb", "apps", "policy/v1"),
    obj("Job", "once", "apps", "batch/v1"),
    obj("Canary", "web", "apps", "flagger.app/v1beta1"),
    obj("Ingress", "web", "apps", "networking.k8s.io/v1"),
    obj("MutatingWebhookConfiguration", "m", api="admissionregistration.k8s.io/v1"),
    obj("ValidatingWebhookConfiguration", "v", api="admissionregistration.k8s.io/v1"),
]


def test_objects_sort_in_flux_apply_order() -> None:
    shuffled = FLUX_ORDER[:]
    random.Random(26).shuffle(shuffled)
    assert [str(ObjectKey.of(o)) for o in sorted(shuffled, key=sort_key)] == [
        str(ObjectKey.of(o)) for o in FLUX_ORDER
    ]


@pytest.mark.parametrize(
    ("kind", "rank"),
    [
        ("CustomResourceDefinition", 0),
        ("RuntimeClass", 4),
        ("GatewayClass", 9),
        ("PodDisruptionBudget", 22),
        ("Canary", 23),
        ("MutatingWebhookConfiguration", 24),
        ("ValidatingWebhookConfiguration", 25),
    ],
)
def test_kind_rank_puts_unknown_kinds_between_the_listed_ones_and_the_webhooks(kind: str, rank: int) -> None:
    """Prune deletes in the reverse of this rank, so webhooks go first and CRDs last."""
    assert kind_rank(kind) == rank


def key(kind: str, name: str) -> ObjectKey:
    return ObjectKey.of(obj(kind, name, "apps"))


def test_change_set_reports_what_an_event_and_xcom_show() -> None:
    changes = ChangeSet()
    changes.add(key("ConfigMap", "a"), Action.CREATED)
    changes.add(key("ConfigMap", "b"), Action.CONFIGURED, ("/data/x", "/metadata/labels/team"))
    changes.add(key("ConfigMap", "c"), Action.UNCHANGED)
    changes.add(key("ConfigMap", "d"), Action.SKIPPED)
    changes.add(key("ConfigMap", "e"), Action.DELETED)
    assert changes.summary() == (
        "ConfigMap/apps/a created\nConfigMap/apps/b configured\nConfigMap/apps/e deleted"
    )
    assert changes.to_xcom() == [
        {"object": "ConfigMap/apps/a", "action": "created"},
        {
            "object": "ConfigMap/apps/b",
            "action": "configured",
            "fields": ["/data/x", "/metadata/labels/team"],
        },
        {"object": "ConfigMap/apps/c", "action": "unchanged"},
        {"object": "ConfigMap/apps/d", "action": "skipped"},
        {"object": "ConfigMap/apps/e", "action": "deleted"},
    ]
    assert [changes.count(a) for a in Action] == [1, 1, 1, 1, 1]
    assert [k.name for k in changes.keys] == ["a", "b", "c", "d", "e"]
    assert changes.has_changes
    assert str(Change(key("Secret", "s"), Action.UNCHANGED)) == "Secret/apps/s unchanged"


@pytest.mark.parametrize("action", [Action.UNCHANGED, Action.SKIPPED])
def test_unchanged_and_skipped_objects_are_no_changes(action: Action) -> None:
    changes = ChangeSet()
    changes.add(key("ConfigMap", "a"), action)
    assert not changes.has_changes
    assert changes.summary() == ""
    assert not ChangeSet().has_changes


def test_apply_error_lists_what_was_applied_before_it() -> None:
    changes = ChangeSet()
    assert (
        str(ApplyError("ConfigMap/apps/b apply failed: no", changes=changes))
        == "ConfigMap/apps/b apply failed: no"
    )
    changes.add(key("ConfigMap", "a"), Action.CREATED)
    changes.add(key("ConfigMap", "c"), Action.UNCHANGED)
    error = ApplyError("ConfigMap/apps/b apply failed: no", changes=changes)
    assert str(error) == (
        "ConfigMap/apps/b apply failed: no\nchanges applied before the failure:\nConfigMap/apps/a created"
    )
    assert error.changes is changes


def test_owner_labels_are_added_to_copies() -> None:
    original = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": {"team": "x"}}}
    bare = {"apiVersion": "v1", "kind": "ConfigMap"}
    labelled = with_owner_labels([original, bare], {"kustomize.toolkit.fluxcd.io/name": "apps"})
    assert [o["metadata"] for o in labelled] == [
        {"name": "a", "labels": {"team": "x", "kustomize.toolkit.fluxcd.io/name": "apps"}},
        {"labels": {"kustomize.toolkit.fluxcd.io/name": "apps"}},
    ]
    assert original["metadata"]["labels"] == {"team": "x"} and "metadata" not in bare


@pytest.fixture
def cluster_wide(cluster: Cluster) -> Iterator[list[dict[str, Any]]]:
    """Cluster-scoped objects a test makes, deleted after it even when it fails (so a rerun of the
    same test, as the mutation runner does, never meets them)."""
    made: list[dict[str, Any]] = []
    yield made
    for body in made:
        with contextlib.suppress(KubeError):
            cluster.delete(ObjectKey.of(body))


def configmap(namespace: str, name: str, **labels: str) -> dict[str, Any]:
    body = obj("ConfigMap", name, namespace)
    return {**body, "metadata": {**body["metadata"], "labels": labels}, "data": {"threads": "4"}}


def test_stages_apply_definitions_first_and_report_in_order(
    sandbox_namespace: str, cluster: Cluster, cluster_wide: list[dict[str, Any]]
) -> None:
    namespace = obj("Namespace", f"{sandbox_namespace}-extra")
    role = {
        **obj("ClusterRole", f"{sandbox_namespace}-reader", api="rbac.authorization.k8s.io/v1"),
        "rules": [],
    }
    cluster_wide += [namespace, role]
    objects = [configmap(sandbox_namespace, "b"), role, configmap(sandbox_namespace, "a"), namespace]
    changes = Applier(cluster).apply_all(objects)
    assert [(str(c.key), c.action) for c in changes.changes] == [
        (f"Namespace/{sandbox_namespace}-extra", Action.CREATED),
        (f"ClusterRole/{sandbox_namespace}-reader", Action.CREATED),
        (f"ConfigMap/{sandbox_namespace}/a", Action.CREATED),
        (f"ConfigMap/{sandbox_namespace}/b", Action.CREATED),
    ]
    again = Applier(cluster).apply_all(objects)
    assert {c.action for c in again.changes} == {Action.UNCHANGED}


def test_label_only_changes_are_drift(sandbox_namespace: str, cluster: Cluster) -> None:
    Applier(cluster).apply_all([configmap(sandbox_namespace, "a", team="x")])
    (unchanged,) = Applier(cluster).apply_all([configmap(sandbox_namespace, "a", team="x")]).changes
    assert (unchanged.action, unchanged.drift) == (Action.UNCHANGED, ())
    (relabelled,) = Applier(cluster).apply_all([configmap(sandbox_namespace, "a", team="y")]).changes
    assert (relabelled.action, relabelled.drift) == (Action.CONFIGURED, ("/metadata/labels/team",))
    live = cluster.get(ObjectKey.of(configmap(sandbox_namespace, "a")))
    assert live is not None and live["metadata"]["labels"] == {"team": "y"}


def test_one_invalid_object_leaves_its_stage_unapplied(
    sandbox_namespace: str, cluster: Cluster, cluster_wide: list[dict[str, Any]]
) -> None:
    """Every object of a stage is dry-run before any is written; earlier stages stay applied."""
    namespace = obj("Namespace", f"{sandbox_namespace}-first")
    cluster_wide.append(namespace)
    good = configmap(sandbox_namespace, "good")
    bad = configmap(sandbox_namespace, "bad", team="not a valid label value!")
    with pytest.raises(ApplyError) as info:
        Applier(cluster).apply_all([good, bad, namespace])
    assert str(info.value).startswith(f"ConfigMap/{sandbox_namespace}/bad dry-run failed: ")
    assert str(info.value).endswith(
        f"\nchanges applied before the failure:\nNamespace/{sandbox_namespace}-first created"
    )
    assert cluster.get(ObjectKey.of(good)) is None
    assert cluster.get(ObjectKey.of(namespace)) is not None


def test_object_diff_is_drifted_only_when_configured() -> None:
    assert [ObjectDiff(key("ConfigMap", "a"), action).drifted for action in Action] == [
        False,
        True,
        False,
        False,
        False,
    ]


def test_class_kinds_are_a_stage_of_their_own(
    sandbox_namespace: str, cluster: Cluster, cluster_wide: list[dict[str, Any]]
) -> None:
    """An IngressClass is applied (and waited for) before the objects that name it, even if one fails."""
    ingress_class = {
        **obj("IngressClass", f"{sandbox_namespace}-nginx", api="networking.k8s.io/v1"),
        "spec": {"controller": "example.com/ingress"},
    }
    cluster_wide.append(ingress_class)
    bad = configmap(sandbox_namespace, "bad", team="not a valid label value!")
    with pytest.raises(ApplyError) as info:
        Applier(cluster).apply_all([bad, ingress_class])
    assert str(info.value).endswith(
        f"\nchanges applied before the failure:\nIngressClass/{sandbox_namespace}-nginx created"
    )
    assert cluster.get(ObjectKey.of(ingress_class)) is not None


def test_a_definition_and_its_objects_apply_together(
    sandbox_namespace: str, cluster: Cluster, cluster_wide: list[dict[str, Any]]
) -> None:
    """The CRD goes in the first stage and is waited for, so its custom resource applies in the last."""
    group = f"{sandbox_namespace}.example.com"
    definition = crd(group)
    cluster_wide.append(definition)
    widget = {
        "apiVersion": f"{group}/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": sandbox_namespace},
    }
    changes = Applier(cluster).apply_all([widget, definition])
    assert [(str(c.key), c.action) for c in changes.changes] == [
        (f"CustomResourceDefinition/widgets.{group}", Action.CREATED),
        (f"Widget/{sandbox_namespace}/w", Action.CREATED),
    ]


def test_force_recreates_only_for_an_immutable_field_error(
    sandbox: Sandbox, sandbox_namespace: str, cluster: Cluster
) -> None:
    """An admission webhook's or CEL rule's "is immutable" counts as immutable; any other refusal does not."""
    obj = configmap(sandbox_namespace, "a")
    Applier(cluster).apply_all([obj])
    uid = (cluster.get(ObjectKey.of(obj)) or {})["metadata"]["uid"]
    sandbox.faults.add(verb="patch", resource="configmaps", code=403, message="denied by policy", times=1)
    with pytest.raises(
        ApplyError, match=f"ConfigMap/{sandbox_namespace}/a dry-run failed: .*denied by policy"
    ):
        Applier(cluster, force=True).apply_all([obj])
    assert (cluster.get(ObjectKey.of(obj)) or {})["metadata"]["uid"] == uid
    sandbox.faults.add(
        verb="patch", resource="configmaps", code=400, message="data: field is immutable", times=1
    )
    (recreated,) = Applier(cluster, force=True).apply_all([obj]).changes
    assert recreated.action == Action.CREATED
    assert (cluster.get(ObjectKey.of(obj)) or {})["metadata"]["uid"] != uid


def test_long_summaries_name_the_first_twenty_and_count_the_rest() -> None:
    changes = ChangeSet()
    for n in range(20):
        changes.add(key("ConfigMap", f"c{n:02}"), Action.CREATED)
    changes.add(key("ConfigMap", "same"), Action.UNCHANGED)
    assert changes.summary().splitlines()[-1] == "ConfigMap/apps/c19 created"  # twenty: all named
    changes.add(key("ConfigMap", "x"), Action.CONFIGURED)
    changes.add(key("ConfigMap", "y"), Action.CREATED)
    lines = changes.summary().splitlines()
    assert len(lines) == 21
    assert lines[-1] == "... and 2 more (1 configured, 1 created)"
    assert changes.counts() == "21 created, 1 unchanged, 1 configured"


def test_stage_zero_kinds_are_applied_before_a_failing_later_stage(
    sandbox_namespace: str, cluster: Cluster, cluster_wide: list[dict[str, Any]]
) -> None:
    role = {**obj("ClusterRole", f"{sandbox_namespace}-r", api="rbac.authorization.k8s.io/v1"), "rules": []}
    bad_class = {
        **obj("IngressClass", f"{sandbox_namespace}-bad", api="networking.k8s.io/v1"),
        "spec": {"controller": "example.com/ingress"},
    }
    bad_class["metadata"]["labels"] = {"team": "not a valid label value!"}
    cluster_wide += [role, bad_class]
    namespaced = {**obj("Role", "r", sandbox_namespace, "rbac.authorization.k8s.io/v1"), "rules": []}
    with pytest.raises(ApplyError) as info:
        Applier(cluster).apply_all([bad_class, namespaced, role])  # the Role waits for the last stage
    assert str(info.value).endswith(
        f"\nchanges applied before the failure:\nClusterRole/{sandbox_namespace}-r created"
    )


def test_a_live_object_that_cannot_be_read_fails_its_dry_run(
    sandbox: Sandbox, sandbox_namespace: str, cluster: Cluster
) -> None:
    sandbox.faults.add(verb="list", resource="configmaps", code=403, message="no list")
    sandbox.faults.add(verb="get", resource="configmaps", code=403, message="no get")
    with pytest.raises(ApplyError, match=f"^ConfigMap/{sandbox_namespace}/a dry-run failed: .*no get"):
        Applier(cluster).apply_all([configmap(sandbox_namespace, "a")])


def test_a_failed_write_starts_no_other_and_reports_the_first_in_order_with_every_write_made(
    sandbox: Sandbox, sandbox_namespace: str, cluster: Cluster
) -> None:
    """Writes of a stage run a few at once. c06 fails while c05 is still in flight (its answer is
    delayed); the error names c05, the first failure in apply order, and lists exactly the objects
    that were written, those in flight when c06 failed included."""
    names = [f"c{i:02}" for i in range(20)]
    for name, delay in (("c05", 0.5), ("c06", 0.0)):
        sandbox.faults.add(
            verb="patch", resource="configmaps", name=name, dry_run=False, code=422,
            message=f"{name} refused", latency_seconds=delay,
        )  # fmt: skip
    with pytest.raises(ApplyError) as info:
        Applier(cluster).apply_all([configmap(sandbox_namespace, n) for n in reversed(names)])
    headline, _, applied = str(info.value).partition("\nchanges applied before the failure:\n")
    assert headline == f"ConfigMap/{sandbox_namespace}/c05 apply failed: c05 refused"
    written = [n for n in names if cluster.get(ObjectKey.of(configmap(sandbox_namespace, n))) is not None]
    assert applied.splitlines() == [f"ConfigMap/{sandbox_namespace}/{n} created" for n in written]
    assert written[:5] == names[:5] and "c05" not in written and "c06" not in written
    assert "c19" not in written  # no write starts once one failed
