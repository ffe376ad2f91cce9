"""``flux diff kustomization``: what applying a render would change in a live cluster.

Each rendered object, with the owner labels and commonMetadata the reconcile adds, goes
through the apply's own dry-run (:meth:`~airflow_flux_provider.kube.apply.Applier.diff`: the
same skip marks, forced ownership and drift comparison), so a diff says what the next
reconcile will do. Like
the flux CLI it prints ``created``, ``drifted`` with the fields that differ (Secret values
masked), ``skipped``, and, when the Kustomization prunes, ``deleted`` for objects that left
the previous inventory; unchanged objects print nothing. Errors are collected per object so
one bad object does not hide the other diffs. Nothing is written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from airflow_flux_provider.kube import Cluster, ObjectKey
from airflow_flux_provider.kube.apply import Action, Applier, ApplyError
from airflow_flux_provider.kube.drift import FieldChange
from airflow_flux_provider.kube.inventory import Inventory
from airflow_flux_provider.kube.reconcile import KustomizationTarget, decorate
from airflow_flux_provider.specs.kustomization import Kustomization

_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class DiffEntry:
    ref: str
    action: Action
    fields: tuple[FieldChange, ...] = ()

    def lines(self) -> list[str]:
        """``► Kind/ns/name <action>`` as ``flux diff`` prints it, then any drifted fields."""
        if self.action == Action.UNCHANGED:
            return []
        label = "drifted" if self.action == Action.CONFIGURED else self.action.value
        return [f"► {self.ref} {label}", *(f"  {line}" for change in self.fields for line in change.lines())]

    def to_xcom(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"ref": self.ref, "action": self.action.value}
        return {**entry, "fields": [c.pointer for c in self.fields]} if self.fields else entry


@dataclass(frozen=True)
class DiffReport:
    entries: list[DiffEntry]
    errors: list[str] = field(default_factory=list)

    @property
    def changes(self) -> list[DiffEntry]:
        """The entries a reconcile would act on (created, drifted, deleted)."""
        return [entry for entry in self.entries if entry.action not in (Action.UNCHANGED, Action.SKIPPED)]

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def lines(self) -> list[str]:
        return [line for entry in self.entries for line in entry.lines()]

    def to_xcom(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for entry in self.entries:
            counts[entry.action.value] = counts.get(entry.action.value, 0) + 1
        return {
            "changed": self.has_changes,
            "counts": counts,
            "entries": [e.to_xcom() for e in self.entries],
            "errors": list(self.errors),
        }


def previous_inventory(cluster: Cluster, ks: Kustomization) -> list[dict[str, str]]:
    """The inventory the last reconcile recorded, read where it wrote it (empty before the first)."""
    from airflow_flux_provider.kube.record import load_record

    record = load_record(cluster, "Kustomization", ks.metadata.name, ks.metadata.namespace or "default")
    return record.inventory.to_entries()


def diff(
    ks: Kustomization,
    rendered: str,
    cluster: Cluster,
    *,
    inventory: Iterable[dict[str, str]] | None = None,
) -> DiffReport:
    """Compare the rendered YAML with the cluster; ``inventory`` defaults to the live object's."""
    target = KustomizationTarget.of(ks)
    objects = decorate((d for d in yaml.load_all(rendered, Loader=_SafeLoader) if d), target)
    applier = Applier(cluster, force=target.force, ignore=target.ignore)
    entries: list[DiffEntry] = []
    errors: list[str] = []
    for obj in objects:  # in the render's order, as flux diff goes
        try:
            found = applier.diff(obj)
        except ApplyError as err:
            errors.append(err.message)
            continue
        entries.append(DiffEntry(str(found.key), found.action, found.fields))
    if ks.spec.prune and not errors:
        before = Inventory.from_entries(previous_inventory(cluster, ks) if inventory is None else inventory)
        keys = Inventory.of(ObjectKey.of(o) for o in objects)
        entries.extend(DiffEntry(str(key), Action.DELETED) for key in before.stale(keys))
    return DiffReport(entries, errors)
