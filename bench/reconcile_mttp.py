"""Flux's MTTP workload for the reconcile path, against ``kubectl apply --server-side``.

N apps, each a Deployment scaled to zero, a ServiceAccount, a Service and an Ingress, in
one namespace per run. We reconcile them (staged dry-run + apply, inventory, wait for
health) into the sandbox, then let kubectl apply the same rendered YAML (renamed, so it
creates as much as we did) into the same sandbox. Reported: wall time, peak memory of
this process, the ratio to kubectl, and a no-op re-reconcile with its writes (besides the
Lease the runs take turns through).

    .venv/bin/python bench/reconcile_mttp.py [--sizes 100,500,1000] [--no-kubectl-above 1000]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import tempfile
import time
import tracemalloc
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


def workload(namespace: str, size: int) -> list[dict]:
    objects: list[dict] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}]
    for index in range(size):
        objects += app_objects(namespace, index)
    return objects


def ours(sandbox: Sandbox, cluster: Cluster, namespace: str, size: int) -> tuple[float, float, float, int]:
    objects = workload(namespace, size)
    manifest = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": f"mttp-{namespace}", "namespace": "default"},
        "spec": {"interval": "10m", "prune": True, "sourceRef": {"kind": "GitRepository", "name": "mttp"}},
    }
    target = KustomizationTarget(name=f"mttp-{namespace}", namespace="default", prune=True, manifest=manifest)
    tracemalloc.start()
    start = time.perf_counter()
    result = apply_and_prune(cluster, target, objects, revision="bench")
    report = health.wait(cluster, result.inventory.object_keys(), timeout=600, interval=1.0)
    finish(cluster, target, revision="bench", health=report)
    wall = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    sandbox.counters.reset()
    start = time.perf_counter()
    again = apply_and_prune(cluster, target, objects, revision="bench")
    noop = time.perf_counter() - start
    assert not again.changes.has_changes, "a second reconcile of the same objects must change nothing"
    return wall, peak / 2**20, noop, sandbox.counters.mutating(besides=("leases",))


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
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-mttp-") as tmp:
        sandbox = Sandbox(Path(tmp) / "sandbox").start(child_process=True)
        try:
            cluster = Cluster.from_kubeconfig(str(sandbox.kubeconfig))
            install_crds(cluster)  # the Kustomization's status lives on the object, as in a Flux cluster
            print(f"{'N apps':>7} {'objects':>8} {'ours s':>8} {'kubectl s':>10} {'ratio':>6}", end="")
            print(f" {'no-op s':>8} {'writes':>7} {'peak MiB':>9} {'RSS MiB':>8} {'load':>5}")
            for size in sizes:
                wall, peak, noop, writes = ours(sandbox, cluster, f"ours-{size}", size)
                skip = bool(args.no_kubectl_above) and size > args.no_kubectl_above
                base = 0.0 if skip else kubectl(sandbox.kubeconfig, f"kubectl-{size}", size, Path(tmp))
                compared = f"{'-':>10} {'-':>6}" if skip else f"{base:>10.2f} {wall / base:>6.2f}"
                rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                print(f"{size:>7} {4 * size + 1:>8} {wall:>8.2f} {compared}", end="")
                load = os.getloadavg()[0]
                print(f" {noop:>8.2f} {writes:>7} {peak:>9.1f} {rss:>8.0f} {load:>5.1f}", flush=True)
            print("peak MiB: traced heap of the reconcile; RSS: max of this process so far; load: 1 min")
        finally:
            sandbox.stop()


if __name__ == "__main__":
    main()
