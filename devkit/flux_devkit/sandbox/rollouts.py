"""Workload status from the Pods that really run: ReplicaSets, Deployments, StatefulSets, Jobs.

Pure functions over the owner and its Pods, used by the simulator's controllers when the
kubelet runs a workload's Pods: ready and available counts come from Pod conditions,
a Deployment's rollout scales old ReplicaSets down only as new Pods become available, and a
Job retries failed Pods up to ``backoffLimit`` with the controller's doubling delay.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass, field
from typing import Any

from flux_devkit.sandbox.conditions import Status, condition

Obj = dict[str, Any]


def _seconds_since(stamp: str | None) -> float:
    if not stamp:
        return 0.0
    try:
        when = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    except ValueError:
        return 0.0
    return (datetime.datetime.now(datetime.UTC) - when).total_seconds()


def _ready_condition(pod: Obj) -> Obj | None:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == "Ready"), None)


def pod_ready(pod: Obj) -> bool:
    ready = _ready_condition(pod)
    return ready is not None and ready.get("status") == "True"


def pod_available(pod: Obj, min_ready_seconds: int) -> bool:
    """Ready for at least ``minReadySeconds``."""
    ready = _ready_condition(pod)
    if ready is None or ready.get("status") != "True":
        return False
    return min_ready_seconds <= 0 or _seconds_since(ready.get("lastTransitionTime")) >= min_ready_seconds


def pod_finished(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _count(pods: list[Obj], test: Any) -> int:
    return sum(1 for pod in pods if test(pod))


def _nonzero(status: Status) -> Status:
    """Go's ``omitempty`` on the optional counters."""
    return {k: v for k, v in status.items() if v != 0 or k in ("replicas", "ready", "terminating")}


def replicaset_status(rs: Obj, pods: list[Obj]) -> Status:
    min_ready = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
    return _nonzero(
        {
            "observedGeneration": rs["metadata"].get("generation", 1),
            "replicas": len(pods),
            "fullyLabeledReplicas": len(pods),
            "readyReplicas": _count(pods, pod_ready),
            "availableReplicas": _count(pods, lambda p: pod_available(p, min_ready)),
        }
    )


