"""kstatus: whether a live object is Current, InProgress, Failed, Terminating or NotFound.

The rule table follows sigs.k8s.io/cli-utils as Flux uses it for ``wait`` and
``healthChecks``; each result carries the human message that ends up in a timeout error
(e.g. ``Deployment ml/trainer: Available: 1/5, ProgressDeadlineExceeded``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    CURRENT = "Current"
    IN_PROGRESS = "InProgress"
    FAILED = "Failed"
    TERMINATING = "Terminating"
    NOT_FOUND = "NotFound"


@dataclass(frozen=True)
class ObjectStatus:
    status: Status
    message: str


def _conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c.get("type", ""): c for c in (obj.get("status") or {}).get("conditions") or []}


def _is_true(conditions: dict[str, dict[str, Any]], kind: str) -> bool:
    return conditions.get(kind, {}).get("status") == "True"


def _deployment(obj: dict[str, Any]) -> ObjectStatus:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    conditions = _conditions(obj)
    progressing = conditions.get("Progressing", {})
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        available = status.get("availableReplicas", 0)
        return ObjectStatus(
            Status.FAILED,
            f"{available}/{spec.get('replicas', 1)} replicas available, ProgressDeadlineExceeded: "
            f"{progressing.get('message', '')}".rstrip(": "),
        )
    want = spec.get("replicas", 1)
    checks = [
        (want > status.get("replicas", 0), f"Replicas: {status.get('replicas', 0)}/{want}"),
        (want > status.get("updatedReplicas", 0), f"Updated: {status.get('updatedReplicas', 0)}/{want}"),
        (status.get("replicas", 0) > want, f"Pending termination: {status.get('replicas', 0) - want}"),
        (
            status.get("updatedReplicas", 0) > status.get("availableReplicas", 0),
            f"Available: {status.get('availableReplicas', 0)}/{want}",
        ),
        (want > status.get("readyReplicas", 0), f"Ready: {status.get('readyReplicas', 0)}/{want}"),
    ]
    for failing, message in checks:
        if failing:
            return ObjectStatus(Status.IN_PROGRESS, message)
    if "progressDeadlineSeconds" in spec and not (
        progressing.get("status") == "True" and progressing.get("reason") == "NewReplicaSetAvailable"
    ):
        return ObjectStatus(Status.IN_PROGRESS, "rollout is still progressing")
    if want > 0 and not _is_true(conditions, "Available"):
        return ObjectStatus(Status.IN_PROGRESS, "Deployment does not have minimum availability")
    return ObjectStatus(Status.CURRENT, f"Deployment is available. Replicas: {want}")


def _statefulset(obj: dict[str, Any]) -> ObjectStatus:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if (spec.get("updateStrategy") or {}).get("type") == "OnDelete":
        return ObjectStatus(Status.CURRENT, "StatefulSet is using the OnDelete strategy")
    want = spec.get("replicas", 1)
    if want > status.get("replicas", 0):
        return ObjectStatus(Status.IN_PROGRESS, f"Replicas: {status.get('replicas', 0)}/{want}")
    if want > status.get("readyReplicas", 0):
        return ObjectStatus(Status.IN_PROGRESS, f"Ready: {status.get('readyReplicas', 0)}/{want}")
    if status.get("replicas", 0) > want:
        return ObjectStatus(Status.IN_PROGRESS, f"Pending termination: {status['replicas'] - want}")
    partition = ((spec.get("updateStrategy") or {}).get("rollingUpdate") or {}).get("partition", 0)
    if partition and status.get("updatedReplicas", 0) < want - partition:
        return ObjectStatus(
            Status.IN_PROGRESS, f"Updated: {status.get('updatedReplicas', 0)}/{want - partition}"
        )
    if not partition and status.get("currentRevision") != status.get("updateRevision"):
        return ObjectStatus(Status.IN_PROGRESS, "waiting for the rolling update to complete")
    return ObjectStatus(Status.CURRENT, f"All replicas scheduled as expected. Replicas: {want}")


def _daemonset(obj: dict[str, Any]) -> ObjectStatus:
    status = obj.get("status") or {}
    desired = status.get("desiredNumberScheduled")
    if desired is None:
        return ObjectStatus(Status.IN_PROGRESS, "missing .status.desiredNumberScheduled")
    for field in ("currentNumberScheduled", "updatedNumberScheduled", "numberAvailable", "numberReady"):
        if desired > status.get(field, 0):
            return ObjectStatus(Status.IN_PROGRESS, f"{field}: {status.get(field, 0)}/{desired}")
    return ObjectStatus(Status.CURRENT, f"All replicas scheduled as expected. Replicas: {desired}")


def _job(obj: dict[str, Any]) -> ObjectStatus:
    conditions = _conditions(obj)
    if _is_true(conditions, "Complete"):
        return ObjectStatus(Status.CURRENT, "Job Completed")
    if _is_true(conditions, "Failed"):
        failed = conditions["Failed"]
        return ObjectStatus(
            Status.FAILED, f"Job Failed: {failed.get('reason', '')} {failed.get('message', '')}".strip()
        )
    if not (obj.get("status") or {}).get("startTime"):
        return ObjectStatus(Status.IN_PROGRESS, "Job not started")
    return ObjectStatus(Status.CURRENT, "Job in progress")


def _pod(obj: dict[str, Any]) -> ObjectStatus:
    status = obj.get("status") or {}
    phase = status.get("phase", "")
    if phase in ("Succeeded", "Failed"):
        return ObjectStatus(Status.CURRENT, f"Pod phase {phase}")
    if phase == "Running":
        for container in status.get("containerStatuses") or []:
            waiting = (container.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") == "CrashLoopBackOff":
                return ObjectStatus(
                    Status.FAILED, f"container {container.get('name')} is in CrashLoopBackOff"
                )
        if _is_true(_conditions(obj), "Ready"):
            return ObjectStatus(Status.CURRENT, "Pod is Ready")
    return ObjectStatus(Status.IN_PROGRESS, f"Pod phase {phase or 'Pending'}")


def _pvc(obj: dict[str, Any]) -> ObjectStatus:
    phase = (obj.get("status") or {}).get("phase")
    if phase == "Bound":
        return ObjectStatus(Status.CURRENT, "PVC is Bound")
    return ObjectStatus(Status.IN_PROGRESS, f"PVC is not Bound. phase: {phase}")


def _service(obj: dict[str, Any]) -> ObjectStatus:
    spec = obj.get("spec") or {}
    if spec.get("type") == "LoadBalancer" and not spec.get("clusterIP"):
        return ObjectStatus(Status.IN_PROGRESS, "ClusterIP not set")
    return ObjectStatus(Status.CURRENT, "Service is ready")


def _crd(obj: dict[str, Any]) -> ObjectStatus:
    conditions = _conditions(obj)
    if conditions.get("NamesAccepted", {}).get("status") == "False":
        return ObjectStatus(Status.FAILED, "CRD names have not been accepted")
    established = conditions.get("Established", {})
    if established.get("status") == "True":
        return ObjectStatus(Status.CURRENT, "CRD is established")
    if established.get("status") == "False" and established.get("reason") != "Installing":
        return ObjectStatus(Status.FAILED, "CRD is not established")
    return ObjectStatus(Status.IN_PROGRESS, "Install in progress")


def _always_current(obj: dict[str, Any]) -> ObjectStatus:
    return ObjectStatus(Status.CURRENT, "Resource is always ready")


_RULES: dict[tuple[str, str], Callable[[dict[str, Any]], ObjectStatus]] = {
    ("apps", "Deployment"): _deployment,
    ("apps", "StatefulSet"): _statefulset,
    ("apps", "DaemonSet"): _daemonset,
    ("batch", "Job"): _job,
    ("", "Pod"): _pod,
    ("", "PersistentVolumeClaim"): _pvc,
    ("", "Service"): _service,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _crd,
    ("policy", "PodDisruptionBudget"): _always_current,
    ("", "Secret"): _always_current,
    ("", "ConfigMap"): _always_current,
    ("batch", "CronJob"): _always_current,
}


def compute(obj: dict[str, Any] | None) -> ObjectStatus:
    """The kstatus of ``obj`` (``None`` means it does not exist)."""
    if obj is None:
        return ObjectStatus(Status.NOT_FOUND, "object not found")
    meta = obj.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return ObjectStatus(Status.TERMINATING, "object is being deleted")
    status = obj.get("status") or {}
    observed, generation = status.get("observedGeneration"), meta.get("generation")
    kind = obj.get("kind", "")
    if observed is not None and generation is not None and observed != generation:
        return ObjectStatus(
            Status.IN_PROGRESS,
            f"{kind} generation is {generation}, but latest observed generation is {observed}",
        )
    conditions = _conditions(obj)
    if _is_true(conditions, "Reconciling"):
        return ObjectStatus(Status.IN_PROGRESS, conditions["Reconciling"].get("message", "reconciling"))
    if _is_true(conditions, "Stalled"):
        return ObjectStatus(Status.FAILED, conditions["Stalled"].get("message", "stalled"))
    group = obj.get("apiVersion", "").rpartition("/")[0]
    rule = _RULES.get((group, kind))
    if rule:
        return rule(obj)
    ready = conditions.get("Ready")
    if ready is not None:
        if ready.get("status") == "True":
            return ObjectStatus(Status.CURRENT, ready.get("message") or "Resource is Ready")
        return ObjectStatus(Status.IN_PROGRESS, ready.get("message") or "Resource is not Ready")
    return ObjectStatus(Status.CURRENT, "Resource is current")
