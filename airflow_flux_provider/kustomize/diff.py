"""``flux diff kustomization``: what applying a render would change in a live cluster.

Each rendered object, with the owner labels the reconcile adds, is server-side applied
with ``dryRun=All``; the merged result is compared with the live object (server-owned
metadata and status left out). Objects in the previous inventory that the render no longer
has are reported as deleted when the Kustomization prunes. Nothing is written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from airflow_flux_provider.kube import Cluster, ObjectKey, UnknownKindError
from airflow_flux_provider.kube.apply import with_owner_labels
from airflow_flux_provider.kube.inventory import Inventory
from airflow_flux_provider.kube.reconcile import OWNER_NAME_LABEL, OWNER_NAMESPACE_LABEL
from airflow_flux_provider.specs.kustomization import Kustomization

Action = Literal["created", "configured", "unchanged", "deleted"]
_SERVER_OWNED = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink")
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class DiffEntry:
    ref: str
    action: Action


@dataclass(frozen=True)
class DiffReport:
    entries: list[DiffEntry]

    @property
    def has_changes(self) -> bool:
        return any(entry.action != "unchanged" for entry in self.entries)

    def lines(self) -> list[str]:
        """One ``► Kind/ns/name action`` line per object, as ``flux diff`` prints."""
        return [f"► {entry.ref} {entry.action}" for entry in self.entries]

    def to_xcom(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for entry in self.entries:
            counts[entry.action] = counts.get(entry.action, 0) + 1
        return {"changed": self.has_changes, "counts": counts, "entries": [vars(e) for e in self.entries]}


def _drift_view(obj: dict[str, Any]) -> dict[str, Any]:
    metadata = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _SERVER_OWNED}
    return {**{k: v for k, v in obj.items() if k != "status"}, "metadata": metadata}


def previous_inventory(cluster: Cluster, ks: Kustomization) -> list[dict[str, str]]:
    """``.status.inventory.entries`` of the live Kustomization (empty when it is not there)."""
    key = ObjectKey(ks.api_version, "Kustomization", ks.metadata.namespace or "default", ks.metadata.name)
    try:
        live = cluster.get(key)
    except UnknownKindError:
        return []
    return list(((live or {}).get("status") or {}).get("inventory", {}).get("entries") or [])


def diff(
    ks: Kustomization,
    rendered: str,
    cluster: Cluster,
    *,
    inventory: Iterable[dict[str, str]] | None = None,
) -> DiffReport:
    """Compare the rendered YAML with the cluster; ``inventory`` defaults to the live object's."""
    owner = {OWNER_NAME_LABEL: ks.metadata.name, OWNER_NAMESPACE_LABEL: ks.metadata.namespace or "default"}
    objects = with_owner_labels((d for d in yaml.load_all(rendered, Loader=_SafeLoader) if d), owner)
    entries: list[DiffEntry] = []
    keys: list[ObjectKey] = []
    for obj in objects:
        key = ObjectKey.of(obj)
        keys.append(key)
        live = cluster.get(key)
        if live is None:
            entries.append(DiffEntry(str(key), "created"))
            continue
        merged = cluster.apply(obj, dry_run=True)
        same = _drift_view(merged) == _drift_view(live)
        entries.append(DiffEntry(str(key), "unchanged" if same else "configured"))
    if ks.spec.prune:
        before = Inventory.from_entries(previous_inventory(cluster, ks) if inventory is None else inventory)
        entries.extend(DiffEntry(str(key), "deleted") for key in before.stale(Inventory.of(keys)))
    return DiffReport(entries)
