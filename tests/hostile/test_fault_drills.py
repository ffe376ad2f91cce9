"""Fault drills (issue 16): the API server throttling, failing and stalling, a Git server and a
registry that go away in the middle of a transfer, and a reconcile killed with SIGKILL halfway.
After each, a rerun converges: nothing lost, nothing half-stored, nothing wrongly pruned."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_flux_provider.credentials import Credentials
from airflow_flux_provider.images.commit import update_and_push
from airflow_flux_provider.images.policy import PolicyResult
from airflow_flux_provider.kube import Cluster, ObjectKey
from airflow_flux_provider.kube.apply import Action
from airflow_flux_provider.kube.lease import LeaseSettings
from airflow_flux_provider.kube.reconcile import KustomizationTarget, ReconcileError, apply_and_prune
from airflow_flux_provider.sources.artifacts import ArtifactStore
from airflow_flux_provider.sources.errors import SourceError
from airflow_flux_provider.sources.git import GitRef, GitSource
from airflow_flux_provider.sources.oci import OCIRef, OCISource
from flux_devkit.sandbox import Sandbox
from flux_devkit.services.git_http import GitServer
from flux_devkit.services.registry import OciRegistry
from tests.hostile.checks import assert_clean

pytestmark = pytest.mark.timeout(240)


class CuttingProxy:
    """A TCP proxy to ``target`` that forwards ``budget`` bytes of answers per connection, then
    drops the connection: a server going away in the middle of a transfer."""

    def __init__(self, target: tuple[str, int], budget: int) -> None:
        self.target, self.budget = target, budget
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            threading.Thread(target=self._pipe, args=(client, upstream, None), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, self.budget), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, budget: int | None) -> None:
        sent = 0
        try:
            while data := source.recv(65536):
                if budget is not None and sent + len(data) > budget:
                    sink.sendall(data[: budget - sent])
                    self.cuts += 1
                    break
                sink.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(str(tmp_path / "store"))


def _host_port(url: str) -> tuple[str, int]:
    host, _, port = url.split("://", 1)[1].split("/", 1)[0].rpartition(":")
    return host, int(port)


def _nothing_half_stored(store: ArtifactStore, obj: str) -> None:
    assert store.latest(obj) is None
    root = Path(store.base_url)
    assert not any((root / "tmp").glob("*")) if (root / "tmp").exists() else True
    assert not any((root / "sha256").glob("*")) if (root / "sha256").exists() else True


def _cut_then_back(
    server: tuple[str, int],
    budget: int,
    source: Callable[[str], Any],
    store: ArtifactStore,
    obj: str,
    secret: str = "no-secret-in-this-drill",
) -> None:
    """``source(host:port)`` fetched through a proxy that drops the transfer after ``budget`` bytes
    fails cleanly and stores nothing; fetched straight from ``server`` it then succeeds."""
    proxy = CuttingProxy(server, budget)
    try:
        with pytest.raises(SourceError) as info:
            source(f"127.0.0.1:{proxy.port}").fetch(store)
        assert proxy.cuts >= 1
    finally:
        proxy.close()
    assert_clean(info.value, obj=obj, secrets=[secret])
    _nothing_half_stored(store, obj)
    fetched = source(f"{server[0]}:{server[1]}").fetch(store)
    assert fetched.changed and store.latest(obj) == fetched.artifact


def test_git_server_gone_mid_fetch_then_back(git_server: GitServer, store: ArtifactStore) -> None:
    name = f"drill-{uuid.uuid4().hex[:8]}"
    git_server.create_repo(name, {"apps/big.bin": os.urandom(600_000), "apps/a.yaml": "a: 1\n"}, public=True)
    obj, server = "GitRepository/flux-system/drill", _host_port(git_server.url)
    path = git_server.repo_url(name).split(f":{server[1]}/", 1)[1]

    def source(where: str) -> GitSource:
        return GitSource(f"http://{where}/{path}", obj=obj, ref=GitRef(branch="main"), timeout=30)

    _cut_then_back(server, 150_000, source, store, obj)


def test_registry_gone_mid_fetch_then_back(oci_registry: OciRegistry, store: ArtifactStore) -> None:
    repo = f"flux/drill-{uuid.uuid4().hex[:8]}"
    oci_registry.push_artifact(repo, "v1", {"big.bin": os.urandom(2_000_000), "a.yaml": b"a: 1\n"})
    obj = "OCIRepository/flux-system/drill"
    creds = Credentials(username=oci_registry.username, password=oci_registry.password)

    def source(where: str) -> OCISource:
        return OCISource(
            f"oci://{where}/{repo}",
            obj=obj,
            insecure=True,
            credentials=creds,
            ref=OCIRef(tag="v1"),
            timeout=30,
        )

    server = _host_port(f"http://{oci_registry.host}")
    _cut_then_back(server, 400_000, source, store, obj, secret=oci_registry.password or "")


def _configmaps(namespace: str, names: list[str], value: str = "1") -> list[dict]:
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": n, "namespace": namespace},
            "data": {"v": value},
        }
        for n in names
    ]


def _live(cluster: Cluster, namespace: str) -> set[str]:
    names = {o["metadata"]["name"] for o in cluster.list("v1", "ConfigMap", namespace=namespace)}
    return {n for n in names if n != "kube-root-ca.crt" and not n.startswith("flux-status-")}


def test_api_throttling_errors_and_stalls_then_converge(sandbox: Sandbox, sandbox_namespace: str) -> None:
    cluster = Cluster.from_kubeconfig(str(sandbox.kubeconfig), backoff_seconds=0.05, max_retry_after=0.2)
    target = KustomizationTarget(name="drill", namespace=sandbox_namespace, prune=True)
    first = _configmaps(sandbox_namespace, ["keep", "goes"])
    apply_and_prune(cluster, target, first, revision="r1")
    sandbox.faults.add(verb="patch", resource="configmaps", code=429, retry_after_seconds=86400, times=2)
    sandbox.faults.add(verb="patch", resource="configmaps", code=500, times=2)
    sandbox.faults.add(verb="get", resource="configmaps", code=504, times=2)
    sandbox.faults.add(verb="patch", resource="configmaps", latency_seconds=0.3, times=3)
    second = _configmaps(sandbox_namespace, ["keep", "new"], "2")
    result = apply_and_prune(cluster, target, second, revision="r2")
    assert [str(k) for k in result.pruned] == [f"ConfigMap/{sandbox_namespace}/goes"]
    assert _live(cluster, sandbox_namespace) == {"keep", "new"}
    # A prune that keeps failing fails the run and loses nothing: the object stays owned.
    sandbox.faults.add(verb="delete", resource="configmaps", code=500)
    with pytest.raises(ReconcileError) as info:
        apply_and_prune(cluster, target, _configmaps(sandbox_namespace, ["keep"], "2"), revision="r3")
    assert_clean(info.value, obj=None)
    sandbox.faults.clear()
    again = apply_and_prune(cluster, target, _configmaps(sandbox_namespace, ["keep"], "2"), revision="r3")
    assert [k.name for k in again.pruned] == ["new"]
    assert _live(cluster, sandbox_namespace) == {"keep"}


_KILLED_RUN = """
import sys
from airflow_flux_provider.kube import Cluster
from airflow_flux_provider.kube.lease import LeaseSettings
from airflow_flux_provider.kube.reconcile import KustomizationTarget, apply_and_prune
kubeconfig, namespace, count, lease = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
cluster = Cluster.from_kubeconfig(kubeconfig)
objects = [
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i:03d}", "namespace": namespace},
     "data": {"v": "2"}}
    for i in range(count)
]
target = KustomizationTarget(name="drill", namespace=namespace, prune=True)
apply_and_prune(cluster, target, objects, revision="r2", lease=LeaseSettings(duration_seconds=lease))
"""


def test_reconcile_killed_mid_apply_then_rerun_converges(sandbox: Sandbox, sandbox_namespace: str) -> None:
    cluster = Cluster.from_kubeconfig(str(sandbox.kubeconfig), backoff_seconds=0.05)
    target = KustomizationTarget(name="drill", namespace=sandbox_namespace, prune=True)
    count = 80
    lease = LeaseSettings(duration_seconds=5)  # the killed run's Lease outlives it this long
    old = _configmaps(sandbox_namespace, [f"cm-{i:03d}" for i in range(0, count, 2)] + ["retired"])
    apply_and_prune(cluster, target, old, revision="r1")
    sandbox.faults.add(verb="patch", resource="configmaps", namespace=sandbox_namespace, latency_seconds=0.05)
    sandbox.counters.reset()
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _KILLED_RUN,
            str(sandbox.kubeconfig),
            sandbox_namespace,
            str(count),
            str(lease.duration_seconds),
        ],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    deadline = time.monotonic() + 120
    while sandbox.counters.get("patch", "configmaps") < count // 2 + 20:  # dry-runs, then some writes
        assert child.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    sandbox.faults.clear()
    wanted = [f"cm-{i:03d}" for i in range(count)]
    result = apply_and_prune(
        cluster, target, _configmaps(sandbox_namespace, wanted, "2"), revision="r2", lease=lease
    )  # waits for the dead run's Lease to expire, then takes it
    assert _live(cluster, sandbox_namespace) == set(wanted)  # nothing lost
    assert [k.name for k in result.pruned] == ["retired"]  # only what left the source
    assert {cluster.get(ObjectKey("v1", "ConfigMap", sandbox_namespace, n))["data"]["v"] for n in wanted} == {
        "2"
    }
    rerun = apply_and_prune(cluster, target, _configmaps(sandbox_namespace, wanted, "2"), revision="r2")
    assert {c.action for c in rerun.changes.changes} == {Action.UNCHANGED} and rerun.pruned == []


class PushTrap(CuttingProxy):
    """A proxy that forwards fetches but holds a push (``git-receive-pack`` POST) forever:
    the process pushing can then be killed while its push is in flight."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.pushing = threading.Event()
        super().__init__(target, budget=1 << 40)

    def _pipe(self, source: socket.socket, sink: socket.socket, budget: int | None) -> None:
        if budget is not None:  # the answers: passed on untouched
            return super()._pipe(source, sink, budget)
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if b"POST " in data and b"git-receive-pack" in data:
                    self.pushing.set()
                    while True:  # never forwarded: the push hangs until its process dies
                        if not source.recv(65536):
                            return
                sink.sendall(data)


