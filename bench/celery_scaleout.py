"""Scale-out on Airflow's CeleryExecutor: a fleet DAG with one Celery worker, then with two (issue 21).

One Airflow (api-server, scheduler, dag-processor, triggerer on a PostgreSQL metadata database)
hands tasks to Celery over Redis; the workers stand for machines of their own (own AIRFLOW_HOME,
HOME, temp and work folders) and share source artifacts and renders through the ``s3://`` store
on the local S3 server. The sandbox cluster runs in its own process. Two fleets of the same size
(a GitRepository and N Kustomizations of one ConfigMap each: 1 + 2N tasks) are reconciled, the
first with one worker, the second after a second worker joined, so both runs do the same work
from cold render caches (``--workers 2`` alone: one fleet on two workers, for sizes where the
one-worker run takes too long).

Reported: wall time from "Trigger DAG" to the run's end, per run, and the ratio.

    .venv/bin/python bench/celery_scaleout.py [--apps 200] [--concurrency 2] [--workers 1 2]
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
from flux_devkit.services.postgres import start_postgres  # noqa: E402
from flux_devkit.services.redis import start_redis  # noqa: E402
from flux_devkit.services.s3 import start_s3_server  # noqa: E402


def reconcile_fleet(airflow: AirflowScheduler, git: GitServer, apps: int) -> tuple[float, str]:
    """Trigger a fresh fleet's DAG; the seconds until its run ended, and its state."""
    dag_id = fleet_dag(airflow.dags_folder, git, f"fleet-{uuid.uuid4().hex[:6]}", apps)
    airflow.wait_for_dag(dag_id, timeout=600)
    started = time.monotonic()
    run_id = airflow.trigger(dag_id)
    state = airflow.wait_for_run(dag_id, run_id, timeout=7200)
    return time.monotonic() - started, state


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--apps", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=2, help="task processes per worker")
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1, 2], help="worker counts, one fleet each (default: 1 2)"
    )
    args = parser.parse_args()
    started: list[str] = []
    runs: dict[int, tuple[float, str]] = {}
    with tempfile.TemporaryDirectory(prefix="celery-scaleout-") as tmp:
        work = Path(tmp)
        git = start_git_server(work / "git" / "repos", log_path=work / "git" / "git-http.log")
        s3 = start_s3_server(work / "s3")
        redis = start_redis(work / "redis")
        postgres = start_postgres(work / "postgres")
        sandbox = Sandbox(work / "sandbox").start(child_process=True)
        airflow = None
        try:
            install_crds(Cluster.from_kubeconfig(str(sandbox.kubeconfig)))
            env = {
                **celery_settings(redis.url(0), redis.url(1), postgres.database_url),
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
            home = migrate_airflow_db(work / "home", env)
            airflow = start_airflow_scheduler(home, work / "logs", bundle="bench", dags_folder=dags, env=env)
            for workers in sorted(args.workers):  # one fleet per worker count, adding workers
                while len(started) < workers:
                    started.append(f"worker-{len(started) + 1}")
                    airflow.start_worker(started[-1], work / started[-1], concurrency=args.concurrency)
                runs[workers] = reconcile_fleet(airflow, git, args.apps)
        finally:
            if airflow is not None:
                airflow.stop()
            sandbox.stop()
            postgres.stop()
            redis.stop()
            s3.stop()
            git.stop()
    tasks = 1 + 2 * args.apps
    print(f"{args.apps} Kustomizations ({tasks} tasks), {args.concurrency} task processes per Celery worker")
    print(f"{'workers':<8}{'wall s':>9}{'tasks/s':>9}  state")
    for workers, (wall, state) in runs.items():
        print(f"{workers:<8}{wall:>9.1f}{tasks / wall:>9.2f}  {state}")
    if 1 in runs and 2 in runs:
        print(f"two workers / one: {runs[2][0] / runs[1][0]:.2f} of the time ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
