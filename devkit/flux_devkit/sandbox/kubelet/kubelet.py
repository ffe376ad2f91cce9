"""The sandbox's kubelet: runs the Pods whose images it may pull as host processes.

For each Pod it admits (every image from an allowed registry) it gives the Pod an address,
pulls its images, runs its init containers in order and then its containers, probes them,
restarts them by ``restartPolicy`` with the kubelet's doubling back-off, and writes the Pod's
status and Events. A deleted Pod's processes get SIGTERM and, after the grace period,
SIGKILL; stopping the sandbox stops them all. Everything about a Pod happens in the
controller thread; threads that wait for an image or a process only schedule the Pod again.
"""

from __future__ import annotations

import base64
import copy
import datetime
import functools
import json
import logging
import secrets
import shlex
import shutil
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from flux_devkit.sandbox.conditions import keep_times
from flux_devkit.sandbox.controller import Key, StoreController
from flux_devkit.sandbox.kubelet import logs
from flux_devkit.sandbox.kubelet.environment import (
    ContainerConfigError,
    ContainerEnvironment,
    Launch,
    StartError,
    service_links,
)
from flux_devkit.sandbox.kubelet.images import ImagePullError, ImageStore, PulledImage, docker_config_auths
from flux_devkit.sandbox.kubelet.pods import ContainerRun, PodRun, Termination
from flux_devkit.sandbox.kubelet.probes import Launcher, check
from flux_devkit.sandbox.kubelet.process import ContainerProcess
from flux_devkit.sandbox.kubelet.settings import MAX_BACKOFF_SECONDS, WorkloadSettings
from flux_devkit.sandbox.network.addresses import AddressPool
from flux_devkit.sandbox.recorder import EventRecorder
from flux_devkit.sandbox.status import bad_request
from flux_devkit.sandbox.store import Event
from flux_devkit.sandbox.verbs import Call, ResourceApi, now

log = logging.getLogger(__name__)

MANAGER = "kubelet"
CONFIG_RETRY_SECONDS = 2.0
STABLE_RUN_SECONDS = 600.0  # a container that ran this long restarts without back-off
DEFAULT_GRACE_SECONDS = 30.0
STOP_GRACE_SECONDS = 2.0


class PodNetwork(Protocol):
    """What the network side of the sandbox does for a running Pod (its sidecar, its environment)."""

    def pod_env(self, pod: dict[str, Any], ip: str) -> dict[str, str]: ...

    def attach(self, pod: dict[str, Any], ip: str) -> None: ...

    def detach(self, ip: str) -> None: ...


class NoNetwork:
    def pod_env(self, pod: dict[str, Any], ip: str) -> dict[str, str]:
        return {}

    def attach(self, pod: dict[str, Any], ip: str) -> None:
        return None

    def detach(self, ip: str) -> None:
        return None


def _lend(shim: Path, program: str) -> None:
    """A script that runs the host ``program``: a symlink would hide a virtualenv's Python from itself
    (it finds its ``pyvenv.cfg`` next to the path it was started by, so its packages would be missing)."""
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(program)} "$@"\n')
    shim.chmod(0o755)


def _default_pull_always(image: str, policy: str | None) -> bool:
    """imagePullPolicy: Always for ``:latest`` or no tag, IfNotPresent otherwise (Never: cache only)."""
    if policy:
        return policy == "Always"
    last = image.rsplit("/", 1)[-1]
    return "@" not in last and (":" not in last or last.endswith(":latest"))