_KILLED_PUSH = """
import sys
from airflow_flux_provider.credentials import Credentials
from airflow_flux_provider.images.commit import update_and_push
from airflow_flux_provider.images.policy import PolicyResult
from airflow_flux_provider.images.commit import update_and_push
from airflow_flux_provider.images.policy import PolicyResult
from tests.images.test_automation import _automation
url, user, password = sys.argv[1:4]
policies = {"flux-system:ml-training": PolicyResult("ghcr.io/company/ml-training", "v1.9.0")}
update_and_push(_automation(url), policies, credentials=Credentials(username=user, password=password))
"""


def test_push_killed_in_flight_then_rerun_pushes_once(git_server: GitServer, tmp_path: Path) -> None:
    from tests.images.test_automation import OVERLAY, _automation, _clone, _creds, _git, _repo

    name = f"drill-push-{uuid.uuid4().hex[:8]}"
    url = _repo(git_server, name)
    server = _host_port(git_server.url)
    trap = PushTrap(server)
    trapped = url.replace(f":{server[1]}/", f":{trap.port}/")
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _KILLED_PUSH,
            trapped,
            git_server.username,
            git_server.password,
            f"./{OVERLAY}",
        ],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    try:
        assert trap.pushing.wait(120), "the push never started"
        child.send_signal(signal.SIGKILL)
        child.wait()
    finally:
        trap.close()
    before = _git("--git-dir", str(git_server.repo_path(name)), "log", "--format=%s", "main").splitlines()
    assert before == ["Initial commit"]  # the killed push changed nothing on the remote
    policies = {"flux-system:ml-training": PolicyResult("ghcr.io/company/ml-training", "v1.9.0")}
    done = update_and_push(_automation(url), policies, credentials=_creds(git_server))
    assert done.revision is not None
    work = _clone(git_server, name, tmp_path / "clone")
    assert _git("log", "--format=%s", cwd=work).splitlines() == ["Update ML training image", "Initial commit"]
    _git("--git-dir", str(git_server.repo_path(name)), "fsck", "--strict")
    again = update_and_push(_automation(url), policies, credentials=_creds(git_server))
    assert again.revision is None  # converged: nothing left to push
