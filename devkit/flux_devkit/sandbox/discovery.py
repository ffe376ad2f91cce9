"""Discovery documents (/api, /apis, /api/v1, /apis/<group>/<version>) and /version.

Built from the live :class:`ResourceTable`, so a CRD shows up in discovery as soon as
it is created, which is what kubectl and helm look for before using a custom kind.
"""

from __future__ import annotations

from typing import Any

from flux_devkit.sandbox.resources import ResourceTable, ResourceType

KUBE_VERSION = (1, 37, 0)
SUBRESOURCE_VERBS = ["get", "patch", "update"]


def version_info() -> dict[str, str]:
    major, minor, patch = KUBE_VERSION
    return {
        "major": str(major),
        "minor": str(minor),
        "gitVersion": f"v{major}.{minor}.{patch}",
        "gitCommit": "sandbox",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.25",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def api_versions(address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
    }


def group_list(table: ResourceTable) -> dict[str, Any]:
    groups = []
    for name, versions in sorted(table.groups().items(), key=lambda kv: kv[0]):
        if not name:
            continue
        entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
        groups.append({"name": name, "versions": entries, "preferredVersion": entries[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def group(table: ResourceTable, name: str) -> dict[str, Any] | None:
    versions = table.groups().get(name)
    if not versions:
        return None
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": name,
        "versions": entries,
        "preferredVersion": entries[0],
    }


def _entries(rt: ResourceType) -> list[dict[str, Any]]:
    main: dict[str, Any] = {
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        main["shortNames"] = list(rt.short_names)
    if rt.categories:
        main["categories"] = list(rt.categories)
    entries = [main]
    if rt.status:
        entries.append(
            {
                "name": f"{rt.plural}/status",
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": rt.kind,
                "verbs": SUBRESOURCE_VERBS,
            }
        )
    if rt.logs:
        entries.append(
            {
                "name": f"{rt.plural}/log",
                "singularName": "",
                "namespaced": True,
                "kind": rt.kind,
                "verbs": ["get"],
            }
        )
    if rt.scale:
        entries.append(
            {
                "name": f"{rt.plural}/scale",
                "singularName": "",
                "namespaced": rt.namespaced,
                "group": "autoscaling",
                "version": "v1",
                "kind": "Scale",
                "verbs": SUBRESOURCE_VERBS,
            }
        )
    return entries


def resource_list(table: ResourceTable, group_name: str, version: str) -> dict[str, Any] | None:
    types = sorted(
        (rt for rt in table.all() if rt.group == group_name and rt.version == version), key=lambda r: r.plural
    )
    if not types:
        return None
    group_version = f"{group_name}/{version}" if group_name else version
    resources = [entry for rt in types for entry in _entries(rt)]
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }
