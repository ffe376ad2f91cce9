"""Worker-slot seconds of a 10-step canary analysis against its wall time (goal <= 5 %).

A Canary with ``stepWeight: 10, maxWeight: 100`` (ten weight steps, ``interval: 10s``, the
smallest Flagger allows) runs through ``CanaryAnalysisOperator`` exactly as Airflow drives
it: ``execute`` until ``TaskDeferred``, then the real ``TimeDeltaTrigger`` is run to its
event (the triggerer's part) and ``execute_complete`` is called with the deferral kwargs.
Time inside execute/execute_complete is worker-slot time; the baseline is the wall time
of the whole analysis, which a non-deferrable task would hold a slot for.
Services: the sandbox (child process), Prometheus scraping the exporter (healthy traffic).

Run: .venv/bin/python bench/canary_slots.py [--step-weight N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

GOAL_PERCENT = 5.0


class TaskInstance:
    dag_id, run_id, task_id, try_number = "bench", "manual__1", "canary", 1

    def xcom_push(self, key: str, value: Any) -> None:
        return None


def deployment(namespace: str, image: str, replicas: int | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "podinfo"}},
        "template": {
            "metadata": {"labels": {"app": "podinfo"}},
            "spec": {"containers": [{"name": "app", "image": image}]},
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    meta = {"name": "podinfo", "namespace": namespace}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}


async def _first_event(trigger: Any) -> Any:
    async for event in trigger.run():
        return event
    return None


def drive(operator: Any, context: dict[str, Any]) -> tuple[float, float, int]:
    """(worker seconds, wall seconds, ticks) for one operator run through defer cycles."""
    from airflow.sdk.exceptions import TaskDeferred

    worker, ticks, wall_start = 0.0, 0, time.monotonic()
    progress: dict[str, Any] | None = None
    while True:
        started = time.monotonic()
        try:
            operator.execute(context) if progress is None else operator.execute_complete(context, progress)
            worker += time.monotonic() - started
            return worker, time.monotonic() - wall_start, ticks + 1
        except TaskDeferred as deferred:
            worker += time.monotonic() - started
            ticks += 1
            progress = deferred.kwargs["progress"]
            asyncio.run(_first_event(deferred.trigger))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--step-weight", type=int, default=10)
    step_weight = parser.parse_args().step_weight
    with tempfile.TemporaryDirectory(prefix="bench-canary-") as tmp:
        os.environ.setdefault("AIRFLOW_HOME", str(Path(tmp) / "airflow"))
        from airflow_flux_provider.kube import Cluster
        from airflow_flux_provider.kube.objects import install_crds
        from airflow_flux_provider.operators.canary import CanaryAnalysisOperator
        from flux_devkit.sandbox import Sandbox
        from flux_devkit.services.prometheus import start_prometheus

        sandbox = Sandbox(Path(tmp) / "sandbox").start(child_process=True)
        prometheus = start_prometheus(Path(tmp) / "prometheus")
        try:
            kube = {"conn_type": "kubernetes", "extra": {"kube_config_path": str(sandbox.kubeconfig)}}
            os.environ["AIRFLOW_CONN_BENCH_K8S"] = json.dumps(kube)
            cluster = Cluster.from_kubeconfig(str(sandbox.kubeconfig))
            install_crds(cluster)
            import yaml

            sandbox.kubectl("create", "namespace", "bench")
            cluster.apply(deployment("bench", "podinfo:1.0", 2), force=True)
            prometheus.exporter.set_traffic("podinfo", {200: 50}, namespace="bench", latency_ms=30)
            manifest = {
                "apiVersion": "flagger.app/v1beta1",
                "kind": "Canary",
                "metadata": {"name": "podinfo", "namespace": "bench"},
                "spec": {
                    "provider": "kubernetes" if step_weight == 0 else "istio",
                    "metricsServer": prometheus.url,
                    "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
                    "service": {"port": 8080},
                    "analysis": {
                        "interval": "10s",
                        "threshold": 5,
                        "maxWeight": 100,
                        "stepWeight": step_weight,
                        "metrics": [
                            {"name": "request-success-rate", "thresholdRange": {"min": 99}, "interval": "5s"},
                            {"name": "request-duration", "thresholdRange": {"max": 500}, "interval": "5s"},
                        ],
                    },
                },
            }
            for doc in yaml.safe_load_all(
                (Path(__file__).resolve().parents[1] / "tests/canary/routing-crds.yaml").read_text()
            ):
                cluster.apply(doc, force=True)
            cluster.forget_discovery()

            def operator() -> Any:
                return CanaryAnalysisOperator(
                    task_id="canary", manifest=manifest, kubernetes_conn_id="bench_k8s", mlflow_conn_id=None
                )

            context = {"ti": TaskInstance()}
            drive(operator(), context)  # bootstrap: Initialized
            time.sleep(6)  # let Prometheus see a full 5 s rate window
            cluster.apply(deployment("bench", "podinfo:2.0", None), force=True)
            worker, wall, ticks = drive(operator(), context)
            share = 100 * worker / wall
            print(f"{'ticks':>6} {'worker s':>9} {'wall s':>8} {'per tick ms':>12} {'slot share':>11}  goal")
            print(
                f"{ticks:>6} {worker:>9.2f} {wall:>8.1f} {1000 * worker / ticks:>12.1f} {share:>10.2f}%"
                f"  <= {GOAL_PERCENT}% {'ok' if share <= GOAL_PERCENT else 'MISSED'}"
            )
            print(f"baseline (non-deferrable task holding its slot): {wall:.1f} slot-seconds = 100%")
        finally:
            prometheus.stop()
            sandbox.stop()


if __name__ == "__main__":
    main()
