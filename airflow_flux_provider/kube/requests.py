"""``flux reconcile``'s request: the ``reconcile.fluxcd.io/requestedAt`` annotation on an object.

A request is pending while the annotation differs from the object's
``.status.lastHandledReconcileAt``; the run that reconciles the object records the value
there (:meth:`~airflow_flux_provider.kube.record.ObjectStatus.set_ready`). A suspended
object's request waits, as ``flux reconcile`` refuses suspended objects.
"""

from __future__ import annotations

from dataclasses import dataclass

from airflow_flux_provider.kube.cluster import Cluster, ObjectKey
from airflow_flux_provider.kube.record import REQUESTED_AT
from airflow_flux_provider.kube.suspend import live_object


@dataclass(frozen=True)
class ReconcileRequest:
    """``ref`` (``Kind/namespace/name``) asked to be reconciled at ``requested_at``."""

    ref: str
    requested_at: str


def pending_requests(cluster: Cluster, keys: list[ObjectKey]) -> list[ReconcileRequest]:
    """The objects among ``keys`` with a request not handled yet (missing objects have none)."""
    pending = []
    for key in keys:
        live = live_object(cluster, key.kind, key.namespace, key.name)
        if live is None or (live.get("spec") or {}).get("suspend"):
            continue
        requested = str(((live.get("metadata") or {}).get("annotations") or {}).get(REQUESTED_AT) or "")
        handled = str((live.get("status") or {}).get("lastHandledReconcileAt") or "")
        if requested and requested != handled:
            pending.append(ReconcileRequest(str(key), requested))
    return pending
