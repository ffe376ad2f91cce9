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
    #: Values the API server defaults a missing key field to (ports' protocol is TCP), so an
    #: applied item without it still matches the stored, defaulted one.
    key_defaults: tuple[tuple[str, str], ...] = ()


ATOMIC = ListType("atomic")
SET = ListType("set")


#: Key fields the API server defaults when an item omits them.
KEY_DEFAULTS = {"protocol": "TCP"}


def _map(*keys: str) -> ListType:
    return ListType("map", keys, tuple((k, KEY_DEFAULTS[k]) for k in keys if k in KEY_DEFAULTS))


# Metadata lists every type shares, custom resources included.
_METADATA: dict[Path, ListType] = {
    ("metadata", "finalizers"): SET,
    ("metadata", "ownerReferences"): _map("uid"),
    ("metadata", "managedFields"): ATOMIC,
}
# Rules of the built-in types by the last field names of a path; the longest matching suffix
# wins. Lists not named here (tolerations, args, command, RBAC rules, Ingress rules...) are atomic.
_COMMON: dict[Path, ListType] = {
    **_METADATA,
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
# Maps the built-in types declare atomic (label selectors, key references), by path suffix:
# they are owned, conflict and are replaced as one field, as ``f:selector: {}`` shows.
_ATOMIC_MAPS = frozenset({
    ("spec", "selector"), ("podSelector",), ("namespaceSelector",), ("labelSelector",),
    ("secretKeyRef",), ("configMapKeyRef",), ("fieldRef",), ("resourceFieldRef",),
})  # fmt: skip
_BY_KIND: dict[str, dict[Path, ListType]] = {
    "Service": {("spec", "ports"): _map("port", "protocol")},
    "Namespace": {("spec", "finalizers"): ATOMIC},
}
_CORE_KINDS = frozenset({
    "Namespace", "ConfigMap", "Secret", "Service", "ServiceAccount", "Pod", "Event", "Endpoints",
    "PersistentVolumeClaim", "PersistentVolume", "LimitRange", "ResourceQuota", "Node",
    "ReplicationController",
})  # fmt: skip
# The types the sandbox serves, by API group; other types get only the metadata rules.
_BUILTIN_KINDS: dict[str, frozenset[str]] = {
    "": _CORE_KINDS,
    "apps": frozenset({"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "ControllerRevision"}),
    "batch": frozenset({"Job", "CronJob"}),
    "autoscaling": frozenset({"HorizontalPodAutoscaler"}),
    "policy": frozenset({"PodDisruptionBudget"}),
    "networking.k8s.io": frozenset({"Ingress", "IngressClass", "NetworkPolicy"}),
    "rbac.authorization.k8s.io": frozenset({"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}),
    "apiextensions.k8s.io": frozenset({"CustomResourceDefinition"}),
    "events.k8s.io": frozenset({"Event"}),
    "coordination.k8s.io": frozenset({"Lease"}),
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
        return path[-1:] in self.atomic_maps or path[-2:] in self.atomic_maps


_BUILTIN_CACHE: dict[tuple[str, str], TypeSchema] = {}


def schema_for(api_version: str, kind: str) -> TypeSchema:
    """The schema of a built-in type; an unknown type gets atomic lists and granular maps."""
    group = api_version.rpartition("/")[0]
    if (group, kind) not in _BUILTIN_CACHE:
        known = kind in _BUILTIN_KINDS.get(group, frozenset())
        rules = {**_COMMON, **_BY_KIND.get(kind, {})} if known else dict(_METADATA)
        _BUILTIN_CACHE[(group, kind)] = TypeSchema(rules, _ATOMIC_MAPS if known else frozenset())
    return _BUILTIN_CACHE[(group, kind)]


def schema_from_crd(openapi_v3_schema: dict[str, Any]) -> TypeSchema:
    """List and map semantics read from a CRD version's ``openAPIV3Schema``.

    Values of a map declared with ``additionalProperties`` sit under any key: their rules
    are kept as patterns with a ``*`` element.
    """
    rules: dict[Path, ListType] = dict(_METADATA)
    atomic_maps: set[Path] = set()

    def walk(node: dict[str, Any], path: Path) -> None:
        if not isinstance(node, dict):
            return
        if node.get("type") == "array":
            kind = node.get("x-kubernetes-list-type", "atomic")
            keys = tuple(node.get("x-kubernetes-list-map-keys") or ())
            if path and kind == "map" and keys:
                rules[path] = ListType("map", keys)
            elif path:  # a map list without keys is not a valid CRD: treat it as atomic
                rules[path] = SET if kind == "set" else ATOMIC
            walk(node.get("items") or {}, path)
            return
        if node.get("x-kubernetes-map-type") == "atomic" and path:
            atomic_maps.add(path)
        for name, child in (node.get("properties") or {}).items():
            walk(child, (*path, name))
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], (*path, "*"))

    walk(openapi_v3_schema or {}, ())
    return _CrdSchema(
        rules={p: r for p, r in rules.items() if "*" not in p},
        atomic_maps=frozenset(p for p in atomic_maps if "*" not in p),
        rule_patterns=tuple((p, r) for p, r in rules.items() if "*" in p),
        atomic_map_patterns=tuple(p for p in atomic_maps if "*" in p),
    )


def _matches(pattern: Path, path: Path) -> bool:
    return len(pattern) == len(path) and all(p in ("*", n) for p, n in zip(pattern, path, strict=True))


@dataclass(frozen=True)
class _CrdSchema(TypeSchema):
    """A CRD schema names whole paths, so rules match exactly (or by pattern) rather than by suffix."""

    rule_patterns: tuple[tuple[Path, ListType], ...] = ()
    atomic_map_patterns: tuple[Path, ...] = ()

    def list_type(self, path: Path) -> ListType:
        rule = self.rules.get(path)
        if rule is None:
            rule = next((r for p, r in self.rule_patterns if _matches(p, path)), self.default_list)
        return rule

    def is_atomic_map(self, path: Path) -> bool:
        return path in self.atomic_maps or any(_matches(p, path) for p in self.atomic_map_patterns)
