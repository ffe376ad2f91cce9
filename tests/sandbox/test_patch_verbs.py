"""Patch verbs (JSON, merge, strategic) through the real ``kubernetes`` client."""

from __future__ import annotations

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from flux_devkit.sandbox import Sandbox
from tests.sandbox.manifests import deployment
from tests.sandbox.test_crud import _status, apps, configmap, core

__all__ = ["apps", "core"]


def test_generation_bumps_on_spec_change_only(apps: client.AppsV1Api, sandbox_namespace: str) -> None:
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
        },
    }
    created = apps.create_namespaced_deployment(sandbox_namespace, body)
    assert created.metadata.generation == 1
    labelled = apps.patch_namespaced_deployment(
        "web", sandbox_namespace, {"metadata": {"labels": {"x": "y"}}}
    )
    assert labelled.metadata.generation == 1
    scaled = apps.patch_namespaced_deployment("web", sandbox_namespace, {"spec": {"replicas": 3}})
    assert scaled.metadata.generation == 2


def test_immutable_selector_is_rejected(apps: client.AppsV1Api, sandbox_namespace: str) -> None:
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "fixed"},
        "spec": {
            "selector": {"matchLabels": {"app": "a"}},
            "template": {
                "metadata": {"labels": {"app": "a"}},
                "spec": {"containers": [{"name": "c", "image": "x"}]},
            },
        },
    }
    apps.create_namespaced_deployment(sandbox_namespace, body)
    with pytest.raises(ApiException) as info:
        apps.patch_namespaced_deployment(
            "fixed",
            sandbox_namespace,
            [{"op": "replace", "path": "/spec/selector/matchLabels/app", "value": "b"}],
        )
    assert info.value.status == 422
    assert "spec.selector" in _status(info.value)["message"]
    assert "field is immutable" in _status(info.value)["message"]


def test_delete_with_finalizer_waits_until_finalizer_removed(
    core: client.CoreV1Api, sandbox_namespace: str
) -> None:
    body = configmap("held")
    body["metadata"]["finalizers"] = ["example.com/hold"]
    core.create_namespaced_config_map(sandbox_namespace, body)
    core.delete_namespaced_config_map("held", sandbox_namespace)
    held = core.read_namespaced_config_map("held", sandbox_namespace)
    assert held.metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map("held", sandbox_namespace, {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as info:
        core.read_namespaced_config_map("held", sandbox_namespace)
    assert info.value.status == 404


def test_strategic_merge_patch_merges_containers_by_name(
    apps: client.AppsV1Api, sandbox_namespace: str
) -> None:
    apps.create_namespaced_deployment(
        sandbox_namespace, deployment("smp", *({"name": c, "image": f"{c}:1"} for c in ("app", "sidecar")))
    )
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "sidecar:2"}]}}}}
    live = apps.patch_namespaced_deployment("smp", sandbox_namespace, patch)
    images = {c.name: c.image for c in live.spec.template.spec.containers}
    assert images == {"app": "app:1", "sidecar": "sidecar:2"}


def test_merge_patch_null_deletes_a_key(sandbox: Sandbox, sandbox_namespace: str) -> None:
    core = client.CoreV1Api(sandbox.api_client())
    core.create_namespaced_config_map(sandbox_namespace, configmap("mp", a="1", b="2"))
    api = sandbox.api_client()
    api.call_api(
        f"/api/v1/namespaces/{sandbox_namespace}/configmaps/mp",
        "PATCH",
        header_params={"Content-Type": "application/merge-patch+json"},
        body={"data": {"a": None, "c": "3"}},
        auth_settings=["BearerToken"],
        _preload_content=False,
    )
    assert core.read_namespaced_config_map("mp", sandbox_namespace).data == {"b": "2", "c": "3"}


def test_failed_json_patch_test_op_changes_nothing(core: client.CoreV1Api, sandbox_namespace: str) -> None:
    core.create_namespaced_config_map(sandbox_namespace, configmap("jp", a="1"))
    ops = [
        {"op": "test", "path": "/data/a", "value": "2"},
        {"op": "replace", "path": "/data/a", "value": "3"},
    ]
    with pytest.raises(ApiException) as info:
        core.patch_namespaced_config_map("jp", sandbox_namespace, ops)
    assert info.value.status == 422
    assert core.read_namespaced_config_map("jp", sandbox_namespace).data == {"a": "1"}
