"""CustomResourceDefinitions: the checks the API server makes on them, the resource types they serve
and their status."""

from __future__ import annotations

from typing import Any

from flux_devkit.sandbox.resources import ResourceType
from flux_devkit.sandbox.status import invalid

# Keywords a structural schema may not use (apiextensions' structural schema rules).
_FORBIDDEN = ("$ref", "definitions", "dependencies", "patternProperties", "additionalItems", "$schema")
_TYPES = ("object", "array", "string", "integer", "number", "boolean")


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
                printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
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


def check_definition(crd: dict[str, Any]) -> None:
    """422 for a CRD the API server refuses: a non-structural schema, versions without exactly one
    storage version, or printer columns without a name, type or JSONPath."""
    spec = crd.get("spec") or {}
    versions = spec.get("versions") or []
    causes: list[tuple[str, str]] = []
    if sum(1 for v in versions if isinstance(v, dict) and v.get("storage")) != 1:
        causes.append(("spec.versions", "Invalid value: must have exactly one version marked as storage"))
    for index, version in enumerate(versions):
        if not isinstance(version, dict):
            continue
        where = f"spec.versions[{index}]"
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if isinstance(schema, dict):
            causes += _structural_problems(schema, f"{where}.schema.openAPIV3Schema", root=True)
        for number, column in enumerate(version.get("additionalPrinterColumns") or []):
            for key in ("name", "type", "jsonPath"):
                if not (isinstance(column, dict) and column.get(key)):
                    causes.append((f"{where}.additionalPrinterColumns[{number}].{key}", "Required value"))
    if causes:
        name = (crd.get("metadata") or {}).get("name", "")
        raise invalid("CustomResourceDefinition.apiextensions.k8s.io", "apiextensions.k8s.io",
                      "CustomResourceDefinition", name, causes)  # fmt: skip


def _structural_problems(node: dict[str, Any], path: str, *, root: bool = False) -> list[tuple[str, str]]:
    """Where ``node`` breaks the structural schema rules, with the API server's wording."""
    problems: list[tuple[str, str]] = []
    for keyword in _FORBIDDEN:
        if keyword in node:
            problems.append((f"{path}.{keyword}", "Forbidden: must not be used in a structural schema"))
    if node.get("uniqueItems") is True:
        problems.append((f"{path}.uniqueItems",
                         "Forbidden: uniqueItems cannot be set to true since the runtime complexity "
                         "becomes quadratic"))  # fmt: skip
    kind = node.get("type")
    free = node.get("x-kubernetes-preserve-unknown-fields") is True or node.get("x-kubernetes-int-or-string")
    if kind is None and not free:
        problems.append((f"{path}.type", "Required value: must not be empty for specified object fields"))
    elif kind is not None and kind not in _TYPES:
        problems.append((f"{path}.type", f'Unsupported value: "{kind}"'))
    if root and kind != "object":
        problems.append((f"{path}.type", "Invalid value: must be object at the root"))
    properties = node.get("properties")
    extra = node.get("additionalProperties")
    if properties is not None and extra not in (None, False):
        problems.append((f"{path}.additionalProperties",
                         "Forbidden: additionalProperties and properties are mutual exclusive"))  # fmt: skip
    for name, child in (properties or {}).items():
        if isinstance(child, dict):
            problems += _structural_problems(child, f"{path}.properties[{name}]")
    if isinstance(extra, dict):
        problems += _structural_problems(extra, f"{path}.additionalProperties")
    items = node.get("items")
    if kind == "array" and not isinstance(items, dict):
        problems.append((f"{path}.items", "Required value: must be specified"))
    elif isinstance(items, dict):
        problems += _structural_problems(items, f"{path}.items")
    return problems
