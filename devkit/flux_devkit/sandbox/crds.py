"""CustomResourceDefinitions: turn a stored CRD into served resource types and its status."""

from __future__ import annotations

from typing import Any

from flux_devkit.sandbox.resources import ResourceType


def served_types(crd: dict[str, Any]) -> list[ResourceType]:
    """One :class:`ResourceType` per served version, storage version first (it is the preferred one)."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = spec.get("group", "")
    namespaced = spec.get("scope", "Namespaced") == "Namespaced"
    versions = sorted(spec.get("versions") or [], key=lambda v: not v.get("storage"))
    types = []
    for version in versions:
        if not version.get("served", True):
            continue
        subresources = version.get("subresources") or {}
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        types.append(
            ResourceType(
                group,
                version["name"],
                names.get("kind", ""),
                names.get("plural", ""),
                namespaced=namespaced,
                short_names=tuple(names.get("shortNames") or ()),
                status="status" in subresources,
                scale="scale" in subresources,
                categories=tuple(names.get("categories") or ()),
                schema=schema,
                returns_deleted=True,
            )
        )
    return types


def accepted_status(crd: dict[str, Any], now: str) -> dict[str, Any]:
    """The status the API server reports once a CRD's names are accepted and it is established."""
    spec = crd.get("spec") or {}
    names = dict(spec.get("names") or {})
    names.setdefault("singular", str(names.get("kind", "")).lower())
    names.setdefault("listKind", f"{names.get('kind', '')}List")
    conditions = [
        {
            "type": "NamesAccepted",
            "status": "True",
            "reason": "NoConflicts",
            "message": "no conflicts found",
            "lastTransitionTime": now,
        },
        {
            "type": "Established",
            "status": "True",
            "reason": "InitialNamesAccepted",
            "message": "the initial names have been accepted",
            "lastTransitionTime": now,
        },
    ]
    stored = [v["name"] for v in spec.get("versions") or [] if v.get("storage")]
    return {"acceptedNames": names, "conditions": conditions, "storedVersions": stored}
