"""The apply half of a Flux Kustomization: apply, record the inventory, prune, report.

Health checks are a separate step (:mod:`airflow_flux_provider.kube.health`) so the Airflow
operator can defer while objects roll out and finish the record afterwards. The status
(inventory included) is the Kustomization's own ``.status`` (:mod:`.record`), read and
written with the controller's identity (``records``), while objects are applied and pruned
as the Kustomization's service account (``cluster``).
"""

from __future__ import annotations

import json
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
from airflow_flux_provider.kube.cluster import Cluster, KubeError, ObjectKey, ObjectTooLargeError
from airflow_flux_provider.kube.health import HealthReport
from airflow_flux_provider.kube.ignore import IgnoreRules
from airflow_flux_provider.kube.inventory import Inventory
from airflow_flux_provider.kube.lease import LeaseSettings, object_lease
from airflow_flux_provider.kube.prune import prune
from airflow_flux_provider.kube.record import StatusRecord, flux_api_version, load_record, save_record
from airflow_flux_provider.specs import SpecError, parse_object

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
    #: the Kustomization itself, created in the cluster if it is not there when its status is saved
    manifest: dict[str, Any] | None = field(default=None, compare=False, repr=False)

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
            manifest=kustomization.to_manifest(),
        )

    @property
    def ref(self) -> str:
        return f"Kustomization/{self.namespace}/{self.name}"

    @property
    def key(self) -> ObjectKey:
        """The Kustomization object (its status and its Lease are found by it)."""
        return ObjectKey(flux_api_version("Kustomization"), "Kustomization", self.namespace, self.name)

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
    #: a new revision with the manifests of the last successful apply: recorded, nothing applied
    skipped: bool = False

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
            "skipped": self.skipped,
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


def _load(records: Cluster, target: KustomizationTarget) -> StatusRecord:
    return load_record(records, "Kustomization", target.name, target.namespace, manifest=target.manifest)


def check_dependencies(cluster: Cluster, target: KustomizationTarget, depends_on: dict[str, str]) -> None:
    """Each dependency (``namespace/name`` → expected revision or "") must be Ready at that revision,
    with its latest generation reconciled (read from the dependency objects through ``cluster``)."""
    for ref, revision in depends_on.items():
        namespace, _, name = ref.rpartition("/")
        namespace = namespace or target.namespace
        record = load_record(cluster, "Kustomization", name, namespace)
        # generation 0: no Flux object to compare with (the status is kept in a ConfigMap)
        if record.generation and record.is_ready and record.observed_generation != record.generation:
            raise DependencyNotReadyError(
                f"dependency '{namespace}/{name}' is not ready (generation {record.generation} is not "
                "reconciled yet)",
                obj=target.ref,
                field="spec.dependsOn",
            )
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
    records: Cluster | None = None,
    holder: str | None = None,
    lease: LeaseSettings | None = None,
) -> ReconcileResult:
    """Apply ``objects`` and prune what left the inventory; the status is updated either way.

    The Kustomization's Lease is held throughout (see :mod:`.lease`): a concurrent run of the
    same Kustomization waits, then starts from the inventory this one wrote. A new ``revision``
    whose render ``digest`` is the one last applied successfully is only recorded: a commit to
    another folder of the source costs each Kustomization one status write, not a dry-run of
    every object (Flux's reconcile storm).
    """
    records = records or cluster
    with object_lease(records, target.key, holder=holder, settings=lease):
        return _apply_and_prune(cluster, records, target, objects, revision, digest)


def _apply_and_prune(
    cluster: Cluster,
    records: Cluster,
    target: KustomizationTarget,
    objects: list[dict[str, Any]],
    revision: str,
    digest: str,
) -> ReconcileResult:
    started = time.monotonic()
    record = _load(records, target)
    invalid = _invalid_flux_objects(objects)
    if invalid:
        message = "validation failed, nothing applied: " + "; ".join(invalid)
        _fail(records, record, revision, "ReconciliationFailed", message, target)
        raise ReconcileError(message, obj=target.ref)
    if _same_manifests(record, digest, revision):
        return _record_revision(records, record, target, revision, digest, started)
    desired = decorate(objects, target)
    if not desired and len(record.inventory) and target.prune and not target.allow_empty_prune:
        message = (
            f"the build produced no objects, refusing to prune all {len(record.inventory)} objects of the "
            "inventory; if that is intended, allow it with allow_empty_prune=True"
        )
        _fail(records, record, revision, "PruneFailed", message, target)
        raise ReconcileError(message, obj=target.ref, field="spec.prune")

    # Remember every object this run may create before creating it: a run killed half-way
    # then still knows them, and the next run prunes or keeps them correctly.
    pending = Inventory(
        {**record.inventory.entries, **Inventory.of(ObjectKey.of(o) for o in desired).entries}
    )
    if pending.entries != record.inventory.entries:
        previous, record.inventory = record.inventory, pending
        try:
            save_record(records, record)
        except ObjectTooLargeError as err:
            message = _too_large(record, err)
            record.inventory = previous
            _fail(records, record, revision, "ReconciliationFailed", message, target)
            raise ReconcileError(message, obj=target.ref, field="status.inventory") from None
        record.inventory = previous

    try:
        changes = Applier(cluster, force=target.force, ignore=target.ignore).apply_all(desired)
    except ApplyError as err:
        _fail(records, record, revision, "ReconciliationFailed", err.message, target)
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
            _fail(records, record, revision, "PruneFailed", f"delete failed, errors: {failures}", target)
            raise ReconcileError(f"prune failed: {failures}", obj=target.ref)

    if changes.has_changes:
        _emit(target, "info", "Progressing", changes.summary(), revision)
    changed = changes.has_changes or record.inventory.entries != inventory.entries
    record.inventory = inventory
    record.last_attempted_revision = revision
    if changed or record.last_applied_revision != revision:
        record.add_history(digest or revision, revision, "Progressing", time.monotonic() - started)
        record.set_progressing(f"Applied revision {revision}; health checks in progress")
        save_record(records, record)
    drift_corrected = record.last_applied_revision == revision
    return ReconcileResult(revision, changes, inventory, pruned, time.monotonic() - started, drift_corrected)


