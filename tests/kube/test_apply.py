"""Server-side apply as Flux's kustomize-controller does it, against the sandbox and the real kubectl.

Forced ownership (drift on Git's fields reverted, other owners' fields kept), the per-object
marks on the object in Git or in the cluster, the takeover of kubectl-era managers, and
``spec.force`` recreating objects whose immutable fields changed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_flux_provider.kube import Cluster, ObjectKey
from airflow_flux_provider.kube.apply import Action, Applier, ApplyError
from airflow_flux_provider.kube.reconcile import KustomizationTarget, ReconcileError
from airflow_flux_provider.specs import parse_object
from flux_devkit.sandbox import Sandbox
from tests.sandbox import manifests


def configmap(namespace: str, name: str = "settings", **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": data or {"threads": "4"},
    }


def marked(obj: dict[str, Any], where: str, key: str, value: str) -> dict[str, Any]:
    obj["metadata"].setdefault(where, {})[key] = value
    return obj


def data_of(cluster: Cluster, obj: dict[str, Any]) -> dict[str, str]:
    live = cluster.get(ObjectKey.of(obj))
    assert live is not None
    return dict(live.get("data") or {})


def managers(cluster: Cluster, obj: dict[str, Any]) -> list[tuple[str, str]]:
    live = cluster.get(ObjectKey.of(obj)) or {}
    return [(e["manager"], e["operation"]) for e in live["metadata"].get("managedFields") or []]


def patch(sandbox: Sandbox, namespace: str, target: str, body: dict[str, Any], *extra: str) -> None:
    sandbox.kubectl("patch", target, "-n", namespace, "--type=merge", "-p", json.dumps(body), *extra)


def only_change(changes: Any) -> Any:
    (change,) = changes.changes
    return change


def test_drift_on_a_field_git_sets_is_reverted_and_named(
    sandbox: Sandbox, sandbox_namespace: str, cluster: Cluster
) -> None:
    desired = configmap(sandbox_namespace, threads="4", mode="fast")
    Applier(cluster).apply_all([desired])
    patch(sandbox, sandbox_namespace, "configmap/settings", {"data": {"threads": "16"}})
    # Also a server-side applier that conflicts with Git: force ownership wins over it too.
    Cluster(cluster.api_client, field_manager="other-tool").apply(
        configmap(sandbox_namespace, mode="slow"), force=True
    )

    change = only_change(Applier(cluster).apply_all([desired]))

    assert (change.action, change.drift) == (Action.CONFIGURED, ("/data/mode", "/data/threads"))
    assert data_of(cluster, desired) == {"threads": "4", "mode": "fast"}
    assert only_change(Applier(cluster).apply_all([desired])).action == Action.UNCHANGED


def test_fields_git_does_not_set_stay_with_their_owners(
    sandbox: Sandbox, sandbox_namespace: str, cluster: Cluster
) -> None:
    """Replicas scaled through the scale subresource (an HPA's way) and fields added by a manager
    Flux leaves alone survive; a field plain ``kubectl patch`` added is taken back, as in Flux."""
    deployment = manifests.deployment("web", {"name": "app", "image": "nginx:1.27"})
    deployment["metadata"]["namespace"] = sandbox_namespace
    desired = configmap(sandbox_namespace)
    Applier(cluster).apply_all([desired, deployment])
    sandbox.kubectl("scale", "deployment/web", "--replicas=3", "-n", sandbox_namespace)
    patch(
        sandbox,
        sandbox_namespace,
        "configmap/settings",
        {"data": {"kept": "yes"}},
        "--field-manager=flux-client-side-apply",
    )
    patch(sandbox, sandbox_namespace, "configmap/settings", {"data": {"added": "by-hand"}})

    changes = Applier(cluster).apply_all([desired, deployment])

    assert [(str(c.key), c.action, c.drift) for c in changes.changes] == [
        (f"ConfigMap/{sandbox_namespace}/settings", Action.CONFIGURED, ("/data/added",)),
        (f"Deployment/{sandbox_namespace}/web", Action.UNCHANGED, ()),
    ]
    assert data_of(cluster, desired) == {"threads": "4", "kept": "yes"}
    live = cluster.get(ObjectKey.of(deployment))
    assert live is not None and live["spec"]["replicas"] == 3


def test_merge_keeps_fields_kubectl_added(sandbox: Sandbox, sandbox_namespace: str, cluster: Cluster) -> None:
    desired = marked(configmap(sandbox_namespace), "annotations", "kustomize.toolkit.fluxcd.io/ssa", "Merge")
    Applier(cluster).apply_all([desired])
    patch(sandbox, sandbox_namespace, "configmap/settings", {"data": {"added": "by-hand", "threads": "8"}})

    change = only_change(Applier(cluster).apply_all([desired]))

    assert (change.action, change.drift) == (Action.CONFIGURED, ("/data/threads",))
    assert data_of(cluster, desired) == {"threads": "4", "added": "by-hand"}


MARKS = {
    "reconcile disabled, annotation in Git": (
        "git",
        "annotations",
        "kustomize.toolkit.fluxcd.io/reconcile",
        "disabled",
    ),
    "reconcile disabled, label in the cluster": (
        "live",
        "labels",
        "kustomize.toolkit.fluxcd.io/reconcile",
        "Disabled",
    ),
    "ssa Ignore, label in Git": ("git", "labels", "kustomize.toolkit.fluxcd.io/ssa", "Ignore"),
    "ssa ignore, annotation in the cluster": (
        "live",
        "annotations",
        "kustomize.toolkit.fluxcd.io/ssa",
        "ignore",
    ),
    "ssa IfNotPresent, annotation in Git": (
        "git",
        "annotations",
        "kustomize.toolkit.fluxcd.io/ssa",
        "IfNotPresent",
    ),
    "ssa IfNotPresent, label in Git": ("git", "labels", "kustomize.toolkit.fluxcd.io/ssa", "ifnotpresent"),
}


@pytest.mark.parametrize("side,where,key,value", MARKS.values(), ids=MARKS)
def test_objects_marked_to_be_left_alone_are_skipped(
    sandbox: Sandbox, sandbox_namespace: str, cluster: Cluster, side: str, where: str, key: str, value: str
) -> None:
    cluster.apply(configmap(sandbox_namespace, threads="1"))  # somebody else's value in the cluster
    desired = configmap(sandbox_namespace, threads="4")
    if side == "git":
        marked(desired, where, key, value)
    else:
        verb = {"labels": "label", "annotations": "annotate"}[where]
        sandbox.kubectl(verb, "configmap/settings", f"{key}={value}", "-n", sandbox_namespace)

    change = only_change(Applier(cluster).apply_all([desired]))

    assert change.action == Action.SKIPPED
    assert data_of(cluster, desired) == {"threads": "1"}


def test_if_not_present_creates_a_missing_object(sandbox_namespace: str, cluster: Cluster) -> None:
    desired = marked(
        configmap(sandbox_namespace), "annotations", "kustomize.toolkit.fluxcd.io/ssa", "IfNotPresent"
    )
    assert only_change(Applier(cluster).apply_all([desired])).action == Action.CREATED
    assert data_of(cluster, desired) == {"threads": "4"}


TAKEOVERS = {
    "kubectl create": ("create", "-f", "-"),
    "kubectl apply (client-side)": ("apply", "-f", "-"),
    "kubectl apply --server-side": ("apply", "--server-side", "-f", "-"),
}


@pytest.mark.parametrize("command", TAKEOVERS.values(), ids=TAKEOVERS)
def test_objects_first_made_with_kubectl_end_up_owned_by_us(
    sandbox: Sandbox, sandbox_namespace: str, cluster: Cluster, command: tuple[str, ...]
) -> None:
    """Flux's apply cleanup: kubectl's fields are handed to us, so a key Git drops goes away."""
    made = configmap(sandbox_namespace, threads="4", old="gone-from-git")
    sandbox.kubectl(*command, "-n", sandbox_namespace, input=json.dumps(made))
    desired = configmap(sandbox_namespace, threads="4")

    change = only_change(Applier(cluster).apply_all([desired]))

    assert change.action == Action.CONFIGURED
    assert data_of(cluster, desired) == {"threads": "4"}
    assert managers(cluster, desired) == [(cluster.field_manager, "Apply")]
    live = cluster.get(ObjectKey.of(desired)) or {}
    assert "kubectl.kubernetes.io/last-applied-configuration" not in (
        live["metadata"].get("annotations") or {}
    )
    assert only_change(Applier(cluster).apply_all([desired])).action == Action.UNCHANGED


def test_object_nobody_manages_is_taken_over_from_before_first_apply(
    sandbox: Sandbox, sandbox_namespace: str, cluster: Cluster
) -> None:
    """managedFields cleared (``[{}]``, or an object from before server-side apply): the API server
    hands its fields to ``before-first-apply`` at the first apply, and the next one takes them over."""
    made = configmap(sandbox_namespace, threads="4", old="gone-from-git")
    cluster.apply(made)
    reset = json.dumps([{"op": "replace", "path": "/metadata/managedFields", "value": [{}]}])
    sandbox.kubectl("patch", "configmap/settings", "-n", sandbox_namespace, "--type=json", "-p", reset)
    assert managers(cluster, made) == []
    desired = configmap(sandbox_namespace, threads="8")

    first = only_change(Applier(cluster).apply_all([desired]))
    assert (first.action, first.drift) == (Action.CONFIGURED, ("/data/threads",))
    assert sorted(managers(cluster, desired)) == [
        (cluster.field_manager, "Apply"),
        ("before-first-apply", "Update"),
    ]
    second = only_change(Applier(cluster).apply_all([desired]))
    assert (second.action, second.drift) == (Action.CONFIGURED, ("/data/old",))
    assert data_of(cluster, desired) == {"threads": "8"}
    assert managers(cluster, desired) == [(cluster.field_manager, "Apply")]


FORCES = {
    "spec.force": ("spec", ""),
    "force annotation in Git": ("git", "annotations"),
    "force label in the cluster": ("live", "labels"),
}


@pytest.mark.parametrize("how,where", FORCES.values(), ids=FORCES)
def test_immutable_change_fails_without_force_and_recreates_with_it(
    sandbox: Sandbox, sandbox_namespace: str, cluster: Cluster, how: str, where: str
) -> None:
    frozen = {**configmap(sandbox_namespace, threads="4"), "immutable": True}
    Applier(cluster).apply_all([frozen])
    uid = (cluster.get(ObjectKey.of(frozen)) or {})["metadata"]["uid"]
    changed = {**configmap(sandbox_namespace, threads="8"), "immutable": True}
    with pytest.raises(
        ApplyError, match=f"ConfigMap/{sandbox_namespace}/settings dry-run failed: .*immutable"
    ):
        Applier(cluster).apply_all([changed])

    if how == "git":
        marked(changed, where, "kustomize.toolkit.fluxcd.io/force", "Enabled")
    if how == "live":
        sandbox.kubectl(
            "label",
            "configmap/settings",
            "kustomize.toolkit.fluxcd.io/force=enabled",
            "-n",
            sandbox_namespace,
        )
    change = only_change(Applier(cluster, force=how == "spec").apply_all([changed]))

    assert change.action == Action.CREATED
    live = cluster.get(ObjectKey.of(changed)) or {}
    assert live["data"] == {"threads": "8"} and live["metadata"]["uid"] != uid


def test_force_never_deletes_an_object_that_is_invalid_as_a_new_one(
    sandbox_namespace: str, cluster: Cluster
) -> None:
    """Flux deletes on any Invalid error with force and only then learns the object cannot be created."""
    Applier(cluster).apply_all([configmap(sandbox_namespace)])
    broken = marked(configmap(sandbox_namespace), "labels", "team", "not a valid label value!")

    with pytest.raises(ApplyError, match="not recreated, it is not valid as a new object either"):
        Applier(cluster, force=True).apply_all([broken])
    assert data_of(cluster, broken) == {"threads": "4"}


def test_diff_names_drifted_fields_masks_secrets_and_writes_nothing(
    sandbox: Sandbox, sandbox_namespace: str, cluster: Cluster
) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": sandbox_namespace},
        "stringData": {"password": "from-git", "user": "app"},
    }
    settings = configmap(sandbox_namespace, threads="4")
    frozen = {**configmap(sandbox_namespace, "frozen", threads="1"), "immutable": True}
    ignored = marked(
        configmap(sandbox_namespace, "ignored"), "labels", "kustomize.toolkit.fluxcd.io/ssa", "Ignore"
    )
    Applier(cluster).apply_all([secret, settings, frozen])
    patch(sandbox, sandbox_namespace, "configmap/settings", {"data": {"threads": "16"}})
    patch(sandbox, sandbox_namespace, "secret/db", {"stringData": {"password": "hunter2"}})
    before = {o["metadata"]["name"]: cluster.get(ObjectKey.of(o)) for o in (secret, settings, frozen)}
    changed_frozen = {**frozen, "data": {"threads": "2"}}

    diffs = {
        d.key.name: d
        for d in (Applier(cluster, force=True).diff(o) for o in (secret, settings, changed_frozen, ignored))
    }

    assert {name: d.action for name, d in diffs.items()} == {
        "db": Action.CONFIGURED,
        "settings": Action.CONFIGURED,
        "frozen": Action.CREATED,  # force would recreate it
        "ignored": Action.SKIPPED,
    }
    assert [c.lines() for c in diffs["settings"].fields] == [["/data/threads", "  - 16", "  + 4"]]
    assert [c.lines() for c in diffs["db"].fields] == [
        ["/data/password", "  - *** (before)", "  + *** (after)"]
    ]
    assert "hunter2" not in repr(diffs) and "from-git" not in repr(diffs)
    after = {o["metadata"]["name"]: cluster.get(ObjectKey.of(o)) for o in (secret, settings, frozen)}
    assert after == before


def kustomization_target(namespace: str, *ignore: dict[str, Any]) -> KustomizationTarget:
    ks = parse_object(
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": namespace},
            "spec": {
                "interval": "10m",
                "prune": True,
                "path": "./apps",
                "sourceRef": {"kind": "GitRepository", "name": "repo"},
                "ignore": list(ignore),
            },
        }
    )
    return KustomizationTarget.of(ks)


def web(namespace: str, image: str = "nginx:1.27") -> dict[str, Any]:
    obj = manifests.deployment("web", {"name": "app", "image": image}, replicas=2)
    obj["metadata"]["namespace"] = namespace
    return obj


def test_spec_ignore_keeps_live_values_of_ignored_fields(
    sandbox: Sandbox, sandbox_namespace: str, cluster: Cluster
) -> None:
    """``spec.ignore`` of ``/spec/replicas`` on Deployments: scaling is not drift, and an apply for
    another change keeps the scaled value; objects the target does not select are corrected."""
    target = kustomization_target(
        sandbox_namespace, {"paths": ["/spec/replicas"], "target": {"kind": "Deployment"}}
    )
    applier = Applier(cluster, ignore=target.ignore)
    settings = configmap(sandbox_namespace)
    applier.apply_all([settings, web(sandbox_namespace)])
    sandbox.kubectl("scale", "deployment/web", "--replicas=5", "-n", sandbox_namespace)
    patch(sandbox, sandbox_namespace, "configmap/settings", {"data": {"threads": "9"}})

    again = applier.apply_all([settings, web(sandbox_namespace)])
    assert [(c.key.kind, c.action) for c in again.changes] == [
        ("ConfigMap", Action.CONFIGURED),
        ("Deployment", Action.UNCHANGED),
    ]
    changed = only_change(applier.apply_all([web(sandbox_namespace, image="nginx:1.28")]))

    assert (changed.action, changed.drift) == (Action.CONFIGURED, ("/spec/template/spec/containers/0/image",))
    live = cluster.get(ObjectKey.of(web(sandbox_namespace))) or {}
    assert live["spec"]["replicas"] == 5
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"


def test_spec_ignore_leaves_a_field_to_the_server_side_applier_that_owns_it(
    sandbox_namespace: str, cluster: Cluster
) -> None:
    target = kustomization_target(sandbox_namespace, {"paths": ["/spec/replicas"]})
    applier = Applier(cluster, ignore=target.ignore)
    applier.apply_all([web(sandbox_namespace)])
    autoscaler = Cluster(cluster.api_client, field_manager="autoscaler")
    scaled = {k: v for k, v in web(sandbox_namespace).items() if k != "spec"} | {"spec": {"replicas": 7}}
    autoscaler.apply(scaled, force=True)

    assert (
        only_change(applier.apply_all([web(sandbox_namespace, image="nginx:1.28")])).action
        == Action.CONFIGURED
    )

    live = cluster.get(ObjectKey.of(scaled)) or {}
    assert live["spec"]["replicas"] == 7
    ours = next(e for e in live["metadata"]["managedFields"] if e["manager"] == cluster.field_manager)
    assert "f:replicas" not in ours["fieldsV1"]["f:spec"]  # given up, not taken back


BAD_IGNORE_RULES = {
    "pointer without a leading slash": (
        {"paths": ["spec/replicas"]},
        r"spec\.ignore\[0\]\.paths\[0\].*start it with '/'",
    ),
    "target pattern that is not RE2": (
        {"paths": ["/spec"], "target": {"name": "(?=x)"}},
        r"spec\.ignore\[0\]\.target\.name",
    ),
    "label selector that does not parse": (
        {"paths": ["/spec"], "target": {"labelSelector": "a in (b"}},
        r"spec\.ignore\[0\]\.target\.labelSelector",
    ),
}


@pytest.mark.parametrize("rule,message", BAD_IGNORE_RULES.values(), ids=BAD_IGNORE_RULES)
def test_bad_ignore_rules_name_the_field(rule: dict[str, Any], message: str) -> None:
    with pytest.raises(ReconcileError, match=message):
        kustomization_target("apps", rule)


def test_spec_ignore_does_not_add_an_ignored_field_the_live_object_lacks(
    sandbox_namespace: str, cluster: Cluster
) -> None:
    """An ignored field that is in Git but not in the cluster stays out when the object is applied anyway."""
    cluster.apply(configmap(sandbox_namespace, threads="1"))
    target = kustomization_target(
        sandbox_namespace, {"paths": ["/data/extra"], "target": {"kind": "ConfigMap"}}
    )
    changed = only_change(
        Applier(cluster, ignore=target.ignore).apply_all(
            [configmap(sandbox_namespace, threads="2", extra="x")]
        )
    )
    assert (changed.action, changed.drift) == (Action.CONFIGURED, ("/data/threads",))
    assert data_of(cluster, configmap(sandbox_namespace)) == {"threads": "2"}
