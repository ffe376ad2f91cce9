"""Airflow as it runs in production, on loopback: api-server, scheduler, dag-processor, triggerer.

``dag.test()`` runs a trigger in the test process and hands its event straight back; here
deferred tasks really leave their worker slot, their trigger runs in the triggerer, and
the task resumes in a new process through the execution API, which is what deferrable
operators must survive. All four components share one AIRFLOW_HOME (LocalExecutor, and SQLite
unless the settings name a database server) and one JWT secret, so task tokens issued by the
scheduler are accepted by the api-server.

With :func:`celery_settings` the scheduler hands tasks to Celery instead, and
:meth:`AirflowScheduler.start_worker` starts workers that each stand for a machine of their
own: an AIRFLOW_HOME, HOME, temp and work folder nobody else reads, reaching the others only
through the broker, the execution API and whatever the settings name (an ``s3://`` store).
"""

from __future__ import annotations

import secrets
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from flux_devkit.services.airflow_api import (
    AirflowApiServer,
    bundle_env,
    start_airflow_api_server,
)
from flux_devkit.services.airflow_db import CONN, connection_settings
from flux_devkit.services.process import ServiceError, ServiceProcess

COMPONENTS = ("scheduler", "dag-processor", "triggerer")
FINISHED = frozenset({"success", "failed"})
#: The README's production recipe, the file the image ships: components import the provider's
#: task modules once, and the task processes they fork inherit them.
LOCAL_SETTINGS = Path(__file__).resolve().parents[3] / "docker" / "airflow_local_settings.py"


def install_local_settings(airflow_home: Path) -> None:
    """Copy :data:`LOCAL_SETTINGS` where Airflow imports it from (``$AIRFLOW_HOME/config``)."""
    config = airflow_home / "config"
    config.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(LOCAL_SETTINGS, config / "airflow_local_settings.py")


def celery_settings(broker_url: str, result_backend: str, database_url: str) -> dict[str, str]:
    """Settings of every component (workers included) for the CeleryExecutor on this broker,
    with the metadata database at ``database_url`` (a server's: the workers' many writers
    outwait SQLite's one write lock, as a 401-task fleet beside the ML story showed).

    The scheduler queues up to ``parallelism`` tasks in the broker, more than the workers run at
    once, and a queued task's token lives ``task_queued_timeout``: at the five minutes
    :func:`start_airflow_scheduler` sets, tasks waiting behind a 200-Kustomization fleet start
    with an expired token ("Invalid auth token"). An hour covers a fleet on a loaded machine.
    """
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": result_backend,
        CONN: database_url,
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "3600",
    }


