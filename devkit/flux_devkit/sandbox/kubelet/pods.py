"""What the kubelet knows of one Pod it runs, and the PodStatus that follows from it.

:class:`ContainerRun` is one container across its restarts (the current process, the last
termination, the probes, the back-off); :class:`PodRun` holds the Pod's address, images
and containers. :meth:`PodRun.status` derives phase, conditions and container statuses
the way the kubelet's ``generateAPIPodStatus`` does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flux_devkit.sandbox.kubelet.images import PulledImage
from flux_devkit.sandbox.kubelet.probes import ProbeState
from flux_devkit.sandbox.kubelet.process import ContainerProcess, rfc3339

PROBES = (("startupProbe", "startup"), ("livenessProbe", "liveness"), ("readinessProbe", "readiness"))
HOST_IP = "127.0.0.1"


@dataclass(frozen=True)
class Termination:
    """How one run of a container ended (``state.terminated`` / ``lastState.terminated``)."""

    exit_code: int
    reason: str
    message: str
    started_at: float
    finished_at: float
    container_id: str

    def as_status(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "exitCode": self.exit_code,
            "reason": self.reason,
            "startedAt": rfc3339(self.started_at),
            "finishedAt": rfc3339(self.finished_at),
        }
        if self.message:
            state["message"] = self.message
        if self.container_id:
            state["containerID"] = self.container_id
        return state


@dataclass
class ContainerRun:
    """One (init) container of a Pod: its process now, how its last run ended, when it may run again."""

    spec: dict[str, Any]
    init: bool
    folder: Path
    restarts: int = 0
    process: ContainerProcess | None = None
    container_id: str = ""
    ended: Termination | None = None  # the current run ended (state.terminated, or waiting to restart)
    previous: Termination | None = None  # the run before (lastState.terminated)
    waiting: tuple[str, str] = ("ContainerCreating", "")
    restart_at: float | None = None  # monotonic: a back-off is running
    probes: dict[str, ProbeState] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.spec.get("name", ""))

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.running

    @property
    def started(self) -> bool:
        startup = self.probes.get("startup")
        return self.running and (startup is None or startup.passing)

    @property
    def ready(self) -> bool:
        readiness = self.probes.get("readiness")
        return self.started and (readiness is None or readiness.passing)

    @property
    def succeeded(self) -> bool:
        return self.ended is not None and self.ended.exit_code == 0 and self.restart_at is None

    def log_path(self, run: int) -> Path:
        return self.folder / f"{run}.log"

    def arm_probes(self) -> None:
        """Fresh probe states for a new process (init containers have none)."""
        now = time.monotonic()
        self.probes = (
            {}
            if self.init
            else {kind: ProbeState(kind, self.spec[key], now) for key, kind in PROBES if self.spec.get(key)}
        )

    def state(self) -> dict[str, Any]:
        if self.running:
            assert self.process is not None
            return {"running": {"startedAt": rfc3339(self.process.started_at)}}
        if self.ended is not None and self.restart_at is None:
            return {"terminated": self.ended.as_status()}
        reason, message = self.waiting
        return {"waiting": {"reason": reason, **({"message": message} if message else {})}}

    def status(self, image: PulledImage | None) -> dict[str, Any]:
        last = self.previous if self.running or self.restart_at is None else self.ended
        status: dict[str, Any] = {
            "name": self.name,
            "image": self.spec.get("image", ""),
            "imageID": image.image_id if image else "",
            "ready": self.ready,
            "restartCount": self.restarts,
            "started": self.started,
            "state": self.state(),
            "lastState": {"terminated": last.as_status()} if last else {},
        }
        if self.container_id:
            status["containerID"] = self.container_id
        return status


@dataclass
class PodRun:
    """A Pod the kubelet runs: identity, address, images and containers."""

    uid: str
    namespace: str
    name: str
    ip: str
    folder: Path
    pod: dict[str, Any]
    started_at: float = field(default_factory=time.time)
    images: dict[str, PulledImage] = field(default_factory=dict)
    pulling: set[str] = field(default_factory=set)
    pull_errors: dict[str, tuple[str, float, float]] = field(
        default_factory=dict
    )  # message, retry at, back-off
    init: list[ContainerRun] = field(default_factory=list)
    containers: list[ContainerRun] = field(default_factory=list)
    stopping: bool = False

    @property
    def spec(self) -> dict[str, Any]:
        return self.pod.get("spec") or {}

    @property
    def restart_policy(self) -> str:
        return str(self.spec.get("restartPolicy") or "Always")

    @property
    def ref(self) -> str:
        return f"Pod/{self.namespace}/{self.name}"

    def all_containers(self) -> list[ContainerRun]:
        return [*self.init, *self.containers]

    def find(self, name: str) -> ContainerRun | None:
        return next((c for c in self.all_containers() if c.name == name), None)

    @property
    def initialized(self) -> bool:
        return all(c.succeeded for c in self.init)

    @property
    def init_failed(self) -> bool:
        """An init container failed and will not be retried (restartPolicy Never)."""
        return any(c.ended is not None and c.ended.exit_code != 0 and c.restart_at is None for c in self.init)

    def phase(self) -> str:
        if self.init_failed:
            return "Failed"
        if not self.initialized:
            return "Pending"
        finished = [
            c for c in self.containers if c.ended is not None and c.restart_at is None and not c.running
        ]
        if self.containers and len(finished) == len(self.containers):
            return "Succeeded" if all(c.ended and c.ended.exit_code == 0 for c in finished) else "Failed"
        if any(c.running or c.restarts or c.ended for c in self.containers):
            return "Running"
        return "Pending"

    def status(self, stamp: str, extra_conditions: list[dict[str, Any]]) -> dict[str, Any]:
        phase = self.phase()
        unready = [c.name for c in self.containers if not c.ready]
        completed = phase in ("Succeeded", "Failed")
        uninitialized = [c.name for c in self.init if not c.succeeded]

        def cond(kind: str, ok: bool, reason: str = "", message: str = "") -> dict[str, Any]:
            entry: dict[str, Any] = {
                "type": kind,
                "status": "True" if ok else "False",
                "lastProbeTime": None,
                "lastTransitionTime": stamp,
            }
            if not ok and reason:
                entry.update({"reason": reason, "message": message})
            return entry

        not_ready = (
            ("PodCompleted", "")
            if completed
            else ("ContainersNotReady", f"containers with unready status: [{' '.join(unready)}]")
        )
        conditions = [
            cond("PodReadyToStartContainers", True),
            cond(
                "Initialized",
                not uninitialized or completed,
                "ContainersNotInitialized",
                f"containers with incomplete status: [{' '.join(uninitialized)}]",
            ),
            cond("Ready", not unready and not completed, *not_ready),
            cond("ContainersReady", not unready and not completed, *not_ready),
            cond("PodScheduled", True),
            *extra_conditions,
        ]
        status: dict[str, Any] = {
            "phase": phase,
            "conditions": conditions,
            "hostIP": HOST_IP,
            "hostIPs": [{"ip": HOST_IP}],
            "podIP": self.ip,
            "podIPs": [{"ip": self.ip}],
            "startTime": rfc3339(self.started_at),
            "qosClass": _qos(self.spec),
            "containerStatuses": [
                c.status(self.images.get(c.spec.get("image", ""))) for c in self.containers
            ],
        }
        if self.init:
            status["initContainerStatuses"] = [
                c.status(self.images.get(c.spec.get("image", ""))) for c in self.init
            ]
        return status


def _qos(spec: dict[str, Any]) -> str:
    """Guaranteed when every container limits cpu and memory and requests equal them; BestEffort with none."""
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    resources = [c.get("resources") or {} for c in containers]
    if not any(r.get("limits") or r.get("requests") for r in resources):
        return "BestEffort"
    for r in resources:
        limits, requests = r.get("limits") or {}, r.get("requests") or {}
        if not all(k in limits for k in ("cpu", "memory")) or any(
            requests.get(k, limits[k]) != limits[k] for k in limits
        ):
            return "Burstable"
    return "Guaranteed"
