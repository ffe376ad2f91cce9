"""Apply, prune, health and dependsOn against the sandbox API server, as Flux's kustomize-controller."""

from __future__ import annotations

import pytest
import yaml

from airflow_flux_provider import events
from airflow_flux_provider.kube import Cluster, ObjectKey, UnknownKindError, health
from airflow_flux_provider.kube.apply import SUMMARY_ENTRIES, Action
from airflow_flux_provider.kube.cluster import MAX_RETRY_AFTER, retry_after
from airflow_flux_provider.kube.reconcile import (
    DependencyNotReadyError,
    KustomizationTarget,
    ReconcileError,
    apply_and_prune,
    check_dependencies,
    finish,
)
from airflow_flux_provider.kube.record import load_record
from airflow_flux_provider.kustomize import Rendered, RenderStore
from airflow_flux_provider.operators.reconcile import KustomizationReconcileOperator
from tests.kube.conftest import kustomization_target
from tests.task_instance import TaskInstance


def _deployment(
    namespace: str, name: str, image: str = "ghcr.io/company/app:1.0.0", replicas: int = 2
) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


def _configmap(namespace: str, name: str, value: str = "1") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"value": value},
    }


def _crd(group: str, kind: str) -> dict:
    """A namespaced CustomResourceDefinition of ``kind`` in ``group`` that keeps any field."""
    plural = f"{kind.lower()}s"
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
            ],
        },
    }


def _target(namespace: str, **kwargs) -> KustomizationTarget:
    return kustomization_target("apps", namespace, prune=True, **kwargs)