def _int_or_percent(value: Any, total: int, *, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        share = total * int(value[:-1]) / 100
        return math.ceil(share) if round_up else math.floor(share)
    return int(value or 0)


@dataclass(frozen=True)
class Rollout:
    """What a Deployment's controller does next: replicas per ReplicaSet, and the status to write."""

    scale: dict[str, int]
    status: Status


@dataclass
class Progress:
    """When a Deployment last made progress (in memory: what ``progressDeadlineSeconds`` counts from)."""

    counts: tuple[int, ...] = ()
    at: float = field(default_factory=lambda: datetime.datetime.now(datetime.UTC).timestamp())


def deployment_rollout(
    deployment: Obj, new_rs: Obj, old_rs: list[Obj], progress: Progress, stamp: str
) -> Rollout:
    """Scale the new ReplicaSet to the wanted replicas; old ones down as the new Pods become available."""
    spec, meta = deployment.get("spec") or {}, deployment["metadata"]
    desired = int(spec.get("replicas", 1))
    new_status = new_rs.get("status") or {}
    new_available = int(new_status.get("availableReplicas", 0))
    keep_old = max(desired - new_available, 0)
    scale = {new_rs["metadata"]["name"]: desired}
    for rs in sorted(old_rs, key=lambda r: r["metadata"].get("creationTimestamp", ""), reverse=True):
        current = int((rs.get("status") or {}).get("replicas", 0))
        scale[rs["metadata"]["name"]] = min(current, keep_old)
        keep_old -= scale[rs["metadata"]["name"]]
    everything = [new_rs, *old_rs]
    total = sum(int((rs.get("status") or {}).get("replicas", 0)) for rs in everything)
    ready = sum(int((rs.get("status") or {}).get("readyReplicas", 0)) for rs in everything)
    available = sum(int((rs.get("status") or {}).get("availableReplicas", 0)) for rs in everything)
    updated = int(new_status.get("replicas", 0))
    strategy = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    max_unavailable = _int_or_percent(strategy.get("maxUnavailable", "25%"), desired, round_up=False)
    counts = (total, updated, ready, available)
    if counts != progress.counts:
        progress.counts, progress.at = counts, datetime.datetime.now(datetime.UTC).timestamp()
    name = new_rs["metadata"]["name"]
    complete = updated == desired and total == desired and available >= desired
    deadline = int(spec.get("progressDeadlineSeconds", 600))
    if complete:
        progressing = condition(
            "Progressing",
            True,
            "NewReplicaSetAvailable",
            f'ReplicaSet "{name}" has successfully progressed.',
            stamp,
        )
    elif datetime.datetime.now(datetime.UTC).timestamp() - progress.at > deadline:
        progressing = condition(
            "Progressing",
            False,
            "ProgressDeadlineExceeded",
            f'ReplicaSet "{name}" has timed out progressing.',
            stamp,
        )
    else:
        progressing = condition(
            "Progressing", True, "ReplicaSetUpdated", f'ReplicaSet "{name}" is progressing.', stamp
        )
    if available >= desired - max_unavailable:
        availability = condition(
            "Available", True, "MinimumReplicasAvailable", "Deployment has minimum availability.", stamp
        )
    else:
        availability = condition(
            "Available",
            False,
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            stamp,
        )
    status = _nonzero(
        {
            "observedGeneration": meta.get("generation", 1),
            "replicas": total,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
            "unavailableReplicas": max(desired - available, 0),
        }
    )
    if total == 0:
        status.pop("replicas")
    status["conditions"] = [availability, progressing]
    return Rollout(scale, status)


def replicas_status(owner: Obj, pods: list[Obj]) -> tuple[int, int]:
    """``(ready, available)`` among a StatefulSet's or DaemonSet's Pods."""
    min_ready = int((owner.get("spec") or {}).get("minReadySeconds") or 0)
    return _count(pods, pod_ready), _count(pods, lambda p: pod_available(p, min_ready))


@dataclass(frozen=True)
class JobStep:
    """The Job's status, how many Pods to start (after ``delay`` seconds), which to stop."""

    status: Status
    start: int = 0
    delay: float = 0.0
    stop: tuple[str, ...] = ()


def _age_of_end(pod: Obj) -> float:
    """Seconds since the Pod's last container ended (infinite when none did)."""
    ages = [
        _seconds_since(((status.get("state") or {}).get("terminated") or {}).get("finishedAt"))
        for status in (pod.get("status") or {}).get("containerStatuses") or []
        if ((status.get("state") or {}).get("terminated") or {}).get("finishedAt")
    ]
    return min(ages, default=math.inf)


def job_step(job: Obj, pods: list[Obj], stamp: str, backoff_seconds: float) -> JobStep:
    spec, old = job.get("spec") or {}, job.get("status") or {}
    completions = int(spec.get("completions") or 1)
    parallelism = int(spec.get("parallelism", 1))
    backoff_limit = int(spec.get("backoffLimit", 6))
    active = [p for p in pods if not pod_finished(p) and not p["metadata"].get("deletionTimestamp")]
    succeeded = _count(pods, lambda p: (p.get("status") or {}).get("phase") == "Succeeded")
    failed = _count(pods, lambda p: (p.get("status") or {}).get("phase") == "Failed")
    restarts = 0
    if (spec.get("template") or {}).get("spec", {}).get("restartPolicy") == "OnFailure":
        restarts = sum(
            int(s.get("restartCount", 0))
            for p in active
            for s in (p.get("status") or {}).get("containerStatuses") or []
        )
    status: Status = {
        "startTime": old.get("startTime") or stamp,
        "active": len(active),
        "succeeded": succeeded,
        "failed": failed,
        "ready": _count(active, pod_ready),
        "terminating": 0,
        "uncountedTerminatedPods": {},
    }
    done = {c.get("type") for c in old.get("conditions") or [] if c.get("status") == "True"}
    if "Complete" in done or "Failed" in done:  # a finished Job stays finished
        return JobStep({**_nonzero(status), "conditions": old.get("conditions"), **_kept(old)})
    if succeeded >= completions:
        message = "Reached expected number of succeeded pods"
        status.update(completionTime=stamp, active=0)
        status["conditions"] = [
            condition("SuccessCriteriaMet", True, "CompletionsReached", message, stamp),
            condition("Complete", True, "CompletionsReached", message, stamp),
        ]
        return JobStep(_nonzero(status))
    deadline = spec.get("activeDeadlineSeconds")
    if failed + restarts > backoff_limit:
        reason, message = "BackoffLimitExceeded", "Job has reached the specified backoff limit"
    elif deadline is not None and _seconds_since(status["startTime"]) > int(deadline):
        reason, message = "DeadlineExceeded", "Job was active longer than specified deadline"
    else:
        want = min(parallelism, completions - succeeded)
        delay = 0.0
        if failed:  # the Job controller waits 10 s, 20 s, 40 s … (at most 6 min) before a retry
            since = min(_age_of_end(p) for p in pods if (p.get("status") or {}).get("phase") == "Failed")
            delay = max(min(backoff_seconds * 2 ** (failed - 1), 360.0) - since, 0.0)
        return JobStep(_nonzero(status), start=max(want - len(active), 0), delay=delay)
    status.update(active=0, failed=failed + len(active))
    status["conditions"] = [
        condition("FailureTarget", True, reason, message, stamp),
        condition("Failed", True, reason, message, stamp),
    ]
    return JobStep(_nonzero(status), stop=tuple(p["metadata"]["name"] for p in active))


def _kept(old: Status) -> Status:
    return {k: old[k] for k in ("completionTime",) if k in old}
