"""The workload simulator: what kubelet and the controllers would do to workloads, after a delay.

Deployments, ReplicaSets, StatefulSets and DaemonSets get a ready status (or, when a
container image matches ``fail_image_pattern``, one that ends in ProgressDeadlineExceeded);
Jobs get a Pod and complete or fail; Pods run or finish; PVCs bind; LoadBalancer Services
get an address. It follows the store's event log like any watcher and writes through
the status subresource, so clients see the same events a real cluster would send.
"""

from __future__ import annotations

import copy
import hashlib
import heapq
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flux_devkit.sandbox.resources import ResourceType
from flux_devkit.sandbox.status import ApiError, bad_request
from flux_devkit.sandbox.verbs import Call, ResourceApi, now

log = logging.getLogger(__name__)

MANAGER = "sandbox-controller"
DEFAULT_FAIL_IMAGE_PATTERN = r"(:fail$|failing)"

Status = dict[str, Any]


@dataclass
class SimulatorSettings:
    """How long workloads take to become ready, and which images never do."""

    ready_delay_seconds: float = 0.2
    fail_image_pattern: str = DEFAULT_FAIL_IMAGE_PATTERN

    def update(self, data: Any) -> None:
        if not isinstance(data, dict):
            raise bad_request("simulator settings must be a JSON object")
        if "readyDelaySeconds" in data:
            delay = data["readyDelaySeconds"]
            if not isinstance(delay, int | float) or delay < 0:
                raise bad_request("readyDelaySeconds must be a number >= 0")
            self.ready_delay_seconds = float(delay)
        if "failImagePattern" in data:
            try:
                re.compile(data["failImagePattern"])
            except (re.error, TypeError) as err:
                raise bad_request(f"failImagePattern is not a regular expression: {err}") from None
            self.fail_image_pattern = data["failImagePattern"]

    def as_dict(self) -> dict[str, Any]:
        return {"readyDelaySeconds": self.ready_delay_seconds, "failImagePattern": self.fail_image_pattern}


def _condition(kind: str, status: bool, reason: str, message: str, stamp: str) -> dict[str, Any]:
    return {
        "type": kind,
        "status": "True" if status else "False",
        "reason": reason,
        "message": message,
        "lastUpdateTime": stamp,
        "lastTransitionTime": stamp,
    }


def _keep_times(new: Status, old: Status) -> Status:
    """Reuse the previous condition timestamps when nothing but the time would change."""
    before = {c["type"]: c for c in old.get("conditions") or []}
    for cond in new.get("conditions") or []:
        prev = before.get(cond["type"])
        if prev and all(prev.get(k) == cond.get(k) for k in ("status", "reason", "message")):
            for key in ("lastUpdateTime", "lastTransitionTime", "lastProbeTime"):
                if key in prev:
                    cond[key] = prev[key]
                else:
                    cond.pop(key, None)
    for key in ("startTime", "completionTime"):
        if key in old and key in new:
            new[key] = old[key]
    return new


