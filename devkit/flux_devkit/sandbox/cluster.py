"""``Sandbox``: start and stop the sandbox API server, in this process or as a child process.

In-process is what the demo and quick scripts use; the test fixture runs it as a child
process so the server never competes with the tests for the GIL. Both write the same
kubeconfig, so every client (kubectl, helm, the kubernetes package) connects the same way.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from airflow_flux_provider import tools
from flux_devkit.sandbox import certs, crds
from flux_devkit.sandbox.controller import StoreController
from flux_devkit.sandbox.kubelet.kubelet import Kubelet
from flux_devkit.sandbox.kubelet.settings import WorkloadSettings
from flux_devkit.sandbox.network.addresses import LOOPBACK_SERVICES, POD_NETWORK, SERVICE_NETWORK, AddressPool
from flux_devkit.sandbox.network.endpoints import EndpointsController
from flux_devkit.sandbox.network.mesh import Mesh, RouteWatcher
from flux_devkit.sandbox.resources import ResourceTable
from flux_devkit.sandbox.server import ApiServer
from flux_devkit.sandbox.simulator import SimulatorSettings, WorkloadSimulator
from flux_devkit.sandbox.status import SandboxError
from flux_devkit.sandbox.store import Store
from flux_devkit.sandbox.verbs import CRD_GROUP, Call

TOKEN_ENV = "FLUX_SANDBOX_TOKEN"
SAVE_INTERVAL_SECONDS = 1.0


BASIC_USER_RULES = [
    {
        "apiGroups": ["authorization.k8s.io"],
        "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
        "verbs": ["create"],
    }
]


def _bootstrap(server: ApiServer) -> None:
    """What every cluster starts with: the system namespaces and the basic-user RBAC role."""
    rbac = "rbac.authorization.k8s.io"
    seed: list[tuple[str, str, str, dict[str, Any]]] = [
        ("", "v1", "namespaces", {"metadata": {"name": name}})
        for name in ("default", "kube-system", "kube-public", "kube-node-lease")
    ]
    seed += [
        (rbac, "v1", "clusterroles", {"metadata": {"name": "system:basic-user"}, "rules": BASIC_USER_RULES}),
        (
            rbac,
            "v1",
            "clusterrolebindings",
            {
                "metadata": {"name": "system:basic-user"},
                "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": "system:basic-user"},
                "subjects": [{"apiGroup": rbac, "kind": "Group", "name": "system:authenticated"}],
            },
        ),
    ]
    for group, version, plural, body in seed:
        rt = server.table.lookup(group, version, plural)
        assert rt is not None
        if server.store.get(group, plural, "", body["metadata"]["name"]) is None:
            server.api.create(Call(rt, manager="sandbox"), body)


class Sandbox:
    """A running sandbox API server: ``url``, ``token``, ``kubeconfig`` and admin helpers.

    ``Sandbox(directory).start()`` serves in this process; ``start(child_process=True)`` runs
    ``python -m flux_devkit.sandbox serve`` and waits until it answers.
    """

    def __init__(
        self,
        directory: Path,
        *,
        port: int = 0,
        state_file: Path | None = None,
        kubeconfig: Path | None = None,
        settings: SimulatorSettings | None = None,
        token: str | None = None,
        workloads: WorkloadSettings | None = None,
    ) -> None:
        self.directory = Path(directory).absolute()
        self.port = port
        self.state_file = Path(state_file).absolute() if state_file else None
        self.kubeconfig = Path(kubeconfig).absolute() if kubeconfig else self.directory / "kubeconfig"
        self.settings = settings or SimulatorSettings()
        self.workloads = workloads
        self.token = token or secrets.token_urlsafe(32)
        self.url = ""
        self.server: ApiServer | None = None
        self.simulator: WorkloadSimulator | None = None
        self.kubelet: Kubelet | None = None
        self.mesh: Mesh | None = None
        self._controllers: list[StoreController] = []
        self._process: Any = None
        self._saver: threading.Thread | None = None
        self._stopping = threading.Event()
        self._ca_path = self.directory / "pki" / "ca.crt"

    def __repr__(self) -> str:  # never show the token
        return f"Sandbox(url={self.url!r}, kubeconfig={str(self.kubeconfig)!r})"

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self, *, child_process: bool = False, timeout: float = 30.0) -> Sandbox:
        if child_process:
            return self._start_child(timeout)
        pki = certs.generate(self.directory / "pki")
        store, table = Store(), ResourceTable()
        if self.state_file and self.state_file.exists():
            try:
                loaded = list(store.load(self.state_file))
            except (OSError, ValueError, KeyError) as err:
                raise SandboxError(
                    f"cannot load saved state: {err}; delete the file to start empty",
                    obj=f"sandbox/{self.state_file}",
                ) from None
            for group, _plural, obj in loaded:
                if group == CRD_GROUP:
                    table.add_custom(crds.served_types(obj))
        try:
            server = ApiServer(
                token=self.token,
                cert_path=pki.cert_path,
                key_path=pki.key_path,
                store=store,
                table=table,
                port=self.port,
                service_network=LOOPBACK_SERVICES if self.workloads else SERVICE_NETWORK,
            )
        except OSError as err:
            raise SandboxError(
                f"cannot listen on 127.0.0.1:{self.port}: {err.strerror}; pick another --port",
                obj="sandbox/server",
            ) from None
        self.server = server
        _bootstrap(server)
        pod_ips = AddressPool(POD_NETWORK) if self.workloads else None
        if self.workloads is not None and pod_ips is not None:
            self.mesh = Mesh(server.store, server.api.service_ips, port=self.workloads.mesh_port)
            self.mesh.start()
            self.kubelet = Kubelet(server.api, self.workloads, self.directory / "kubelet", pod_ips, self.mesh)
            self._controllers += [EndpointsController(server.api), RouteWatcher(server.store, self.mesh)]
        self.simulator = WorkloadSimulator(server.api, self.settings, kubelet=self.kubelet, pod_ips=pod_ips)
        server.simulator, server.kubelet, server.mesh = self.simulator, self.kubelet, self.mesh
        server.start()
        self._controllers += [self.simulator, *([self.kubelet] if self.kubelet else [])]
        for controller in self._controllers:
            controller.start()
        if self.state_file:
            self._saver = threading.Thread(target=self._save_loop, name="sandbox-saver", daemon=True)
            self._saver.start()
        self.port = server.port
        self.url = server.url
        certs.write_kubeconfig(
            self.kubeconfig, server=self.url, ca_pem=pki.ca_path.read_bytes(), token=self.token
        )
        return self

    def _start_child(self, timeout: float) -> Sandbox:
        from flux_devkit.services.process import ServiceProcess, free_ports

        self.port = self.port or free_ports(1)[0]
        argv = [
            sys.executable,
            "-m",
            "flux_devkit.sandbox",
            "serve",
            "--port",
            str(self.port),
            "--dir",
            str(self.directory),
            "--kubeconfig",
            str(self.kubeconfig),
            "--ready-delay",
            str(self.settings.ready_delay_seconds),
            "--fail-image-pattern",
            self.settings.fail_image_pattern,
        ]
        if self.state_file:
            argv += ["--state-file", str(self.state_file)]
        if self.workloads is not None:
            argv += self.workloads.argv()
        with contextlib.suppress(FileNotFoundError):
            self.kubeconfig.unlink()
        self._process = ServiceProcess(
            "sandbox", argv, self.directory / "sandbox.log", env={TOKEN_ENV: self.token}
        )
        self.url = f"https://127.0.0.1:{self.port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._process.running():
                raise self._process.fail(f"exited with code {self._process.popen.returncode} before serving")
            if self.kubeconfig.exists():
                return self
            time.sleep(0.05)
        raise self._process.fail(f"{self.url} not serving after {timeout:.0f} s")

    @property
    def pid(self) -> int:
        """The process serving the API (this one unless started with ``child_process``)."""
        return int(self._process.popen.pid) if self._process is not None else os.getpid()

    def stop(self) -> None:
        self._stopping.set()
        if self._process is not None:
            self._process.stop()
            return
        for controller in reversed(self._controllers):
            controller.stop()
        if self.mesh:
            self.mesh.stop()
        if self.server:
            self.server.stop()
        if self._saver:
            self._saver.join(timeout=5)
        if self.state_file and self.server:
            self.server.store.save(self.state_file)

    def _save_loop(self) -> None:
        assert self.server is not None and self.state_file is not None
        while not self._stopping.wait(SAVE_INTERVAL_SECONDS):
            if self.server.store.dirty:
                self.server.store.save(self.state_file)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- admin endpoints ------------------------------------------------------------------------
    def admin(self, method: str, path: str, body: Any = None) -> Any:
        """Call a sandbox-only endpoint (``v1/faults``, ``v1/counters``, ``v1/simulator``)."""
        context = ssl.create_default_context(cafile=str(self._ca_path))
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.url}/sandbox/{path}",
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, context=context, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as err:
            detail = json.loads(err.read() or b"{}").get("message", err.reason)
            raise SandboxError(f"{method} /sandbox/{path} refused: {detail}", obj="sandbox/admin") from None

    @property
    def faults(self) -> FaultControl:
        return FaultControl(self)

    @property
    def counters(self) -> CounterControl:
        return CounterControl(self)

    def network(self) -> dict[str, str]:
        """With workloads running: the mesh gateway (the HTTP proxy for callers outside) and its metrics."""
        return dict(self.admin("GET", "v1/network"))

    def simulate(
        self, *, ready_delay_seconds: float | None = None, fail_image_pattern: str | None = None
    ) -> dict[str, Any]:
        """Change the workload simulator's delay or failing-image pattern at run time."""
        body: dict[str, Any] = {}
        if ready_delay_seconds is not None:
            body["readyDelaySeconds"] = ready_delay_seconds
        if fail_image_pattern is not None:
            body["failImagePattern"] = fail_image_pattern
        return dict(self.admin("PUT", "v1/simulator", body))

    # -- clients --------------------------------------------------------------------------------
    def api_client(self, *, impersonate: str | None = None) -> Any:
        """A ``kubernetes.client.ApiClient`` for the admin (or an impersonated) identity."""
        from kubernetes import client, config

        configuration = client.Configuration()
        config.load_kube_config(config_file=str(self.kubeconfig), client_configuration=configuration)
        api = client.ApiClient(configuration)
        if impersonate:
            api.set_default_header("Impersonate-User", impersonate)
        return api

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against this sandbox; raises with its stderr when ``check`` and it fails."""
        return self._run(tools.kubectl_path(), args, input, check)

    def helm(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run the real helm against this sandbox (own cache/config folders under the sandbox dir)."""
        return self._run(tools.helm_path(), args, input, check)

    def _run(
        self, binary: str, args: tuple[str, ...], input: str | None, check: bool
    ) -> subprocess.CompletedProcess[str]:
        home = self.directory / "client-home"
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "HELM_CACHE_HOME": str(home / "helm-cache"),
            "HELM_CONFIG_HOME": str(home / "helm-config"),
            "HELM_DATA_HOME": str(home / "helm-data"),
            "KUBECACHEDIR": str(home / "kube-cache"),
        }
        result = subprocess.run(
            [binary, *args], input=input, capture_output=True, text=True, env=env, timeout=120, check=False
        )
        if check and result.returncode != 0:
            name = Path(binary).name
            raise SandboxError(
                f"{name} {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}",
                obj="sandbox/client",
            )
        return result

    def dynamic_client(self, *, impersonate: str | None = None) -> Any:
        from kubernetes.dynamic import DynamicClient

        return DynamicClient(self.api_client(impersonate=impersonate))


