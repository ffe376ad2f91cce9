"""The ``.status`` of a Flux object we reconcile, kept where Flux keeps it: on the object itself.

A task loads its object's status, changes it and saves it through the status subresource
with the ``resourceVersion`` it read: optimistic concurrency, so a write that lost a race
never overwrites another writer's status (a write that only raced an annotation or a spec
edit is retried, since the status it changes is still the one it read). The dependency
check, prune, ``diff`` and the next run all read it back from there; kubectl and Flux
dashboards read it too.

Where a cluster does not serve the kind (its CRD is not installed and may not be), the
same status lives in a ConfigMap ``flux-status-<kind>-<name>`` in the object's namespace,
with a warning saying so. A ConfigMap left by an earlier version is migrated into the
object on the first run that finds the CRD, then deleted: nothing owned is lost.

A stored status that does not parse (edited by hand, written by something else) is an
error naming the field and how to repair or reset it, never a crash inside a reconcile.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar, overload

from pydantic import ValidationError

from airflow_flux_provider.errors import object_ref
from airflow_flux_provider.kube.cluster import Cluster, ConflictError, KubeError, NotFoundError, ObjectKey
from airflow_flux_provider.kube.inventory import Inventory, InventoryError

log = logging.getLogger(__name__)

MANAGED_BY = {"app.kubernetes.io/managed-by": "airflow-flux-provider"}
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
STATUS_MANAGER = "airflow-flux-status"  # field manager of status writes (Flux: gotk-<controller>)
_HISTORY = 5
_WRITE_ATTEMPTS = 5
#: Ready reasons after which only a change to the object helps (Flux marks them Stalled).
STALLED_REASONS = frozenset({"RetriesExceeded", "MissingRollbackTarget", "InvalidCELExpression"})
_OWN_CONDITIONS = ("Ready", "Reconciling", "Stalled")


class StatusError(KubeError):
    """A stored status cannot be read, or another writer changed it since it was read."""


class StatusConflictError(StatusError):
    """Another writer changed the status since this task read it; the task retries from the start."""


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@functools.cache
def flux_api_version(kind: str) -> str:
    """The newest apiVersion of a modelled kind: the one its CRD stores."""
    from airflow_flux_provider.specs.registry import MODELS

    model = next((m for m in MODELS if m.__name__ == kind), None)
    if model is None:
        raise KubeError(f"no Flux or Flagger kind named {kind!r}", obj=kind)
    return model.served_api_versions()[0]


T = TypeVar("T", bound="ObjectStatus")


@dataclass
class ObjectStatus:
    """What every Flux kind's status has: the Ready condition (with Reconciling and Stalled derived
    from it), ``observedGeneration``, ``lastHandledReconcileAt``; other fields kept as read.

    ``generation`` and ``requested_at`` are read from the object (its ``metadata.generation`` and
    the flux CLI's ``reconcile.fluxcd.io/requestedAt``) and recorded when the run ends.
    """

    kind: str
    name: str
    namespace: str
    ready: str = "Unknown"  # "True" | "False" | "Unknown", as the Ready condition's status
    reason: str = ""
    message: str = ""
    last_transition_time: str = ""
    observed_generation: int = -1
    last_handled_reconcile_at: str = ""
    #: status fields this record does not model, written back as they were read
    extra: dict[str, Any] = field(default_factory=dict)
    other_conditions: list[dict[str, Any]] = field(default_factory=list)
    # -- read from the object, not stored in the status -----------------------------------------
    generation: int = field(default=0, compare=False)
    requested_at: str = field(default="", compare=False)
    #: the object as read (with its resourceVersion), None when it is not in the cluster yet
    live: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    #: the status as read, to tell "the status changed under us" from "only metadata did"
    stored: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    #: a manifest that creates the object if it is missing when the status is saved
    manifest: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    #: where a status read from a legacy ConfigMap came from (deleted once saved to the object)
    migrated_from: ObjectKey | None = field(default=None, compare=False, repr=False)
    #: the run ended in a state that observes the object's generation (known once it exists)
    observes_generation: bool = field(default=False, compare=False, repr=False)
    #: kept in the ConfigMap although the kind is served (the object is missing and cannot be created)
    in_config_map: bool = field(default=False, compare=False, repr=False)

    #: status keys this class (and subclasses, through ``_FIELDS``) reads and writes itself
    _FIELDS: ClassVar[dict[str, str]] = {}
    #: Ready False reason of a failed run, by kind, as its controller names it
    FAILURE_REASONS: ClassVar[dict[str, str]] = {}

    @property
    def ref(self) -> str:
        return object_ref(self.kind, self.name, self.namespace)

    @property
    def key(self) -> ObjectKey:
        """The Flux object this status belongs to."""
        return ObjectKey(flux_api_version(self.kind), self.kind, self.namespace, self.name)

    @property
    def config_map_key(self) -> ObjectKey:
        """Where the status lives when the cluster does not serve the kind."""
        return ObjectKey("v1", "ConfigMap", self.namespace, f"flux-status-{self.kind.lower()}-{self.name}")

    @property
    def is_ready(self) -> bool:
        return self.ready == "True"

    @property
    def stalled(self) -> bool:
        return self.ready == "False" and self.reason in STALLED_REASONS

    def set_ready(self, status: bool, reason: str, message: str) -> None:
        """End a run: Ready True or False; the request it answered is handled either way, and the
        generation it acted on is observed when it succeeded or can only be fixed by a change."""
        self._set_condition("True" if status else "False", reason, message)
        if self.requested_at:
            self.last_handled_reconcile_at = self.requested_at
        self.observes_generation = status or self.stalled
        if self.observes_generation and self.generation:
            self.observed_generation = self.generation

    def failed(self, message: str) -> None:
        """End a run that failed with ``message`` (already scrubbed: a FluxError's)."""
        self.set_ready(False, self.FAILURE_REASONS.get(self.kind, "ReconciliationFailed"), message)

    def set_progressing(self, message: str = "Reconciliation in progress") -> None:
        """Mid-run: Ready Unknown, Reconciling True (as while Flux waits for health checks)."""
        self._set_condition("Unknown", "Progressing", message)

    def _set_condition(self, value: str, reason: str, message: str) -> None:
        if value != self.ready or not self.last_transition_time:
            self.last_transition_time = now()
        self.ready, self.reason, self.message = value, reason, message

    # -- (de)serialisation ------------------------------------------------------------------------
    def conditions(self) -> list[dict[str, Any]]:
        def condition(kind: str, status: str, reason: str, message: str) -> dict[str, Any]:
            return {"type": kind, "status": status, "reason": reason or kind, "message": message,
                    "lastTransitionTime": self.last_transition_time or now()}  # fmt: skip

        own = [condition("Ready", self.ready, self.reason, self.message)]
        if self.stalled:
            own.append(condition("Stalled", "True", self.reason, self.message))
        elif self.ready != "True":
            retry = "ProgressingWithRetry" if self.ready == "False" else "Progressing"
            own.append(condition("Reconciling", "True", retry, self.message))
        return own + [dict(c) for c in self.other_conditions]

    def fields(self) -> dict[str, Any]:
        """The kind's own status fields (subclasses add theirs)."""
        return {}

    def to_status(self) -> dict[str, Any]:
        status = {**copy.deepcopy(self.extra), **self.fields()}
        status["conditions"] = self.conditions()
        status["observedGeneration"] = self.observed_generation
        if self.last_handled_reconcile_at:
            status["lastHandledReconcileAt"] = self.last_handled_reconcile_at
        return status

    @classmethod
    def from_status(cls: type[T], kind: str, name: str, namespace: str, status: dict[str, Any]) -> T:
        """A record from a stored status, checked against the kind's status model first."""
        record = cls(kind, name, namespace)
        _check(record, status)
        conditions = status.get("conditions") or []
        ready: dict[str, Any] = next((c for c in conditions if c.get("type") == "Ready"), {})
        record.ready = ready.get("status", "Unknown")
        record.reason = ready.get("reason", "")
        record.message = ready.get("message", "")
        record.last_transition_time = ready.get("lastTransitionTime", "")
        record.other_conditions = [c for c in conditions if c.get("type") not in _OWN_CONDITIONS]
        record.observed_generation = int(status.get("observedGeneration", -1))
        record.last_handled_reconcile_at = str(status.get("lastHandledReconcileAt") or "")
        known = {"conditions", "observedGeneration", "lastHandledReconcileAt", *cls._FIELDS.values()}
        record.extra = {k: copy.deepcopy(v) for k, v in status.items() if k not in known}
        try:
            record.read_fields(status)
        except InventoryError as err:
            raise _corrupt(record, f"status.inventory: {err.message}") from None
        except ValueError as err:  # a kind's own field (a HelmRelease snapshot) that does not parse
            raise _corrupt(record, str(err)) from None
        return record

    def read_fields(self, status: dict[str, Any]) -> None:
        """Fill the kind's own fields from a checked status (subclasses; ``ValueError`` names the field)."""


@dataclass
class StatusRecord(ObjectStatus):
    """A Kustomization's (and, with :class:`~airflow_flux_provider.helm.status.HelmReleaseStatus`,
    a HelmRelease's) status: revisions, inventory and history."""

    last_applied_revision: str = ""
    last_attempted_revision: str = ""
    inventory: Inventory = field(default_factory=Inventory)
    history: list[dict[str, Any]] = field(default_factory=list)

    _FIELDS: ClassVar[dict[str, str]] = {
        "last_applied_revision": "lastAppliedRevision",
        "last_attempted_revision": "lastAttemptedRevision",
        "inventory": "inventory",
        "history": "history",
    }

    def add_history(self, digest: str, revision: str, status: str, duration: float) -> None:
        """Flux's ``.status.history``: newest first, deduplicated on digest and status."""
        stamp = now()
        for entry in self.history:
            if entry["digest"] == digest and entry["lastReconciledStatus"] == status:
                entry.update(lastReconciled=stamp, lastReconciledDuration=f"{duration:.3f}s")
                entry["totalReconciliations"] += 1
                self.history.remove(entry)
                self.history.insert(0, entry)
                return
        self.history.insert(0, {
            "digest": digest, "firstReconciled": stamp, "lastReconciled": stamp,
            "lastReconciledDuration": f"{duration:.3f}s", "lastReconciledStatus": status,
            "totalReconciliations": 1, "metadata": {"revision": revision},
        })  # fmt: skip
        del self.history[_HISTORY:]

    def fields(self) -> dict[str, Any]:
        return {
            "lastAppliedRevision": self.last_applied_revision,
            "lastAttemptedRevision": self.last_attempted_revision,
            "inventory": {"entries": self.inventory.to_entries()},
            "history": copy.deepcopy(self.history),
        }

    def read_fields(self, status: dict[str, Any]) -> None:
        self.last_applied_revision = str(status.get("lastAppliedRevision") or "")
        self.last_attempted_revision = str(status.get("lastAttemptedRevision") or "")
        self.inventory = Inventory.from_entries((status.get("inventory") or {}).get("entries") or [])
        self.history = copy.deepcopy(list(status.get("history") or []))


def _check(record: ObjectStatus, status: Any) -> None:
    """Refuse a status the kind's model does not accept, naming the field and the way out."""
    from airflow_flux_provider.specs.status import STATUS_MODELS

    if not isinstance(status, dict):
        raise _corrupt(record, f"status is {type(status).__name__}, not a mapping")
    model = STATUS_MODELS.get(record.kind)
    if model is None:
        return
    try:
        model.model_validate(status)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        where = ".".join(str(p) for p in ("status", *first["loc"]))
        raise _corrupt(record, f"{where}: {first['msg']}") from None


def _corrupt(record: ObjectStatus, problem: str) -> StatusError:
    plural = record.kind.lower()
    return StatusError(
        f"the stored status cannot be read ({problem}); repair it with 'kubectl edit {plural} "
        f"{record.name} -n {record.namespace} --subresource=status', or reset it with 'kubectl patch "
        f"{plural} {record.name} -n {record.namespace} --subresource=status --type=merge -p "
        "'{\"status\":null}'' (a reset inventory no longer prunes what it listed)",
        obj=record.ref,
        field="status",
    )


# -- where the status lives ----------------------------------------------------------------------
_WARNED: set[tuple[str, str]] = set()


def _on_object(cluster: Cluster, record: ObjectStatus) -> bool:
    """Whether the cluster serves the kind; else the ConfigMap fallback, said once per kind."""
    from airflow_flux_provider.kube.objects import serves

    if serves(cluster, record.key.api_version, record.kind):
        return True
    host = str(getattr(getattr(cluster.api_client, "configuration", None), "host", ""))
    if (host, record.kind) not in _WARNED:
        _WARNED.add((host, record.kind))
        log.warning(
            "%s: the cluster does not serve %s (%s), so its status is kept in ConfigMap %s instead of the "
            "object; install the CRDs with 'python -m airflow_flux_provider install' so kubectl and Flux "
            "dashboards see it",
            record.ref, record.kind, record.key.api_version, record.config_map_key,
        )  # fmt: skip
    return False


@overload
def load_record(
    cluster: Cluster, kind: str, name: str, namespace: str, *, manifest: dict[str, Any] | None = None
) -> StatusRecord: ...


@overload
def load_record(
    cluster: Cluster,
    kind: str,
    name: str,
    namespace: str,
    *,
    record_type: type[T],
    manifest: dict[str, Any] | None = None,
) -> T: ...


def load_record(
    cluster: Cluster,
    kind: str,
    name: str,
    namespace: str,
    *,
    record_type: type[ObjectStatus] = StatusRecord,
    manifest: dict[str, Any] | None = None,
) -> ObjectStatus:
    """The stored status of ``kind/namespace/name`` (a fresh one when it has none yet).

    ``manifest`` is the Flux object to create if it is not in the cluster when the status is saved.
    """
    record = record_type(kind, name, namespace, manifest=manifest)
    if not _on_object(cluster, record):
        return _from_config_map(cluster, record, record_type)
    live = cluster.get(record.key)
    if live is None and manifest is None:  # no object, and nothing to create it from
        fallback = _from_config_map(cluster, record, record_type)
        fallback.in_config_map = True
        return fallback
    meta = (live or {}).get("metadata") or {}
    status = (live or {}).get("status") or {}
    legacy = None if _written(status) else cluster.get(record.config_map_key)
    if legacy is not None:
        loaded = _from_config_map(cluster, record, record_type, legacy)
        loaded.migrated_from = legacy_key = record.config_map_key
        log.info("%s: migrating the status kept in ConfigMap %s into the object", record.ref, legacy_key)
    else:
        loaded = record_type.from_status(kind, name, namespace, status)
    loaded.manifest, loaded.live, loaded.stored = manifest, live, copy.deepcopy(status)
    loaded.generation = int(meta.get("generation") or 0)
    loaded.requested_at = str((meta.get("annotations") or {}).get(REQUESTED_AT) or "")
    return loaded


def _written(status: dict[str, Any]) -> bool:
    """Whether a controller (we, or Flux) has written this status: a fresh object has none."""
    return bool(status.get("conditions") or status.get("inventory") or status.get("history"))


def save_record(cluster: Cluster, record: ObjectStatus) -> None:
    """Store the record; a no-op when nothing changed since it was read."""
    if record.in_config_map or not _on_object(cluster, record):
        if record.in_config_map:
            log.warning("%s is not in the cluster and no manifest creates it; its status is kept in "
                        "ConfigMap %s until it is", record.ref, record.config_map_key)  # fmt: skip
        _save_config_map(cluster, record)
        return
    if record.live is None:
        record.live = _create_object(cluster, record)
    status = record.to_status()
    for _ in range(_WRITE_ATTEMPTS):
        if status == record.stored and record.migrated_from is None:
            return
        # written at the apiVersion the object was read at (an older one keeps its field names)
        info = cluster.resource(record.live.get("apiVersion") or record.key.api_version, record.kind)
        try:
            written = cluster.request(
                "PUT",
                info.path(record.namespace, record.name) + "/status",
                body={**record.live, "status": status},
                query=[("fieldManager", STATUS_MANAGER)],
                obj=record.ref,
            )
        except ConflictError:
            record.live = _reread(cluster, record)
            continue
        except NotFoundError:
            record.live = _create_object(cluster, record)
            continue
        record.live, record.stored = written, copy.deepcopy(written.get("status") or {})
        if record.migrated_from is not None:
            cluster.delete(record.migrated_from)
            log.info("%s: status migrated; ConfigMap %s deleted", record.ref, record.migrated_from)
            record.migrated_from = None
        return
    raise StatusConflictError(
        f"the object kept changing while its status was written ({_WRITE_ATTEMPTS} attempts); retry the task",
        obj=record.ref,
        field="status",
    )


def update_status(
    cluster: Cluster, manifest: dict[str, Any], record_type: type[T], change: Callable[[T], None]
) -> T:
    """Load the status of the object ``manifest`` describes, ``change`` it, save it: the one way a
    task records an outcome on its object (created from ``manifest`` if it is not in the cluster)."""
    meta = manifest.get("metadata") or {}
    record = load_record(
        cluster,
        str(manifest.get("kind")),
        str(meta.get("name")),
        str(meta.get("namespace") or "default"),
        record_type=record_type,
        manifest=manifest,
    )
    change(record)
    save_record(cluster, record)
    return record


def _reread(cluster: Cluster, record: ObjectStatus) -> dict[str, Any]:
    """The object after a conflicting write: fine if only its metadata or spec moved, not its status."""
    live = cluster.get(record.key)
    if live is None:
        return _create_object(cluster, record)
    if (live.get("status") or {}) != record.stored:
        raise StatusConflictError(
            "another writer changed the status since this task read it (a concurrent run of the same "
            "object?); nothing was overwritten, retry the task",
            obj=record.ref,
            field="status",
        )
    return live


def _create_object(cluster: Cluster, record: ObjectStatus) -> dict[str, Any]:
    from airflow_flux_provider.kube.objects import ensure_object

    if record.manifest is None:
        raise StatusError("the object was deleted while its status was written; apply it again",
                          obj=record.ref)  # fmt: skip
    live = ensure_object(cluster, record.manifest)
    record.stored = copy.deepcopy(live.get("status") or {})
    record.generation = int((live.get("metadata") or {}).get("generation") or 0)
    if record.observes_generation:
        record.observed_generation = record.generation
    return live


def forget_record(cluster: Cluster, record: ObjectStatus) -> None:
    """Drop a status when its object leaves the desired state (an uninstalled release, say)."""
    if record.in_config_map or not _on_object(cluster, record):
        cluster.delete(record.config_map_key)
        return
    if record.live is None or not record.stored:
        return
    fresh = type(record)(record.kind, record.name, record.namespace, live=record.live, stored=record.stored)
    fresh.generation, fresh.requested_at = record.generation, record.requested_at
    fresh.set_ready(False, "Uninstalled", "nothing is deployed for this object")
    save_record(cluster, fresh)


# -- the ConfigMap fallback ----------------------------------------------------------------------
def _from_config_map(
    cluster: Cluster, record: T, record_type: type[T], stored: dict[str, Any] | None = None
) -> T:
    stored = stored or cluster.get(record.config_map_key)
    if stored is None:
        return record
    text = (stored.get("data") or {}).get("status.json", "")
    try:
        status = json.loads(text)
    except ValueError as err:
        raise StatusError(
            f"ConfigMap {record.config_map_key} does not hold JSON in data.status.json ({err}); repair "
            f"it, or delete it with 'kubectl delete configmap {record.config_map_key.name} "
            f"-n {record.namespace}' "
            "(the inventory it lists is then no longer pruned)",
            obj=record.ref,
            field="status",
        ) from None
    loaded = record_type.from_status(record.kind, record.name, record.namespace, status)
    loaded.manifest, loaded.live = record.manifest, stored
    loaded.stored = copy.deepcopy(status)
    return loaded


def _save_config_map(cluster: Cluster, record: ObjectStatus) -> None:
    status = record.to_status()
    if status == record.stored and record.live is not None:
        return
    key = record.config_map_key
    labels = {**MANAGED_BY, "airflow-flux-provider/kind": record.kind,
              "airflow-flux-provider/name": record.name}  # fmt: skip
    metadata: dict[str, Any] = {"name": key.name, "namespace": key.namespace, "labels": labels}
    if record.live is not None:
        metadata["resourceVersion"] = record.live["metadata"]["resourceVersion"]
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata,
            "data": {"status.json": json.dumps(status, indent=2, sort_keys=True)}}  # fmt: skip
    path = cluster.resource("v1", "ConfigMap").path(key.namespace, key.name if record.live else "")
    try:
        try:
            written = cluster.request("PUT" if record.live else "POST", path, body=body, obj=str(key))
        except NotFoundError:  # the namespace (flux-system usually) on first use
            cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": key.namespace}})
            written = cluster.request("POST", path, body=body, obj=str(key))
    except ConflictError:
        raise StatusConflictError(
            f"another writer changed ConfigMap {key} since this task read it; nothing was overwritten, "
            "retry the task",
            obj=record.ref,
            field="status",
        ) from None
    record.live, record.stored = written, status
