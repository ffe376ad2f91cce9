"""The apply half of a Flux Kustomization: apply, record the inventory, prune, report.

Health checks are a separate step (:mod:`airflow_flux_provider.kube.health`) so the Airflow
operator can defer while objects roll out and finish the record afterwards.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from airflow_flux_provider import events
from airflow_flux_provider.kube.apply import (
    Action,
    Applier,
    ApplyError,
    Change,
    ChangeSet,
    with_owner_labels,
)
from airflow_flux_provider.kube.cluster import Cluster, KubeError, ObjectKey
from airflow_flux_provider.kube.health import HealthReport
from airflow_flux_provider.kube.ignore import IgnoreRules
from airflow_flux_provider.kube.inventory import Inventory
from airflow_flux_provider.kube.prune import prune
from airflow_flux_provider.kube.record import StatusRecord, load_record, save_record

log = logging.getLogger(__name__)

OWNER_NAME_LABEL = "kustomize.toolkit.fluxcd.io/name"
OWNER_NAMESPACE_LABEL = "kustomize.toolkit.fluxcd.io/namespace"


class ReconcileError(KubeError):
    """The reconcile failed; the status record says why (Ready False with a reason)."""


class DependencyNotReadyError(ReconcileError):
    """A ``dependsOn`` Kustomization is not Ready at its latest revision yet; retry later."""


@dataclass(frozen=True)
class KustomizationTarget:
    """Who owns the objects and how they are applied (the apply-related part of the spec)."""

    name: str
    namespace: str
    prune: bool = False
    force: bool = False
    common_labels: dict[str, str] = field(default_factory=dict)
    common_annotations: dict[str, str] = field(default_factory=dict)
    allow_empty_prune: bool = False
    ignore: IgnoreRules = field(default_factory=IgnoreRules)

    @classmethod
    def of(cls, kustomization: Any, *, allow_empty_prune: bool = False) -> KustomizationTarget:
        """The apply settings of a typed Kustomization (``airflow_flux_provider.specs``)."""
        metadata = kustomization.spec.common_metadata
        name, namespace = kustomization.metadata.name, kustomization.metadata.namespace
        return cls(
            name=name,
            namespace=namespace,
            prune=kustomization.spec.prune,
            force=kustomization.spec.force,
            common_labels=dict(metadata.labels) if metadata else {},
            common_annotations=dict(metadata.annotations) if metadata else {},
            allow_empty_prune=allow_empty_prune,
            ignore=IgnoreRules.compile(
                kustomization.spec.ignore,
                obj=f"Kustomization/{namespace}/{name}",
                field="spec.ignore",
                error=ReconcileError,
            ),
        )

    @property
    def ref(self) -> str:
        return f"Kustomization/{self.namespace}/{self.name}"

    @property
    def owner_labels(self) -> dict[str, str]:
        return {OWNER_NAME_LABEL: self.name, OWNER_NAMESPACE_LABEL: self.namespace}


@dataclass
class ReconcileResult:
    """What one apply did; ``drift_corrected``: the revision was applied before, so whatever an
    apply configured had drifted from Git (a manual edit reverted) rather than changed in Git."""

    revision: str
    changes: ChangeSet
    inventory: Inventory
    pruned: list[ObjectKey]
    duration: float
    drift_corrected: bool = False

    @property
    def drifted(self) -> list[Change]:
        if not self.drift_corrected:
            return []
        return [c for c in self.changes.changes if c.action == Action.CONFIGURED]

    def to_xcom(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "changes": self.changes.to_xcom(),
            "drifted": [c.to_xcom() for c in self.drifted],
            "inventory": self.inventory.to_entries(),
            "pruned": [str(k) for k in self.pruned],
            "created": self.changes.count(Action.CREATED),
            "configured": self.changes.count(Action.CONFIGURED),
            "unchanged": self.changes.count(Action.UNCHANGED),
            "deleted": len(self.pruned),
            "duration_seconds": round(self.duration, 3),
        }


def _emit(
    target: KustomizationTarget, severity: events.Severity, reason: str, message: str, revision: str
) -> None:
    events.emit(
        events.Event(
            involved_object=events.ObjectReference(
                "Kustomization", target.name, target.namespace, "kustomize.toolkit.fluxcd.io/v1"
            ),
            severity=severity,
            reason=reason,
            message=message,
            metadata={"revision": revision},
        )
    )


def decorate(objects: Iterable[dict[str, Any]], target: KustomizationTarget) -> list[dict[str, Any]]:
    """Copies of ``objects`` with the owner labels and ``commonMetadata``, as they are applied."""
    labeled = with_owner_labels(objects, {**target.common_labels, **target.owner_labels})
    if target.common_annotations:
        for obj in labeled:
            meta = obj["metadata"]
            meta["annotations"] = {**(meta.get("annotations") or {}), **target.common_annotations}
    return labeled


def check_dependencies(cluster: Cluster, target: KustomizationTarget, depends_on: dict[str, str]) -> None:
    """Each dependency (``namespace/name`` → expected revision or "") must be Ready at that revision."""
    for ref, revision in depends_on.items():
        namespace, _, name = ref.rpartition("/")
        namespace = namespace or target.namespace
        record = load_record(cluster, "Kustomization", name, namespace)
        if not record.is_ready:
            raise DependencyNotReadyError(
                f"dependency '{namespace}/{name}' is not ready ({record.reason or 'never reconciled'})",
                obj=target.ref,
                field="spec.dependsOn",
            )
        if revision and record.last_applied_revision != revision:
            raise DependencyNotReadyError(
                f"dependency '{namespace}/{name}' revision is not up to date "
                f"(applied {record.last_applied_revision or 'nothing'}, source is at {revision})",
                obj=target.ref,
                field="spec.dependsOn",
            )


def apply_and_prune(
    cluster: Cluster,
    target: KustomizationTarget,
    objects: list[dict[str, Any]],
    *,
    revision: str,
    digest: str = "",
) -> ReconcileResult:
    """Apply ``objects`` and prune what left the inventory; the record is updated either way."""
    started = time.monotonic()
    record = load_record(cluster, "Kustomization", target.name, target.namespace)
    desired = decorate(objects, target)
    if not desired and len(record.inventory) and target.prune and not target.allow_empty_prune:
        message = (
            f"the build produced no objects, refusing to prune all {len(record.inventory)} objects of the "
            "inventory; if that is intended, allow it with allow_empty_prune=True"
        )
        _fail(cluster, record, revision, "PruneFailed", message, target)
        raise ReconcileError(message, obj=target.ref, field="spec.prune")

    # Remember every object this run may create before creating it: a run killed half-way
    # then still knows them, and the next run prunes or keeps them correctly.
    pending = Inventory(
        {**record.inventory.entries, **Inventory.of(ObjectKey.of(o) for o in desired).entries}
    )
    if pending.entries != record.inventory.entries:
        previous, record.inventory = record.inventory, pending
        save_record(cluster, record)
        record.inventory = previous

    try:
        changes = Applier(cluster, force=target.force, ignore=target.ignore).apply_all(desired)
    except ApplyError as err:
        _fail(cluster, record, revision, "ReconciliationFailed", err.message, target)
        raise ReconcileError(err.message, obj=target.ref) from None

    inventory = Inventory.of(changes.keys)
    pruned: list[ObjectKey] = []
    if target.prune:
        result = prune(cluster, record.inventory.stale(inventory), target.owner_labels)
        for change in result.changes.changes:
            changes.add(change.key, change.action)
        pruned = [c.key for c in result.changes.changes if c.action == Action.DELETED]
        if result.failed:
            inventory = Inventory({**inventory.entries, **Inventory.of(result.failed).entries})
            failures = "; ".join(f"{k}: {m}" for k, m in result.failed.items())
            record.inventory = inventory
            _fail(cluster, record, revision, "PruneFailed", f"delete failed, errors: {failures}", target)
            raise ReconcileError(f"prune failed: {failures}", obj=target.ref)

    if changes.has_changes:
        _emit(target, "info", "Progressing", changes.summary(), revision)
    changed = changes.has_changes or record.inventory.entries != inventory.entries
    record.inventory = inventory
    record.last_attempted_revision = revision
    if changed or record.last_applied_revision != revision:
        record.add_history(digest or revision, revision, "Progressing", time.monotonic() - started)
        save_record(cluster, record)
    drift_corrected = record.last_applied_revision == revision
    return ReconcileResult(revision, changes, inventory, pruned, time.monotonic() - started, drift_corrected)


def finish(
    cluster: Cluster,
    target: KustomizationTarget,
    *,
    revision: str,
    health: HealthReport | None,
    error: str | None = None,
    duration: float = 0.0,
) -> StatusRecord:
    """Close the reconcile: Ready True with ``Applied revision``, or False with the health error."""
    record = load_record(cluster, "Kustomization", target.name, target.namespace)
    if error:
        _fail(cluster, record, revision, "HealthCheckFailed", error, target)
        return record
    message = f"Applied revision: {revision}"
    unchanged = record.is_ready and record.last_applied_revision == revision and record.message == message
    record.set_ready(True, "ReconciliationSucceeded", message)
    record.last_applied_revision = revision
    if not unchanged:
        save_record(cluster, record)
        detail = f" in {duration:.1f}s" if duration else ""
        checked = f", {len(health.statuses)} objects healthy" if health and health.statuses else ""
        _emit(
            target, "info", "ReconciliationSucceeded", f"Reconciliation finished{detail}{checked}", revision
        )
    return record


def _fail(
    cluster: Cluster,
    record: StatusRecord,
    revision: str,
    reason: str,
    message: str,
    target: KustomizationTarget,
) -> None:
    record.set_ready(False, reason, message)
    record.last_attempted_revision = revision
    try:
        save_record(cluster, record)
    except KubeError as err:  # the failure being reported matters more than the record
        log.warning("%s: could not store the status record: %s", target.ref, err)
    _emit(target, "error", reason, message, revision)