@dataclass
class AirflowScheduler:
    """The running components; :attr:`api` is the REST API (admin login) of the api-server.

    DAG files written to :attr:`dags_folder` are parsed within seconds.
    """

    api: AirflowApiServer
    airflow_home: Path
    dags_folder: Path
    processes: dict[str, ServiceProcess] = field(default_factory=dict)
    #: the environment and log folder the components were started with
    env: dict[str, str] = field(default_factory=dict, repr=False)
    workdir: Path | None = None

    @property
    def log_path(self) -> Path:
        """The scheduler's log (the others sit beside it as ``<component>.log``)."""
        return self.processes["scheduler"].log_path

    def task_log(self, dag_id: str, task_id: str) -> str:
        """Every log file of ``task_id`` in ``dag_id`` (attempts and trigger logs), concatenated."""
        folders = (self.airflow_home / "logs" / f"dag_id={dag_id}").glob(f"run_id=*/task_id={task_id}")
        return "\n".join(f.read_text() for folder in sorted(folders) for f in sorted(folder.iterdir()))

    def wait_for_dag(self, dag_id: str, timeout: float = 120.0) -> None:
        """Wait until the dag-processor has parsed ``dag_id``, then unpause it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_running()
            try:
                response = self.api.api("GET", f"/dags/{dag_id}")
            except requests.Timeout:  # a busy api-server (SQLite, loaded machine): ask again
                continue
            if response.status_code == 200:
                self.api.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False}).raise_for_status()
                return
            time.sleep(1)
        raise ServiceError(f"DAG {dag_id} was not parsed within {timeout:.0f} s", obj="service/dag-processor")

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """Create a run of ``dag_id`` through the REST API ("Trigger DAG"); return its run id.

        The run id is chosen here, so a request that timed out on a busy api-server is sent again
        safely: a run already created by it answers 409."""
        run_id = f"manual__{datetime.now(UTC).isoformat()}"
        body = {"dag_run_id": run_id, "logical_date": None, "conf": dict(conf or {})}
        for _ in range(3):
            try:
                response = self.api.api("POST", f"/dags/{dag_id}/dagRuns", json=body)
            except requests.Timeout:
                continue
            if response.status_code != 409:
                response.raise_for_status()
            return run_id
        raise ServiceError(
            f"the api-server did not answer 'trigger {dag_id}' three times", obj="service/api-server"
        )

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300.0) -> str:
        """Wait until the run finishes; return its state (``success`` or ``failed``).

        Asked every second at first, then every twentieth of the time waited so far, at most every
        5 s: a run's REST read is the api-server's slowest route (it loads the run's DAG versions;
        0.25 s under load); polled each second, it took a third of the api-server's request time
        in a 200-Kustomization fleet's run."""
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            self._check_running()
            try:
                state = str(self.api.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}").json()["state"])
            except requests.Timeout:  # a busy api-server (SQLite, loaded machine): ask again
                continue
            if state in FINISHED:
                return state
            time.sleep(min(5.0, max(1.0, (time.monotonic() - started) / 20)))
        raise ServiceError(
            f"run {run_id} of {dag_id} still running after {timeout:.0f} s", obj="service/scheduler"
        )

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        """``task_id -> state`` in one run, page by page (the REST API lists 50 at a time)."""
        states: dict[str, str] = {}
        seen = 0
        while True:
            params = {"offset": seen, "limit": 100}
            page = self.api.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params=params).json()
            states.update({ti["task_id"]: ti["state"] for ti in page["task_instances"]})
            seen += len(page["task_instances"])
            if not page["task_instances"] or seen >= page["total_entries"]:
                return states

    def _check_running(self) -> None:
        for name, process in self.processes.items():
            if not process.running():
                raise process.fail(f"airflow {name} exited with code {process.popen.returncode}")

    def start(self, name: str, overrides: Mapping[str, str] | None = None) -> None:
        """Start the component ``name`` (``scheduler``, ``dag-processor``, ``triggerer``)."""
        argv = [sys.executable, "-m", "airflow", name]
        workdir = self.workdir or self.airflow_home
        env = {**self.env, **(overrides or {})}
        self.processes[name] = ServiceProcess(
            f"airflow-{name}", argv, workdir / f"{name}.log", env=env, cwd=workdir
        )

    def start_worker(self, name: str, folder: Path, *, concurrency: int, timeout: float = 120.0) -> None:
        """Start the Celery worker ``name`` as if on a machine of its own, in ``folder``: its own
        AIRFLOW_HOME, HOME, TMPDIR, working folder and ``[flux] artifacts_path``; task logs go to
        the shared log folder, as remote logging would take them. Wait until it consumes the queue."""
        home = folder / "airflow-home"
        for sub in (home, folder / "home", folder / "tmp"):
            sub.mkdir(parents=True, exist_ok=True)
        install_local_settings(home)
        argv = [sys.executable, "-m", "airflow", "celery", "worker", "--concurrency", str(concurrency)]
        argv += [
            "--celery-hostname",
            f"{name}@%h",
            "--skip-serve-logs",
            "--without-gossip",
            "--without-mingle",
        ]
        env = {
            **self.env,
            "AIRFLOW_HOME": str(home),
            "HOME": str(folder / "home"),
            "TMPDIR": str(folder / "tmp"),
            "AIRFLOW__FLUX__ARTIFACTS_PATH": str(home / "flux" / "artifacts"),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.airflow_home / "logs"),
        }
        process = ServiceProcess(f"airflow-{name}", argv, folder / "worker.log", env=env, cwd=folder)
        self.processes[name] = process
        deadline = time.monotonic() + timeout
        while " ready." not in process.log_tail(200):  # Celery's "<name>@<host> ready."
            if not process.running():
                raise process.fail(f"Celery worker {name} exited with code {process.popen.returncode}")
            if time.monotonic() > deadline:
                raise process.fail(f"Celery worker {name} not ready after {timeout:.0f} s")
            time.sleep(0.5)

    def stop_worker(self, name: str) -> None:
        """Stop one Celery worker (the bench compares one worker with two)."""
        self.processes.pop(name).stop()

    def restart(self, name: str, overrides: Mapping[str, str]) -> None:
        """Stop a component and start it again with ``overrides`` on its settings; wait until healthy."""
        self.processes[name].stop()
        self.start(name, overrides)
        _wait_healthy(self, 120.0)

    def stop(self) -> None:
        for process in self.processes.values():
            process.stop()
        self.api.stop()


def start_airflow_scheduler(
    airflow_home: Path,
    workdir: Path,
    *,
    bundle: str,
    dags_folder: Path,
    more_bundles: Mapping[str, Path] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 180.0,
) -> AirflowScheduler:
    """Start the four components for a migrated ``airflow_home``; wait until all report healthy.

    ``dags_folder`` is the DAG bundle ``bundle``; ``more_bundles`` (name -> folder) are read beside it."""
    install_local_settings(airflow_home)
    common = {
        **bundle_env(bundle, dags_folder, more_bundles),
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "300",
        # A task's calls to the execution API wait 5 s by default: on a loaded machine the one
        # api-server process on SQLite answers later, and the task failed before it started.
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
        **connection_settings(env or {}),
        **(env or {}),
    }
    # The components start while the api-server is still importing (each takes seconds of CPU);
    # only their tasks call the execution API, and the callers start runs after this returns.
    api = start_airflow_api_server(airflow_home, workdir, env=common, timeout=timeout, wait=False)
    common["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"{api.url}/execution/"
    stack = AirflowScheduler(api, airflow_home, dags_folder, env=common, workdir=workdir)
    try:
        for name in COMPONENTS:
            stack.start(name)
        api.wait_healthy(timeout)
        _wait_healthy(stack, timeout)
    except BaseException:
        stack.stop()
        raise
    return stack


def _wait_healthy(stack: AirflowScheduler, timeout: float) -> None:
    """``/monitor/health`` lists each component's heartbeat: wait until all are ``healthy``."""
    deadline = time.monotonic() + timeout
    health: dict[str, Any] = {}
    while time.monotonic() < deadline:
        stack._check_running()
        try:
            health = requests.get(f"{stack.api.url}/api/v2/monitor/health", timeout=10).json()
        except (requests.RequestException, ValueError):
            health = {}
        parts = ("scheduler", "triggerer", "dag_processor")
        if all((health.get(part) or {}).get("status") == "healthy" for part in parts):
            return
        time.sleep(1)
    raise ServiceError(f"components not healthy after {timeout:.0f} s: {health}", obj="service/airflow")
