"""The durable state of one analysis, kept in the Canary's ``.status`` as Flagger keeps it.

A restarted task reads this record back from the cluster and resumes where the last
tick stopped. Field names and the ``Promoted`` condition follow Flagger's status.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, ClassVar

from airflow_flux_provider.canary.errors import CanaryError
from airflow_flux_provider.kube import Cluster
from airflow_flux_provider.kube.record import ObjectStatus, load_record, save_record

# Phases in which a tick keeps working even when the target did not change.
ACTIVE_PHASES = frozenset({"Progressing", "Waiting", "WaitingPromotion", "Promoting", "Finalising"})
# Phases whose set-phase write keeps the weight and iterations (all others zero them).
_KEEPS_COUNTERS = frozenset({"Progressing", "Waiting", "Promoting"})
_CONDITION_MESSAGES = {
    "Initialized": "Deployment initialization completed.",
    "Succeeded": "Canary analysis completed successfully, promotion finished.",
    "Failed": "Canary analysis failed, Deployment scaled to zero.",
    "Waiting": "Canary analysis waiting for approval.",
    "WaitingPromotion": "Canary analysis completed, waiting for promotion approval.",
    "Promoting": "Canary analysis completed, starting primary rolling update.",
    "Finalising": "Canary analysis completed, routing all traffic to primary.",
}


def fnv32a(data: str) -> str:
    """FNV-32a as a short hex string: the kind of short, stable hash Flagger stores."""
    value = 0x811C9DC5
    for byte in data.encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return f"{value:08x}"


def spec_hash(pod_template: dict[str, Any]) -> str:
    """Hash of a pod template (sorted keys), compared against ``lastAppliedSpec``."""
    return fnv32a(json.dumps(pod_template, sort_keys=True, separators=(",", ":")))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _promoted(phase: str) -> str:
    if phase in ("Initialized", "Succeeded"):
        return "True"
    return "False" if phase == "Failed" else "Unknown"


@dataclass(frozen=True)
class CanaryStatus:
    """Flagger's ``Canary.status``; every write returns a new record (see the three primitives)."""

    phase: str = ""
    canary_weight: int = 0
    failed_checks: int = 0
    iterations: int = 0
    last_applied_spec: str = ""
    last_promoted_spec: str = ""
    last_transition_time: str = ""
    conditions: tuple[dict[str, str], ...] = field(default_factory=tuple)

    # -- Flagger's status-writing primitives -----------------------------------------------------
    def synced(
        self, phase: str, spec: str, *, weight: int = 0, failed: int = 0, iterations: int = 0
    ) -> CanaryStatus:
        """Full sync: all counters written, ``lastAppliedSpec`` set to the target's current hash."""
        promoted = spec if phase == "Initialized" else self.last_promoted_spec
        new = replace(
            self,
            canary_weight=weight,
            failed_checks=failed,
            iterations=iterations,
            last_applied_spec=spec,
            last_promoted_spec=promoted,
        )
        return new._with_phase(phase)

    def with_phase(self, phase: str, *, analysis_iterations: int = 0) -> CanaryStatus:
        """Set phase; zeroes weight/iterations outside Progressing/Waiting/Promoting."""
        new = self
        if phase not in _KEEPS_COUNTERS:
            new = replace(new, canary_weight=0, iterations=0)
        if phase == "WaitingPromotion":
            new = replace(new, iterations=max(analysis_iterations - 1, 0))
        if phase in ("Initialized", "Succeeded"):
            new = replace(new, last_promoted_spec=new.last_applied_spec)
        return new._with_phase(phase)

    def with_counters(
        self,
        *,
        failed_checks: int | None = None,
        canary_weight: int | None = None,
        iterations: int | None = None,
    ) -> CanaryStatus:
        """Set failedChecks / canaryWeight / iterations only."""
        return replace(
            self,
            failed_checks=self.failed_checks if failed_checks is None else failed_checks,
            canary_weight=self.canary_weight if canary_weight is None else canary_weight,
            iterations=self.iterations if iterations is None else iterations,
            last_transition_time=_now(),
        )

    def _with_phase(self, phase: str) -> CanaryStatus:
        now = _now()
        value = _promoted(phase)
        old = next((c for c in self.conditions if c.get("type") == "Promoted"), None)
        since = old["lastTransitionTime"] if old and old.get("status") == value else now
        condition = {
            "type": "Promoted",
            "status": value,
            "reason": phase,
            "message": _CONDITION_MESSAGES.get(phase, "New revision detected, progressing canary analysis."),
            "lastUpdateTime": now,
            "lastTransitionTime": since,
        }
        return replace(self, phase=phase, last_transition_time=now, conditions=(condition,))

    # -- (de)serialisation ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "canaryWeight": self.canary_weight,
            "failedChecks": self.failed_checks,
            "iterations": self.iterations,
            "lastAppliedSpec": self.last_applied_spec,
            "lastPromotedSpec": self.last_promoted_spec,
            "lastTransitionTime": self.last_transition_time,
            "conditions": [dict(c) for c in self.conditions],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> CanaryStatus:
        data = data or {}
        return cls(
            phase=str(data.get("phase", "")),
            canary_weight=int(data.get("canaryWeight", 0)),
            failed_checks=int(data.get("failedChecks", 0)),
            iterations=int(data.get("iterations", 0)),
            last_applied_spec=str(data.get("lastAppliedSpec", "")),
            last_promoted_spec=str(data.get("lastPromotedSpec", "")),
            last_transition_time=str(data.get("lastTransitionTime", "")),
            conditions=tuple(dict(c) for c in data.get("conditions") or ()),
        )


@dataclass
class CanaryRecord(ObjectStatus):
    """A Canary's status stored as every Flux object's is (:mod:`~airflow_flux_provider.kube.record`):
    through the status subresource, or a ConfigMap where the cluster does not serve the CRD.
    Flagger writes its own fields only (no Ready condition, no observedGeneration)."""

    canary: CanaryStatus = field(default_factory=CanaryStatus)

    _FIELDS: ClassVar[dict[str, str]] = {key: key for key in CanaryStatus().to_dict()}

    def to_status(self) -> dict[str, Any]:
        return {**copy.deepcopy(self.extra), **self.canary.to_dict()}

    def read_fields(self, status: dict[str, Any]) -> None:
        self.canary = CanaryStatus.from_dict(status)


def _record(cluster: Cluster, namespace: str, name: str) -> CanaryRecord:
    record = load_record(cluster, "Canary", name, namespace, record_type=CanaryRecord)
    if record.in_config_map:  # the CRD is served, the object is not there
        raise CanaryError(
            "the Canary object is not in the cluster; apply it before the analysis",
            obj=f"Canary/{namespace}/{name}",
        )
    return record


def load_status(cluster: Cluster, namespace: str, name: str) -> CanaryStatus:
    """The status stored in the cluster (empty when the Canary has none yet)."""
    return _record(cluster, namespace, name).canary


def save_status(cluster: Cluster, namespace: str, name: str, status: CanaryStatus) -> None:
    """Write the record through the status subresource (the ConfigMap without the CRD)."""
    record = _record(cluster, namespace, name)
    record.canary = status
    save_record(cluster, record)