def test_first_apply_creates_and_second_apply_writes_nothing(sandbox, sandbox_namespace, cluster: Cluster):
    objects = [_configmap(sandbox_namespace, "settings"), _deployment(sandbox_namespace, "web")]
    revision = "main@sha1:" + "1" * 40
    first = apply_and_prune(cluster, _target(sandbox_namespace), objects, revision=revision)
    finish(cluster, _target(sandbox_namespace), revision=revision, health=None)
    assert [str(c) for c in first.changes.changes] == [
        f"ConfigMap/{sandbox_namespace}/settings created",
        f"Deployment/{sandbox_namespace}/web created",
    ]
    live = cluster.get(ObjectKey("apps/v1", "Deployment", sandbox_namespace, "web"))
    assert live["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == "apps"
    assert live["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/namespace"] == sandbox_namespace

    sandbox.counters.reset()
    second = apply_and_prune(cluster, _target(sandbox_namespace), objects, revision=revision)
    finish(cluster, _target(sandbox_namespace), revision=revision, health=None)
    assert {c.action for c in second.changes.changes} == {Action.UNCHANGED}
    assert sandbox.counters.mutating(besides=("leases",)) == 0  # runs take turns through a Lease


def test_a_new_revision_with_the_applied_manifests_is_recorded_without_applying(
    sandbox, sandbox_namespace, cluster: Cluster
):
    objects = [_configmap(sandbox_namespace, "settings")]
    target = _target(sandbox_namespace)
    digest, r1, r2 = "sha256:" + "d" * 64, "main@sha1:" + "1" * 40, "main@sha1:" + "2" * 40
    apply_and_prune(cluster, target, objects, revision=r1, digest=digest)
    finish(cluster, target, revision=r1, health=None)
    cluster.delete(ObjectKey("v1", "ConfigMap", sandbox_namespace, "settings"))  # what only an apply restores

    sandbox.counters.reset()
    received: list[events.Event] = []
    unsubscribe = events.subscribe(received.append)
    try:
        moved = apply_and_prune(cluster, target, objects, revision=r2, digest=digest)
        finish(cluster, target, revision=r2, health=None)
    finally:
        unsubscribe()
    assert moved.skipped and not moved.changes.changes
    assert [str(k) for k in moved.inventory.object_keys()] == [f"ConfigMap/{sandbox_namespace}/settings"]
    writes = sandbox.counters.snapshot()["mutatingByResource"]
    assert {k: v for k, v in writes.items() if k != "leases"} == {"kustomizations/status": 1}
    assert sandbox.counters.get("patch", "configmaps") == 0  # not even a dry-run
    record = load_record(cluster, "Kustomization", "apps", sandbox_namespace)
    assert (record.ready, record.message) == ("True", f"Applied revision: {r2}")
    assert record.last_applied_revision == record.last_attempted_revision == r2
    assert record.history[0]["digest"] == digest and record.history[0]["totalReconciliations"] == 2
    assert [e.reason for e in received] == ["ReconciliationSucceeded"]

    again = apply_and_prune(cluster, target, objects, revision=r2, digest=digest)  # same revision: full apply
    assert not again.skipped and [str(c) for c in again.changes.changes] == [
        f"ConfigMap/{sandbox_namespace}/settings created"
    ]


def test_the_operator_records_a_new_revision_of_the_same_render_without_applying(
    sandbox, sandbox_namespace, airflow_connections, tmp_path
):
    conn_id = airflow_connections.kubernetes("skip_k8s", sandbox)
    store = RenderStore(tmp_path / "renders")
    digest = store.put(yaml.safe_dump_all([_configmap(sandbox_namespace, "settings")]).encode())
    rendered = Rendered(digest=digest, path=str(store.path(digest)), objects=1).to_xcom()
    spec = {"interval": "10m", "prune": True, "wait": True, "timeout": "60s", "path": "./apps",
            "sourceRef": {"kind": "GitRepository", "name": "repo"}}  # fmt: skip

    def run(revision: str) -> dict:
        op = KustomizationReconcileOperator(
            task_id="reconcile", spec=spec, name="apps", namespace=sandbox_namespace, rendered=rendered,
            revision=revision, kubernetes_conn_id=conn_id, deferrable=False, poll_interval=0.2,
        )  # fmt: skip
        return dict(op.execute({"ti": TaskInstance()}))

    first = run("main@sha1:" + "1" * 40)
    assert first["created"] == 1 and not first["skipped"]
    sandbox.counters.reset()
    second = run("main@sha1:" + "2" * 40)
    assert second["ready"] and second["skipped"] and second["changes"] == []
    writes = sandbox.counters.snapshot()["mutatingByResource"]
    assert {k: v for k, v in writes.items() if k != "leases"} == {"kustomizations/status": 1}


def test_a_new_revision_is_applied_when_the_last_run_failed_or_the_manifests_differ(
    sandbox_namespace, cluster: Cluster
):
    target = _target(sandbox_namespace)
    digest = "sha256:" + "e" * 64
    apply_and_prune(cluster, target, [_configmap(sandbox_namespace, "c", "1")], revision="r1", digest=digest)
    finish(cluster, target, revision="r1", health=None, error="Deployment/x not ready")
    failed_before = apply_and_prune(
        cluster, target, [_configmap(sandbox_namespace, "c", "1")], revision="r2", digest=digest
    )
    assert not failed_before.skipped
    finish(cluster, target, revision="r2", health=None)
    other = apply_and_prune(
        cluster, target, [_configmap(sandbox_namespace, "c", "2")], revision="r3", digest="sha256:" + "f" * 64
    )
    assert not other.skipped and [c.action for c in other.changes.changes] == [Action.CONFIGURED]
    no_digest = apply_and_prune(cluster, target, [_configmap(sandbox_namespace, "c", "2")], revision="r4")
    assert not no_digest.skipped


def test_a_large_change_set_is_summarised_in_the_event(sandbox_namespace, cluster: Cluster):
    objects = [_configmap(sandbox_namespace, f"c{i:02d}") for i in range(SUMMARY_ENTRIES + 5)]
    received: list[events.Event] = []
    unsubscribe = events.subscribe(received.append)
    try:
        result = apply_and_prune(cluster, _target(sandbox_namespace), objects, revision="r1")
    finally:
        unsubscribe()
    (progressing,) = [e for e in received if e.reason == "Progressing"]
    lines = progressing.message.splitlines()
    assert lines[:SUMMARY_ENTRIES] == [
        f"ConfigMap/{sandbox_namespace}/c{i:02d} created" for i in range(SUMMARY_ENTRIES)
    ]
    assert lines[SUMMARY_ENTRIES:] == ["... and 5 more (5 created)"]
    assert result.changes.counts() == f"{SUMMARY_ENTRIES + 5} created"


def test_changed_object_is_configured(sandbox_namespace, cluster: Cluster):
    apply_and_prune(
        cluster, _target(sandbox_namespace), [_configmap(sandbox_namespace, "c", "1")], revision="r1"
    )
    result = apply_and_prune(
        cluster, _target(sandbox_namespace), [_configmap(sandbox_namespace, "c", "2")], revision="r2"
    )
    assert [c.action for c in result.changes.changes] == [Action.CONFIGURED]
    assert cluster.get(ObjectKey("v1", "ConfigMap", sandbox_namespace, "c"))["data"] == {"value": "2"}


def test_prune_deletes_exactly_what_left_and_keeps_protected_and_foreign(sandbox_namespace, cluster: Cluster):
    keep = _configmap(sandbox_namespace, "keep")
    keep["metadata"]["annotations"] = {"kustomize.toolkit.fluxcd.io/prune": "disabled"}
    objects = [_configmap(sandbox_namespace, "stays"), _configmap(sandbox_namespace, "goes"), keep]
    apply_and_prune(cluster, _target(sandbox_namespace), objects, revision="r1")
    # Somebody else's object with a similar name is never ours to delete.
    cluster.apply(_configmap(sandbox_namespace, "foreign"))

    result = apply_and_prune(
        cluster, _target(sandbox_namespace), [_configmap(sandbox_namespace, "stays")], revision="r2"
    )
    assert [str(k) for k in result.pruned] == [f"ConfigMap/{sandbox_namespace}/goes"]
    assert cluster.get(ObjectKey("v1", "ConfigMap", sandbox_namespace, "goes")) is None
    assert cluster.get(ObjectKey("v1", "ConfigMap", sandbox_namespace, "keep")) is not None
    assert cluster.get(ObjectKey("v1", "ConfigMap", sandbox_namespace, "foreign")) is not None
    record = load_record(cluster, "Kustomization", "apps", sandbox_namespace)
    assert [k.name for k in record.inventory.object_keys()] == ["stays"]


def test_empty_render_does_not_prune_everything(sandbox_namespace, cluster: Cluster):
    apply_and_prune(cluster, _target(sandbox_namespace), [_configmap(sandbox_namespace, "a")], revision="r1")
    with pytest.raises(ReconcileError, match="refusing to prune all 1 objects"):
        apply_and_prune(cluster, _target(sandbox_namespace), [], revision="r2")
    assert cluster.get(ObjectKey("v1", "ConfigMap", sandbox_namespace, "a")) is not None
    allowed = apply_and_prune(cluster, _target(sandbox_namespace, allow_empty_prune=True), [], revision="r3")
    assert [k.name for k in allowed.pruned] == ["a"]


def test_health_reports_ready_deployment_and_names_a_broken_one(sandbox_namespace, cluster: Cluster):
    good = _deployment(sandbox_namespace, "good")
    bad = _deployment(sandbox_namespace, "bad", image="ghcr.io/company/app:fail")
    bad["spec"]["progressDeadlineSeconds"] = 1
    apply_and_prune(cluster, _target(sandbox_namespace), [good, bad], revision="r1")
    good_key, bad_key = ObjectKey.of(good), ObjectKey.of(bad)
    assert health.wait(cluster, [good_key], timeout=30, interval=0.2).healthy
    with pytest.raises(health.HealthCheckError) as failure:
        health.wait(cluster, [good_key, bad_key], timeout=30, interval=0.2)
    message = str(failure.value)
    assert f"Deployment/{sandbox_namespace}/bad status: 'Failed'" in message
    assert "ProgressDeadlineExceeded" in message
    assert "good" not in message.split("stalled resources:")[1]


def test_finish_records_ready_and_dependency_check_reads_it(sandbox_namespace, cluster: Cluster):
    infra = kustomization_target("infra", sandbox_namespace)
    apps = kustomization_target("apps", sandbox_namespace)
    with pytest.raises(DependencyNotReadyError, match="is not ready"):
        check_dependencies(cluster, apps, {"infra": ""})
    apply_and_prune(cluster, infra, [_configmap(sandbox_namespace, "x")], revision="main@sha1:" + "a" * 40)
    received: list[events.Event] = []
    unsubscribe = events.subscribe(received.append)
    try:
        finish(cluster, infra, revision="main@sha1:" + "a" * 40, health=None)
    finally:
        unsubscribe()
    assert received[-1].reason == "ReconciliationSucceeded"
    check_dependencies(cluster, apps, {"infra": "main@sha1:" + "a" * 40})
    with pytest.raises(DependencyNotReadyError, match="revision is not up to date"):
        check_dependencies(cluster, apps, {"infra": "main@sha1:" + "b" * 40})


def test_unknown_kind_names_the_missing_crd(sandbox_namespace, cluster: Cluster):
    monitor = {
        "apiVersion": "missing.reconcile.test/v1",
        "kind": "Missing",
        "metadata": {"name": "m", "namespace": sandbox_namespace},
        "spec": {},
    }
    with pytest.raises(ReconcileError, match="install the CustomResourceDefinition"):
        apply_and_prune(cluster, _target(sandbox_namespace), [monitor], revision="r1")
    with pytest.raises(UnknownKindError):
        cluster.resource("missing.reconcile.test/v1", "Missing")


def test_crd_and_its_custom_resource_apply_in_one_run(sandbox_namespace, cluster: Cluster):
    crd = _crd("reconcile.test", "Gadget")
    gadget = {
        "apiVersion": "reconcile.test/v1",
        "kind": "Gadget",
        "metadata": {"name": "w", "namespace": sandbox_namespace},
        "spec": {"size": 3},
    }
    result = apply_and_prune(cluster, _target(sandbox_namespace), [gadget, crd], revision="r1")
    assert [c.key.kind for c in result.changes.changes] == ["CustomResourceDefinition", "Gadget"]


def test_throttling_is_retried(sandbox, sandbox_namespace, cluster: Cluster):
    sandbox.faults.add(verb="patch", resource="configmaps", code=429, retry_after_seconds=0, times=2)
    result = apply_and_prune(
        cluster, _target(sandbox_namespace), [_configmap(sandbox_namespace, "t")], revision="r"
    )
    assert [c.action for c in result.changes.changes] == [Action.CREATED]


def test_an_invalid_object_leaves_its_whole_stage_unapplied(sandbox_namespace, cluster: Cluster):
    """Every object of a stage is dry-run before the first write, as Flux does."""
    broken = _deployment(sandbox_namespace, "broken")
    broken["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "WORKERS", "value": 4}]
    objects = [_configmap(sandbox_namespace, "settings"), broken, _deployment(sandbox_namespace, "fine")]
    with pytest.raises(ReconcileError) as err:
        apply_and_prune(cluster, _target(sandbox_namespace), objects, revision="r1")
    assert f"Deployment/{sandbox_namespace}/broken dry-run failed" in str(err.value)
    assert "Go struct field EnvVar.spec.template.spec.containers.env.value of type string" in str(err.value)
    for obj in objects:
        assert cluster.get(ObjectKey.of(obj)) is None


def test_an_invalid_flux_object_leaves_every_stage_unapplied(sandbox_namespace, cluster: Cluster):
    """The typed models check the whole render before the first write: the dry-run alone would
    refuse the Canary only after the namespace, an earlier stage, was created."""
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"{sandbox_namespace}-new"}}
    canary = {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "web", "namespace": sandbox_namespace},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "service": {"port": 80},
            "analysis": {"interval": "ten seconds", "threshold": 2, "stepWeight": 50},
        },
    }
    objects = [namespace, _configmap(sandbox_namespace, "settings"), canary]
    with pytest.raises(ReconcileError) as err:
        apply_and_prune(cluster, _target(sandbox_namespace), objects, revision="r1")
    assert f"Canary/{sandbox_namespace}/web" in str(err.value)
    assert "spec.analysis.interval" in str(err.value) and "'ten seconds'" in str(err.value)
    for obj in objects[:2]:
        assert cluster.get(ObjectKey.of(obj)) is None
    record = load_record(cluster, "Kustomization", "apps", sandbox_namespace)
    assert not record.is_ready and "nothing applied" in record.message


