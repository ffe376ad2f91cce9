"""An MLflow tracking server with a SQLite backend store and a local artifact folder.

Runs the installed ``mlflow server`` (uvicorn, one worker) in its own process group,
because it forks a worker and a job runner that must go when it stops.
"""

from __future__ import annotations

import sys
from pathlib import Path

from flux_devkit.services.process import LOOPBACK, ServiceProcess, free_ports

# MLflow 3 reports usage to a remote endpoint unless told not to; local services send nothing out.
NO_TELEMETRY = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
# The GenAI job runner forks about eight consumers we never use; on two cores they slow everything.
_SERVER_ENV = {**NO_TELEMETRY, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


class MlflowServer:
    """A running tracking server; point clients at :attr:`tracking_uri`."""

    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        (port,) = free_ports(1)
        self.tracking_uri = f"http://{LOOPBACK}:{port}"
        self.artifacts_dir = workdir / "artifacts"
        argv = [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            f"--backend-store-uri=sqlite:///{workdir / 'mlflow.db'}",
            f"--artifacts-destination={self.artifacts_dir}",
            f"--host={LOOPBACK}",
            f"--port={port}",
            "--workers=1",
        ]
        self.process = ServiceProcess("mlflow", argv, workdir / "mlflow.log", env=_SERVER_ENV, cwd=workdir)
        self.log_path = self.process.log_path
        # a hang guard: beside the demo's other services on a loaded 2-core machine, MLflow's
        # imports and database setup took more than 120 s
        self.process.wait_http(f"{self.tracking_uri}/health", timeout=300)

    def info(self) -> dict[str, str]:
        """Endpoint first, then credentials: what a client (or the demo's connections) needs."""
        return {"tracking_uri": self.tracking_uri}

    def stop(self) -> None:
        self.process.stop()


def start_mlflow_server(workdir: Path) -> MlflowServer:
    """Start ``mlflow server`` storing its DB and artifacts under ``workdir``."""
    return MlflowServer(workdir)
