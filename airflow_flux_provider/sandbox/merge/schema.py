"""Which lists are associative (merged by key), sets, or atomic, per type.

The API server knows this from the OpenAPI extensions ``x-kubernetes-list-type`` /
``x-kubernetes-list-map-keys`` (and, for strategic merge patch, ``patchMergeKey``). The
sandbox keeps a table of the built-in fields that matter in practice and reads the
extensions from a CRD's schema; any other list is atomic and any map is granular, which
is also the API server's default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Path = tuple[str, ...]  # field names from the object root, list items skipped


@dataclass(frozen=True)
class ListType:
    kind: str  # "atomic" | "set" | "map"
    keys: tuple[str, ...] = ()


ATOMIC = ListType("atomic")
SET = ListType("set")


def _map(*keys: str) -> ListType:
    return ListType("map", keys)


# Rules by the last field names of a path; the longest matching suffix wins.
_COMMON: dict[Path, ListType] = {
    ("metadata", "finalizers"): SET,
    ("metadata", "ownerReferences"): _map("uid"),
    ("metadata", "managedFields"): ATOMIC,
    ("conditions",): _map("type"),
    ("containers",): _map("name"),
    ("initContainers",): _map("name"),
    ("ephemeralContainers",): _map("name"),
    ("containers", "ports"): _map("containerPort", "protocol"),
    ("initContainers", "ports"): _map("containerPort", "protocol"),
    ("env",): _map("name"),
    ("volumes",): _map("name"),
    ("volumeMounts",): _map("mountPath"),
    ("volumeDevices",): _map("devicePath"),
    ("imagePullSecrets",): _map("name"),
    ("hostAliases",): _map("ip"),
    ("topologySpreadConstraints",): _map("topologyKey", "whenUnsatisfiable"),
    ("resourceClaims",): _map("name"),
    ("schedulingGates",): _map("name"),
    ("readinessGates",): _map("conditionType"),
}
_BY_KIND: dict[str, dict[Path, ListType]] = {
    "Service": {("spec", "ports"): _map("port", "protocol")},
    "Endpoints": {},
    "Namespace": {("spec", "finalizers"): ATOMIC},
}


@dataclass(frozen=True)
class TypeSchema:
    """List semantics for one type; ``atomic_maps`` are maps replaced as a whole."""

    rules: dict[Path, ListType] = field(default_factory=dict)
    atomic_maps: frozenset[Path] = frozenset()
    default_list: ListType = ATOMIC

    def list_type(self, path: Path) -> ListType:
        for size in range(len(path), 0, -1):
            rule = self.rules.get(path[-size:])
            if rule is not None:
                return rule
        return self.default_list

    def is_atomic_map(self, path: Path) -> bool:
        return path in self.atomic_maps


_BUILTIN_CACHE: dict[str, TypeSchema] = {}


def schema_for(api_version: str, kind: str) -> TypeSchema:
    """The schema of a built-in type (unknown built-ins get the common rules)."""
    if kind not in _BUILTIN_CACHE:
        _BUILTIN_CACHE[kind] = TypeSchema({**_COMMON, **_BY_KIND.get(kind, {})})
    return _BUILTIN_CACHE[kind]


def schema_from_crd(openapi_v3_schema: dict[str, Any]) -> TypeSchema:
    """List and map semantics read from a CRD version's ``openAPIV3Schema``."""
    rules: dict[Path, ListType] = {
        ("metadata", "finalizers"): SET,
        ("metadata", "ownerReferences"): _map("uid"),
    }
    atomic_maps: set[Path] = set()

    def walk(node: dict[str, Any], path: Path) -> None:
        if not isinstance(node, dict):
            return
        if node.get("type") == "array":
            list_type = node.get("x-kubernetes-list-type", "atomic")
            keys = tuple(node.get("x-kubernetes-list-map-keys") or ())
            if path:
                rules[path] = ListType(list_type, keys if list_type == "map" else ())
            walk(node.get("items") or {}, path)
            return
        if node.get("x-kubernetes-map-type") == "atomic" and path:
            atomic_maps.add(path)
        for name, child in (node.get("properties") or {}).items():
            walk(child, (*path, name))

    walk(openapi_v3_schema or {}, ())
    return _CrdSchema(rules=rules, atomic_maps=frozenset(atomic_maps))


class _CrdSchema(TypeSchema):
    """A CRD schema names whole paths, so rules match exactly rather than by suffix."""

    def list_type(self, path: Path) -> ListType:
        return self.rules.get(path, self.default_list)