def _too_large(record: StatusRecord, err: ObjectTooLargeError) -> str:
    """Why a status with this inventory cannot be stored, and the way out (Flux's too)."""
    size = len(json.dumps(record.to_status(), separators=(",", ":"))) / 2**20
    return (
        f"the inventory of {len(record.inventory):,} objects makes the status {size:.2f} MiB, {err.message} "
        "(etcd keeps at most 1.5 MiB per object by default); nothing was applied: split the objects into "
        "several Kustomizations, each with a smaller spec.path, ordered with spec.dependsOn"
    )


def _invalid_flux_objects(objects: Iterable[dict[str, Any]]) -> list[str]:
    """Why each Flux or Flagger object of the render is invalid, by the typed models. Checked for
    the whole render before the first write: the dry-run goes stage by stage, so a bad Canary was
    refused only after the namespaces and CRDs before it were applied, and CRDs check less
    than the models (a Flagger interval only by its prefix)."""
    problems = []
    for obj in objects:
        try:
            parse_object(obj)
        except SpecError as err:
            problems.append(str(err))
    return problems


def _same_manifests(record: StatusRecord, digest: str, revision: str) -> bool:
    """A new revision rendering to the manifests of the last apply, which succeeded.

    The render digest of every apply is in ``status.history`` (newest first), so any worker can
    tell. The same revision again is applied in full: drift is still corrected on each interval.
    """
    return bool(
        digest
        and record.is_ready
        and record.history
        and record.history[0]["digest"] == digest
        and record.last_applied_revision not in ("", revision)
        and record.last_attempted_revision == record.last_applied_revision
    )


def _record_revision(
    records: Cluster,
    record: StatusRecord,
    target: KustomizationTarget,
    revision: str,
    digest: str,
    started: float,
) -> ReconcileResult:
    """Record ``revision`` as applied (Ready, history) without touching an object: one status write."""
    record.last_attempted_revision = record.last_applied_revision = revision
    record.add_history(digest, revision, "Progressing", time.monotonic() - started)
    record.set_ready(True, "ReconciliationSucceeded", f"Applied revision: {revision}")
    save_record(records, record)
    log.info("%s: revision %s renders the manifests already applied (%s); nothing to apply",
             target.ref, revision, digest)  # fmt: skip
    _emit(target, "info", "ReconciliationSucceeded", "Reconciliation finished, no changes", revision)
    return ReconcileResult(
        revision, ChangeSet(), record.inventory, [], time.monotonic() - started, skipped=True
    )


def finish(
    cluster: Cluster,
    target: KustomizationTarget,
    *,
    revision: str,
    health: HealthReport | None,
    error: str | None = None,
    duration: float = 0.0,
    holder: str | None = None,
    lease: LeaseSettings | None = None,
) -> StatusRecord:
    """Close the reconcile: Ready True with ``Applied revision``, or False with the health error.

    A run whose revision is no longer the last one attempted (a later run applied another)
    leaves the status to that run: its health says nothing about what is deployed now.
    ``cluster`` is the identity that writes Flux objects' status (not the service account).
    """
    with object_lease(cluster, target.key, holder=holder, settings=lease):
        return _finish(cluster, target, revision, health, error, duration)


def _finish(
    cluster: Cluster,
    target: KustomizationTarget,
    revision: str,
    health: HealthReport | None,
    error: str | None,
    duration: float,
) -> StatusRecord:
    record = _load(cluster, target)
    if record.last_attempted_revision and record.last_attempted_revision != revision:
        log.info("%s: revision %s was superseded by %s; its status is left to that run",
                 target.ref, revision, record.last_attempted_revision)  # fmt: skip
        return record
    if error:
        _fail(cluster, record, revision, "HealthCheckFailed", error, target)
        return record
    message = f"Applied revision: {revision}"
    unchanged = record.is_ready and record.last_applied_revision == revision and record.message == message
    record.set_ready(True, "ReconciliationSucceeded", message)
    record.last_applied_revision = revision
    save_record(cluster, record)  # writes nothing when nothing changed
    if not unchanged:
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
