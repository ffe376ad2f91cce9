"""Scale-out on Airflow's CeleryExecutor: a fleet DAG with one Celery worker, then with two (issue 21).

One Airflow (api-server, scheduler, dag-processor, triggerer on SQLite) hands tasks to Celery over
Redis; the workers stand for machines of their own (own AIRFLOW_HOME, HOME, temp and work folders)
and share source artifacts and renders through the ``s3://`` store on the local S3 server. The
sandbox cluster runs in its own process. Two fleets of the same size (a GitRepository and N
Kustomizations of one ConfigMap each: 1 + 2N tasks) are reconciled, the first with one worker, the
second after a second worker joined, so both runs do the same work from cold render caches.

Reported: wall time from "Trigger DAG" to the run's end, per run, and the ratio.

    .venv/bin/python bench/celery_scaleout.py [--apps 200] [--concurrency 2]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from airflow_flux_provider.kube import Cluster  # noqa: E402
from airflow_flux_provider.kube.objects import install_crds  # noqa: E402
from flux_devkit.fleet import fleet_dag  # noqa: E402
from flux_devkit.sandbox import Sandbox  # noqa: E402
from flux_devkit.services.airflow_db import migrate_airflow_db  # noqa: E402
from flux_devkit.services.airflow_scheduler import (  # noqa: E402
    AirflowScheduler,
    celery_settings,
    start_airflow_scheduler,
)
from flux_devkit.services.git_http import GitServer, start_git_server  # noqa: E402
from flux_devkit.services.redis import start_redis  # noqa: E402
from flux_devkit.services.s3 import start_s3_server  # noqa: E402


def reconcile_fleet(airflow: AirflowScheduler, git: GitServer, apps: int) -> tuple[float, str]:
    """Trigger a fresh fleet's DAG; the seconds until its run ended, and its state."""
    dag_id = fleet_dag(airflow, git, f"fleet-{uuid.uuid4().hex[:6]}", apps)
    airflow.wait_for_dag(dag_id, timeout=600)
    started = time.monotonic()
    run_id = airflow.trigger(dag_id)
    state = airflow.wait_for_run(dag_id, run_id, timeout=7200)
    return time.monotonic() - started, state


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--apps", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=2, help="task processes per worker")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="celery-scaleout-") as tmp:
        work = Path(tmp)
        git = start_git_server(work / "git" / "repos", log_path=work / "git" / "git-http.log")
        s3 = start_s3_server(work / "s3")
        redis = start_redis(work / "redis")
        sandbox = Sandbox(work / "sandbox").start(child_process=True)
        airflow = None
        try:
            install_crds(Cluster.from_kubeconfig(str(sandbox.kubeconfig)))
            env = {
                **celery_settings(redis.url(0), redis.url(1)),
                **s3.artifact_store_env("bench"),
                "AIRFLOW_CONN_GIT-CREDENTIALS": json.dumps(
                    {"conn_type": "flux_git", "login": git.username, "password": git.password}
                ),
                "AIRFLOW_CONN_KUBERNETES_DEFAULT": json.dumps(
                    {"conn_type": "kubernetes", "extra": {"kube_config_path": str(sandbox.kubeconfig)}}
                ),
                "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            }
            dags = work / "dags"
            dags.mkdir()
            home = migrate_airflow_db(work / "home")
            airflow = start_airflow_scheduler(home, work / "logs", bundle="bench", dags_folder=dags, env=env)
            airflow.start_worker("worker-a", work / "worker-a", concurrency=args.concurrency)
            one, one_state = reconcile_fleet(airflow, git, args.apps)
            airflow.start_worker("worker-b", work / "worker-b", concurrency=args.concurrency)
            two, two_state = reconcile_fleet(airflow, git, args.apps)
        finally:
            if airflow is not None:
                airflow.stop()
            sandbox.stop()
            redis.stop()
            s3.stop()
            git.stop()
    tasks = 1 + 2 * args.apps
    print(f"{args.apps} Kustomizations ({tasks} tasks), {args.concurrency} task processes per Celery worker")
    print(f"{'workers':<8}{'wall s':>9}{'tasks/s':>9}  state")
    print(f"{1:<8}{one:>9.1f}{tasks / one:>9.2f}  {one_state}")
    print(f"{2:<8}{two:>9.1f}{tasks / two:>9.2f}  {two_state}")
    print(f"two workers / one: {two / one:.2f} of the time ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