def test_persistent_server_errors_fail_clearly(sandbox, sandbox_namespace, cluster: Cluster):
    sandbox.faults.add(verb="patch", resource="deployments", code=503)
    with pytest.raises(ReconcileError, match=f"Deployment/{sandbox_namespace}/u dry-run failed.*503"):
        apply_and_prune(
            cluster, _target(sandbox_namespace), [_deployment(sandbox_namespace, "u")], revision="r"
        )
    record = load_record(cluster, "Kustomization", "apps", sandbox_namespace)
    assert (record.ready, record.reason) == ("False", "ReconciliationFailed")


def test_team_service_account_cannot_write_outside_its_namespace(
    sandbox, sandbox_namespace, cluster: Cluster
):
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "reconciler", "namespace": sandbox_namespace},
        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "reconciler", "namespace": sandbox_namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reconciler"},
        "subjects": [{"kind": "ServiceAccount", "name": "team-a", "namespace": sandbox_namespace}],
    }
    cluster.apply(role)
    cluster.apply(binding)
    team = cluster.impersonating(f"system:serviceaccount:{sandbox_namespace}:team-a")
    target = kustomization_target("team-a", sandbox_namespace, prune=True)
    apply_and_prune(team, target, [_configmap(sandbox_namespace, "mine")], revision="r1")
    with pytest.raises(ReconcileError, match=r"ConfigMap/default/escape.*forbidden"):
        apply_and_prune(team, target, [_configmap("default", "escape")], revision="r2")
    assert cluster.get(ObjectKey("v1", "ConfigMap", "default", "escape")) is None


