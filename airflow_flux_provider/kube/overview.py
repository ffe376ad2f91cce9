"""What a Flux user looks at all day, read from one cluster: each Flux object's Ready condition,
revision and last reconcile, a Kustomization's inventory, a HelmRelease's history, a Canary's
weight and checks, and who depends on whom.

Everything is read from the objects' ``.status`` (where :mod:`~airflow_flux_provider.kube.record`
and the canary write it, as Flux and Flagger do), or from the ``flux-status-*`` ConfigMaps on a
cluster without the CRDs. The only writes are the two a Flux user makes with the CLI:
``reconcile.fluxcd.io/requestedAt`` (``flux reconcile``) and ``spec.suspend`` (``flux suspend``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from airflow_flux_provider.errors import object_ref
from airflow_flux_provider.helm.state import Snapshot
from airflow_flux_provider.kube.cluster import Cluster, KubeError, ObjectKey
from airflow_flux_provider.kube.inventory import Inventory, InventoryError
from airflow_flux_provider.kube.objects import serves
from airflow_flux_provider.kube.record import MANAGED_BY, REQUESTED_AT, flux_api_version, now

#: the kinds shown, grouped as the Flux docs group them
GROUPS: dict[str, tuple[str, ...]] = {
    "Sources": ("GitRepository", "OCIRepository", "HelmRepository", "HelmChart", "Bucket"),
    "Kustomizations": ("Kustomization",),
    "HelmReleases": ("HelmRelease",),
    "Images": ("ImageRepository", "ImagePolicy", "ImageUpdateAutomation"),
    "Canaries": ("Canary",),
}
KINDS = tuple(kind for kinds in GROUPS.values() for kind in kinds)


class OverviewError(KubeError):
    """An object the view was asked about is not a shown kind, or not in the cluster."""


@dataclass(frozen=True)
class ObjectSummary:
    """One row of the view."""

    kind: str
    namespace: str
    name: str
    ready: str  # the Ready condition's status ("True", "False", "Unknown"); a Canary's Promoted one
    reason: str
    message: str
    revision: str
    last_reconciled: str  # the Ready condition's last transition, or the request last handled
    suspended: bool
    depends_on: tuple[str, ...] = ()  # refs of the objects in spec.dependsOn
    in_config_map: bool = False  # the status lives in a flux-status-* ConfigMap (no CRD served)

    @property
    def ref(self) -> str:
        return object_ref(self.kind, self.name, self.namespace)


@dataclass(frozen=True)
class HistoryEntry:
    """One line of ``.status.history`` (a HelmRelease's helm revisions, a Kustomization's applies)."""

    when: str
    revision: str
    status: str
    detail: str


@dataclass(frozen=True)
class CanaryState:
    phase: str
    weight: int
    failed_checks: int
    iterations: int


@dataclass(frozen=True)
class ObjectDetail:
    summary: ObjectSummary
    inventory: list[str] = field(default_factory=list)  # Kind/namespace/name of what it applied
    history: list[HistoryEntry] = field(default_factory=list)
    canary: CanaryState | None = None
    requested_at: str = ""
    last_handled_reconcile_at: str = ""
    #: the live object (spec and status) for the typed readers that need it, e.g. canary thresholds
    live: dict[str, Any] = field(default_factory=dict, repr=False)


# -- reading one object ----------------------------------------------------------------------------
def ready_condition(kind: str, status: dict[str, Any]) -> dict[str, Any]:
    """The condition ``flux get`` reads as READY: a Canary's Promoted, every other kind's Ready."""
    wanted = "Promoted" if kind == "Canary" else "Ready"
    return next((c for c in status.get("conditions") or [] if c.get("type") == wanted), {})


def revision(kind: str, status: dict[str, Any]) -> str:
    """What ``flux get`` shows as REVISION for ``kind``."""
    if kind == "Kustomization":
        return str(status.get("lastAppliedRevision") or "")
    if kind == "HelmRelease":
        latest = (status.get("history") or [{}])[0]
        return str(latest.get("chartVersion") or status.get("lastAttemptedRevision") or "")
    if kind == "ImageRepository":
        scan = status.get("lastScanResult") or {}
        return f"{scan['tagCount']} tags" if "tagCount" in scan else ""
    if kind == "ImagePolicy":
        ref = status.get("latestRef") or {}
        return f"{ref.get('name')}:{ref.get('tag')}" if ref else ""
    if kind == "ImageUpdateAutomation":
        return str(status.get("lastPushCommit") or "")
    if kind == "Canary":
        return f"{status['phase']} {status.get('canaryWeight', 0)}%" if status.get("phase") else ""
    return str((status.get("artifact") or {}).get("revision") or "")


def _depends_on(obj: dict[str, Any]) -> tuple[str, ...]:
    kind, namespace = obj["kind"], (obj.get("metadata") or {}).get("namespace") or ""
    refs = ((obj.get("spec") or {}).get("dependsOn")) or []
    return tuple(
        object_ref(kind, str(ref.get("name")), ref.get("namespace") or namespace)
        for ref in refs
        if isinstance(ref, dict) and ref.get("name")
    )


def summarize(
    obj: dict[str, Any], status: dict[str, Any] | None = None, *, in_config_map: bool = False
) -> ObjectSummary:
    """A row from a live object (``status`` given when it is kept elsewhere)."""
    meta, kind = obj.get("metadata") or {}, str(obj.get("kind"))
    status = obj.get("status") or {} if status is None else status
    ready = ready_condition(kind, status)
    return ObjectSummary(
        kind=kind,
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        ready=str(ready.get("status") or "Unknown"),
        reason=str(ready.get("reason") or ""),
        message=str(ready.get("message") or ""),
        revision=revision(kind, status),
        last_reconciled=str(ready.get("lastTransitionTime") or status.get("lastHandledReconcileAt") or ""),
        suspended=bool((obj.get("spec") or {}).get("suspend")),
        depends_on=_depends_on(obj),
        in_config_map=in_config_map,
    )


def _history(kind: str, status: dict[str, Any]) -> list[HistoryEntry]:
    entries = [e for e in status.get("history") or [] if isinstance(e, dict)]
    if kind == "HelmRelease":
        shown = []
        for entry in entries:
            try:
                snapshot = Snapshot.from_status(entry)
            except ValueError:  # kept as read; record.py names it when the release next runs
                continue
            tested = "" if not snapshot.tested else ", tests failed" if snapshot.test_failed else ", tested"
            shown.append(
                HistoryEntry(
                    when=snapshot.last_deployed,
                    revision=f"v{snapshot.version} {snapshot.chart_name}@{snapshot.chart_version}",
                    status=snapshot.status.value,
                    detail=f"{snapshot.action.value}{tested}"
                    + (f", app {snapshot.app_version}" if snapshot.app_version else ""),
                )
            )
        return shown
    return [
        HistoryEntry(
            when=str(e.get("lastReconciled") or ""),
            revision=str((e.get("metadata") or {}).get("revision") or ""),
            status=str(e.get("lastReconciledStatus") or ""),
            detail=f"{e.get('totalReconciliations', 1)}x, last took {e.get('lastReconciledDuration', '?')}",
        )
        for e in entries
    ]


def _inventory(status: dict[str, Any]) -> list[str]:
    try:
        inventory = Inventory.from_entries((status.get("inventory") or {}).get("entries") or [])
    except InventoryError:
        return []
    return [object_ref(k.kind, k.name, k.namespace) for k in inventory.object_keys()]


# -- the cluster -----------------------------------------------------------------------------------
def _kept_statuses(cluster: Cluster) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """``(object stub, status)`` of statuses kept in ConfigMaps, for kinds the cluster does not serve."""
    selector = ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())
    kept = []
    for config_map in cluster.list("v1", "ConfigMap", label_selector=selector):
        meta = config_map.get("metadata") or {}
        labels = meta.get("labels") or {}
        kind, name = labels.get("airflow-flux-provider/kind"), labels.get("airflow-flux-provider/name")
        if kind not in KINDS or not name:
            continue
        try:
            status = json.loads((config_map.get("data") or {}).get("status.json") or "{}")
        except ValueError:
            status = {}
        stub = {"kind": kind, "metadata": {"name": name, "namespace": meta.get("namespace")}}
        kept.append((stub, status if isinstance(status, dict) else {}))
    return kept


def list_objects(cluster: Cluster) -> list[ObjectSummary]:
    """Every shown object in every namespace, in :data:`KINDS` order, then by namespace and name."""
    rows: list[ObjectSummary] = []
    served = {kind for kind in KINDS if serves(cluster, flux_api_version(kind), kind)}
    for kind in KINDS:
        if kind in served:
            rows += [summarize(obj) for obj in cluster.list(flux_api_version(kind), kind)]
    if served != set(KINDS):
        rows += [
            summarize(stub, status, in_config_map=True)
            for stub, status in _kept_statuses(cluster)
            if stub["kind"] not in served
        ]
    order = {kind: i for i, kind in enumerate(KINDS)}
    return sorted(rows, key=lambda r: (order[r.kind], r.namespace, r.name))


def _key(kind: str, namespace: str, name: str) -> ObjectKey:
    if kind not in KINDS:
        raise OverviewError(f"the Flux view does not show {kind!r}; it shows {', '.join(KINDS)}", obj=kind)
    return ObjectKey(flux_api_version(kind), kind, namespace, name)


def object_detail(cluster: Cluster, kind: str, namespace: str, name: str) -> ObjectDetail:
    key = _key(kind, namespace, name)
    if serves(cluster, key.api_version, kind):
        live, in_config_map = cluster.get(key), False
        status = (live or {}).get("status") or {}
    else:
        stored = cluster.get(ObjectKey("v1", "ConfigMap", namespace, f"flux-status-{kind.lower()}-{name}"))
        live, in_config_map = None, True
        try:
            status = json.loads(((stored or {}).get("data") or {}).get("status.json") or "{}")
        except ValueError:
            status = {}
        if stored is not None:
            live = {"kind": kind, "metadata": {"name": name, "namespace": namespace}}
    if live is None:
        raise OverviewError("not found in the cluster", obj=object_ref(kind, name, namespace))
    canary = None
    if kind == "Canary":
        canary = CanaryState(
            phase=str(status.get("phase") or ""),
            weight=int(status.get("canaryWeight") or 0),
            failed_checks=int(status.get("failedChecks") or 0),
            iterations=int(status.get("iterations") or 0),
        )
    return ObjectDetail(
        summary=summarize(live, status, in_config_map=in_config_map),
        inventory=_inventory(status),
        history=_history(kind, status),
        canary=canary,
        requested_at=str(((live.get("metadata") or {}).get("annotations") or {}).get(REQUESTED_AT) or ""),
        last_handled_reconcile_at=str(status.get("lastHandledReconcileAt") or ""),
        live=live,
    )


# -- the two writes the flux CLI makes -------------------------------------------------------------
def _merge_patch(cluster: Cluster, key: ObjectKey, body: dict[str, Any]) -> None:
    info = cluster.resource(key.api_version, key.kind)
    cluster.request(
        "PATCH",
        info.path(key.namespace, key.name),
        body=body,
        content_type="application/merge-patch+json",
        obj=str(key),
    )


def request_reconcile(cluster: Cluster, kind: str, namespace: str, name: str) -> str:
    """``flux reconcile``: stamp ``reconcile.fluxcd.io/requestedAt``; the next run records it as
    ``status.lastHandledReconcileAt``. Returns the stamp."""
    stamp = now()
    _merge_patch(cluster, _key(kind, namespace, name), {"metadata": {"annotations": {REQUESTED_AT: stamp}}})
    return stamp


def set_suspended(cluster: Cluster, kind: str, namespace: str, name: str, suspended: bool) -> None:
    """``flux suspend`` / ``flux resume``: ``spec.suspend`` on the live object."""
    _merge_patch(cluster, _key(kind, namespace, name), {"spec": {"suspend": suspended}})
