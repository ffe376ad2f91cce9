"""Flux's MTTP workload for the reconcile path, against ``kubectl apply --server-side``.

N apps, each a Deployment scaled to zero, a ServiceAccount, a Service and an Ingress, in
one namespace per run. We reconcile them (staged dry-run + apply, inventory, wait for
health) into the sandbox, then let kubectl apply the same rendered YAML (renamed, so it
creates as much as we did) into the same sandbox. Reported: wall time, peak memory of
this process and of the sandbox, the ratio to kubectl, and a no-op re-reconcile with its
writes (besides the Lease the runs take turns through).

All apps in one Kustomization by default; ``--per-kustomization M`` splits them as a
platform team would, and as Flux's own benchmark does (fluxcd/flux-benchmark: one
Kustomization per app): one Kustomization per M apps, each with its namespace, reconciled
``--workers`` at a time in threads of this process, each with a client of its own, as
Airflow's parallel tasks would (in processes of their own there). One Kustomization of
10,000 apps cannot work on a real cluster: its inventory makes a 2 MiB status, over the
1.5 MiB etcd stores.

    .venv/bin/python bench/reconcile_mttp.py [--sizes 100,500,1000] [--no-kubectl-above 1000]
    .venv/bin/python bench/reconcile_mttp.py --sizes 10000 --per-kustomization 100 --no-kubectl-above 1
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

from airflow_flux_provider.kube import Cluster, health
from airflow_flux_provider.kube.objects import install_crds
from airflow_flux_provider.kube.reconcile import KustomizationTarget, apply_and_prune, finish
from airflow_flux_provider.tools import kubectl_path
from flux_devkit.sandbox import Sandbox


def app_objects(namespace: str, index: int) -> list[dict]:
    name = f"app-{index}"
    labels = {"app": name}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}},
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": name,
                        "containers": [{"name": "app", "image": "ghcr.io/stefanprodan/podinfo:6.7.1"}],
                    },
                },
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "rules": [
                    {
                        "host": f"{name}.example.com",
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {"service": {"name": name, "port": {"number": 80}}},
                                }
                            ]
                        },
                    }
                ]
            },
        },
    ]


def workload(namespace: str, size: int, first: int = 0) -> list[dict]:
    objects: list[dict] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}]
    for index in range(first, first + size):
        objects += app_objects(namespace, index)
    return objects


@dataclass(frozen=True)
class Run:
    """One size, our side: wall time to Ready, the no-op pass after it and its writes."""

    wall: float
    cpu: float  # seconds of CPU, this process and the sandbox: what load does not change
    noop: float
    noop_cpu: float
    writes: int
    kustomizations: int
    objects: int


def target(name: str) -> KustomizationTarget:
    manifest = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"interval": "10m", "prune": True, "sourceRef": {"kind": "GitRepository", "name": "mttp"}},
    }
    return KustomizationTarget(name=name, namespace="default", prune=True, manifest=manifest)


def plan(namespace: str, size: int, per: int) -> list[tuple[KustomizationTarget, list[dict]]]:
    """One Kustomization of everything (``per`` 0), or as a platform team splits it: one per
    ``per`` apps, each with a namespace of its own. (Kustomizations sharing a namespace would
    each LIST all of it for their health and read-ahead, as many times as there are of them.)"""
    if not per:
        return [(target(f"mttp-{namespace}"), workload(namespace, size))]
    return [
        (target(f"mttp-{namespace}-{n}"), workload(f"{namespace}-{n}", min(per, size - first), first))
        for n, first in enumerate(range(0, size, per))
    ]


def reconcile(kubeconfig: Path, kustomization: KustomizationTarget, objects: list[dict]) -> bool:
    """One Kustomization as its Airflow task runs it (a client of its own): apply, health, Ready.
    Returns whether anything changed."""
    cluster = Cluster.from_kubeconfig(str(kubeconfig))
    result = apply_and_prune(cluster, kustomization, objects, revision="bench")
    report = health.wait(cluster, result.inventory.object_keys(), timeout=1800, interval=1.0)
    finish(cluster, kustomization, revision="bench", health=report)
    return result.changes.has_changes


def ours(sandbox: Sandbox, namespace: str, size: int, per: int, workers: int) -> Run:
    """Every Kustomization of the plan, ``workers`` at a time: threads standing for Airflow's
    parallel tasks; then all of them again, which must change nothing."""
    kustomizations = plan(namespace, size, per)

    def run_all() -> list[bool]:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(lambda k: reconcile(sandbox.kubeconfig, *k), kustomizations))

    start, cpu = time.perf_counter(), cpu_seconds(sandbox.pid)
    run_all()
    wall, cpu = time.perf_counter() - start, cpu_seconds(sandbox.pid) - cpu
    sandbox.counters.reset()
    start, cpu_before = time.perf_counter(), cpu_seconds(sandbox.pid)
    changed = run_all()
    noop, noop_cpu = time.perf_counter() - start, cpu_seconds(sandbox.pid) - cpu_before
    assert not any(changed), "a second reconcile of the same objects must change nothing"
    writes = sandbox.counters.mutating(besides=("leases",))
    objects = sum(len(objects) for _, objects in kustomizations)
    return Run(wall, cpu, noop, noop_cpu, writes, len(kustomizations), objects)


def cpu_seconds(sandbox: int) -> float:
    """CPU time used so far by this process (all its threads) and by the sandbox's."""
    fields = Path(f"/proc/{sandbox}/stat").read_text().rpartition(")")[2].split()
    return time.process_time() + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss(pid: int) -> float:
    """The process's peak resident memory (MiB) since :func:`reset_peak`."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # Linux: restart the VmHWM high-water mark


def kubectl(kubeconfig: Path, namespace: str, size: int, workdir: Path) -> float:
    file = workdir / f"{namespace}.yaml"
    file.write_text(yaml.safe_dump_all(workload(namespace, size)))
    start = time.perf_counter()
    subprocess.run(
        [kubectl_path(), "--kubeconfig", str(kubeconfig), "apply", "--server-side", "-f", str(file)],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [kubectl_path(), "--kubeconfig", str(kubeconfig), "-n", namespace, "wait",
         "--for=condition=Available", "deployment", "--all", "--timeout=600s"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100,500,1000")
    parser.add_argument(
        "--no-kubectl-above",
        type=int,
        default=0,
        metavar="N",
        help="skip the kubectl baseline for sizes above N (it takes longer than ours; 0: never skip)",
    )
    parser.add_argument(
        "--per-kustomization",
        type=int,
        default=0,
        metavar="M",
        help="split each size into Kustomizations of M apps after one for the namespace (0: one for all)",
    )
    parser.add_argument("--workers", type=int, default=4, help="Kustomizations reconciled at once (threads)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-mttp-") as tmp:
        sandbox = Sandbox(Path(tmp) / "sandbox").start(child_process=True)
        try:
            install_crds(Cluster.from_kubeconfig(str(sandbox.kubeconfig)))  # statuses live on the objects
            print(HEADER)
            for size in sizes:
                skip = bool(args.no_kubectl_above) and size > args.no_kubectl_above
                row = measure(sandbox, size, args.per_kustomization, args.workers, Path(tmp), skip)
                print(row, flush=True)
            print(
                "CPU s: both processes (the run, then its no-op); "
                "MiB: peak RSS of this process (the Airflow side), of the sandbox"
            )
        finally:
            sandbox.stop()


HEADER = (
    f"{'N apps':>7} {'objects':>8} {'Ks':>5} {'ours s':>8} {'CPU s':>7} {'kubectl s':>10} {'ratio':>6} "
    f"{'no-op s':>8} {'CPU s':>6} {'writes':>7} {'client MiB':>11} {'sandbox MiB':>12} {'load':>5}"
)


def measure(sandbox: Sandbox, size: int, per: int, workers: int, workdir: Path, skip_kubectl: bool) -> str:
    """One row: our run with the peak memory of both processes, then kubectl's (unless skipped)."""
    for pid in (os.getpid(), sandbox.pid):
        reset_peak(pid)
    run = ours(sandbox, f"ours-{size}", size, per, workers)
    client, server = peak_rss(os.getpid()), peak_rss(sandbox.pid)
    base = 0.0 if skip_kubectl else kubectl(sandbox.kubeconfig, f"kubectl-{size}", size, workdir)
    compared = f"{'-':>10} {'-':>6}" if skip_kubectl else f"{base:>10.2f} {run.wall / base:>6.2f}"
    return (
        f"{size:>7} {run.objects:>8} {run.kustomizations:>5} {run.wall:>8.2f} {run.cpu:>7.1f} {compared} "
        f"{run.noop:>8.2f} {run.noop_cpu:>6.1f} {run.writes:>7} {client:>11.0f} {server:>12.0f} "
        f"{os.getloadavg()[0]:>5.1f}"
    )


if __name__ == "__main__":
    main()
