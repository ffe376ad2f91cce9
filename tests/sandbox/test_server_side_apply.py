"""Server-side apply semantics, case by case, as the Kubernetes documentation describes them.

Each test drives the server over HTTP (the kubernetes client, kubectl, or the dynamic
client) and checks what a user relies on: who owns which field, when applies conflict,
what ``force`` does, and which fields disappear when a manager stops applying them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from flux_devkit.sandbox import Sandbox, SandboxError


def apply(
    sandbox: Sandbox,
    namespace: str,
    obj: dict[str, Any],
    manager: str,
    *,
    force: bool = False,
    dry_run: bool = False,
) -> dict[str, Any]:
    """PATCH application/apply-patch+yaml, the way every SSA client sends it; returns the live object."""
    api = sandbox.api_client()
    plural = {"ConfigMap": "configmaps", "Deployment": "deployments"}[obj["kind"]]
    prefix = "/api/v1" if obj["apiVersion"] == "v1" else f"/apis/{obj['apiVersion']}"
    query = [("fieldManager", manager)]
    if force:
        query.append(("force", "true"))
    if dry_run:
        query.append(("dryRun", "All"))
    response = api.call_api(
        f"{prefix}/namespaces/{namespace}/{plural}/{obj['metadata']['name']}",
        "PATCH",
        query_params=query,
        header_params={"Content-Type": "application/apply-patch+yaml", "Accept": "application/json"},
        body=obj,  # the client JSON-encodes it; JSON is YAML
        auth_settings=["BearerToken"],
        _preload_content=False,
        _return_http_data_only=True,
    )
    return dict(json.loads(response.data))


def cm(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def owners(obj: dict[str, Any]) -> dict[str, set[str]]:
    """manager -> the top-level data keys it owns (from managedFields fieldsV1)."""
    result: dict[str, set[str]] = {}
    for entry in obj["metadata"].get("managedFields") or []:
        fields = entry.get("fieldsV1", {}).get("f:data", {})
        result.setdefault(entry["manager"], set()).update(k[2:] for k in fields if k.startswith("f:"))
    return result


def status_of(err: ApiException) -> dict[str, Any]:
    return dict(json.loads(err.body))


def test_apply_creates_and_records_ownership(sandbox: Sandbox, sandbox_namespace: str) -> None:
    live = apply(sandbox, sandbox_namespace, cm("a", x="1"), "alice")
    assert live["data"] == {"x": "1"}
    entry = next(e for e in live["metadata"]["managedFields"] if e["manager"] == "alice")
    assert entry["operation"] == "Apply"
    assert owners(live)["alice"] == {"x"}


def test_reapplying_the_same_config_changes_nothing(sandbox: Sandbox, sandbox_namespace: str) -> None:
    first = apply(sandbox, sandbox_namespace, cm("same", x="1"), "alice")
    second = apply(sandbox, sandbox_namespace, cm("same", x="1"), "alice")
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]


def test_same_value_from_two_managers_is_shared_ownership(sandbox: Sandbox, sandbox_namespace: str) -> None:
    apply(sandbox, sandbox_namespace, cm("shared", x="1"), "alice")
    live = apply(sandbox, sandbox_namespace, cm("shared", x="1"), "bob")
    assert owners(live)["alice"] == {"x"} and owners(live)["bob"] == {"x"}


def test_different_value_conflicts_and_names_the_field(sandbox: Sandbox, sandbox_namespace: str) -> None:
    apply(sandbox, sandbox_namespace, cm("fight", x="1"), "alice")
    with pytest.raises(ApiException) as info:
        apply(sandbox, sandbox_namespace, cm("fight", x="2"), "bob")
    assert info.value.status == 409
    status = status_of(info.value)
    assert status["reason"] == "Conflict"
    assert status["message"].startswith("Apply failed with 1 conflict")
    assert "alice" in status["message"] and ".data.x" in status["message"]
    assert [c["field"] for c in status["details"]["causes"]] == [".data.x"]


def test_force_takes_ownership(sandbox: Sandbox, sandbox_namespace: str) -> None:
    apply(sandbox, sandbox_namespace, cm("force", x="1", y="1"), "alice")
    live = apply(sandbox, sandbox_namespace, cm("force", x="2"), "bob", force=True)
    assert live["data"] == {"x": "2", "y": "1"}
    assert owners(live)["bob"] == {"x"}
    assert owners(live)["alice"] == {"y"}


def test_field_a_manager_stops_applying_is_removed(sandbox: Sandbox, sandbox_namespace: str) -> None:
    apply(sandbox, sandbox_namespace, cm("shrink", x="1", y="2"), "alice")
    live = apply(sandbox, sandbox_namespace, cm("shrink", x="1"), "alice")
    assert live["data"] == {"x": "1"}


def test_co_owned_field_survives_one_manager_dropping_it(sandbox: Sandbox, sandbox_namespace: str) -> None:
    apply(sandbox, sandbox_namespace, cm("co", x="1", y="2"), "alice")
    apply(sandbox, sandbox_namespace, cm("co", y="2"), "bob")
    live = apply(sandbox, sandbox_namespace, cm("co", x="1"), "alice")
    assert live["data"] == {"x": "1", "y": "2"}
    assert owners(live)["bob"] == {"y"}


def test_update_takes_ownership_and_next_apply_conflicts(sandbox: Sandbox, sandbox_namespace: str) -> None:
    apply(sandbox, sandbox_namespace, cm("edited", x="1"), "alice")
    core = client.CoreV1Api(sandbox.api_client())
    core.patch_namespaced_config_map(
        "edited", sandbox_namespace, {"data": {"x": "hand"}}, field_manager="editor"
    )
    with pytest.raises(ApiException) as info:
        apply(sandbox, sandbox_namespace, cm("edited", x="1"), "alice")
    assert info.value.status == 409 and "editor" in status_of(info.value)["message"]


def test_containers_merge_by_name_across_managers(sandbox: Sandbox, sandbox_namespace: str) -> None:
    def deploy(*containers: str) -> dict[str, Any]:
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "multi"},
            "spec": {
                "selector": {"matchLabels": {"app": "multi"}},
                "template": {
                    "metadata": {"labels": {"app": "multi"}},
                    "spec": {"containers": [{"name": c, "image": f"{c}:1"} for c in containers]},
                },
            },
        }

    apply(sandbox, sandbox_namespace, deploy("app"), "alice")
    sidecar = deploy("sidecar")
    live = apply(sandbox, sandbox_namespace, sidecar, "bob")
    names = [c["name"] for c in live["spec"]["template"]["spec"]["containers"]]
    assert sorted(names) == ["app", "sidecar"]
    bob_drops = deploy()
    bob_drops["spec"]["template"]["spec"]["containers"] = []
    live = apply(sandbox, sandbox_namespace, bob_drops, "bob")
    assert [c["name"] for c in live["spec"]["template"]["spec"]["containers"]] == ["app"]


def test_apply_needs_field_manager(sandbox: Sandbox, sandbox_namespace: str) -> None:
    api = sandbox.api_client()
    with pytest.raises(ApiException) as info:
        api.call_api(
            f"/api/v1/namespaces/{sandbox_namespace}/configmaps/x",
            "PATCH",
            header_params={"Content-Type": "application/apply-patch+yaml"},
            body=cm("x"),
            auth_settings=["BearerToken"],
        )
    assert info.value.status == 400 and "fieldManager" in status_of(info.value)["message"]


def test_dry_run_apply_does_not_persist(sandbox: Sandbox, sandbox_namespace: str) -> None:
    live = apply(sandbox, sandbox_namespace, cm("dry", x="1"), "alice", dry_run=True)
    assert live["data"] == {"x": "1"}
    with pytest.raises(ApiException) as info:
        client.CoreV1Api(sandbox.api_client()).read_namespaced_config_map("dry", sandbox_namespace)
    assert info.value.status == 404


def test_kubectl_server_side_apply_conflict_then_force(sandbox: Sandbox, sandbox_namespace: str) -> None:
    ns = ("-n", sandbox_namespace)
    sandbox.kubectl("apply", "--server-side", "-f", "-", *ns, input=yaml.safe_dump(cm("k", x="1")))
    with pytest.raises(SandboxError, match="conflict"):
        sandbox.kubectl(
            "apply",
            "--server-side",
            "--field-manager",
            "other",
            "-f",
            "-",
            *ns,
            input=yaml.safe_dump(cm("k", x="2")),
        )
    sandbox.kubectl(
        "apply",
        "--server-side",
        "--field-manager",
        "other",
        "--force-conflicts",
        "-f",
        "-",
        *ns,
        input=yaml.safe_dump(cm("k", x="2")),
    )
    live = yaml.safe_load(
        sandbox.kubectl("get", "configmap", "k", "-o", "yaml", "--show-managed-fields", *ns).stdout
    )
    assert live["data"] == {"x": "2"}
    assert {e["manager"] for e in live["metadata"]["managedFields"]} >= {"other"}


def test_dynamic_client_apply_and_list_by_selector(sandbox: Sandbox, sandbox_namespace: str) -> None:
    dynamic = sandbox.dynamic_client()
    configmaps = dynamic.resources.get(api_version="v1", kind="ConfigMap")
    for name, tier in (("d1", "web"), ("d2", "db")):
        body = {
            **cm(name, x="1"),
            "metadata": {"name": name, "namespace": sandbox_namespace, "labels": {"tier": tier}},
        }
        configmaps.server_side_apply(body=body, field_manager="dyn", namespace=sandbox_namespace)
    web = configmaps.get(namespace=sandbox_namespace, label_selector="tier=web")
    assert [i.metadata.name for i in web.items] == ["d1"]
