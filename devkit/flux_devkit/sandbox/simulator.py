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
import json
import logging
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flux_devkit.sandbox import rollouts
from flux_devkit.sandbox.conditions import Status, condition, keep_times
from flux_devkit.sandbox.controller import Key, StoreController
from flux_devkit.sandbox.network.addresses import AddressPool
from flux_devkit.sandbox.recorder import EventRecorder
from flux_devkit.sandbox.resources import ResourceType
from flux_devkit.sandbox.status import ApiError, bad_request
from flux_devkit.sandbox.store import Event
from flux_devkit.sandbox.verbs import Call, ResourceApi, now

if TYPE_CHECKING:
    from flux_devkit.sandbox.kubelet.kubelet import Kubelet

log = logging.getLogger(__name__)

MANAGER = "sandbox-controller"
DEFAULT_FAIL_IMAGE_PATTERN = r"(:fail$|failing)"
_OWNERS = {  # a controller's kind -> where it is stored, to reconcile it when what it owns changes
    "ReplicaSet": ("apps", "replicasets"),
    "Deployment": ("apps", "deployments"),
    "StatefulSet": ("apps", "statefulsets"),
    "DaemonSet": ("apps", "daemonsets"),
    "Job": ("batch", "jobs"),
}


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


class WorkloadSimulator(StoreController):
    """What the controller manager does to workloads; Pods are simulated unless the kubelet runs them."""

    name = "simulator"

    def __init__(
        self,
        api: ResourceApi,
        settings: SimulatorSettings | None = None,
        *,
        kubelet: Kubelet | None = None,
        pod_ips: AddressPool | None = None,
    ) -> None:
        super().__init__(api.store)
        self.api = api
        self.settings = settings or SimulatorSettings()
        self.kubelet = kubelet
        self.pod_ips = pod_ips
        self.events = EventRecorder(api, MANAGER) if kubelet is not None else None
        self._progress: dict[str, rollouts.Progress] = {}
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

    # -- controller -----------------------------------------------------------------------------
    def keys_for(self, event: Event) -> Iterable[tuple[Key, float]]:
        meta = event.obj["metadata"]
        if event.type != "DELETED" and (event.group, event.plural) in self._handlers:
            key = (event.group, event.plural, meta.get("namespace", ""), meta["name"])
            yield key, self.settings.ready_delay_seconds
        if self.kubelet is not None:  # real Pods change their owners' status: look at the owner again
            for ref in meta.get("ownerReferences") or []:
                if ref.get("controller") and ref.get("kind") in _OWNERS:
                    yield (*_OWNERS[ref["kind"]], meta.get("namespace", ""), ref.get("name", "")), 0.0

    def all_keys(self) -> Iterable[Key]:
        for group, plural in self._handlers:
            for obj in self.store.list(group, plural):
                yield group, plural, obj["metadata"].get("namespace", ""), obj["metadata"]["name"]

    def reconcile(self, key: Key) -> None:
        self._reconcile(*key)

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
            status = keep_times(status, old)
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

    def _runs(self, obj: dict[str, Any]) -> bool:
        """Whether the kubelet runs this workload's Pods (its status then follows theirs)."""
        return self.kubelet is not None and self.kubelet.runs(self._template_spec(obj))

    # -- workloads ------------------------------------------------------------------------------
    def _deployment(self, obj: dict[str, Any]) -> Status:
        new_rs, old_rs = self._ensure_replicaset(obj)
        if self._runs(obj):
            progress = self._progress.setdefault(obj["metadata"]["uid"], rollouts.Progress())
            rollout = rollouts.deployment_rollout(obj, new_rs, old_rs, progress, now())
            for rs in (new_rs, *old_rs):
                self._scale(rs, rollout.scale[rs["metadata"]["name"]])
            return rollout.status
        for rs in old_rs:
            self._scale(rs, 0)
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
                    condition(
                        "Available",
                        False,
                        "MinimumReplicasUnavailable",
                        "Deployment does not have minimum availability.",
                        stamp,
                    ),
                    condition(
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
                condition(
                    "Available",
                    True,
                    "MinimumReplicasAvailable",
                    "Deployment has minimum availability.",
                    stamp,
                ),
                condition(
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
        if self._runs(obj):
            return rollouts.replicaset_status(obj, self._owned("", "pods", obj))
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
        if self._runs(obj):
            ready, available = rollouts.replicas_status(obj, self._owned("", "pods", obj))
            status.update({"readyReplicas": ready, "availableReplicas": available})
        elif not self._failing(self._template_spec(obj)):
            status.update({"readyReplicas": replicas, "availableReplicas": replicas})
        return status

    def _daemonset(self, obj: dict[str, Any]) -> Status:
        self._ensure_pods(obj, [], {}, count=1)
        if self._runs(obj):
            ready = rollouts.replicas_status(obj, self._owned("", "pods", obj))[0]
        else:
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
        job_labels = {
            "job-name": name,
            "batch.kubernetes.io/job-name": name,
            "controller-uid": uid,
            "batch.kubernetes.io/controller-uid": uid,
        }
        if self._runs(obj):
            return self._run_job(obj, job_labels)
        self._ensure_pods(obj, [], job_labels, count=1)
        if failing:
            return {
                "startTime": stamp,
                "failed": spec.get("backoffLimit", 6) + 1,
                "ready": 0,
                "terminating": 0,
                "uncountedTerminatedPods": {},
                "conditions": [
                    condition(
                        "FailureTarget",
                        True,
                        "BackoffLimitExceeded",
                        "Job has reached the specified backoff limit",
                        stamp,
                    ),
                    condition(
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
                condition(
                    "SuccessCriteriaMet",
                    True,
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    stamp,
                ),
                condition(
                    "Complete", True, "CompletionsReached", "Reached expected number of succeeded pods", stamp
                ),
            ],
        }

    def _run_job(self, job: dict[str, Any], labels: dict[str, str]) -> Status:
        """Pods one after another until enough succeed or too many fail (``backoffLimit``)."""
        assert self.kubelet is not None
        meta = job["metadata"]
        step = rollouts.job_step(
            job, self._owned("", "pods", job), now(), self.kubelet.settings.backoff_seconds
        )
        pod_type = self._type("", "pods")
        for name in step.stop:
            self.api.delete(Call(pod_type, meta["namespace"], name, "", {}, MANAGER), {})
        if step.start and step.delay > 0:
            self.schedule(("batch", "jobs", meta["namespace"], meta["name"]), step.delay)
        else:
            for _ in range(step.start):
                self._create_pod(job, f"{meta['name']}-{secrets.token_hex(3)[:5]}", labels)
        return step.status

    def _owned(self, group: str, plural: str, owner: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            o
            for type_key, o in self.api.store.indexed("owner", owner["metadata"]["uid"])
            if type_key == (group, plural) and not o["metadata"].get("deletionTimestamp")
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
        """Make ``owner`` own exactly the pods in ``names`` (or ``count`` generated names), all started.

        Scaling down keeps ready Pods before unready ones and older before newer, as the
        ReplicaSet controller does.
        """
        meta = owner["metadata"]
        pod_type = self._type("", "pods")
        pods = self._owned("", "pods", owner)
        if count is not None:
            if self._runs(owner):
                order = sorted(
                    pods, key=lambda p: (not rollouts.pod_ready(p), p["metadata"]["creationTimestamp"])
                )
                kept = [p["metadata"]["name"] for p in order][:count]
            else:
                kept = sorted(p["metadata"]["name"] for p in pods)[:count]
            names = kept + [f"{meta['name']}-{secrets.token_hex(3)[:5]}" for _ in range(count - len(kept))]
        for pod in pods:
            if pod["metadata"]["name"] not in names:
                self.api.delete(
                    Call(pod_type, meta["namespace"], pod["metadata"]["name"], "", {}, MANAGER), {}
                )
        existing = {p["metadata"]["name"] for p in pods}
        for name in names:
            if name not in existing:
                self._create_pod(owner, name, labels)

    def _create_pod(self, owner: dict[str, Any], name: str, labels: dict[str, str]) -> None:
        namespace = owner["metadata"]["namespace"]
        template = (owner.get("spec") or {}).get("template") or {}
        metadata: dict[str, Any] = {
            "name": name,
            "namespace": namespace,
            "labels": {**((template.get("metadata") or {}).get("labels") or {}), **labels},
            "ownerReferences": [self._owner_reference(owner)],
        }
        annotations = (template.get("metadata") or {}).get("annotations")
        if annotations:
            metadata["annotations"] = dict(annotations)
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": metadata,
            "spec": copy.deepcopy(template.get("spec") or {"containers": []}),
        }
        self.api.create(Call(self._type("", "pods"), namespace, "", "", {}, MANAGER), pod)
        self._reconcile("", "pods", namespace, name)  # started together with its owner

    def _scale(self, rs: dict[str, Any], replicas: int) -> None:
        if (rs.get("spec") or {}).get("replicas") == replicas:
            return
        scaled = copy.deepcopy(rs)
        scaled["spec"]["replicas"] = replicas
        meta = rs["metadata"]
        self.api.update(
            Call(self._type("apps", "replicasets"), meta["namespace"], meta["name"], "", {}, MANAGER), scaled
        )
        self._reconcile("apps", "replicasets", meta["namespace"], meta["name"])

    def _ensure_replicaset(self, deployment: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The ReplicaSet of the current pod template (named by its hash, made if missing), and the others."""
        meta, spec = deployment["metadata"], deployment.get("spec") or {}
        template = copy.deepcopy(spec.get("template") or {})
        digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]
        name = f"{meta['name']}-{digest}"
        owned = self._owned("apps", "replicasets", deployment)
        current = next((rs for rs in owned if rs["metadata"]["name"] == name), None)
        if current is not None:
            self._scale(current, spec.get("replicas", 1))
            current = self.store.get("apps", "replicasets", meta["namespace"], name) or current
            return current, [rs for rs in owned if rs["metadata"]["name"] != name]
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
            "spec": {"replicas": spec.get("replicas", 1), "selector": selector, "template": template},
        }
        self.api.create(
            Call(self._type("apps", "replicasets"), meta["namespace"], "", "", {}, MANAGER), replicaset
        )
        self._reconcile("apps", "replicasets", meta["namespace"], name)  # pods start with the rollout
        created = self.store.get("apps", "replicasets", meta["namespace"], name)
        assert created is not None
        return created, owned

    def _pod(self, obj: dict[str, Any]) -> Status | None:
        spec, stamp = obj.get("spec") or {}, now()
        if self.kubelet is not None and self.kubelet.runs(spec):
            return None  # the kubelet writes this Pod's status
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
        status: Status = {
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
        if self.kubelet is not None:
            self._mark_simulated(obj, status)
        return status

    def _mark_simulated(self, pod: dict[str, Any], status: Status) -> None:
        """With workloads running, a simulated Pod says so (a condition, an Event) and gets an address."""
        assert self.kubelet is not None and self.events is not None and self.pod_ips is not None
        old = pod.get("status") or {}
        if str(old.get("podIP", "")) in self.pod_ips:
            status["podIP"] = old["podIP"]
        else:
            status["podIP"] = self.pod_ips.allocate(self.store.holds_address)
            self.pod_ips.release(status["podIP"])  # held by the Pod's status from now on
        images = ", ".join(self.kubelet.not_allowed(pod.get("spec") or {}))
        allowed = ", ".join(self.kubelet.settings.allowed_registries)
        message = (
            f"image {images} is not from a registry this sandbox runs ({allowed}); "
            "the Pod's status is simulated and no container runs"
        )
        status["conditions"].append(
            {
                "type": "Simulated",
                "status": "True",
                "reason": "ImageNotAllowed",
                "message": message,
                "lastProbeTime": None,
                "lastTransitionTime": status["startTime"],
            }
        )
        if not any(c.get("type") == "Simulated" for c in old.get("conditions") or []):
            self.events.record(pod, "Simulated", message, warning=True)

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
