"""CustomResourceDefinitions: a created CRD serves its kind (with status subresource), deleting it stops."""

from __future__ import annotations

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from airflow_flux_provider.sandbox import Sandbox


def crd(group: str) -> dict:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "shortNames": ["wd"]},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
            ],
        },
    }


def test_crd_lifecycle(sandbox: Sandbox, sandbox_namespace: str) -> None:
    group = f"{sandbox_namespace}.example.com"
    ext = client.ApiextensionsV1Api(sandbox.api_client())
    created = ext.create_custom_resource_definition(crd(group))
    assert {c.type for c in created.status.conditions} == {"NamesAccepted", "Established"}
    custom = client.CustomObjectsApi(sandbox.api_client())
    widget = {
        "apiVersion": f"{group}/v1",
        "kind": "Widget",
        "metadata": {"name": "w1"},
        "spec": {"size": 1},
        "status": {"ignored": True},
    }
    stored = custom.create_namespaced_custom_object(group, "v1", sandbox_namespace, "widgets", widget)
    assert "status" not in stored  # status is a subresource: dropped on create
    custom.replace_namespaced_custom_object_status(
        group,
        "v1",
        sandbox_namespace,
        "widgets",
        "w1",
        {**stored, "spec": {"size": 9}, "status": {"phase": "Ready"}},
    )
    live = custom.get_namespaced_custom_object(group, "v1", sandbox_namespace, "widgets", "w1")
    assert live["status"] == {"phase": "Ready"}
    assert (
        live["spec"] == {"size": 1} and live["metadata"]["generation"] == 1
    )  # a status write changes only status
    discovered = sandbox.kubectl("api-resources", "--api-group", group).stdout
    assert "widgets" in discovered and "wd" in discovered
    assert "w1" in sandbox.kubectl("get", "wd", "-n", sandbox_namespace).stdout
    ext.delete_custom_resource_definition(f"widgets.{group}")
    with pytest.raises(ApiException) as info:
        custom.get_namespaced_custom_object(group, "v1", sandbox_namespace, "widgets", "w1")
    assert info.value.status == 404
