"""Sandbox API server throughput: server-side applies per second against a GET baseline, and memory.

The sandbox runs as its own process (as in the tests); client threads in this process
send requests over HTTPS keep-alive connections for a fixed duration each: first GETs
of one ConfigMap (the baseline), then server-side applies that change a ConfigMap's data
each time (a real write: merge, managedFields, new resourceVersion, watch event), and of
Deployments whose replicas change (so the workload simulator works alongside). Then
10,000 ConfigMaps are created and the server's resident memory is compared before/after.
Goal: >= 200 applies/s sustained on the 2-core machine.

Run: .venv/bin/python bench/sandbox_apply.py [--seconds S] [--threads N] [--objects N]
"""

from __future__ import annotations

import argparse
import http.client
import json
import ssl
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from flux_devkit.sandbox import Sandbox

GOAL_APPLIES_PER_SECOND = 200


class Connection:
    """One keep-alive HTTPS connection with the sandbox's token."""

    def __init__(self, sandbox: Sandbox) -> None:
        context = ssl.create_default_context(cafile=str(sandbox.directory / "pki" / "ca.crt"))
        self.conn = http.client.HTTPSConnection("127.0.0.1", sandbox.port, context=context, timeout=60)
        self.auth = {"Authorization": f"Bearer {sandbox.token}"}

    def request(self, method: str, path: str, body: bytes | None = None, content_type: str = "") -> int:
        headers = dict(self.auth)
        if content_type:
            headers["Content-Type"] = content_type
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        response.read()
        return response.status


def rate(
    sandbox: Sandbox, threads: int, seconds: float, make: Callable[[Connection, int, int], int]
) -> float:
    """Requests per second over ``seconds`` with ``threads`` clients; every answer must be 2xx."""
    counts = [0] * threads
    failures: list[int] = []
    stop = time.monotonic() + seconds

    def worker(index: int) -> None:
        conn = Connection(sandbox)
        n = 0
        while time.monotonic() < stop:
            status = make(conn, index, n)
            if status >= 300:
                failures.append(status)
                return
            n += 1
        counts[index] = n

    started = time.monotonic()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if failures:
        raise SystemExit(f"requests failed with status {failures[:5]}")
    return sum(counts) / (time.monotonic() - started)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--objects", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = Sandbox(Path(tmp)).start(child_process=True)
        try:
            base = "/api/v1/namespaces/default/configmaps"
            setup = Connection(sandbox)
            setup.request(
                "POST", base, json.dumps({"metadata": {"name": "probe"}}).encode(), "application/json"
            )

            def get(conn: Connection, index: int, n: int) -> int:
                return conn.request("GET", f"{base}/probe")

            def apply(conn: Connection, index: int, n: int) -> int:
                body = {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": f"applied-{index}", "labels": {"bench": "ssa"}},
                    "data": {"counter": str(n), "static": "x" * 64},
                }
                path = f"{base}/applied-{index}?fieldManager=bench&force=true"
                return conn.request("PATCH", path, json.dumps(body).encode(), "application/apply-patch+yaml")

            def apply_deployment(conn: Connection, index: int, n: int) -> int:
                name = f"web-{index}"
                body = {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": name, "labels": {"app": name}},
                    "spec": {
                        "replicas": 1 + n % 3,
                        "selector": {"matchLabels": {"app": name}},
                        "template": {
                            "metadata": {"labels": {"app": name}},
                            "spec": {
                                "containers": [
                                    {"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}
                                ]
                            },
                        },
                    },
                }
                path = f"/apis/apps/v1/namespaces/default/deployments/{name}?fieldManager=bench&force=true"
                return conn.request("PATCH", path, json.dumps(body).encode(), "application/apply-patch+yaml")

            get_rate = rate(sandbox, args.threads, args.seconds, get)
            apply_rate = rate(sandbox, args.threads, args.seconds, apply)
            deployment_rate = rate(sandbox, args.threads, args.seconds, apply_deployment)
            pid = sandbox._process.pid
            before = rss_kib(pid)
            for i in range(args.objects):
                body = {
                    "metadata": {"name": f"mem-{i}", "labels": {"bench": "mem"}},
                    "data": {"k": f"value-{i}"},
                }
                setup.request("POST", base, json.dumps(body).encode(), "application/json")
            after = rss_kib(pid)
        finally:
            sandbox.stop()
    print(f"GET baseline:        {get_rate:8.0f} req/s ({args.threads} client threads, {args.seconds:.0f} s)")
    print(
        f"server-side apply:   {apply_rate:8.0f} req/s  ratio to GET {apply_rate / get_rate:.2f} (ConfigMap)"
    )
    print(
        f"server-side apply:   {deployment_rate:8.0f} req/s  ratio to GET {deployment_rate / get_rate:.2f} "
        "(Deployment, replicas changing: simulator scales ReplicaSets/Pods meanwhile)"
    )
    verdict = "meets" if min(apply_rate, deployment_rate) >= GOAL_APPLIES_PER_SECOND else "MISSES"
    print(f"goal >= {GOAL_APPLIES_PER_SECOND} applies/s: {verdict}")
    per_object = (after - before) * 1024 / args.objects
    print(
        f"memory: {before / 1024:.0f} MiB -> {after / 1024:.0f} MiB for {args.objects} ConfigMaps "
        f"({per_object:.0f} bytes/object)"
    )


if __name__ == "__main__":
    main()