class Kubelet(StoreController):
    name = "kubelet"

    def __init__(
        self,
        api: ResourceApi,
        settings: WorkloadSettings,
        root: Path,
        pod_ips: AddressPool,
        network: PodNetwork | None = None,
    ) -> None:
        super().__init__(api.store)
        self.api = api
        self.settings = settings
        self.root = root
        self.pod_ips = pod_ips
        self.network = network or NoNetwork()
        self.images = ImageStore(root / "images", settings)
        self.events = EventRecorder(api, MANAGER)
        self._pods: dict[tuple[str, str], PodRun] = {}
        self._ending: list[PodRun] = []
        self._pulls = ThreadPoolExecutor(2, thread_name_prefix="kubelet-pull")
        self._probes = ThreadPoolExecutor(8, thread_name_prefix="kubelet-probe")
        self.tools = root / "tools"
        shutil.rmtree(root / "pods", ignore_errors=True)  # a previous run's copies and logs
        shutil.rmtree(self.tools, ignore_errors=True)
        self.tools.mkdir(parents=True)
        for name, path in settings.tools:
            _lend(self.tools / name, path)

    # -- which Pods are ours --------------------------------------------------------------------
    def runs(self, pod_spec: dict[str, Any]) -> bool:
        """Whether Pods of this spec run here (every image allowed), rather than being simulated."""
        containers = [*(pod_spec.get("initContainers") or []), *(pod_spec.get("containers") or [])]
        return bool(containers) and all(self.settings.allows(str(c.get("image", ""))) for c in containers)

    def not_allowed(self, pod_spec: dict[str, Any]) -> list[str]:
        containers = [*(pod_spec.get("initContainers") or []), *(pod_spec.get("containers") or [])]
        return [
            str(c.get("image", "")) for c in containers if not self.settings.allows(str(c.get("image", "")))
        ]

    # -- controller -----------------------------------------------------------------------------
    def keys_for(self, event: Event) -> Iterable[tuple[Key, float]]:
        if (event.group, event.plural) == ("", "pods"):
            yield ("", "pods", event.namespace, event.obj["metadata"]["name"]), 0.0

    def all_keys(self) -> Iterable[Key]:
        for pod in self.store.list("", "pods"):
            yield "", "pods", pod["metadata"]["namespace"], pod["metadata"]["name"]

    def reconcile(self, key: Key) -> None:
        _, _, namespace, name = key
        self._sweep()
        pod = self.store.get("", "pods", namespace, name)
        run = self._pods.get((namespace, name))
        gone = pod is None or bool(pod["metadata"].get("deletionTimestamp"))
        if run is not None and (gone or run.uid != (pod or {})["metadata"]["uid"]):
            self._end(run, "the Pod was deleted")
            run = None
        if gone or pod is None or not self.runs(pod.get("spec") or {}):
            return
        if run is None:
            run = self._admit(pod)
        run.pod = pod
        self._pull_images(run)
        self._advance(run)
        self._write_status(run)
        self._schedule_next(run, key)

    def stop(self) -> None:
        super().stop()
        runs = [*self._pods.values(), *self._ending]
        for run in runs:
            for container in run.all_containers():
                if container.process is not None:
                    container.process.terminate(STOP_GRACE_SECONDS, "the sandbox stopped")
        deadline = time.monotonic() + STOP_GRACE_SECONDS + 3
        for run in runs:
            for container in run.all_containers():
                process = container.process
                while process is not None and process.running and time.monotonic() < deadline:
                    time.sleep(0.02)
                if process is not None and process.running:
                    process.kill()
        self._pulls.shutdown(wait=False, cancel_futures=True)
        self._probes.shutdown(wait=False, cancel_futures=True)

    # -- admission and the end of a Pod ---------------------------------------------------------
    def _admit(self, pod: dict[str, Any]) -> PodRun:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        running = {r.ip for r in self._pods.values()}
        ip = self.pod_ips.allocate(lambda address: address in running or self.store.holds_address(address))
        folder = self.root / "pods" / meta["uid"]
        run = PodRun(meta["uid"], meta["namespace"], meta["name"], ip, folder, pod)

        def containers(key: str, init: bool) -> list[ContainerRun]:
            made = []
            for container in spec.get(key) or []:
                path = folder / str(container.get("name", ""))
                path.mkdir(parents=True, exist_ok=True)
                made.append(ContainerRun(container, init, path))
            return made

        run.init, run.containers = containers("initContainers", True), containers("containers", False)
        self._pods[(run.namespace, run.name)] = run
        self.network.attach(pod, ip)
        return run

    def _end(self, run: PodRun, why: str) -> None:
        """Stop every process of the Pod (grace period, then SIGKILL); the rest waits for them to exit."""
        self._pods.pop((run.namespace, run.name), None)
        run.stopping = True
        grace = float(run.spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS))
        for container in run.all_containers():
            if container.process is not None:
                container.process.terminate(min(grace, DEFAULT_GRACE_SECONDS), why)
        self.network.detach(run.ip)
        self._ending.append(run)

    def _sweep(self) -> None:
        for run in list(self._ending):
            if not any(c.running for c in run.all_containers()):
                self._ending.remove(run)
                self.pod_ips.release(run.ip)
                shutil.rmtree(run.folder, ignore_errors=True)

    # -- images ---------------------------------------------------------------------------------
    def _pull_images(self, run: PodRun) -> None:
        secrets_auths = self._pull_secrets(run)
        for container in run.all_containers():
            image = str(container.spec.get("image", ""))
            if image in run.images or image in run.pulling:
                continue
            error = run.pull_errors.get(image)
            if error is not None and error[1] > time.monotonic():
                continue
            policy = container.spec.get("imagePullPolicy")
            if policy == "Never":
                cached = self.images.cached(image)
                if cached is None:
                    container.waiting = (
                        "ErrImageNeverPull",
                        f'Container image "{image}" is not present with pull policy of Never',
                    )
                    continue
                run.images[image] = cached
                continue
            run.pulling.add(image)
            self.events.record(
                run.pod, "Pulling", f'Pulling image "{image}"', field_path=self._path(container)
            )
            future = self._pulls.submit(
                self.images.pull, image, always=_default_pull_always(image, policy), pull_auths=secrets_auths
            )
            future.add_done_callback(functools.partial(self._pulled, run, image))

    def _pulled(self, run: PodRun, image: str, future: Future[PulledImage]) -> None:
        """From the pull thread: remember the outcome and wake the Pod's reconcile."""
        run.pulling.discard(image)
        error = future.exception()
        if error is None:
            run.images[image] = future.result()
            run.pull_errors.pop(image, None)
        else:
            message = (
                error.message if isinstance(error, ImagePullError) else f"{type(error).__name__}: {error}"
            )
            backoff = run.pull_errors.get(image, ("", 0.0, 0.0))[2]
            backoff = min(max(backoff * 2, self.settings.backoff_seconds), MAX_BACKOFF_SECONDS)
            run.pull_errors[image] = (message, time.monotonic() + backoff, backoff)
            self.events.record(run.pod, "Failed", f'Failed to pull image "{image}": {message}', warning=True)
        self.schedule(("", "pods", run.namespace, run.name))

    def _pull_secrets(self, run: PodRun) -> dict[str, Any]:
        auths: dict[str, Any] = {}
        for ref in run.spec.get("imagePullSecrets") or []:
            secret = self.store.get("", "secrets", run.namespace, str(ref.get("name", "")))
            raw = ((secret or {}).get("data") or {}).get(".dockerconfigjson")
            if raw:
                try:
                    auths.update(docker_config_auths(json.loads(base64.b64decode(raw))))
                except ValueError:
                    continue
        return auths

    # -- containers -----------------------------------------------------------------------------
    def _advance(self, run: PodRun) -> None:
        for container in run.all_containers():
            self._collect_exit(run, container)
        if run.init_failed:
            return
        pending_init = next((c for c in run.init if not c.succeeded), None)
        if pending_init is not None:
            if not pending_init.running:
                self._maybe_start(run, pending_init)
            for container in run.containers:
                container.waiting = ("PodInitializing", "")
            return
        for container in run.containers:
            if not container.running:
                self._maybe_start(run, container)
            else:
                self._probe(run, container)

    def _maybe_start(self, run: PodRun, container: ContainerRun) -> None:
        if container.ended is not None and container.restart_at is None:
            return  # finished for good
        if container.restart_at is not None and container.restart_at > time.monotonic():
            return
        image = str(container.spec.get("image", ""))
        pulled = run.images.get(image)
        if pulled is None:
            error = run.pull_errors.get(image)
            if error is not None:
                backing_off = error[1] > time.monotonic()
                container.waiting = (
                    ("ImagePullBackOff", f'Back-off pulling image "{image}": {error[0]}')
                    if backing_off
                    else ("ErrImagePull", error[0])
                )
            return
        self._start(run, container, pulled)

    def _start(self, run: PodRun, container: ContainerRun, pulled: PulledImage) -> None:
        if container.ended is not None:  # a restart: the run that ended becomes the previous one
            container.previous, container.ended = container.ended, None
            container.restarts += 1
        container.restart_at = None
        attempt = container.restarts
        copy_dir = container.folder / str(attempt)
        shutil.rmtree(container.folder / str(attempt - 1), ignore_errors=True)
        try:
            launch = self._launch(run, container, pulled, copy_dir)
        except ContainerConfigError as err:
            container.waiting = ("CreateContainerConfigError", str(err))
            container.restart_at = time.monotonic() + CONFIG_RETRY_SECONDS
            if container.previous is not None and container.restarts:  # nothing ran: undo the count
                container.ended, container.previous = container.previous, None
                container.restarts -= 1
            self.events.record(
                run.pod, "Failed", f"Error: {err}", warning=True, field_path=self._path(container)
            )
            return
        except StartError as err:
            self._start_failed(run, container, str(err))
            return
        container.container_id = f"sandbox://{secrets.token_hex(32)}"
        key = ("", "pods", run.namespace, run.name)
        try:
            container.process = ContainerProcess(
                launch, logs.LogWriter(container.log_path(attempt)), lambda: self.schedule(key)
            )
        except StartError as err:
            self._start_failed(run, container, str(err))
            return
        container.arm_probes()
        self.events.record(
            run.pod, "Started", f"Started container {container.name}", field_path=self._path(container)
        )

    def _start_failed(self, run: PodRun, container: ContainerRun, message: str) -> None:
        stamp = time.time()
        container.process = None
        container.ended = Termination(128, "StartError", message, stamp, stamp, container.container_id)
        self.events.record(
            run.pod, "Failed", f"Error: {message}", warning=True, field_path=self._path(container)
        )
        self._decide_restart(run, container, 0.0)

    def _environment(
        self, run: PodRun, container: ContainerRun, rootfs: Path
    ) -> tuple[ContainerEnvironment, dict[str, str]]:
        """The container's variables: runtime ones, service links, the mesh's, then envFrom and env."""
        environment = ContainerEnvironment(
            run.pod, run.ip, lambda plural, name: self.store.get("", plural, run.namespace, name)
        )
        base = {"HOSTNAME": run.name, "HOME": str(rootfs / "root"), "TMPDIR": str(rootfs / "tmp")}
        if run.spec.get("enableServiceLinks", True):
            base.update(service_links(self.store.list("", "services", run.namespace)))
        base.update(self.network.pod_env(run.pod, run.ip))
        warnings: list[str] = []
        variables = environment.variables(container.spec, base, warnings)
        for warning in warnings:
            self.events.record(run.pod, "InvalidEnvironmentVariableNames", warning, warning=True)
        return environment, variables

    def _launch(self, run: PodRun, container: ContainerRun, pulled: PulledImage, copy_dir: Path) -> Launch:
        """Resolve the command line and env; copy the image's files as this run's writable layer."""
        rootfs = copy_dir / "rootfs"
        environment, variables = self._environment(run, container, rootfs)
        shutil.rmtree(copy_dir, ignore_errors=True)
        shutil.copytree(pulled.rootfs, rootfs, symlinks=True)
        for folder in ("root", "tmp"):
            (rootfs / folder).mkdir(exist_ok=True)
        return environment.launch(container.spec, pulled.config, rootfs, self.tools, variables)

    def _collect_exit(self, run: PodRun, container: ContainerRun) -> None:
        process = container.process
        if process is None or process.running or container.ended is not None:
            return
        code = process.exit_code if process.exit_code is not None else 1
        reason = "Completed" if code == 0 and not process.killed_by else "Error"
        container.ended = Termination(
            code, reason, "", process.started_at, process.finished_at or time.time(), container.container_id
        )
        ran = (process.finished_at or time.time()) - process.started_at
        container.probes = {}
        self._decide_restart(run, container, ran)

    def _decide_restart(self, run: PodRun, container: ContainerRun, ran: float) -> None:
        assert container.ended is not None
        failed = container.ended.exit_code != 0
        policy = run.restart_policy
        restart = policy == "Always" or (policy == "OnFailure" and failed)
        if container.init:
            restart = failed and policy != "Never"
        if not restart:
            return
        if container.restarts == 0 or ran >= STABLE_RUN_SECONDS:
            delay = 0.0
        else:
            delay = min(self.settings.backoff_seconds * 2 ** (container.restarts - 1), MAX_BACKOFF_SECONDS)
        container.restart_at = time.monotonic() + delay
        message = (
            f"back-off {delay:g}s restarting failed container={container.name} "
            f"pod={run.name}_{run.namespace}({run.uid})"
        )
        container.waiting = ("CrashLoopBackOff", message)
        if delay:
            self.events.record(
                run.pod,
                "BackOff",
                "Back-off restarting failed container",
                warning=True,
                field_path=self._path(container),
            )

    def _probe(self, run: PodRun, container: ContainerRun) -> None:
        process = container.process
        assert process is not None
        for state in container.probes.values():
            if state.gave_up:
                what = "liveness" if state.kind == "liveness" else "startup"
                self.events.record(
                    run.pod,
                    "Killing",
                    f"Container {container.name} failed {what} probe, will be restarted",
                    field_path=self._path(container),
                )
                grace = float(run.spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS))
                process.terminate(min(grace, DEFAULT_GRACE_SECONDS), what)
                return
        startup = container.probes.get("startup")
        key = ("", "pods", run.namespace, run.name)
        for state in container.probes.values():
            if state.running or state.due > time.monotonic():
                continue
            if state.kind != "startup" and startup is not None and not startup.passing:
                continue  # liveness and readiness wait for the startup probe
            state.running = True
            ports = list(container.spec.get("ports") or [])
            launcher = self._exec_launcher(run, container)
            future = self._probes.submit(check, state.spec, run.ip, ports, launcher)

            def done(f: Any, state: Any = state, current: ContainerProcess = process) -> None:
                if container.process is not current:  # a result for a process that has gone
                    return
                passed, message = f.result() if f.exception() is None else (False, str(f.exception()))
                state.record(passed, message)
                if not passed:
                    self.events.record(
                        run.pod,
                        "Unhealthy",
                        f"{state.kind.capitalize()} probe failed: {message}",
                        warning=True,
                        field_path=self._path(container),
                    )
                self.schedule(key)

            future.add_done_callback(done)

    def _exec_launcher(self, run: PodRun, container: ContainerRun) -> Launcher:
        """Exec probes run like the container: its files, its environment, its program lookup."""
        image = run.images[str(container.spec.get("image", ""))]
        rootfs = container.folder / str(container.restarts) / "rootfs"

        def launcher(command: list[str]) -> Launch:
            environment, variables = self._environment(run, container, rootfs)
            spec = {**container.spec, "command": command, "args": []}
            return environment.launch(spec, image.config, rootfs, self.tools, variables)

        return launcher

    @staticmethod
    def _path(container: ContainerRun) -> str:
        kind = "initContainers" if container.init else "containers"
        return f"spec.{kind}{{{container.name}}}"

    # -- status ---------------------------------------------------------------------------------
    def _write_status(self, run: PodRun) -> None:
        rt = self.api.table.lookup("", "v1", "pods")
        assert rt is not None
        with self.store.lock:
            pod = self.store.get("", "pods", run.namespace, run.name)
            if pod is None or pod["metadata"]["uid"] != run.uid:
                return
            old = pod.get("status") or {}
            status = keep_times(run.status(now(), []), old)
            if status == old:
                return
            new = copy.deepcopy(pod)
            new["status"] = status
            self.api.update(Call(rt, run.namespace, run.name, "status", {}, MANAGER), new)

    def _schedule_next(self, run: PodRun, key: Key) -> None:
        dues = [c.restart_at for c in run.all_containers() if c.restart_at is not None]
        dues += [s.due for c in run.containers if c.running for s in c.probes.values() if not s.running]
        dues += [retry for _, retry, _ in run.pull_errors.values()]
        if dues:
            self.schedule(key, max(min(dues) - time.monotonic(), 0.05))

    # -- logs -----------------------------------------------------------------------------------
    def logs(self, namespace: str, name: str, query: dict[str, str]) -> Iterator[bytes] | None:
        """The log stream ``kubectl logs`` asks for; None for a Pod this kubelet does not run."""
        run = self._pods.get((namespace, name))
        if run is None:
            return None
        wanted = query.get("container")
        if not wanted:
            if len(run.containers) != 1:
                names = " ".join(c.name for c in run.containers)
                raise bad_request(
                    f"a container name must be specified for pod {name}, choose one of: [{names}]"
                )
            wanted = run.containers[0].name
        container = run.find(wanted)
        if container is None:
            raise bad_request(f"container {wanted} is not valid for pod {name}")
        options = logs.LogOptions(
            tail_lines=_int(query, "tailLines"),
            since=_since(query),
            timestamps=query.get("timestamps", "").lower() in ("1", "t", "true"),
            limit_bytes=_int(query, "limitBytes"),
        )
        if query.get("previous", "").lower() in ("1", "t", "true"):
            backing_off = container.ended is not None and container.restart_at is not None
            previous = container.restarts if backing_off else container.restarts - 1
            if previous < 0 or not container.log_path(previous).exists():
                raise bad_request(f'previous terminated container "{wanted}" in pod "{name}" not found')
            return iter([logs.read(container.log_path(previous), options)])
        process = container.process
        path = container.log_path(container.restarts)
        if process is None and not path.exists():
            reason = container.waiting[0]
            raise bad_request(f'container "{wanted}" in pod "{name}" is waiting to start: {reason}')
        if query.get("follow", "").lower() in ("1", "t", "true"):
            return logs.follow(path, options, running=lambda: process is not None and process.running)
        return iter([logs.read(path, options)])


def _int(query: dict[str, str], key: str) -> int | None:
    value = query.get(key)
    if value is None:
        return None
    if not value.isdigit():
        raise bad_request(f"{key} must be a non-negative integer, not {value!r}")
    return int(value)


def _since(query: dict[str, str]) -> datetime.datetime | None:
    if query.get("sinceSeconds"):
        seconds = _int(query, "sinceSeconds") or 0
        return datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=seconds)
    if query.get("sinceTime"):
        try:
            return datetime.datetime.strptime(query["sinceTime"], "%Y-%m-%dT%H:%M:%SZ").replace(
                tzinfo=datetime.UTC
            )
        except ValueError:
            raise bad_request(
                f"sinceTime {query['sinceTime']!r} is not RFC 3339 (2006-01-02T15:04:05Z)"
            ) from None
    return None
