"""The Airflow metadata database of a local AIRFLOW_HOME (tests, demo)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from flux_devkit.services.process import ServiceError


def migrate_airflow_db(airflow_home: Path) -> Path:
    """Run ``airflow db migrate`` for ``airflow_home`` (SQLite by default); return the home."""
    env = {**os.environ, "AIRFLOW_HOME": str(airflow_home)}
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
    )
    log = airflow_home / "db-migrate.log"
    log.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise ServiceError(
            f"airflow db migrate failed (log {log}):\n{tail}", obj=f"AIRFLOW_HOME {airflow_home}"
        )
    return airflow_home
