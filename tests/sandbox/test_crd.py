"""CustomResourceDefinitions: a created CRD serves its kind (with status subresource), deleting it stops."""

from __future__ import annotations

import json

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from flux_devkit.sandbox import Sandbox, SandboxError


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


def typed_crd(group: str) -> dict:
    body = crd(group)
    body["metadata"]["name"] = f"gadgets.{group}"
    body["spec"]["names"] = {"kind": "Gadget", "plural": "gadgets", "singular": "gadget"}
    body["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "required": ["size"],
                "properties": {
                    "size": {"type": "integer"},
                    "mode": {"type": "string", "enum": ["fast", "safe"], "default": "safe"},
                    "every": {"type": "string", "pattern": "^[0-9]+(s|m)$", "maxLength": 8},
                    "copies": {"type": "integer", "minimum": 1, "maximum": 5},
                    "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
                    "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                },
            },
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
    }
    return body


@pytest.fixture
def gadgets(sandbox: Sandbox, sandbox_namespace: str) -> str:
    group = f"{sandbox_namespace}.example.com"
    client.ApiextensionsV1Api(sandbox.api_client()).create_custom_resource_definition(typed_crd(group))
    return group


def gadget(group: str, **spec: object) -> dict:
    return {"apiVersion": f"{group}/v1", "kind": "Gadget", "metadata": {"name": "g"}, "spec": spec}


def test_undeclared_fields_are_pruned(sandbox: Sandbox, sandbox_namespace: str, gadgets: str) -> None:
    custom = client.CustomObjectsApi(sandbox.api_client())
    body = gadget(gadgets, size=1, colour="red", extra={"anything": {"goes": True}})
    stored = custom.create_namespaced_custom_object(gadgets, "v1", sandbox_namespace, "gadgets", body)
    assert stored["spec"] == {
        "size": 1,
        "mode": "safe",
        "extra": {"anything": {"goes": True}},
    }  # mode defaulted


def test_kubectl_strict_validation_refuses_unknown_fields(
    sandbox: Sandbox, sandbox_namespace: str, gadgets: str
) -> None:
    manifest = yaml.safe_dump(gadget(gadgets, size=1, colour="red"))
    with pytest.raises(SandboxError, match=r'strict decoding error: unknown field "spec\.colour"'):
        sandbox.kubectl("create", "-f", "-", "-n", sandbox_namespace, input=manifest)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"size": "big"}, "spec.size in body must be of type integer"),
        ({"mode": "fast"}, "spec.size: Required value"),
        ({"size": 1, "mode": "reckless"}, 'spec.mode: Unsupported value: "reckless"'),
        ({"size": 1, "every": "1d"}, "spec.every in body should match '^[0-9]+(s|m)$'"),
        ({"size": 1, "every": "123456789s"}, "spec.every in body may not be longer than 8"),
        ({"size": 1, "copies": 0}, "spec.copies in body should be greater than or equal to 1"),
        ({"size": 1, "copies": 6}, "spec.copies in body should be less than or equal to 5"),
        ({"size": 1, "tags": ["a", "b", "c"]}, "spec.tags in body should have at most 2 items"),
    ],
)
def test_schema_violations_are_422(
    sandbox: Sandbox, sandbox_namespace: str, gadgets: str, spec: dict, expected: str
) -> None:
    custom = client.CustomObjectsApi(sandbox.api_client())
    with pytest.raises(ApiException) as info:
        custom.create_namespaced_custom_object(
            gadgets, "v1", sandbox_namespace, "gadgets", gadget(gadgets, **spec)
        )
    assert info.value.status == 422
    assert expected in json.loads(info.value.body)["message"]


def test_applied_custom_resource_is_defaulted_without_owning_defaults(
    sandbox: Sandbox, sandbox_namespace: str, gadgets: str
) -> None:
    manifest = yaml.safe_dump(gadget(gadgets, size=2))
    sandbox.kubectl("apply", "--server-side", "-f", "-", "-n", sandbox_namespace, input=manifest)
    live = yaml.safe_load(
        sandbox.kubectl(
            "get", f"gadgets.{gadgets}", "g", "-o", "yaml", "--show-managed-fields", "-n", sandbox_namespace
        ).stdout
    )
    assert live["spec"] == {"size": 2, "mode": "safe"}
    owned = next(e for e in live["metadata"]["managedFields"] if e["operation"] == "Apply")["fieldsV1"]
    assert owned["f:spec"] == {"f:size": {}}


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (
            {"type": "object", "properties": {"spec": {"properties": {}}}},
            "properties[spec].type: Required value",
        ),
        ({"type": "object", "properties": {"spec": {"$ref": "#/x"}}}, "properties[spec].$ref: Forbidden"),
        (
            {
                "type": "object",
                "properties": {"a": {"type": "string"}},
                "additionalProperties": {"type": "string"},
            },
            "additionalProperties and properties are mutual exclusive",
        ),
        ({"type": "object", "properties": {"l": {"type": "array"}}}, "properties[l].items: Required value"),
        (
            {
                "type": "object",
                "properties": {"l": {"type": "array", "items": {"type": "string"}, "uniqueItems": True}},
            },
            "uniqueItems cannot be set to true",
        ),
        ({"type": "string"}, "openAPIV3Schema.type: Invalid value: must be object at the root"),
    ],
)
def test_non_structural_schemas_are_refused(
    sandbox: Sandbox, sandbox_namespace: str, schema: dict, expected: str
) -> None:
    body = crd(f"{sandbox_namespace}.example.com")
    body["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = schema
    with pytest.raises(ApiException) as info:
        client.ApiextensionsV1Api(sandbox.api_client()).create_custom_resource_definition(body)
    assert info.value.status == 422
    assert expected in json.loads(info.value.body)["message"]


def test_kubectl_prints_the_additional_printer_columns(sandbox: Sandbox, sandbox_namespace: str) -> None:
    group = f"{sandbox_namespace}.example.com"
    body = crd(group)
    body["spec"]["versions"][0]["additionalPrinterColumns"] = [
        {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
        {"name": "Status", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].message'},
        {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    client.ApiextensionsV1Api(sandbox.api_client()).create_custom_resource_definition(body)
    custom = client.CustomObjectsApi(sandbox.api_client())
    widget = {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 3}}
    stored = custom.create_namespaced_custom_object(group, "v1", sandbox_namespace, "widgets", widget)
    conditions = [
        {"type": "Reconciling", "status": "True", "message": "not this one"},
        {"type": "Ready", "status": "True", "message": "Applied revision: main@sha1:abc"},
    ]
    custom.replace_namespaced_custom_object_status(
        group, "v1", sandbox_namespace, "widgets", "w1", {**stored, "status": {"conditions": conditions}}
    )
    lines = sandbox.kubectl("get", "widgets", "-n", sandbox_namespace).stdout.splitlines()
    assert lines[0].split() == ["NAME", "READY", "STATUS", "SIZE", "AGE"]
    assert lines[1].split()[:6] == ["w1", "True", "Applied", "revision:", "main@sha1:abc", "3"]
