"""The sandbox's workload runtime (``--run-workloads``): what running a Pod and the mesh cost.

1. Pod start to Ready: a Pod of the dev kit's echo image (a trivial HTTP server, readiness
   probe on ``/healthz`` every second) created through the API until its ``Ready`` condition
   is True, warm (image already pulled) and, first, cold; baseline: the same program started
   directly with the same interpreter, until its ``/healthz`` answers 200.
2. Proxy throughput and latency: ``hey`` against one echo Pod for a fixed time, directly to
   its Pod address (the baseline), through its Service address (the TCP proxy) and through
   the mesh gateway by cluster name (the HTTP proxy that counts the istio_* metrics).

Run: .venv/bin/python bench/workload_runtime.py [--repeat N] [--seconds S] [--concurrency C]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from airflow_flux_provider.kube import Cluster, ObjectKey
from flux_devkit.images import ImageSpec, push_image
from flux_devkit.sandbox import Sandbox, WorkloadSettings
from flux_devkit.services.process import free_ports
from flux_devkit.services.registry import start_registry

NAMESPACE = "bench"
POLL_SECONDS = 0.02


def pod(name: str, image: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": "echo"}},
        "spec": {
            "containers": [
                {
                    "name": "echo",
                    "image": image,
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 1},
                }
            ]
        },
    }


def ready(obj: dict[str, Any] | None) -> bool:
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def pod_start(cluster: Cluster, name: str, image: str) -> float:
    """Seconds from the create call to the Pod's Ready condition."""
    key = ObjectKey("v1", "Pod", NAMESPACE, name)
    started = time.monotonic()
    cluster.create(pod(name, image))
    while not ready(cluster.get(key)):
        if time.monotonic() - started > 120:
            raise SystemExit(f"pod {name} not Ready within 120 s")
        time.sleep(POLL_SECONDS)
    return time.monotonic() - started


def delete_and_wait(cluster: Cluster, name: str) -> None:
    key = ObjectKey("v1", "Pod", NAMESPACE, name)
    cluster.delete(key)
    while cluster.get(key) is not None:
        time.sleep(0.1)


def direct_start(program: Path) -> float:
    """Seconds from starting the echo program directly until ``/healthz`` answers 200."""
    (port,) = free_ports(1)
    env = {**os.environ, "BIND_ADDRESS": "127.0.0.1", "PORT": str(port)}
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, str(program)], env=env, stdout=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        return time.monotonic() - started
            except OSError:
                time.sleep(POLL_SECONDS)
    finally:
        process.terminate()
        process.wait()


def hey(url: str, seconds: float, concurrency: int, proxy: str = "") -> tuple[float, float, float]:
    """``(requests/s, p50 ms, p99 ms)`` of ``hey -z`` against ``url`` (every answer must be 200)."""
    argv = [shutil.which("hey") or "hey", "-z", f"{seconds:g}s", "-c", str(concurrency)]
    argv += ["-x", proxy] if proxy else []
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    codes = re.findall(r"\[(\d+)\]\s+(\d+) responses", out)
    if not codes or any(code != "200" for code, _ in codes):
        raise SystemExit(f"hey {url}: answers other than 200: {codes or out[-400:]}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    p50 = float(re.search(r"50% in ([\d.]+) secs", out)[1]) * 1000  # type: ignore[index]
    p99 = float(re.search(r"99% in ([\d.]+) secs", out)[1]) * 1000  # type: ignore[index]
    return rps, p50, p99


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5, help="warm pod starts (and direct starts)")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each hey run")
    parser.add_argument("--concurrency", type=int, default=4, help="hey workers")
    args = parser.parse_args()
    if shutil.which("hey") is None:
        raise SystemExit("hey is missing: run scripts/setup.sh (Debian package hey)")
    with tempfile.TemporaryDirectory(prefix="bench-workloads-") as tmp:
        registry = start_registry(Path(tmp) / "registry", username=None, password=None)
        sandbox: Sandbox | None = None
        try:
            push_image(registry, "bench/echo", ["1.0.0"], ImageSpec.program("echo"))
            image = f"{registry.host}/bench/echo:1.0.0"
            settings = WorkloadSettings((registry.host,), backoff_seconds=1)
            sandbox = Sandbox(Path(tmp) / "sandbox", workloads=settings).start(child_process=True)
            cluster = Cluster.from_kubeconfig(str(sandbox.kubeconfig))
            cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
            report(cluster, sandbox, image, args)
        finally:
            if sandbox is not None:
                sandbox.stop()
            registry.stop()
    return 0


def report(cluster: Cluster, sandbox: Sandbox, image: str, args: argparse.Namespace) -> None:
    program = Path(__file__).resolve().parents[1] / "devkit/flux_devkit/images/programs/echo.py"
    cold = pod_start(cluster, "cold", image)
    delete_and_wait(cluster, "cold")
    warm, direct = [], []
    for i in range(args.repeat):
        warm.append(pod_start(cluster, f"warm-{i}", image))
        delete_and_wait(cluster, f"warm-{i}")
        direct.append(direct_start(program))
    base = statistics.median(direct)
    print("start to Ready        median s   min s   vs direct")
    print(f"direct process        {base:8.3f} {min(direct):7.3f}   baseline")
    median = statistics.median(warm)
    print(f"pod, warm             {median:8.3f} {min(warm):7.3f}   x{median / base:.1f}")
    print(f"pod, cold (pull)      {cold:8.3f} {cold:7.3f}   x{cold / base:.1f}")

    pod_start(cluster, "served", image)
    served = cluster.get(ObjectKey("v1", "Pod", NAMESPACE, "served")) or {}
    pod_ip = served["status"]["podIP"]
    cluster.create(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "echo", "namespace": NAMESPACE},
            "spec": {"selector": {"app": "echo"}, "ports": [{"port": 80, "targetPort": 8080}]},
        }
    )
    service = cluster.get(ObjectKey("v1", "Service", NAMESPACE, "echo")) or {}
    address = service["spec"]["clusterIP"]
    gateway = sandbox.network()["gateway"]
    deadline = time.monotonic() + 60
    while True:  # the Service's endpoints follow the Pod's readiness a moment later
        try:
            with urllib.request.urlopen(f"http://{address}/", timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit("the Service never answered") from None
            time.sleep(0.1)
    cases = [
        ("direct (pod address)", f"http://{pod_ip}:8080/", ""),
        ("service (TCP proxy)", f"http://{address}/", ""),
        ("mesh gateway (HTTP)", f"http://echo.{NAMESPACE}/", gateway),
    ]
    print(
        f"\nhey -z {args.seconds:g}s -c {args.concurrency}   req/s    p50 ms   p99 ms   throughput vs direct"
    )
    base_rps = 0.0
    for name, url, proxy in cases:
        rps, p50, p99 = hey(url, args.seconds, args.concurrency, proxy)
        base_rps = base_rps or rps
        print(f"{name:24} {rps:8.0f} {p50:8.2f} {p99:8.2f}   {rps / base_rps:.2f}")


if __name__ == "__main__":
    raise SystemExit(main())
