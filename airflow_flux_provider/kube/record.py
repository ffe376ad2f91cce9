"""The status of a Flux object we reconcile, kept in the cluster beside what it manages.

There is no Kustomization CRD in a cluster we drive from Airflow, so the ``.status`` Flux
would write (Ready condition, lastAppliedRevision, inventory, history) lives in a
ConfigMap ``flux-status-<kind>-<name>`` in the object's namespace. Another worker, a
later run, a dependent's ``dependsOn`` check and the DAG factory all read it from there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from airflow_flux_provider.kube.cluster import Cluster, NotFoundError, ObjectKey
from airflow_flux_provider.kube.inventory import Inventory

MANAGED_BY = {"app.kubernetes.io/managed-by": "airflow-flux-provider"}
_HISTORY = 5


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class StatusRecord:
    kind: str
    name: str
    namespace: str
    ready: str = "Unknown"  # "True" | "False" | "Unknown", as the Ready condition's status
    reason: str = ""
    message: str = ""
    last_applied_revision: str = ""
    last_attempted_revision: str = ""
    last_transition_time: str = ""
    inventory: Inventory = field(default_factory=Inventory)
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def key(self) -> ObjectKey:
        return ObjectKey("v1", "ConfigMap", self.namespace, f"flux-status-{self.kind.lower()}-{self.name}")

    @property
    def is_ready(self) -> bool:
        return self.ready == "True"

    def set_ready(self, status: bool, reason: str, message: str) -> None:
        value = "True" if status else "False"
        if value != self.ready:
            self.last_transition_time = _now()
        self.ready, self.reason, self.message = value, reason, message

    def add_history(self, digest: str, revision: str, status: str, duration: float) -> None:
        """Flux's ``.status.history``: newest first, deduplicated on digest and status."""
        now = _now()
        for entry in self.history:
            if entry["digest"] == digest and entry["lastReconciledStatus"] == status:
                entry.update(lastReconciled=now, lastReconciledDuration=f"{duration:.3f}s")
                entry["totalReconciliations"] += 1
                self.history.remove(entry)
                self.history.insert(0, entry)
                return
        self.history.insert(0, {
            "digest": digest, "firstReconciled": now, "lastReconciled": now,
            "lastReconciledDuration": f"{duration:.3f}s", "lastReconciledStatus": status,
            "totalReconciliations": 1, "metadata": {"revision": revision},
        })  # fmt: skip
        del self.history[_HISTORY:]

    def to_status(self) -> dict[str, Any]:
        return {
            "conditions": [{
                "type": "Ready", "status": self.ready, "reason": self.reason, "message": self.message,
                "lastTransitionTime": self.last_transition_time,
            }],
            "lastAppliedRevision": self.last_applied_revision,
            "lastAttemptedRevision": self.last_attempted_revision,
            "inventory": {"entries": self.inventory.to_entries()},
            "history": self.history,
        }  # fmt: skip

    @classmethod
    def from_status(cls, kind: str, name: str, namespace: str, status: dict[str, Any]) -> StatusRecord:
        ready: dict[str, Any] = next(
            (c for c in status.get("conditions", []) if c.get("type") == "Ready"), {}
        )
        return cls(
            kind=kind,
            name=name,
            namespace=namespace,
            ready=ready.get("status", "Unknown"),
            reason=ready.get("reason", ""),
            message=ready.get("message", ""),
            last_transition_time=ready.get("lastTransitionTime", ""),
            last_applied_revision=status.get("lastAppliedRevision", ""),
            last_attempted_revision=status.get("lastAttemptedRevision", ""),
            inventory=Inventory.from_entries((status.get("inventory") or {}).get("entries", [])),
            history=list(status.get("history", [])),
        )


def load_record(cluster: Cluster, kind: str, name: str, namespace: str) -> StatusRecord:
    """The stored record, or a fresh one (Ready Unknown, empty inventory) when there is none."""
    record = StatusRecord(kind, name, namespace)
    stored = cluster.get(record.key)
    if stored is None:
        return record
    return StatusRecord.from_status(kind, name, namespace, json.loads(stored["data"]["status.json"]))


def save_record(cluster: Cluster, record: StatusRecord) -> None:
    """Store the record; its namespace (``flux-system`` usually) is created on first use."""
    key = record.key
    labels = {
        **MANAGED_BY,
        "airflow-flux-provider/kind": record.kind,
        "airflow-flux-provider/name": record.name,
    }
    config_map = {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": key.name, "namespace": key.namespace, "labels": labels},
        "data": {"status.json": json.dumps(record.to_status(), indent=2, sort_keys=True)},
    }  # fmt: skip
    try:
        cluster.apply(config_map, force=True)
    except NotFoundError:
        cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": key.namespace}})
        cluster.apply(config_map, force=True)
