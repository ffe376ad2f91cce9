"""Just enough OpenAPI v3 for kubectl and helm: one document per group-version, listing every
resource path and its operations, with the ``fieldValidation`` query parameter on PATCH so
clients leave validation to the server (``fieldValidation=Strict``) instead of downloading schemas.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flux_devkit.sandbox.resources import ResourceTable, ResourceType

V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
EMPTY_V2_PROTOBUF = b"\x0a\x032.0"  # openapi_v2.Document{swagger: "2.0"}
_QUERY = ("dryRun", "fieldManager", "fieldValidation", "force")


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _gvk(rt: ResourceType) -> dict[str, str]:
    return {"group": rt.group, "version": rt.version, "kind": rt.kind}


def _operation(rt: ResourceType, action: str, with_params: bool) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": f"{action}{rt.kind}",
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": _gvk(rt),
        "responses": {"200": {"description": "OK"}},
    }
    if with_params:
        op["parameters"] = [{"name": p, "in": "query", "schema": {"type": "string"}} for p in _QUERY]
    return op


def group_version_doc(table: ResourceTable, group: str, version: str) -> dict[str, Any] | None:
    types = [rt for rt in table.all() if rt.group == group and rt.version == version]
    if not types:
        return None
    paths: dict[str, Any] = {}
    prefix = "/" + _gv_path(group, version)
    for rt in types:
        base = f"{prefix}/namespaces/{{namespace}}/{rt.plural}" if rt.namespaced else f"{prefix}/{rt.plural}"
        paths[base] = {"get": _operation(rt, "list", False), "post": _operation(rt, "post", True)}
        item = {
            "get": _operation(rt, "get", False),
            "put": _operation(rt, "put", True),
            "patch": _operation(rt, "patch", True),
            "delete": _operation(rt, "delete", True),
        }
        paths[f"{base}/{{name}}"] = item
        for sub in rt.subresources():
            paths[f"{base}/{{name}}/{sub}"] = {"get": _operation(rt, "get", False)}
            if sub != "log":
                paths[f"{base}/{{name}}/{sub}"].update(
                    put=_operation(rt, "put", True), patch=_operation(rt, "patch", True)
                )
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (flux sandbox)", "version": "v1.37.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }


def root(table: ResourceTable) -> dict[str, Any]:
    """``/openapi/v3``: one entry per group-version, with a hash that changes when its resources do."""
    entries: dict[str, Any] = {}
    for group, versions in table.groups().items():
        for version in versions:
            doc = group_version_doc(table, group, version)
            digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32].upper()
            path = _gv_path(group, version)
            entries[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": entries}