class WorkloadSimulator:
    """Background thread that moves workloads to their simulated status."""

    def __init__(self, api: ResourceApi, settings: SimulatorSettings | None = None) -> None:
        self.api = api
        self.settings = settings or SimulatorSettings()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sandbox-simulator", daemon=True)
        self._due: list[tuple[float, str, str, str, str]] = []
        self._handlers: dict[tuple[str, str], Callable[[dict[str, Any]], Status | None]] = {
            ("apps", "deployments"): self._deployment,
            ("apps", "replicasets"): self._replicaset,
            ("apps", "statefulsets"): self._statefulset,
            ("apps", "daemonsets"): self._daemonset,
            ("batch", "jobs"): self._job,
            ("", "pods"): self._pod,
            ("", "persistentvolumeclaims"): self._pvc,
            ("", "services"): self._service,
        }

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.api.store.wake_all()
        self._thread.join(timeout=5)

    # -- loop -----------------------------------------------------------------------------------
    def _run(self) -> None:
        store = self.api.store
        with store.lock:
            cursor = store.resource_version
            for group, plural in self._handlers:
                for obj in store.list(group, plural):
                    self._schedule(group, plural, obj, 0.0)
        while not self._stop.is_set():
            try:
                events = store.events_after(cursor)
            except ApiError:  # fell behind the event log: look at everything again
                events = []
                cursor = store.resource_version
            for event in events:
                cursor = event.rv
                if event.type != "DELETED" and (event.group, event.plural) in self._handlers:
                    self._schedule(event.group, event.plural, event.obj, self.settings.ready_delay_seconds)
            self._run_due()
            wait = min((self._due[0][0] - time.monotonic()) if self._due else 0.5, 0.5)
            if wait > 0:
                store.wait(cursor, wait)

    def _schedule(self, group: str, plural: str, obj: dict[str, Any], delay: float) -> None:
        meta = obj["metadata"]
        heapq.heappush(
            self._due, (time.monotonic() + delay, group, plural, meta.get("namespace", ""), meta["name"])
        )

    def _run_due(self) -> None:
        while self._due and self._due[0][0] <= time.monotonic():
            _, group, plural, namespace, name = heapq.heappop(self._due)
            try:
                self._reconcile(group, plural, namespace, name)
            except ApiError as err:  # e.g. the object was deleted meanwhile
                log.debug("simulator skipped %s/%s %s/%s: %s", group, plural, namespace, name, err.message)
            except Exception:
                log.exception("simulator failed on %s/%s %s/%s", group, plural, namespace, name)

    def _reconcile(self, group: str, plural: str, namespace: str, name: str) -> None:
        store = self.api.store
        with store.lock:
            obj = store.get(group, plural, namespace, name)
            if obj is None or obj["metadata"].get("deletionTimestamp"):
                return
            status = self._handlers[(group, plural)](obj)
            if status is None:
                return
            old = obj.get("status") or {}
            status = _keep_times(status, old)
            if status == old:
                return
            rt = self._type(group, plural)
            new = copy.deepcopy(obj)
            new["status"] = status
            call = Call(rt, namespace, name, "status", {}, MANAGER)
            self.api.update(call, new)

    def _type(self, group: str, plural: str) -> ResourceType:
        rt = self.api.table.find(group, plural)
        if rt is None:
            raise ApiError(404, f"{plural}.{group} is not served")
        return rt

    # -- helpers --------------------------------------------------------------------------------
    def _failing(self, pod_spec: dict[str, Any]) -> bool:
        pattern = re.compile(self.settings.fail_image_pattern)
        containers = (pod_spec.get("containers") or []) + (pod_spec.get("initContainers") or [])
        return any(pattern.search(str(c.get("image", ""))) for c in containers)

    @staticmethod
    def _template_spec(obj: dict[str, Any]) -> dict[str, Any]:
        return ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}

    # -- workloads ------------------------------------------------------------------------------
    def _deployment(self, obj: dict[str, Any]) -> Status:
        self._ensure_replicaset(obj)
        spec, meta, stamp = obj.get("spec") or {}, obj["metadata"], now()
        replicas = spec.get("replicas", 1)
        generation = meta.get("generation", 1)
        if self._failing(self._template_spec(obj)):
            return {
                "observedGeneration": generation,
                "replicas": replicas,
                "updatedReplicas": replicas,
                "unavailableReplicas": replicas,
                "conditions": [
                    _condition(
                        "Available",
                        False,
                        "MinimumReplicasUnavailable",
                        "Deployment does not have minimum availability.",
                        stamp,
                    ),
                    _condition(
                        "Progressing",
                        False,
                        "ProgressDeadlineExceeded",
                        f'ReplicaSet "{meta["name"]}" has timed out progressing.',
                        stamp,
                    ),
                ],
            }
        status: Status = {
            "observedGeneration": generation,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "conditions": [
                _condition(
                    "Available",
                    True,
                    "MinimumReplicasAvailable",
                    "Deployment has minimum availability.",
                    stamp,
                ),
                _condition(
                    "Progressing",
                    True,
                    "NewReplicaSetAvailable",
                    f'ReplicaSet "{meta["name"]}" has successfully progressed.',
                    stamp,
                ),
            ],
        }
        if replicas == 0:
            for key in ("readyReplicas", "availableReplicas", "updatedReplicas", "replicas"):
                status.pop(key)
        return status

    def _replicaset(self, obj: dict[str, Any]) -> Status:
        replicas = (obj.get("spec") or {}).get("replicas", 1)
        self._ensure_pods(obj, [], {}, count=replicas)
        status: Status = {"observedGeneration": obj["metadata"].get("generation", 1), "replicas": replicas}
        if not self._failing(self._template_spec(obj)):
            status.update(
                {"readyReplicas": replicas, "availableReplicas": replicas, "fullyLabeledReplicas": replicas}
            )
        return status

    def _statefulset(self, obj: dict[str, Any]) -> Status:
        replicas = (obj.get("spec") or {}).get("replicas", 1)
        name = obj["metadata"]["name"]
        self._ensure_pods(obj, [f"{name}-{i}" for i in range(replicas)], {})
        revision = f"{obj['metadata']['name']}-{obj['metadata'].get('generation', 1)}"
        status: Status = {
            "observedGeneration": obj["metadata"].get("generation", 1),
            "replicas": replicas,
            "currentReplicas": replicas,
            "updatedReplicas": replicas,
            "currentRevision": revision,
            "updateRevision": revision,
            "collisionCount": 0,
            "availableReplicas": 0,
        }
        if not self._failing(self._template_spec(obj)):
            status.update({"readyReplicas": replicas, "availableReplicas": replicas})
        return status

    def _daemonset(self, obj: dict[str, Any]) -> Status:
        self._ensure_pods(obj, [], {}, count=1)
        ready = 0 if self._failing(self._template_spec(obj)) else 1
        status: Status = {
            "observedGeneration": obj["metadata"].get("generation", 1),
            "desiredNumberScheduled": 1,
            "currentNumberScheduled": 1,
            "updatedNumberScheduled": 1,
            "numberMisscheduled": 0,
            "numberReady": ready,
            "numberAvailable": ready,
        }
        if not ready:
            status["numberUnavailable"] = 1
        return status

    def _job(self, obj: dict[str, Any]) -> Status | None:
        spec, stamp = obj.get("spec") or {}, now()
        if spec.get("suspend"):
            return None
        failing = self._failing(self._template_spec(obj))
        name, uid = obj["metadata"]["name"], obj["metadata"]["uid"]
        job_labels = {"job-name": name, "batch.kubernetes.io/job-name": name, "controller-uid": uid}
        self._ensure_pods(obj, [], job_labels, count=1)
        if failing:
            return {
                "startTime": stamp,
                "failed": spec.get("backoffLimit", 6) + 1,
                "ready": 0,
                "terminating": 0,
                "uncountedTerminatedPods": {},
                "conditions": [
                    _condition(
                        "FailureTarget",
                        True,
                        "BackoffLimitExceeded",
                        "Job has reached the specified backoff limit",
                        stamp,
                    ),
                    _condition(
                        "Failed",
                        True,
                        "BackoffLimitExceeded",
                        "Job has reached the specified backoff limit",
                        stamp,
                    ),
                ],
            }
        return {
            "startTime": stamp,
            "completionTime": stamp,
            "succeeded": spec.get("completions", 1),
            "ready": 0,
            "terminating": 0,
            "uncountedTerminatedPods": {},
            "conditions": [
                _condition(
                    "SuccessCriteriaMet",
                    True,
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    stamp,
                ),
                _condition(
                    "Complete", True, "CompletionsReached", "Reached expected number of succeeded pods", stamp
                ),
            ],
        }

    def _owned(self, group: str, plural: str, owner: dict[str, Any]) -> list[dict[str, Any]]:
        meta = owner["metadata"]
        return [
            o
            for o in self.api.store.list(group, plural, meta.get("namespace", ""))
            if not o["metadata"].get("deletionTimestamp")
            and any(ref.get("uid") == meta["uid"] for ref in o["metadata"].get("ownerReferences") or [])
        ]

    @staticmethod
    def _owner_reference(owner: dict[str, Any]) -> dict[str, Any]:
        meta = owner["metadata"]
        return {
            "apiVersion": owner["apiVersion"],
            "kind": owner["kind"],
            "name": meta["name"],
            "uid": meta["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }

    def _ensure_pods(
        self, owner: dict[str, Any], names: list[str], labels: dict[str, str], count: int | None = None
    ) -> None:
        """Make ``owner`` own exactly the pods in ``names`` (or ``count`` generated names), all started."""
        meta = owner["metadata"]
        namespace = meta["namespace"]
        pod_type = self._type("", "pods")
        pods = self._owned("", "pods", owner)
        if count is not None:
            kept = sorted(p["metadata"]["name"] for p in pods)[:count]
            names = kept + [f"{meta['name']}-{secrets.token_hex(3)[:5]}" for _ in range(count - len(kept))]
        for pod in pods:
            if pod["metadata"]["name"] not in names:
                self.api.delete(Call(pod_type, namespace, pod["metadata"]["name"], "", {}, MANAGER), {})
        existing = {p["metadata"]["name"] for p in pods}
        template = (owner.get("spec") or {}).get("template") or {}
        for name in names:
            if name in existing:
                continue
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "labels": {**((template.get("metadata") or {}).get("labels") or {}), **labels},
                    "ownerReferences": [self._owner_reference(owner)],
                },
                "spec": copy.deepcopy(template.get("spec") or {"containers": []}),
            }
            self.api.create(Call(pod_type, namespace, "", "", {}, MANAGER), pod)
            self._reconcile("", "pods", namespace, name)  # started together with its owner

    def _ensure_replicaset(self, deployment: dict[str, Any]) -> None:
        """One ReplicaSet per pod template (named by its hash), the current one scaled, older ones at 0."""
        meta, spec = deployment["metadata"], deployment.get("spec") or {}
        template = copy.deepcopy(spec.get("template") or {})
        digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]
        name = f"{meta['name']}-{digest}"
        rs_type = self._type("apps", "replicasets")
        replicas = spec.get("replicas", 1)
        owned = self._owned("apps", "replicasets", deployment)
        for rs in owned:
            wanted = replicas if rs["metadata"]["name"] == name else 0
            if (rs.get("spec") or {}).get("replicas") != wanted:
                scaled = copy.deepcopy(rs)
                scaled["spec"]["replicas"] = wanted
                self.api.update(
                    Call(rs_type, meta["namespace"], rs["metadata"]["name"], "", {}, MANAGER), scaled
                )
                self._reconcile("apps", "replicasets", meta["namespace"], rs["metadata"]["name"])
        if any(rs["metadata"]["name"] == name for rs in owned):
            return
        template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = digest
        selector = copy.deepcopy(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})["pod-template-hash"] = digest
        replicaset = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": meta["namespace"],
                "labels": template["metadata"]["labels"],
                "annotations": {"deployment.kubernetes.io/revision": str(len(owned) + 1)},
                "ownerReferences": [self._owner_reference(deployment)],
            },
            "spec": {"replicas": replicas, "selector": selector, "template": template},
        }
        self.api.create(Call(rs_type, meta["namespace"], "", "", {}, MANAGER), replicaset)
        self._reconcile("apps", "replicasets", meta["namespace"], name)  # pods start with the rollout

    def _pod(self, obj: dict[str, Any]) -> Status:
        spec, stamp = obj.get("spec") or {}, now()
        failing = self._failing(spec)
        finishes = spec.get("restartPolicy") in ("Never", "OnFailure")
        containers = spec.get("containers") or []
        if finishes:
            phase = "Failed" if failing else "Succeeded"
            state = {
                "terminated": {
                    "exitCode": 1 if failing else 0,
                    "reason": "Error" if failing else "Completed",
                    "startedAt": stamp,
                    "finishedAt": stamp,
                }
            }
            ready = False
        elif failing:
            phase, ready = "Pending", False
            state = {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}
        else:
            phase, ready = "Running", True
            state = {"running": {"startedAt": stamp}}
        ready_reason = "PodCompleted" if finishes and not failing else ("" if ready else "ContainersNotReady")
        conditions = []
        for kind in ("Initialized", "Ready", "ContainersReady", "PodScheduled"):
            ok = ready or kind in ("Initialized", "PodScheduled")
            cond = {
                "type": kind,
                "status": "True" if ok else "False",
                "lastProbeTime": None,
                "lastTransitionTime": stamp,
            }
            if not ok and ready_reason:
                cond["reason"] = ready_reason
            conditions.append(cond)
        return {
            "phase": phase,
            "conditions": conditions,
            "hostIP": "127.0.0.1",
            "podIP": "10.244.0.10",
            "startTime": stamp,
            "qosClass": "BestEffort",
            "containerStatuses": [
                {
                    "name": c.get("name", ""),
                    "image": c.get("image", ""),
                    "imageID": "",
                    "ready": ready,
                    "restartCount": 0,
                    "started": ready,
                    "state": state,
                }
                for c in containers
            ],
        }

    def _pvc(self, obj: dict[str, Any]) -> Status:
        spec = obj.get("spec") or {}
        return {
            "phase": "Bound",
            "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
            "capacity": dict((spec.get("resources") or {}).get("requests") or {"storage": "1Gi"}),
        }

    def _service(self, obj: dict[str, Any]) -> Status | None:
        if (obj.get("spec") or {}).get("type") != "LoadBalancer":
            return None
        return {"loadBalancer": {"ingress": [{"ip": "127.0.0.1", "ipMode": "VIP"}]}}
