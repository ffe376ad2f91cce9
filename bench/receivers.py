"""Receiver throughput and push -> DAG-run latency against a real ``airflow api-server``.

Starts a fresh AIRFLOW_HOME (SQLite, ``airflow db migrate``), serializes one target DAG,
and serves three GitHub-type receivers from the plugin:

* ``verify-only``: its resource names an asset no DAG uses, so an accepted request costs
  signature verification plus one asset lookup;
* ``trigger``: also creates a DAG run per request (the full push -> run path);
* the API server's own ``/api/v2/monitor/health`` is the baseline: what one request to
  this server costs with no work of ours.

Prints requests per second (sequential and with 4 concurrent clients) and the ratios to
the baseline, then the push -> DAG-run-created latency (POST sent until the run is
readable through the REST API) as p50/p95. The in-process cost of verification alone
(``WebhookReceiver.accept`` on a 4 KiB push) is printed too.

Run: .venv/bin/python bench/receivers.py [--requests N]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from airflow_flux_provider.receivers import DAGS_ANNOTATION, WebhookReceiver, webhook_path  # noqa: E402
from flux_devkit.services.airflow_api import (  # noqa: E402
    bundle_env,
    serialize_dags,
    start_airflow_api_server,
)
from flux_devkit.services.airflow_db import migrate_airflow_db  # noqa: E402

TOKEN = "bench-github-token"
DAG = '''"""The DAG the bench's trigger receiver starts."""
from airflow.sdk import dag, task


@dag(dag_id="bench_receiver_target", schedule=None, catchup=False)
def bench_receiver_target():
    @task
    def reconcile():
        return None

    reconcile()


bench_receiver_target()
'''


def receiver_manifest(name: str, dags: str = "") -> str:
    annotations = f"\n  annotations:\n    {DAGS_ANNOTATION}: {dags}" if dags else ""
    return f"""apiVersion: notification.toolkit.fluxcd.io/v1
kind: Receiver
metadata:
  name: {name}
  namespace: flux-system{annotations}
spec:
  type: github
  events: ["push"]
  secretRef: {{name: github-token}}
  resources:
    - kind: GitRepository
      name: {name}-unused
"""


PUSH = json.dumps(
    {"ref": "refs/heads/main", "after": "0" * 40, "commits": [{"message": "x" * 4000}]}
).encode()


def signed_headers() -> dict[str, str]:
    signature = hmac.new(TOKEN.encode(), PUSH, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": f"sha256={signature}",
    }


def rate(call: Callable[[requests.Session], None], count: int, workers: int) -> float:
    """Requests per second for ``count`` calls spread over ``workers`` keep-alive sessions."""
    sessions = [requests.Session() for _ in range(workers)]
    per_worker = count // workers
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(lambda s=s: [call(s) for _ in range(per_worker)]) for s in sessions]:
            future.result()
    return per_worker * workers / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()

    accept_rate = in_process_accept_rate()
    work = Path(tempfile.mkdtemp(prefix="bench-receivers-"))
    home, dags, receivers = work / "airflow", work / "dags", work / "receivers"
    for folder in (home, dags, receivers):
        folder.mkdir()
    (dags / "bench_dag.py").write_text(DAG)
    (receivers / "receivers.yaml").write_text(
        receiver_manifest("verify-only") + "---\n" + receiver_manifest("trigger", "bench_receiver_target")
    )
    os.environ["AIRFLOW_HOME"] = str(home)
    migrate_airflow_db(home)
    serialize_dags(home, "bench", dags)
    env = {
        **bundle_env("bench", dags),
        "AIRFLOW__FLUX__RECEIVERS_PATH": str(receivers),
        "AIRFLOW_CONN_GITHUB-TOKEN": json.dumps({"conn_type": "flux_notification", "password": TOKEN}),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    }
    server = start_airflow_api_server(home, work / "api", env=env)
    try:
        health = f"{server.url}/api/v2/monitor/health"
        verify_url = server.url + "/flux" + webhook_path(TOKEN, "verify-only", "flux-system")
        trigger_url = server.url + "/flux" + webhook_path(TOKEN, "trigger", "flux-system")

        def get_health(session: requests.Session) -> None:
            session.get(health).raise_for_status()

        def post(url: str) -> Callable[[requests.Session], None]:
            def call(session: requests.Session) -> None:
                response = session.post(url, data=PUSH, headers=signed_headers())
                if response.status_code != 200:
                    raise SystemExit(f"{url}: {response.status_code} {response.text}")

            return call

        for call in (get_health, post(verify_url), post(trigger_url)):  # warm up
            rate(call, 8, 1)
        print(f"in-process WebhookReceiver.accept (4 KiB github push): {accept_rate:,.0f}/s")
        print(f"{'endpoint':<34}{'1 client /s':>12}{'4 clients /s':>14}{'ratio (1 client)':>18}")
        results = {}
        for label, call in (
            ("baseline GET /monitor/health", get_health),
            ("verify + accept (no DAG run)", post(verify_url)),
            ("verify + accept + DAG run", post(trigger_url)),
        ):
            results[label] = (rate(call, args.requests, 1), rate(call, args.requests, 4))
        base = results["baseline GET /monitor/health"][0]
        for label, (one, four) in results.items():
            print(f"{label:<34}{one:>12.0f}{four:>14.0f}{one / base:>18.2f}")

        latencies = []
        session = requests.Session()
        for _ in range(min(args.requests, 100)):
            start = time.perf_counter()
            response = session.post(trigger_url, data=PUSH, headers=signed_headers())
            (run,) = response.json()["dagRuns"]
            path = f"/dags/{run['dag_id']}/dagRuns/{run['run_id']}"
            while server.api("GET", path).status_code != 200:
                time.sleep(0.005)
            latencies.append(time.perf_counter() - start)
        latencies.sort()
        p50 = statistics.median(latencies) * 1000
        p95 = latencies[int(len(latencies) * 0.95) - 1] * 1000
        print(
            f"push -> DAG run readable via REST API: p50 {p50:.1f} ms, p95 {p95:.1f} ms (n={len(latencies)})"
        )
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def in_process_accept_rate(seconds: float = 1.0) -> float:
    receiver = WebhookReceiver("r", "flux-system", "github", TOKEN, events=("push",))
    headers = signed_headers()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        receiver.accept(headers, PUSH)
        count += 1
    return count / (time.perf_counter() - start)


if __name__ == "__main__":
    main()
