"""Flux's inventory: which objects a Kustomization (or HelmRelease) applied, in Flux's id format.

Ids are ``<namespace>_<name>_<group>_<kind>`` with the API version kept beside them, so
the stored inventory reads the same as ``.status.inventory`` of a Flux Kustomization.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from airflow_flux_provider.kube.cluster import KubeError, ObjectKey

_RBAC_GROUP = "rbac.authorization.k8s.io"


class InventoryError(KubeError):
    """A stored inventory entry is not ``{id: <namespace>_<name>_<group>_<kind>, v: <version>}``."""


def inventory_id(key: ObjectKey) -> str:
    name = key.name.replace(":", "__") if key.group == _RBAC_GROUP else key.name
    return f"{key.namespace}_{name}_{key.group}_{key.kind}"


def parse_id(entry_id: str, version: str) -> ObjectKey:
    namespace, _, rest = entry_id.partition("_")
    rest, _, kind = rest.rpartition("_")
    name, _, group = rest.rpartition("_")
    if group == _RBAC_GROUP:
        name = name.replace("__", ":")
    api_version = f"{group}/{version}" if group else version
    return ObjectKey(api_version, kind, namespace, name)


@dataclass
class Inventory:
    """An ordered set of object keys; equality ignores the API version as Flux does."""

    entries: dict[str, str] = field(default_factory=dict)  # id -> version

    @classmethod
    def of(cls, keys: Iterable[ObjectKey]) -> Inventory:
        return cls({inventory_id(k): k.api_version.rpartition("/")[2] for k in keys})

    @classmethod
    def from_entries(cls, entries: Iterable[dict[str, str]]) -> Inventory:
        """The inventory of stored entries; a malformed one raises :class:`InventoryError`."""
        parsed = {}
        for index, entry in enumerate(entries):
            entry_id = entry.get("id") if isinstance(entry, dict) else None
            version = entry.get("v") if isinstance(entry, dict) else None
            if not isinstance(entry_id, str) or not isinstance(version, str) or entry_id.count("_") < 3:
                raise InventoryError(
                    f"entries[{index}] is {entry!r:.120}, not "
                    "{id: <namespace>_<name>_<group>_<kind>, v: <version>}"
                )
            kind, name = entry_id.rpartition("_")[2], parse_id(entry_id, version).name
            if not kind or not name or not version:
                raise InventoryError(f"entries[{index}] id {entry_id!r:.120} names no kind, name or version")
            parsed[entry_id] = version
        return cls(parsed)

    def to_entries(self) -> list[dict[str, str]]:
        return [{"id": i, "v": v} for i, v in sorted(self.entries.items())]

    def object_keys(self) -> list[ObjectKey]:
        return [parse_id(i, v) for i, v in self.entries.items()]

    def stale(self, newer: Inventory) -> list[ObjectKey]:
        """Objects in this inventory that ``newer`` no longer has."""
        return [parse_id(i, v) for i, v in self.entries.items() if i not in newer.entries]

    def __len__(self) -> int:
        return len(self.entries)