@pytest.mark.timeout(120)
@pytest.mark.parametrize("seconds", [86400, -5], ids=["a-day", "negative"])
def test_retry_after_is_clamped(sandbox, sandbox_namespace, seconds: int):
    """A server asking for a day's wait (or a negative one) is retried within the limit (issue 16.11)."""
    cluster = Cluster.from_kubeconfig(str(sandbox.kubeconfig), max_retry_after=0.2)
    sandbox.faults.add(verb="patch", resource="configmaps", code=429, retry_after_seconds=seconds, times=1)
    result = apply_and_prune(
        cluster, _target(sandbox_namespace), [_configmap(sandbox_namespace, "r")], revision="r"
    )
    assert [c.action for c in result.changes.changes] == [Action.CREATED]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("2", 2.0),
        ("86400", MAX_RETRY_AFTER),
        ("-3", 0.0),
        ("nan", 0.5),
        ("inf", 0.5),
        ("soon", 0.5),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # a date in the past: retry now
        ("Fri, 01 Jan 2100 00:00:00 GMT", MAX_RETRY_AFTER),
    ],
)
def test_retry_after_header_forms(header: str, expected: float):
    assert retry_after({"retry-after": header}, default=0.5) == expected
    assert retry_after({}, default=0.5) == 0.5


def test_an_inventory_kind_no_longer_served_counts_as_gone(sandbox, sandbox_namespace, cluster: Cluster):
    """Its CRD was deleted: Flux drops such entries at prune instead of failing forever (issue 16.11)."""
    group = f"gone{sandbox_namespace.replace('-', '')}.test"
    crd = _crd(group, "Widget")
    widget = {
        "apiVersion": f"{group}/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": sandbox_namespace},
        "spec": {},
    }
    settings = _configmap(sandbox_namespace, "settings")
    target = kustomization_target("widgets", sandbox_namespace, prune=True)
    cluster.apply(crd)  # installed and later removed by someone else
    cluster.forget_discovery()
    apply_and_prune(cluster, target, [settings, widget], revision="r1")
    cluster.delete(ObjectKey.of(crd))
    later = Cluster.from_kubeconfig(str(sandbox.kubeconfig), backoff_seconds=0.05)  # the next run
    result = apply_and_prune(later, target, [settings], revision="r2")
    assert [str(k) for k in result.pruned] == [f"Widget/{sandbox_namespace}/w"]
    again = apply_and_prune(later, target, [settings], revision="r3")
    assert again.pruned == [] and [c.action for c in again.changes.changes] == [Action.UNCHANGED]