class FaultControl:
    """``sandbox.faults.add(verb="patch", resource="deployments", code=429, retry_after_seconds=1)``."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    def add(self, **fault: Any) -> None:
        self._sandbox.admin("POST", "v1/faults", fault)

    def clear(self) -> None:
        self._sandbox.admin("DELETE", "v1/faults")

    def list(self) -> list[dict[str, Any]]:
        return list(self._sandbox.admin("GET", "v1/faults")["faults"])


class CounterControl:
    """``sandbox.counters.get("patch", "deployments")``, ``.mutating()``, ``.reset()``."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    def snapshot(self) -> dict[str, Any]:
        return dict(self._sandbox.admin("GET", "v1/counters"))

    def get(self, verb: str, resource: str) -> int:
        return int(self.snapshot()["requests"].get(f"{verb} {resource}", 0))

    def mutating(self, *, besides: tuple[str, ...] = ()) -> int:
        """Persisting writes, leaving out those to the resources named in ``besides`` (e.g. "leases")."""
        by_resource = self.snapshot()["mutatingByResource"]
        return sum(int(n) for resource, n in by_resource.items() if resource not in besides)

    def reset(self) -> None:
        self._sandbox.admin("DELETE", "v1/counters")


__all__ = ["CounterControl", "FaultControl", "Sandbox"]
